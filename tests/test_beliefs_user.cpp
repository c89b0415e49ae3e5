// A user-written belief policy (tests/support/user_belief.hpp, public API only) in
// difficulty_anchor and hadw::reweight; the public state_writer/state_reader; belief kinds that
// collide are refused, naming both types.
#include <hadw/anchor.hpp>
#include <hadw/anchor/beliefs.hpp>
#include <hadw/layout.hpp>
#include <hadw/api/reweight.hpp>
#include <hadw/anchor/state.hpp>

#include "support/error_of.hpp"
#include "support/user_belief.hpp"

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

namespace {

using test_support::ema_belief;
using test_support::error_of;
using ema_anchor = hadw::difficulty_anchor<ema_belief>;

std::uint64_t bits(double v) { return std::bit_cast<std::uint64_t>(v); }

/// FNV-1a 64 written out here (the format's checksum), so this test needs no hadw::detail.
std::uint64_t fnv1a(std::span<const std::uint8_t> b) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::uint8_t x : b) {
    h ^= x;
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// A saved anchor with its payload replaced: header size and checksum rewritten to match.
std::vector<std::uint8_t> with_payload(const std::vector<std::uint8_t>& saved,
                                       const std::vector<std::uint8_t>& payload) {
  // (push_back throughout: g++ 12's -Warray-bounds misfires on an insert here)
  std::vector<std::uint8_t> out;
  out.reserve(12 + payload.size() + 8);
  for (std::size_t i = 0; i < 8; ++i) out.push_back(saved[i]);
  const auto n = static_cast<std::uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  for (std::uint8_t b : payload) out.push_back(b);
  const std::uint64_t h = fnv1a(out);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(h >> (8 * i)));
  return out;
}
std::vector<std::uint8_t> payload_of(const std::vector<std::uint8_t>& saved) {
  return {saved.begin() + 12, saved.end() - 8};
}
void put_f64(std::vector<std::uint8_t>& b, std::size_t at, double v) {
  for (int i = 0; i < 8; ++i)
    b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(bits(v) >> (8 * i));
}

/// A minimal belief of any kind and name, for the collision checks.
template <std::uint8_t Kind, class Tag>
struct tagged_belief {
  struct config {};
  static constexpr std::uint8_t kind = Kind;
  static constexpr std::string_view name = Tag::name;
  tagged_belief() = default;
  explicit tagged_belief(const config&) {}
  [[nodiscard]] double prior() const { return 0.5; }
  void observe(double) {}
  [[nodiscard]] double eta() const { return 0.0; }
  [[nodiscard]] std::span<const double> history() const { return {}; }
  void save_state(hadw::state_writer& w) const { w.u8(7); }
  [[nodiscard]] static tagged_belief load_state(hadw::state_reader& r) {
    if (r.u8("tag byte") != 7) throw hadw::error("tag byte 7 required");
    return {};
  }
};
struct clone_tag {
  static constexpr std::string_view name = "test::ema_clone";
};
struct fake_kalman_tag {
  static constexpr std::string_view name = "test::fake_kalman";
};
struct reserved_tag {
  static constexpr std::string_view name = "test::reserved_kind";
};
struct other_user_tag {
  static constexpr std::string_view name = "test::other_user";
};
using ema_clone = tagged_belief<200, clone_tag>;        // ema_belief's kind, another type
using fake_kalman = tagged_belief<1, fake_kalman_tag>;  // kalman_belief's kind
using reserved_kind = tagged_belief<10, reserved_tag>;  // unclaimed, but in hadw's range
using other_user = tagged_belief<201, other_user_tag>;  // a kind of its own: fine

static_assert(hadw::belief_policy<ema_clone>);
// A belief without a name is not a belief_policy.
struct nameless {
  struct config {};
  static constexpr std::uint8_t kind = 99;
  double prior() const { return 0; }
  void observe(double) {}
  double eta() const { return 0; }
  std::span<const double> history() const { return {}; }
  void save_state(hadw::state_writer&) const {}
  static nameless load_state(hadw::state_reader&) { return {}; }
};
static_assert(!hadw::belief_policy<nameless>);

}  // namespace

// First in the file: no kalman_belief anchor exists yet in this process, so refusing kind 1
// shows that hadw's own kinds are held from the start.
TEST_CASE("a belief type claiming a kind another type holds is refused, naming both",
          "[beliefs][user][kinds]") {
  const std::string kalman = error_of([] { hadw::difficulty_anchor<fake_kalman> a; });
  CHECK(kalman ==
        "belief kind 1 is claimed by two belief types: hadw::kalman_belief and test::fake_kalman; "
        "each belief type needs its own kind (1-63 are hadw's, 64-255 are free for user beliefs)");

  ema_anchor ema;  // claims 200 (if an earlier test case has not already)
  const std::string clone = error_of([] { hadw::difficulty_anchor<ema_clone> a; });
  CHECK_THAT(clone, Catch::StartsWith("belief kind 200 is claimed by two belief types: "
                                      "test_support::ema_belief and test::ema_clone"));
  // Refused every time, by every way in: constructors and load (before reading the bytes).
  CHECK(error_of([] { hadw::difficulty_anchor<ema_clone> a{ema_clone::config{}}; }) == clone);
  CHECK(error_of([] { hadw::difficulty_anchor<ema_clone> a{ema_clone{}}; }) == clone);
  CHECK(error_of([&] { (void)hadw::difficulty_anchor<ema_clone>::load(ema.save()); }) == clone);
  CHECK(error_of([] { hadw::difficulty_anchor<fake_kalman> a; }) == kalman);

  // A user type in hadw's reserved range is refused even where no type holds the kind.
  CHECK(error_of([] { hadw::difficulty_anchor<reserved_kind> a; }) ==
        "belief kind 10 of test::reserved_kind is in 1-63, the range reserved for hadw's own "
        "beliefs; a user belief takes a kind in 64-255");

  // The refusals changed nothing: the holders keep working, a user kind of its own is fine.
  hadw::difficulty_anchor<hadw::kalman_belief> k;
  k.observe(0.25);
  CHECK(hadw::difficulty_anchor<hadw::kalman_belief>::load(k.save()) == k);
  ema.observe(0.75);
  CHECK(ema_anchor::load(ema.save()) == ema);
  hadw::difficulty_anchor<other_user> o;
  o.observe(1.0);
  const auto ob = o.save();
  CHECK(ob[6] == 201);
  CHECK(hadw::difficulty_anchor<other_user>::load(ob) == o);
}

TEST_CASE("difficulty_anchor<ema_belief> follows the naive EMA bit for bit",
          "[beliefs][user]") {
  const double alpha = 0.3, c0 = 0.4;
  ema_anchor a{ema_belief::config{.alpha = alpha, .initial_belief = c0}};
  CHECK(a.prior() == c0);
  CHECK(a.eta() == 0.0);
  CHECK(a.history().empty());
  CHECK(a.step() == 0);
  double c = c0;
  const std::vector<double> ys{0.1, 0.9, 0.55, 0.0, 1.0, 0.3333333333333333, 0.7, 0.62};
  for (std::size_t t = 0; t < ys.size(); ++t) {
    if (t % 2) a.observe(static_cast<std::int64_t>(std::lround(ys[t] * 1000)), 1000);
    else a.observe(ys[t]);
    const double y = t % 2 ? static_cast<double>(std::lround(ys[t] * 1000)) / 1000.0 : ys[t];
    c = (1.0 - alpha) * c + alpha * y;
    INFO("step " << t);
    CHECK(bits(a.prior()) == bits(c));
    CHECK(a.eta() == alpha);
    REQUIRE(a.history().size() == 1);
    CHECK(bits(a.history()[0]) == bits(c));
    CHECK(bits(a.last_observation()) == bits(y));
  }
  CHECK(a.step() == static_cast<std::int64_t>(ys.size()));
  CHECK_THROWS_WITH(ema_anchor(ema_belief::config{.alpha = 0.0}), Catch::Contains("alpha"));
  CHECK_THROWS_WITH(ema_anchor(ema_belief::config{.initial_belief = 1.5}),
                    Catch::Contains("initial_belief"));
}

TEST_CASE("ema_belief saves and loads bit-exactly in the anchor's format", "[beliefs][user][save]") {
  ema_anchor fresh{ema_belief::config{.alpha = 0.25, .initial_belief = 0.375}};
  const auto fresh_bytes = fresh.save();
  // "HADW", u16 version 1, u8 kind 200, u8 reserved, u32 payload size, payload, u64 FNV-1a.
  const std::vector<std::uint8_t> header{'H', 'A', 'D', 'W', 1, 0, 200, 0, 41, 0, 0, 0};
  REQUIRE(fresh_bytes.size() == 12 + 41 + 8);
  CHECK(std::vector<std::uint8_t>(fresh_bytes.begin(), fresh_bytes.begin() + 12) == header);
  std::uint64_t alpha_bits = 0;  // the payload starts with alpha, little-endian
  for (int i = 0; i < 8; ++i)
    alpha_bits |= static_cast<std::uint64_t>(fresh_bytes[12 + static_cast<std::size_t>(i)]) << (8 * i);
  CHECK(alpha_bits == bits(0.25));
  CHECK(fresh_bytes[36] == 0);  // observed flag
  CHECK(ema_anchor::load(fresh_bytes) == fresh);
  CHECK(ema_anchor::load(fresh_bytes).history().empty());

  ema_anchor a = fresh;
  const std::vector<double> ys{0.2, 0.8, 0.6, 0.1, 0.95, 0.4, 0.5, 0.3};
  for (std::size_t t = 0; t < 4; ++t) a.observe(ys[t]);
  const auto bytes = a.save();
  CHECK(bytes[36] == 1);
  ema_anchor restored = ema_anchor::load(bytes);
  CHECK(restored == a);
  CHECK(restored.belief() == a.belief());
  CHECK(restored.step() == 4);
  CHECK(bits(restored.last_observation()) == bits(ys[3]));
  for (std::size_t t = 4; t < ys.size(); ++t) {
    a.observe(ys[t]);
    restored.observe(ys[t]);
    CHECK(bits(a.prior()) == bits(restored.prior()));
  }
  CHECK(restored.save() == a.save());
}

TEST_CASE("bytes of another belief, or a bad ema payload, are refused with a clear message",
          "[beliefs][user][save][errors]") {
  hadw::difficulty_anchor<hadw::kalman_belief> k;
  k.observe(0.5);
  ema_anchor e{ema_belief::config{.alpha = 0.5, .initial_belief = 0.25}};
  CHECK(error_of([&] { (void)ema_anchor::load(k.save()); }) ==
        "anchor state: belief kind 1 does not match this anchor's belief kind 200 (the bytes hold "
        "hadw::kalman_belief state, this anchor keeps test_support::ema_belief)");
  CHECK(error_of([&] { (void)hadw::difficulty_anchor<hadw::kalman_belief>::load(e.save()); }) ==
        "anchor state: belief kind 200 does not match this anchor's belief kind 1 (the bytes hold "
        "test_support::ema_belief state, this anchor keeps hadw::kalman_belief)");
  hadw::difficulty_anchor<hadw::fixed_belief> f;
  CHECK_THAT(error_of([&] { (void)ema_anchor::load(f.save()); }),
             Catch::Contains("belief kind 3 does not match") &&
                 Catch::Contains("hadw::fixed_belief state"));
  auto unclaimed = e.save();
  unclaimed[6] = 250;
  CHECK_THAT(error_of([&] { (void)ema_anchor::load(with_payload(unclaimed, payload_of(unclaimed))); }),
             Catch::Contains("belief kind 250 does not match this anchor's belief kind 200") &&
                 Catch::Contains("a kind no type in this process claims"));

  // Payload checks of ema_belief::load_state, through the public reader (checksum resealed).
  const auto good = e.save();
  CHECK(ema_anchor::load(with_payload(good, payload_of(good))) == e);  // the helper itself
  auto p = payload_of(good);
  put_f64(p, 16, 1.5);  // belief
  CHECK(error_of([&] { (void)ema_anchor::load(with_payload(good, p)); }) ==
        "anchor state: ema belief in [0, 1] required, got 1.5");
  p = payload_of(good);
  put_f64(p, 16, std::numeric_limits<double>::quiet_NaN());
  CHECK_THAT(error_of([&] { (void)ema_anchor::load(with_payload(good, p)); }),
             Catch::StartsWith("anchor state: ema belief in [0, 1] required"));
  p = payload_of(good);
  p[24] = 2;  // observed flag
  CHECK(error_of([&] { (void)ema_anchor::load(with_payload(good, p)); }) ==
        "anchor state: ema observed flag 2 is not 0 or 1");
  p = payload_of(good);
  put_f64(p, 0, 0.0);  // alpha
  CHECK_THAT(error_of([&] { (void)ema_anchor::load(with_payload(good, p)); }),
             Catch::StartsWith("ema_belief::config::alpha in (0, 1] required"));
  p = payload_of(good);
  put_f64(p, 16, 0.5);  // not observed, yet not the initial belief
  CHECK(error_of([&] { (void)ema_anchor::load(with_payload(good, p)); }) ==
        "anchor state: ema belief differs from initial_belief before any observation");
  p = payload_of(good);
  p.resize(20);  // cut inside the belief
  CHECK(error_of([&] { (void)ema_anchor::load(with_payload(good, p)); }) ==
        "anchor state: buffer truncated at byte 28 (32 bytes, 8 more needed) reading ema belief");
  p = payload_of(good);
  p.resize(p.size() - 8);  // the anchor's last_observation missing
  CHECK(error_of([&] { (void)ema_anchor::load(with_payload(good, p)); }) ==
        "anchor state: buffer truncated at byte 45 (45 bytes, 8 more needed) reading "
        "last_observation");
}

TEST_CASE("hadw::reweight weights with ema_belief's prior: Phi = lambda exp(D M)",
          "[beliefs][user][reweight]") {
  const double alpha = 0.25, lambda = 1.3;
  ema_anchor anchor{ema_belief::config{.alpha = alpha, .initial_belief = 0.4}};
  const auto layout = hadw::group_layout::uniform(4, 4);
  // Quarter-step rewards: group means and the batch mean are exact in binary.
  const std::vector<std::vector<double>> steps{
      {1, 1, 0.75, 1, 0, 0.25, 0, 0, 0.5, 0.5, 0.25, 0.75, 1, 0, 1, 0},
      {0.25, 0.25, 0, 0, 1, 1, 1, 0.75, 0.5, 0, 0.5, 1, 0.75, 0.75, 0.25, 0.5},
      {0, 0, 0, 0.25, 1, 1, 1, 1, 0.5, 0.25, 0.75, 0.5, 0.25, 0, 0.5, 1}};
  const std::vector<double> a0{0.8, -0.3, 0.0, 1.7, -1.2, 0.4, 0.9, -0.05,
                               2.0, -2.0, 0.6, -0.6, 0.1, -0.1, 0.0, 1.1};
  double c = 0.4;
  for (const auto& r : steps) {
    std::vector<double> adv = a0;
    hadw::reweight(hadw::grouped(std::span<double>(adv), layout),
                   hadw::grouped(std::span<const double>(r), layout), anchor,
                   hadw::reweight_options{.lambda_scale = lambda});
    double y = 0.0;
    for (double v : r) y += v;
    y /= static_cast<double>(r.size());
    for (std::size_t g = 0; g < 4; ++g) {
      const double p_hat = (r[4 * g] + r[4 * g + 1] + r[4 * g + 2] + r[4 * g + 3]) / 4.0;
      const double d = p_hat - c;
      for (std::size_t i = 4 * g; i < 4 * g + 4; ++i) {
        const double sa = (a0[i] > 0) - (a0[i] < 0), sd = (d > 0) - (d < 0);
        const double phi = lambda * std::exp(-sa * sd * std::fabs(d));
        INFO("C " << c << " group " << g << " response " << i);
        CHECK(adv[i] == Approx(a0[i] * phi).epsilon(1e-14).margin(1e-300));
      }
    }
    c = (1.0 - alpha) * c + alpha * y;  // then the anchor observes y_t
    CHECK(bits(anchor.prior()) == bits(c));
  }
  CHECK(anchor.step() == 3);
  CHECK(anchor.eta() == alpha);
}

TEST_CASE("state_writer / state_reader: little-endian, bit-exact doubles, named errors",
          "[beliefs][state]") {
  hadw::state_writer w;
  w.u8(0xab);
  w.u16(0x0102);
  w.u32(0x03040506);
  w.u64(0x0708090a0b0c0d0eULL);
  w.i64(-2);
  w.f64(-0.0);
  const double payload_nan = std::bit_cast<double>(0x7ff8000000012345ULL);
  w.f64(payload_nan);
  w.flag(true);
  const std::vector<double> window{0.0, 0.5, 1.0};
  w.f64_window(window);
  const std::vector<std::uint8_t> bytes(w.bytes().begin(), w.bytes().end());
  REQUIRE(bytes.size() == 1 + 2 + 4 + 8 + 8 + 8 + 8 + 1 + 8 + 24);
  CHECK(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 15) ==
        std::vector<std::uint8_t>{0xab, 0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0e, 0x0d, 0x0c,
                                  0x0b, 0x0a, 0x09, 0x08, 0x07});

  hadw::state_reader r(bytes);
  CHECK(r.u8() == 0xab);
  CHECK(r.u16() == 0x0102);
  CHECK(r.u32() == 0x03040506);
  CHECK(r.u64() == 0x0708090a0b0c0d0eULL);
  CHECK(r.i64() == -2);
  CHECK(bits(r.f64()) == bits(-0.0));
  CHECK(bits(r.f64()) == bits(payload_nan));
  CHECK(r.flag("f"));
  CHECK(r.unit_window(3, "w") == window);
  CHECK(r.remaining() == 0);
  CHECK(r.position() == bytes.size());
  CHECK(error_of([&] { (void)r.u8("next field"); }) ==
        "anchor state: buffer truncated at byte 72 (72 bytes, 1 more needed) reading next field");
  CHECK(error_of([&] { (void)r.u16(); }) ==
        "anchor state: buffer truncated at byte 72 (72 bytes, 2 more needed)");

  const auto window_at = std::span<const std::uint8_t>(bytes).subspan(40);
  {
    hadw::state_reader wr(window_at);
    CHECK(error_of([&] { (void)wr.unit_window(2, "recent"); }) ==
          "anchor state: recent holds 3 values, more than its window 2");
  }
  {
    hadw::state_reader wr(window_at.first(window_at.size() - 1));
    CHECK(error_of([&] { (void)wr.unit_window(3, "recent"); }) ==
          "anchor state: buffer truncated at byte 8 (31 bytes, 3 values of 8 bytes more needed) "
          "reading recent");
  }
  hadw::state_writer bad;
  bad.f64_window(std::vector<double>{0.25, 1.5});
  bad.f64(-0.25);
  bad.u8(3);
  {
    hadw::state_reader br(bad.bytes());
    CHECK(error_of([&] { (void)br.unit_window(5, "recent"); }) ==
          "anchor state: recent value in [0, 1] required, got 1.5");
  }
  {
    hadw::state_reader br(bad.bytes());
    CHECK(br.f64_window(5, "raw") == std::vector<double>{0.25, 1.5});
    CHECK(error_of([&] { (void)br.f64_unit("rate"); }) ==
          "anchor state: rate in [0, 1] required, got -0.25");
    CHECK(error_of([&] { (void)br.flag("switch"); }) ==
          "anchor state: switch flag 3 is not 0 or 1");
  }
  const auto moved = bad.release();
  CHECK(moved.size() == 8 + 16 + 8 + 1);
  CHECK(bad.size() == 0);
}
