// What a policy sees of a group: group_summary<V, Extrema, Median>, the group's statistics for
// one group (V = double) or for one group per SIMD lane (V = a pack of doubles; the CPU
// lockstep). It has the members a policy declared it reads and no others, so a policy that reads
// an undeclared statistic (argmax without needs_extrema, the median without needs_median) does
// not compile instead of reading a field nobody computed.
#pragma once

#include <hadw/config.hpp>
#include <hadw/detail/pack.hpp>
#include <hadw/stats/group.hpp>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace hadw {

/// x in every lane of V (V = double: x itself). x - 0 is x for every x, -0 and NaN included.
template <class V>
[[nodiscard]] HADW_HOST_DEVICE V splat(double x) {
  return x - V{};
}

/// sqrt of a double or of each lane of a pack (the packs' overload is in detail/pack.hpp):
/// correctly rounded both, so a lane's bits are the scalar's.
[[nodiscard]] HADW_HOST_DEVICE inline double lane_sqrt(double v) { return std::sqrt(v); }
using detail::lane_sqrt;

/// The moments every policy may read (count, mean, m2, min, max, weight sums), with the
/// derived quantities written once. For a pack every lane counts the same responses (a uniform
/// dense layout), so count is shared, and the size-1 rule never applies (groups of >= 2).
template <class V>
struct group_moments {
  using value_type = V;
  std::int64_t count = 0;
  V mean{}, m2{}, min{}, max{};
  V weight_sum{};     ///< sum of lengths (or count when no lengths)
  V weighted_mean{};  ///< sum(length * reward) / sum(length)
  bool singleton_as_raw = false;  ///< verl's size-1 rule is in force: mean 0, std 1

  /// Variance with ddof 1 (unbiased) or 0 (population); 0 without a degree of freedom.
  [[nodiscard]] HADW_HOST_DEVICE V variance(bool unbiased) const {
    const std::int64_t dof = unbiased ? count - 1 : count;
    return dof > 0 ? m2 / static_cast<double>(dof) : V{};
  }
  [[nodiscard]] HADW_HOST_DEVICE V stddev(bool unbiased) const {
    return singleton_as_raw ? splat<V>(1.0) : lane_sqrt(variance(unbiased));
  }
  /// r minus the group mean. In an all-equal group the mean is every reward exactly (see
  /// group_accumulator::stats), so this is exactly +0 there: no eps-sized residue.
  [[nodiscard]] HADW_HOST_DEVICE V centred(V r) const { return r - mean; }
};

/// The extrema a policy reads with `static constexpr bool needs_extrema = true` (Pass@k).
struct group_extrema {
  std::int64_t argmax = -1;  ///< group-order position of the first maximal reward (-1: none)
  double second_max = 0.0;   ///< largest reward among the others (== max when tied)
};
/// The order statistic a policy reads with `static constexpr bool needs_median = true`.
struct group_median {
  double median = 0.0;  ///< of the valid rewards; the mean of the two middle ones for an even count
};
/// The spread a policy reads with `static constexpr bool needs_abs_deviation = true` (DGPO's
/// mean absolute deviation): one more pass over the group, in the lockstep too.
template <class V>
struct group_abs_deviation_sum {
  V abs_dev{};  ///< sum of |r - mean| over the valid rewards (0 in an all-equal group)
};
template <int>
struct no_statistic {};

/// What a policy that declared Extrema / Median / AbsDev sees of a group.
template <class V, bool Extrema = false, bool Median = false, bool AbsDev = false>
struct group_summary : group_moments<V>,
                       std::conditional_t<Extrema, group_extrema, no_statistic<0>>,
                       std::conditional_t<Median, group_median, no_statistic<1>>,
                       std::conditional_t<AbsDev, group_abs_deviation_sum<V>, no_statistic<2>> {};

/// The summary a policy with these declarations sees of a group's computed statistics.
template <bool Extrema, bool Median, bool AbsDev = false>
[[nodiscard]] HADW_HOST_DEVICE group_summary<double, Extrema, Median, AbsDev> summary_of(
    const group_stats& g) {
  group_summary<double, Extrema, Median, AbsDev> s;
  s.count = g.count;
  s.mean = g.mean;
  s.m2 = g.m2;
  s.min = g.min;
  s.max = g.max;
  s.weight_sum = g.weight_sum;
  s.weighted_mean = g.weighted_mean;
  s.singleton_as_raw = g.singleton_as_raw;
  if constexpr (Extrema) {
    s.argmax = g.argmax;
    s.second_max = g.second_max;
  }
  if constexpr (Median) s.median = g.median;
  if constexpr (AbsDev) s.abs_dev = g.abs_dev;
  return s;
}

/// Whether a policy reads group_summary's extrema / median (declared as
/// `static constexpr bool needs_extrema = true` / `needs_median = true`): the kernels compute
/// them only then.
template <class P>
inline constexpr bool needs_extrema_v = requires { requires P::needs_extrema; };
template <class P>
inline constexpr bool needs_median_v = requires { requires P::needs_median; };
/// Whether a policy reads group_summary's abs_dev (`static constexpr bool needs_abs_deviation`).
template <class P>
inline constexpr bool needs_abs_deviation_v = requires { requires P::needs_abs_deviation; };
/// Whether a baseline reads the group's valid rewards in order up to the response's own
/// (`static constexpr bool sequential = true`, e.g. KRPO's Kalman filter): its deviation takes
/// the filter state after that reward in place of the position (estimators/sequence.hpp).
template <class P>
inline constexpr bool sequential_v = requires { requires P::sequential; };
/// Whether a policy runs one group at a time only (declared as
/// `static constexpr bool scalar_only = true`): its member templates are then never instantiated
/// for a SIMD pack. Without it, a policy must compile for group_summary<pack> as well.
template <class P>
inline constexpr bool scalar_only_v = requires { requires P::scalar_only; };

}  // namespace hadw
