// The CPU scan: every check on the rewards, and the step's observation, before anything is
// written. One group at a time (observe_group) or, on a uniform dense batch, a pack of groups in
// lockstep with the same sums in the same order.
#pragma once

#include <hadw/backend/cpu/readers.hpp>
#include <hadw/detail/blocks.hpp>
#include <hadw/detail/pack.hpp>
#include <hadw/detail/tile.hpp>
#include <hadw/estimators/rules.hpp>
#include <hadw/layout.hpp>
#include <hadw/step/observation.hpp>

#include <cmath>
#include <cstdint>

namespace hadw::detail::cpu {

// ---------------------------------------------------------------------------------------------
// Scan: every check on the rewards, and the inputs of y_t, before anything is written

/// Which checks a scan makes: estimate's (finite rewards, the size-1 rule), reweight's (rewards
/// inside the declared range, y_t's counts), or both for the fused step.
struct scan_rules {
  bool estimate = false;
  singleton_rule singleton = singleton_rule::zero;
  bool reweight = false;
  double success_threshold = 0.5;
};

/// One group, any reader: records the first failure of each family of checks, and the group's
/// observation (observe_group) under the reweight rules.
template <class Reader, class Range>
void scan_group(const group_layout& layout, const Reader& in, const Range& range,
                const scan_rules& rules, std::int64_t k, observation& part) {
  using kind = reward_failure::kind;
  std::int64_t valid = 0;
  for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j) {
    const std::int64_t i = in.index(j);
    if (masked_out(in, i)) continue;
    const double r = in.reward(i);
    if (std::isnan(r)) [[unlikely]] {
      if (!skips_nan(in)) {
        part.estimate_failure.keep_first({kind::nan, i, r});
        part.reweight_failure.keep_first({kind::nan, i, r});
      }
      continue;
    }
    if (rules.estimate && !reward_in_domain(r)) [[unlikely]]
      part.estimate_failure.keep_first({kind::non_finite, i, r});
    if (rules.reweight && !(r >= range_low(range) && r <= range_high(range))) [[unlikely]]
      part.reweight_failure.keep_first({kind::out_of_range, i, r});
    ++valid;
  }
  if (rules.estimate && valid == 1 && rules.singleton == singleton_rule::reject) [[unlikely]]
    part.estimate_failure.keep_first({kind::singleton, k, 0.0});
  if (rules.reweight)
    part.merge(observe_group(in, layout.begin(k), layout.end(k), range, rules.success_threshold));
}

/// What the dense scan keeps of one group (V = double) or of pack_width groups (V = pack): y_t's
/// sums in the order of scan_group's, and the extremes, from which every check follows without
/// a comparison per reward: all rewards lie in an interval iff the minimum and the maximum do,
/// and a NaN reward makes the sum NaN (an infinite one is an extreme).
template <class V>
struct dense_scan_lane {
  V sum{}, correct{}, lo = V{} + INFINITY, hi = V{} - INFINITY;

  template <class Range>
  void add(V r, const Range& range, const scan_rules& rules) {
    if (rules.reweight) {
      const V u = range.normalise(r);
      sum += u;
      correct += u >= rules.success_threshold ? V{} + 1.0 : V{};  // exact below 2^53
    } else {
      sum += r;
    }
    lo = r < lo ? r : lo;
    hi = r > hi ? r : hi;
  }
  /// The pack form's lanes as one-group lanes (each member stored once, then read per lane).
  void split(dense_scan_lane<double>* out) const {
    double s[pack_width], c[pack_width], a[pack_width], b[pack_width];
    store_pack(s, sum);
    store_pack(c, correct);
    store_pack(a, lo);
    store_pack(b, hi);
    for (int l = 0; l < pack_width; ++l) out[l] = {s[l], c[l], a[l], b[l]};
  }
  /// Adds the group k of a one-group lane to `part`; a group with anything wrong in it is
  /// handed to scan_group, which names the failure.
  template <class T, class Range>
  void settle(const group_layout& layout, const dense_view<T>& in, const Range& range,
              const scan_rules& rules, std::int64_t k, observation& part) const {
    const std::int64_t size = layout.end(k) - layout.begin(k);
    const double s = sum, low = lo, high = hi;
    bool ok = !std::isnan(s);
    if (rules.reweight) ok = ok && low >= range_low(range) && high <= range_high(range);
    if (rules.estimate) ok = ok && reward_in_domain(low) && reward_in_domain(high);
    const bool singleton_rejected =
        rules.estimate && size == 1 && rules.singleton == singleton_rule::reject;
    if (!ok || singleton_rejected) [[unlikely]]
      return scan_group(layout, response_view<T>{in.rewards}, range, rules, k, part);
    if (rules.reweight)  // observe_group's fields, summed in its order
      part.merge({static_cast<std::int64_t>(correct), size, low == high, s, {}, {}});
  }
};

/// One group of a dense_view: the same sums in the same order without a branch per reward.
template <class T, class Range>
void scan_group(const group_layout& layout, const dense_view<T>& in, const Range& range,
                const scan_rules& rules, std::int64_t k, observation& part) {
  dense_scan_lane<double> lane;
  for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j)
    lane.add(in.reward(j), range, rules);
  lane.settle(layout, in, range, rules, k, part);
}

/// Groups [k0, k0 + lanes) of a uniform layout (size G) in lockstep; settled in group order.
template <class T>
void scan_lanes(const group_layout& layout, const dense_view<T>& in, const unit_range& range,
                const scan_rules& rules, std::int64_t k0, std::int64_t G, observation& part) {
  lockstep_tile tile;
  tile.load(in.rewards + k0 * G, G);
  dense_scan_lane<pack> lane[lane_packs];
  for (std::int64_t j = 0; j < G; ++j)
    for (int p = 0; p < lane_packs; ++p) lane[p].add(tile.at(j, p), range, rules);
  for (int p = 0; p < lane_packs; ++p) {
    dense_scan_lane<double> one[pack_width];
    lane[p].split(one);
    for (int l = 0; l < pack_width; ++l)
      one[l].settle(layout, in, range, rules, k0 + p * pack_width + l, part);
  }
}

template <class Reader, class Range>
void scan_block(const group_layout& layout, const Reader& in, const Range& range,
                const scan_rules& rules, std::int64_t g0, std::int64_t g1, observation& part) {
  std::int64_t k = g0;
  if constexpr (lockstep_enabled && is_dense_view<Reader> && std::is_same_v<Range, unit_range>)
    if (layout.is_uniform() && lockstep_fits(layout.uniform_size()))
      for (; k + lanes <= g1; k += lanes)
        scan_lanes(layout, in, range, rules, k, layout.uniform_size(), part);
  for (; k < g1; ++k) scan_group(layout, in, range, rules, k, part);
}

/// Scans the rewards under `rules`. Reads only; never throws (failures are in the result).
template <class T>
[[nodiscard]] observation scan(const group_layout& layout, const response_view<T>& view,
                                const reward_range& range, const scan_rules& rules) {
  const bool parallel = worth_parallel(layout.num_responses());
  return with_reader(view, [&](const auto& in) {
    return with_range(range, [&](const auto& rg) {
      return reduce_blocks<observation>(
          layout.num_groups(), parallel, [&](std::int64_t g0, std::int64_t g1, observation& p) {
            scan_block(layout, in, rg, rules, g0, g1, p);
          });
    });
  });
}

}  // namespace hadw::detail::cpu
