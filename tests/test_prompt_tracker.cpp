// hadw::prompt_tracker (SPO's per-prompt Beta tracker), hadw::spo_estimate, and HA-DW with the
// tracker's per-prompt priors, against naive per-id loops written here; save/load bit-exact;
// corrupted states refused by name.
#include <hadw/anchor/prompt_tracker.hpp>
#include <hadw/api/spo.hpp>
#include <hadw/api/weigh.hpp>
#include <hadw/weighting/prompt_phi.hpp>

#include "support/error_of.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <string>
#include <vector>

using test_support::error_of;

namespace {

struct step_input {
  std::vector<std::int64_t> offsets{0};
  std::vector<std::uint64_t> ids;
  std::vector<double> rewards;
  std::vector<std::uint8_t> mask;
};

/// A step of ragged groups over prompt ids drawn from a small pool (so ids recur across steps).
step_input make_step(std::mt19937& gen, bool binary) {
  std::uniform_int_distribution<int> size(1, 5), pool(0, 9), coin(0, 1);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  step_input s;
  std::vector<int> used;
  for (int k = 0; k < 6; ++k) {
    int id;
    do id = pool(gen);
    while (std::find(used.begin(), used.end(), id) != used.end());
    used.push_back(id);
    s.ids.push_back(1000003ULL * static_cast<std::uint64_t>(id) + 17);
    const int g = size(gen);
    for (int i = 0; i < g; ++i) {
      s.rewards.push_back(binary ? coin(gen) : u(gen));
      s.mask.push_back(static_cast<std::uint8_t>(u(gen) < 0.85));
    }
    s.offsets.push_back(s.offsets.back() + g);
  }
  s.mask[0] = 1;
  return s;
}

/// The naive tracker: SPO's update written per id, one group at a time.
struct naive_tracker {
  std::map<std::uint64_t, std::pair<double, double>> ab;
  double p(std::uint64_t id) const {
    const auto it = ab.find(id);
    const auto [a, b] = it == ab.end() ? std::pair{0.5, 0.5} : it->second;
    return a / (a + b);
  }
  void update(const step_input& s, double rho) {
    for (std::size_t k = 0; k < s.ids.size(); ++k) {
      double sr = 0, sf = 0;
      int n = 0;
      for (auto i = s.offsets[k]; i < s.offsets[k + 1]; ++i)
        if (s.mask[i]) sr += s.rewards[i], sf += 1 - s.rewards[i], ++n;
      if (!n) continue;
      auto it = ab.try_emplace(s.ids[k], 0.5, 0.5).first;
      it->second = {rho * it->second.first + sr, rho * it->second.second + sf};
    }
  }
};

void update(hadw::prompt_tracker& t, const step_input& s, double rho) {
  const auto layout = hadw::group_layout::from_offsets(s.offsets);
  hadw::tracker_update_options o;
  o.mask = s.mask;
  t.update(s.ids, hadw::grouped(std::span<const double>(s.rewards), layout), rho, o);
}

}  // namespace

TEST_CASE("prompt_tracker follows SPO's per-id Beta update over several steps", "[tracker]") {
  std::mt19937 gen(42);
  hadw::prompt_tracker t;
  naive_tracker ref;
  for (int step = 0; step < 8; ++step) {
    const auto s = make_step(gen, step % 2 == 0);
    const double rho = 0.875 + 0.01 * step;
    update(t, s, rho);
    ref.update(s, rho);
    for (const auto& [id, ab] : ref.ab) {
      CHECK(t.belief(id).alpha == Approx(ab.first).epsilon(1e-14));
      CHECK(t.belief(id).beta == Approx(ab.second).epsilon(1e-14));
      CHECK(t.prior(id) == Approx(ref.p(id)).epsilon(1e-14));
    }
  }
  CHECK(t.size() == ref.ab.size());
  CHECK(t.updates() == 8);
  CHECK(t.prior(123456789) == 0.5);  // never seen: Beta(0.5, 0.5)
}

TEST_CASE("One response per prompt is SPO's update exactly; rho per group overrides rho",
          "[tracker]") {
  hadw::prompt_tracker t;
  const std::vector<std::uint64_t> ids{1, 2, 3};
  const std::vector<double> r{1, 0, 1};
  const std::vector<double> rho{0.5, 0.9, 1.0};
  const auto layout = hadw::group_layout::uniform(3, 1);
  hadw::tracker_update_options o;
  o.rho_per_group = rho;
  t.update(ids, hadw::grouped(std::span<const double>(r), layout), 0.0, o);
  CHECK(t.belief(1) == hadw::beta_state{0.5 * 0.5 + 1, 0.5 * 0.5 + 0});
  CHECK(t.belief(2) == hadw::beta_state{0.9 * 0.5 + 0, 0.9 * 0.5 + 1});
  CHECK(t.belief(3) == hadw::beta_state{0.5 + 1, 0.5});
}

TEST_CASE("offline_prior is SPO's initialisation from offline pass rates", "[tracker]") {
  const auto b = hadw::prompt_tracker::offline_prior(3, 8, 0.875);
  CHECK(b.alpha == Approx(8.0 * 3.5 / 9.0));
  CHECK(b.beta == Approx(8.0 * 5.5 / 9.0));
  CHECK(hadw::prompt_tracker::offline_prior(0, 0, 0.5) == hadw::beta_state{0.5, 0.5});
  CHECK_THAT(error_of([] { (void)hadw::prompt_tracker::offline_prior(9, 8, 0.5); }),
             Catch::Contains("successes <= n"));
}

TEST_CASE("save/load is bit-exact and a restored tracker continues identically",
          "[tracker][state]") {
  std::mt19937 gen(7);
  hadw::prompt_tracker t(hadw::beta_state{0.25, 0.75});
  t.set(99, {1.0 / 3.0, -0.0});
  for (int step = 0; step < 4; ++step) update(t, make_step(gen, false), 0.9);
  const auto bytes = t.save();
  auto u = hadw::prompt_tracker::load(bytes);
  CHECK(u.save() == bytes);
  CHECK(u == t);
  CHECK(std::signbit(u.belief(99).beta));  // -0.0 survives
  const auto s = make_step(gen, true);
  update(t, s, 0.8);
  update(u, s, 0.8);
  CHECK(u.save() == t.save());
}

TEST_CASE("A corrupted tracker state is refused by name", "[tracker][state]") {
  std::mt19937 gen(8);
  hadw::prompt_tracker t;
  update(t, make_step(gen, true), 0.9);
  const auto good = t.save();
  const auto load = [](std::vector<std::uint8_t> b) {
    return error_of([&] { (void)hadw::prompt_tracker::load(b); });
  };
  // Re-seals a patched buffer with a valid checksum, so the field check itself is reached.
  const auto reseal = [](std::vector<std::uint8_t> b) {
    const auto h = hadw::detail::fnv1a64(std::span<const std::uint8_t>(b).first(b.size() - 8));
    for (int i = 0; i < 8; ++i) b[b.size() - 8 + i] = static_cast<std::uint8_t>(h >> (8 * i));
    return b;
  };
  auto flipped = good;
  flipped[20] ^= 1;
  CHECK_THAT(load(flipped), Catch::Contains("prompt tracker state: checksum mismatch"));
  CHECK_THAT(load(std::vector<std::uint8_t>(good.begin(), good.end() - 3)),
             Catch::Contains("prompt tracker state"));
  auto magic = good;
  magic[0] = 'X';
  CHECK_THAT(load(magic), Catch::Contains("bad magic"));
  auto version = good;
  version[4] = 9;
  CHECK_THAT(load(reseal(version)), Catch::Contains("format version 9"));
  auto kind = good;
  kind[6] = 3;
  CHECK_THAT(load(reseal(kind)), Catch::Contains("kind 3"));
  // Payload: 12 header bytes, initial alpha (8), beta (8), updates (8), count (8), entries.
  auto negative = good;
  negative[12 + 7] = 0xC0;  // initial alpha -> a negative double
  CHECK_THAT(load(reseal(negative)), Catch::Contains("initial"));
  auto count = good;
  count[12 + 24] = 0xFF;
  CHECK_THAT(load(reseal(count)), Catch::Contains("entries do not fit"));
  CHECK_THAT(load(std::vector<std::uint8_t>(good.begin(), good.begin() + 10)),
             Catch::Contains("too short"));
}

TEST_CASE("update refuses bad input by name and changes nothing", "[tracker][errors]") {
  std::mt19937 gen(9);
  hadw::prompt_tracker t;
  update(t, make_step(gen, true), 0.9);
  const auto before = t.save();
  auto s = make_step(gen, true);
  const auto layout = hadw::group_layout::from_offsets(s.offsets);
  const auto run = [&](double rho, const hadw::tracker_update_options& o = {}) {
    return error_of([&] {
      t.update(s.ids, hadw::grouped(std::span<const double>(s.rewards), layout), rho, o);
    });
  };
  CHECK_THAT(run(1.5), Catch::Contains("rho in [0, 1]"));
  const std::vector<double> short_rho(2, 0.5);
  hadw::tracker_update_options o;
  o.rho_per_group = short_rho;
  CHECK_THAT(run(0.5, o), Catch::Contains("rho_per_group.size()"));
  s.rewards.back() = 3.0;
  CHECK_THAT(run(0.5), Catch::Contains("rewards["));
  s.rewards.back() = NAN;
  CHECK_THAT(run(0.5), Catch::Contains("rewards["));
  s.ids.pop_back();
  CHECK_THAT(run(0.5), Catch::Contains("ids.size()"));
  CHECK(t.save() == before);
  CHECK_THAT(error_of([&] { t.set(1, {-1.0, 1.0}); }), Catch::Contains("belief"));
}

TEMPLATE_TEST_CASE("spo_estimate is r - p(prompt), whitened as SPO does", "[spo]", float, double) {
  std::mt19937 gen(11);
  hadw::prompt_tracker t;
  naive_tracker ref;
  for (int step = 0; step < 3; ++step) {
    const auto s0 = make_step(gen, true);
    update(t, s0, 0.9);
    ref.update(s0, 0.9);
  }
  const auto s = make_step(gen, true);
  const auto layout = hadw::group_layout::from_offsets(s.offsets);
  std::vector<TestType> r(s.rewards.begin(), s.rewards.end()), out(r.size(), TestType(7));
  hadw::spo_options o;
  o.mask = s.mask;
  hadw::spo_estimate(t, s.ids, hadw::grouped(std::span<const TestType>(r), layout),
                     std::span<TestType>(out), o);
  // Naive: raw advantages in the output type, then torch-style whitening in double.
  std::vector<double> raw(r.size());
  double sum = 0;
  int n = 0;
  for (std::size_t k = 0; k < s.ids.size(); ++k)
    for (auto i = s.offsets[k]; i < s.offsets[k + 1]; ++i)
      if (s.mask[i])
        raw[i] = static_cast<TestType>(s.rewards[i] - ref.p(s.ids[k])), sum += raw[i], ++n;
  const double mean = sum / n;
  double ss = 0;
  for (std::size_t i = 0; i < raw.size(); ++i)
    if (s.mask[i]) ss += (raw[i] - mean) * (raw[i] - mean);
  const double sd = std::sqrt(ss / (n - 1));
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (!s.mask[i]) {
      CHECK(out[i] == 0);
      continue;
    }
    CHECK(out[i] == Approx((raw[i] - mean) / (sd + 1e-8))
                        .epsilon(std::is_same_v<TestType, float> ? 1e-5 : 1e-12));
  }
}

TEST_CASE("HA-DW with the tracker's per-prompt priors matches a naive Phi loop",
          "[tracker][prompt_phi]") {
  std::mt19937 gen(12);
  hadw::prompt_tracker t;
  naive_tracker ref;
  std::normal_distribution<double> z;
  for (int step = 0; step < 5; ++step) {
    const auto s = make_step(gen, step % 2 == 1);
    const auto layout = hadw::group_layout::from_offsets(s.offsets);
    std::vector<double> adv(s.rewards.size());
    for (auto& a : adv) a = z(gen);
    const auto before = adv;
    std::vector<double> priors(s.ids.size());
    t.priors(s.ids, priors);
    hadw::weigh_options o;
    o.mask = s.mask;
    hadw::weigh(hadw::grouped(std::span<double>(adv), layout),
                hadw::grouped(std::span<const double>(s.rewards), layout),
                hadw::prompt_phi{.priors = priors, .lambda_scale = 1.5}, o);
    for (std::size_t k = 0; k < s.ids.size(); ++k) {
      double sum = 0;
      int n = 0;
      for (auto i = s.offsets[k]; i < s.offsets[k + 1]; ++i)
        if (s.mask[i]) sum += s.rewards[i], ++n;
      const double diff = (n ? sum / n : 0.0) - ref.p(s.ids[k]);  // p_hat - C_prompt
      for (auto i = s.offsets[k]; i < s.offsets[k + 1]; ++i) {
        if (!s.mask[i]) {
          CHECK(adv[i] == before[i]);
          continue;
        }
        const double D = -(before[i] > 0   ? 1.0
                           : before[i] < 0 ? -1.0
                                           : 0.0) *
                         (diff > 0   ? 1.0
                          : diff < 0 ? -1.0
                                     : 0.0);
        CHECK(adv[i] == Approx(before[i] * 1.5 * std::exp(D * std::fabs(diff))).epsilon(1e-12));
      }
    }
    update(t, s, 0.9);  // the prompts' priors move after the step, as HA-DW's anchor does
    ref.update(s, 0.9);
  }
}
