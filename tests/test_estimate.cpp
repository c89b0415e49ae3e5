// hadw::estimate and every estimator, against the independent long-double reference in
// tests/support/reference.hpp and hand-checked values.
#include <hadw/estimators/compat.hpp>
#include <hadw/api/estimate.hpp>

#include "support/reference.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

template <class T>
std::vector<T> run(const auto& est, const hadw::group_layout& layout, const std::vector<T>& r,
                   const hadw::estimate_options& opt = {}) {
  std::vector<T> out(r.size(), T(-999));
  hadw::estimate(est, layout, std::span<const T>(r), std::span<T>(out), opt);
  return out;
}

template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 2e-6 : 1e-12;
}

template <class T>
void check_close(const std::vector<T>& got, const std::vector<ref::real>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("i = " << i << ", got " << got[i] << ", want " << static_cast<double>(want[i]));
    CHECK(static_cast<double>(got[i]) ==
          Approx(static_cast<double>(want[i])).epsilon(tolerance<T>()).margin(tolerance<T>()));
  }
}

/// A random ragged batch: group sizes in [2, 9], rewards binary or continuous.
struct random_case {
  ref::batch b;
  std::vector<std::int64_t> offsets{0};
};

random_case make_random(std::mt19937_64& rng, bool binary, bool with_mask, bool with_lengths) {
  random_case c;
  std::uniform_int_distribution<int> groups(1, 12), size(2, 9), len(1, 50);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int B = groups(rng);
  for (int k = 0; k < B; ++k) {
    const int G = size(rng);
    const double p = u(rng);
    for (int i = 0; i < G; ++i) {
      c.b.rewards.push_back(binary ? (u(rng) < p ? 1 : 0) : std::round(u(rng) * 64) / 64);
      c.b.group_id.push_back(k);
      if (with_mask) c.b.mask.push_back(u(rng) < 0.85 ? 1 : 0);
      if (with_lengths) c.b.lengths.push_back(len(rng));
    }
    c.offsets.push_back(c.offsets.back() + G);
  }
  return c;
}

}  // namespace

TEST_CASE("GRPO and RLOO reproduce the hand-checked values on [1,0,0,1 | 1,1,1,0]", "[estimate]") {
  const std::vector<double> r{1, 0, 0, 1, 1, 1, 1, 0};
  const auto layout = hadw::group_layout::uniform(2, 4);
  // group 1: mean 0.5, unbiased std sqrt(1/3); group 2: mean 0.75, std 0.5.
  const auto g = run(hadw::grpo{.eps = 1e-6, .unbiased = true}, layout, r);
  const double s1 = std::sqrt(1.0 / 3.0) + 1e-6, s2 = 0.5 + 1e-6;
  CHECK(g[0] == Approx(0.866024).epsilon(1e-6));
  CHECK(g[0] == Approx(0.5 / s1).epsilon(1e-14));
  CHECK(g[1] == Approx(-0.5 / s1).epsilon(1e-14));
  CHECK(g[4] == Approx(0.25 / s2).epsilon(1e-14));
  CHECK(g[7] == Approx(-0.75 / s2).epsilon(1e-14));
  CHECK(g[4] == Approx(0.5).epsilon(1e-5));
  CHECK(g[7] == Approx(-1.5).epsilon(1e-5));

  const auto l = run(hadw::rloo{}, layout, r);
  const std::vector<double> want{2.0 / 3, -2.0 / 3, -2.0 / 3, 2.0 / 3, 1.0 / 3, 1.0 / 3, 1.0 / 3, -1};
  for (std::size_t i = 0; i < 8; ++i) CHECK(l[i] == Approx(want[i]).epsilon(1e-14));
}

TEST_CASE("Population std and eps inside the sqrt are honoured", "[estimate]") {
  const std::vector<double> r{1, 0, 0, 1};
  const auto layout = hadw::group_layout::uniform(1, 4);
  const auto pop = run(hadw::grpo{.eps = 0.0, .unbiased = false}, layout, r);
  CHECK(pop[0] == Approx(1.0).epsilon(1e-15));  // population std 0.5
  const auto in = run(
      hadw::grpo{.eps = 0.25, .unbiased = false, .eps_at = hadw::eps_placement::add_to_var},
      layout, r);
  CHECK(in[0] == Approx(0.5 / std::sqrt(0.25 + 0.25)).epsilon(1e-15));
}

TEMPLATE_TEST_CASE("Every estimator matches the reference on random ragged batches with masks",
                   "[estimate][random]", float, double) {
  std::mt19937_64 rng(20260125);
  for (int trial = 0; trial < 60; ++trial) {
    const bool binary = trial % 2 == 0, masked = trial % 3 == 0, lengths = trial % 4 != 0;
    random_case c = make_random(rng, binary, masked, lengths);
    std::vector<TestType> r(c.b.rewards.begin(), c.b.rewards.end());
    for (auto& x : c.b.rewards) x = static_cast<TestType>(x);  // reference sees the same inputs
    // Ragged CSR layout and the same batch shuffled behind string ids.
    const auto csr = hadw::group_layout::from_offsets(c.offsets);
    std::vector<std::size_t> perm(r.size());
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    ref::batch shuffled;
    std::vector<std::string> ids;
    std::vector<TestType> rs;
    for (auto i : perm) {
      shuffled.rewards.push_back(c.b.rewards[i]);
      shuffled.group_id.push_back(c.b.group_id[i]);
      if (!c.b.mask.empty()) shuffled.mask.push_back(c.b.mask[i]);
      if (!c.b.lengths.empty()) shuffled.lengths.push_back(c.b.lengths[i]);
      ids.push_back("uid-" + std::to_string(c.b.group_id[i]));
      rs.push_back(r[i]);
    }
    const auto by_id = hadw::group_layout::from_ids(ids);

    const auto check_all = [&](const hadw::group_layout& layout, const std::vector<TestType>& rew,
                               const ref::batch& rb) {
      hadw::estimate_options opt{.mask = rb.mask, .lengths = rb.lengths};
      const ref::options zero{.eps = 1e-6L, .unbiased = true, .singleton = ref::single::zero};
      const auto z = hadw::singleton_rule::zero;
      check_close(run(hadw::grpo{.singleton = z}, layout, rew, opt),
                  ref::advantages(rb, ref::est::grpo, zero));
      check_close(run(hadw::dr_grpo{.singleton = z}, layout, rew, opt),
                  ref::advantages(rb, ref::est::dr_grpo, zero));
      check_close(run(hadw::rloo{.singleton = z}, layout, rew, opt),
                  ref::advantages(rb, ref::est::rloo, zero));
      check_close(run(hadw::grpo_passk{.singleton = z}, layout, rew, opt),
                  ref::advantages(rb, ref::est::passk, zero));
      const ref::options e4{.eps = 1e-4L, .unbiased = true, .singleton = ref::single::zero};
      check_close(run(hadw::grpo_batch_std{.singleton = z}, layout, rew, opt),
                  ref::advantages(rb, ref::est::batch_raw, e4));
      check_close(run(hadw::grpo_batch_std{.centred = true, .singleton = z}, layout, rew, opt),
                  ref::advantages(rb, ref::est::batch_centred, e4));
      check_close(run(hadw::gpg{.singleton = z}, layout, rew, opt),
                  ref::advantages(rb, ref::est::gpg, zero));
      const ref::options e8{.eps = 1e-8L, .unbiased = true, .singleton = ref::single::zero};
      check_close(run(hadw::reinforce_pp_baseline{.singleton = z}, layout, rew, opt),
                  ref::advantages(rb, ref::est::rpp, e8));
      if (!rb.lengths.empty())
        check_close(run(hadw::opo{.singleton = z}, layout, rew, opt),
                    ref::advantages(rb, ref::est::opo, zero));
      // verl's singleton convention (mean 0, std 1).
      const ref::options raw{.eps = 1e-6L, .unbiased = true, .singleton = ref::single::raw};
      check_close(run(hadw::compat::verl::grpo, layout, rew, opt),
                  ref::advantages(rb, ref::est::grpo, raw));
      check_close(run(hadw::compat::verl::rloo, layout, rew, opt),
                  ref::advantages(rb, ref::est::rloo, raw));
      const ref::options raw8{.eps = 1e-8L, .unbiased = true, .singleton = ref::single::raw};
      check_close(run(hadw::compat::verl::reinforce_pp_baseline, layout, rew, opt),
                  ref::advantages(rb, ref::est::rpp, raw8));
    };
    check_all(csr, r, c.b);
    check_all(by_id, rs, shuffled);
  }
}

TEST_CASE("Outputs land at the caller's index for id layouts", "[estimate][layout]") {
  // Interleaved ids: groups a = {1, 0, 0}, b = {0, 1, 1} at positions 0,2,4 and 1,3,5.
  const std::vector<int> ids{7, 3, 7, 3, 7, 3};
  const std::vector<float> r{1, 0, 0, 1, 0, 1};
  const auto out = run(hadw::dr_grpo{}, hadw::group_layout::from_ids(ids), r);
  const std::vector<float> want{2.f / 3, -2.f / 3, -1.f / 3, 1.f / 3, -1.f / 3, 1.f / 3};
  for (std::size_t i = 0; i < 6; ++i) CHECK(out[i] == Approx(want[i]).epsilon(1e-6));
}

TEST_CASE("All-equal groups give exactly zero for every group-relative estimator", "[estimate]") {
  // 0.1 is not exactly representable: a naive mean would leave an eps-sized residue.
  const std::vector<float> r{0.1f, 0.1f, 0.1f, 1, 0, 0.7f, 0.7f, 0.7f, 0.7f};
  const auto layout = hadw::group_layout::from_offsets(std::vector<int>{0, 3, 5, 9});
  const std::vector<std::int64_t> len{3, 9, 4, 2, 2, 1, 5, 8, 2};
  const hadw::estimate_options opt{.lengths = len};
  const auto zero_at = [](const std::vector<float>& a) {
    return a[0] == 0.f && a[1] == 0.f && a[2] == 0.f && a[5] == 0.f && a[6] == 0.f &&
           a[7] == 0.f && a[8] == 0.f && a[3] != 0.f;
  };
  CHECK(zero_at(run(hadw::grpo{.eps = 0.0}, layout, r, opt)));
  CHECK(zero_at(run(hadw::grpo{}, layout, r, opt)));
  CHECK(zero_at(run(hadw::dr_grpo{}, layout, r, opt)));
  CHECK(zero_at(run(hadw::rloo{}, layout, r, opt)));
  CHECK(zero_at(run(hadw::opo{}, layout, r, opt)));
  CHECK(zero_at(run(hadw::gpg{}, layout, r, opt)));
  CHECK(zero_at(run(hadw::grpo_passk{}, layout, r, opt)));
  CHECK(zero_at(run(hadw::grpo_batch_std{}, layout, r, opt)));
}

TEST_CASE("Size-1 groups follow the chosen singleton rule", "[estimate][singleton]") {
  const std::vector<double> r{0.75, 1, 0, 1};
  const auto layout = hadw::group_layout::from_offsets(std::vector<int>{0, 1, 4});
  SECTION("reject names the group") {
    std::vector<double> out(4, 42.0);
    REQUIRE_THROWS_WITH(hadw::estimate(hadw::grpo{}, layout, std::span<const double>(r),
                                       std::span<double>(out)),
                        Catch::Contains("group 0") && Catch::Contains("single valid response"));
    CHECK(out == std::vector<double>(4, 42.0));  // nothing written
  }
  SECTION("zero") {
    CHECK(run(hadw::grpo{.singleton = hadw::singleton_rule::zero}, layout, r)[0] == 0.0);
    CHECK(run(hadw::rloo{.singleton = hadw::singleton_rule::zero}, layout, r)[0] == 0.0);
  }
  SECTION("raw_reward is verl's mean 0 / std 1") {
    CHECK(run(hadw::compat::verl::grpo, layout, r)[0] == Approx(0.75 / (1 + 1e-6)).epsilon(1e-15));
    CHECK(run(hadw::compat::verl::rloo, layout, r)[0] == 0.75);
    CHECK(run(hadw::compat::verl::dr_grpo, layout, r)[0] == 0.75);
  }
  SECTION("a group left with one valid response by the mask counts as a singleton") {
    const std::vector<std::uint8_t> mask{1, 1, 1, 0};
    std::vector<double> out(4);
    CHECK_THROWS_WITH(hadw::estimate(hadw::grpo{}, hadw::group_layout::uniform(2, 2),
                                     std::span<const double>(r), std::span<double>(out),
                                     {.mask = mask}),
                      Catch::Contains("group 1"));
  }
}

TEST_CASE("Masked and unscorable responses get 0 and stay out of the statistics",
          "[estimate][mask]") {
  const std::vector<float> r{1, 0, 0, 1, 5};
  const auto layout = hadw::group_layout::uniform(1, 5);
  const std::vector<std::uint8_t> mask{1, 1, 1, 1, 0};
  const auto masked = run(hadw::grpo{}, layout, r, {.mask = mask});
  CHECK(masked[4] == 0.f);
  const auto plain = run(hadw::grpo{}, hadw::group_layout::uniform(1, 4),
                         std::vector<float>(r.begin(), r.begin() + 4));
  for (int i = 0; i < 4; ++i) CHECK(masked[i] == plain[i]);

  std::vector<float> with_nan = r;
  with_nan[4] = NAN;
  const auto unscorable = run(hadw::grpo{}, layout, with_nan, {.nan = hadw::nan_policy::unscorable});
  CHECK(unscorable[4] == 0.f);
  for (int i = 0; i < 4; ++i) CHECK(unscorable[i] == plain[i]);
}

TEST_CASE("Results are bit-identical across runs", "[estimate][determinism]") {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> r(512 * 16);
  for (auto& x : r) x = u(rng);
  const auto layout = hadw::group_layout::uniform(512, 16);
  const auto a = run(hadw::reinforce_pp_baseline{}, layout, r);
  const auto b = run(hadw::reinforce_pp_baseline{}, layout, r);
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

TEST_CASE("Bad input is rejected with a message naming the argument", "[estimate][errors]") {
  const auto layout = hadw::group_layout::uniform(2, 4);
  std::vector<float> r{1, 0, 0, 1, 1, 1, 1, 0}, out(8, 3.f);
  const auto call = [&](const auto& est, const std::vector<float>& rew,
                        const hadw::estimate_options& opt = {}) {
    hadw::estimate(est, layout, std::span<const float>(rew), std::span<float>(out), opt);
  };
  CHECK_THROWS_AS(call(hadw::grpo{}, std::vector<float>(7)), hadw::error);
  CHECK_THROWS_WITH(call(hadw::grpo{}, std::vector<float>(7)),
                    Catch::Contains("rewards.size()") && Catch::Contains("7 vs 8"));
  std::vector<float> short_out(5);
  CHECK_THROWS_WITH(hadw::estimate(hadw::grpo{}, layout, std::span<const float>(r),
                                   std::span<float>(short_out)),
                    Catch::Contains("advantages.size()"));
  auto nan = r;
  nan[5] = NAN;
  CHECK_THROWS_WITH(call(hadw::grpo{}, nan), Catch::Contains("rewards[5]") && Catch::Contains("NaN"));
  auto inf = r;
  inf[2] = -INFINITY;
  CHECK_THROWS_WITH(call(hadw::grpo{}, inf), Catch::Contains("rewards[2]"));
  inf[2] = INFINITY;  // not excused by the NaN policy
  CHECK_THROWS_AS(call(hadw::grpo{}, inf, {.nan = hadw::nan_policy::unscorable}), hadw::error);
  CHECK_THROWS_WITH(call(hadw::grpo{.eps = -1e-6}, r), Catch::Contains("eps"));
  CHECK_THROWS_WITH(call(hadw::grpo_batch_std{.eps = NAN}, r), Catch::Contains("eps"));
  CHECK_THROWS_WITH(call(hadw::gpg{.f_norm = 0}, r), Catch::Contains("f_norm"));
  CHECK_THROWS_WITH(call(hadw::opo{}, r), Catch::Contains("lengths"));
  const std::vector<std::int64_t> neg{1, 2, 3, -1, 1, 1, 1, 1};
  CHECK_THROWS_WITH(call(hadw::opo{}, r, {.lengths = neg}), Catch::Contains("lengths[3]"));
  const std::vector<std::uint8_t> mask3(3, 1);
  CHECK_THROWS_WITH(call(hadw::grpo{}, r, {.mask = mask3}), Catch::Contains("mask.size()"));
  CHECK(out == std::vector<float>(8, 3.f));  // no rejected call wrote anything
}

TEST_CASE("Integer rewards are read as their values", "[estimate][types]") {
  // A verifier's 0/1 or integer scores: the same advantages as the same values in double.
  const auto layout = hadw::group_layout::uniform(3, 4);
  const std::vector<std::int64_t> ri{1, 0, 0, 1, 3, -2, 0, 7, 1, 1, 1, 1};
  const std::vector<std::uint8_t> ru{1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1};
  std::vector<double> rd(ri.begin(), ri.end()), rdu(ru.begin(), ru.end());
  std::vector<double> from_int(12), from_double(12);
  hadw::estimate(hadw::grpo{}, layout, std::span<const std::int64_t>(ri),
                 std::span<double>(from_int));
  hadw::estimate(hadw::grpo{}, layout, std::span<const double>(rd),
                 std::span<double>(from_double));
  CHECK(from_int == from_double);
  hadw::estimate(hadw::rloo{}, layout, std::span<const std::uint8_t>(ru),
                 std::span<double>(from_int));
  hadw::estimate(hadw::rloo{}, layout, std::span<const double>(rdu),
                 std::span<double>(from_double));
  CHECK(from_int == from_double);
}

TEMPLATE_TEST_CASE("In place (advantages = rewards) equals a separate output",
                   "[estimate][in_place]", float, double) {
  std::mt19937_64 rng(3);
  std::vector<int> ids;
  for (int k = 0; k < 30; ++k)
    for (int j = 0; j < 5; ++j) ids.push_back((k * 11 + j * 7) % 30);
  for (const auto& layout :
       {hadw::group_layout::from_ids(ids), hadw::group_layout::uniform(30, 5)}) {
    std::vector<TestType> r(ids.size());
    for (auto& x : r) x = static_cast<TestType>(std::uniform_real_distribution<>(0, 1)(rng));
    r[4] = static_cast<TestType>(NAN);
    const hadw::estimate_options o{.nan = hadw::nan_policy::unscorable};
    std::vector<TestType> out(r.size()), buf = r;
    hadw::estimate(hadw::grpo{}, layout, std::span<const TestType>(r), std::span<TestType>(out), o);
    hadw::estimate(hadw::grpo{}, layout, std::span<const TestType>(buf), std::span<TestType>(buf),
                   o);
    CHECK(std::memcmp(out.data(), buf.data(), out.size() * sizeof(TestType)) == 0);
  }
}
