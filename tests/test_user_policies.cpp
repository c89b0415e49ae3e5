// User-written policies (tests/support/user_policies.hpp: a midrange baseline, a max-min scale,
// a median baseline, an EMA belief) on the scalar CPU path and the SIMD lockstep, against naive
// loops written from their definitions.
#include "support/user_policies.hpp"

#include <catch2/catch.hpp>
#include <hadw/hadw.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

using test_support::ema_belief;
using test_support::median_estimator;
using test_support::median_unit_estimator;
using test_support::midrange_estimator;

namespace {

/// Per-group valid rewards by group, in group order (the reference's view of a batch).
std::vector<std::vector<std::size_t>> groups_of(const hadw::group_layout& layout) {
  std::vector<std::vector<std::size_t>> g(static_cast<std::size_t>(layout.num_groups()));
  for (std::int64_t k = 0; k < layout.num_groups(); ++k)
    for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j)
      g[static_cast<std::size_t>(k)].push_back(static_cast<std::size_t>(layout.index(j)));
  return g;
}

bool valid(const std::vector<std::uint8_t>& mask, std::size_t i) {
  return mask.empty() || mask[i] != 0;
}

/// midrange / max-min, written from the definition: (r - (min + max) / 2) / (max - min), 0 for
/// an all-equal group and for masked responses.
std::vector<double> naive_midrange(const hadw::group_layout& layout, const std::vector<double>& r,
                                   const std::vector<std::uint8_t>& mask) {
  std::vector<double> out(r.size(), 0.0);
  for (const auto& g : groups_of(layout)) {
    double lo = INFINITY, hi = -INFINITY;
    for (auto i : g)
      if (valid(mask, i)) lo = std::min(lo, r[i]), hi = std::max(hi, r[i]);
    for (auto i : g) {
      if (!valid(mask, i)) continue;
      const double d = r[i] - (lo + hi) * 0.5;
      out[i] = d == 0.0 ? 0.0 : d / (hi - lo);
    }
  }
  return out;
}

/// r - median (NumPy's median: the mean of the two middle values for an even count).
std::vector<double> naive_median_deviation(const hadw::group_layout& layout,
                                           const std::vector<double>& r,
                                           const std::vector<std::uint8_t>& mask) {
  std::vector<double> out(r.size(), 0.0);
  for (const auto& g : groups_of(layout)) {
    std::vector<double> v;
    for (auto i : g)
      if (valid(mask, i)) v.push_back(r[i]);
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    const double med = n % 2 ? v[n / 2] : v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2.0;
    for (auto i : g)
      if (valid(mask, i)) out[i] = r[i] - med;
  }
  return out;
}

std::vector<double> random_rewards(std::size_t n, std::uint64_t seed, bool binary) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> r(n);
  for (auto& x : r) x = binary ? (u(gen) < 0.4 ? 1.0 : 0.0) : std::round(u(gen) * 8.0) / 8.0;
  return r;
}

template <class E>
std::vector<double> run(const E& est, const hadw::group_layout& layout,
                        const std::vector<double>& r, const std::vector<std::uint8_t>& mask = {}) {
  std::vector<double> a(r.size(), -9.0);
  hadw::estimate(est, layout, std::span<const double>(r), std::span<double>(a), {.mask = mask});
  return a;
}

}  // namespace

TEST_CASE("a user's generic policies take the SIMD lockstep, a median policy the scalar path",
          "[user][lockstep]") {
  STATIC_REQUIRE(hadw::detail::cpu::lanes_available<midrange_estimator>);
  STATIC_REQUIRE_FALSE(hadw::detail::cpu::lanes_available<median_estimator>);
  STATIC_REQUIRE_FALSE(
      hadw::detail::cpu::lanes_available<test_support::midrange_scalar_estimator>);
  STATIC_REQUIRE(median_estimator::needs_median);
  STATIC_REQUIRE_FALSE(midrange_estimator::needs_median);
}

TEST_CASE("midrange baseline / max-min scale match the naive loop on every CPU path",
          "[user][lockstep]") {
  for (std::int64_t G : {2, 4, 8, 16, 64})
    for (bool binary : {true, false}) {
      const std::int64_t B = 3 * hadw::detail::lanes + 5;  // lockstep blocks and a scalar tail
      const auto layout = hadw::group_layout::uniform(B, G);
      const auto r = random_rewards(static_cast<std::size_t>(B * G), 17u + G, binary);
      INFO("G = " << G << ", binary = " << binary);
      const auto dense = run(midrange_estimator{}, layout, r);  // lockstep where it fits
      CHECK(dense == naive_midrange(layout, r, {}));
      // The same groups through the scalar path: a mask of ones turns the dense reader off.
      const std::vector<std::uint8_t> ones(r.size(), 1);
      CHECK(run(midrange_estimator{}, layout, r, ones) == dense);
      // A policy that declared scalar_only: one group at a time, the same bits.
      CHECK(run(test_support::midrange_scalar_estimator{}, layout, r) == dense);
      std::vector<std::uint8_t> some(r.size(), 1);
      for (std::size_t i = 0; i < some.size(); i += 3) some[i] = 0;
      // A group left with one valid response: its midrange is itself (the naive 0), zeroed.
      const midrange_estimator zero{{}, {}, hadw::singleton_rule::zero};
      CHECK(run(zero, layout, r, some) == naive_midrange(layout, r, some));
    }
}

TEST_CASE("a median baseline matches the naive median on uniform, ragged and masked groups",
          "[user]") {
  const auto uniform = hadw::group_layout::uniform(40, 7);
  const auto ragged = hadw::group_layout::from_offsets({0, 2, 5, 9, 16, 17, 30});
  for (const auto* layout : {&uniform, &ragged}) {
    const auto r = random_rewards(static_cast<std::size_t>(layout->num_responses()), 5, false);
    const median_unit_estimator est{.singleton = hadw::singleton_rule::zero};
    std::vector<double> expected = naive_median_deviation(*layout, r, {});
    for (std::int64_t k = 0; k < layout->num_groups(); ++k)  // the size-1 rule zeroes a lone one
      if (layout->size(k) == 1) expected[static_cast<std::size_t>(layout->begin(k))] = 0.0;
    CHECK(run(est, *layout, r) == expected);
    std::vector<std::uint8_t> mask(r.size(), 1);
    for (std::size_t i = 1; i < mask.size(); i += 4) mask[i] = 0;
    std::vector<double> masked = naive_median_deviation(*layout, r, mask);
    for (std::int64_t k = 0; k < layout->num_groups(); ++k) {
      std::int64_t n = 0;
      for (std::int64_t j = layout->begin(k); j < layout->end(k); ++j) n += mask[std::size_t(j)];
      if (n == 1)
        for (std::int64_t j = layout->begin(k); j < layout->end(k); ++j) masked[std::size_t(j)] = 0;
    }
    CHECK(run(est, *layout, r, mask) == masked);
  }
  // Even counts take the mean of the two middle rewards; odd the middle one.
  const auto two = hadw::group_layout::uniform(1, 4);
  CHECK(run(median_unit_estimator{}, two, {0.0, 1.0, 0.25, 0.5}) ==
        std::vector<double>{-0.375, 0.625, -0.125, 0.125});
  const auto three = hadw::group_layout::uniform(1, 3);
  CHECK(run(median_unit_estimator{}, three, {0.0, 1.0, 0.25}) ==
        std::vector<double>{-0.25, 0.75, 0.0});
}

TEST_CASE("a median baseline with a std scale divides by the group's std + eps", "[user]") {
  const auto layout = hadw::group_layout::uniform(1, 5);
  const std::vector<double> r{0.0, 1.0, 1.0, 0.0, 1.0};
  const auto a = run(median_estimator{}, layout, r);
  const double sd = std::sqrt(0.3);  // mean 0.6, m2 = 2 * 0.36 + 3 * 0.16 = 1.2, ddof 1
  for (std::size_t i = 0; i < r.size(); ++i)
    CHECK(a[i] == Approx((r[i] - 1.0) / (sd + 1e-6)).epsilon(1e-12));
}

TEST_CASE("an EMA belief written by a user drives the fused step like the naive recurrence",
          "[user][belief]") {
  const auto layout = hadw::group_layout::uniform(32, 8);
  hadw::difficulty_anchor<ema_belief> anchor(ema_belief::config{.alpha = 0.3});
  double belief = 0.5;
  for (int step = 0; step < 4; ++step) {
    const auto r = random_rewards(256, 100u + static_cast<unsigned>(step), true);
    std::vector<double> adv(r.size());
    const auto st = hadw::estimate_and_reweight(midrange_estimator{}, layout,
                                                std::span<const double>(r),
                                                std::span<double>(adv), anchor,
                                                {.lambda_scale = 1.3});
    CHECK(st.weighting_belief == belief);  // prior timing: the belief before this batch
    const auto plain = naive_midrange(layout, r, {});
    for (std::int64_t k = 0; k < layout.num_groups(); ++k) {
      double p = 0.0;
      for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j) p += r[std::size_t(j)];
      p /= 8.0;
      const double diff = p - belief;
      for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j) {
        const double x = plain[std::size_t(j)];
        const double sgn = (x > 0) - (x < 0), dsg = (diff > 0) - (diff < 0);
        CHECK(adv[std::size_t(j)] == Approx(x * 1.3 * std::exp(-sgn * dsg * std::fabs(diff)))
                                         .epsilon(1e-14).margin(1e-300));
      }
    }
    const double y = std::accumulate(r.begin(), r.end(), 0.0) / 256.0;
    belief = (1.0 - 0.3) * belief + 0.3 * y;
    CHECK(anchor.prior() == belief);
  }
  const auto restored = hadw::difficulty_anchor<ema_belief>::load(anchor.save());
  CHECK(restored == anchor);
}
