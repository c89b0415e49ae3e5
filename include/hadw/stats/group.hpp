// Per-group statistics: the one reduction every estimator and the HA-DW weighting share.
#pragma once

#include <hadw/config.hpp>
#include <hadw/stats/order.hpp>
#include <hadw/stats/readers.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace hadw {

/// Statistics of the valid responses of one group.
///
/// Numeric contract: accumulation in double, counts in int64, and a *two-pass* variance (mean
/// first, then the sum of squared deviations from it). Two-pass rather than Welford because a
/// group (4-64 responses) is still in L1 for the second pass, so it costs no memory traffic, it
/// is exact for the all-equal case, and it needs no division per element. A group whose valid
/// rewards are all equal is flagged `degenerate`; its mean is then that value exactly and m2 is
/// exactly 0, so every estimator gives it advantage exactly 0 (no eps-sized residue).
struct group_stats {
  std::int64_t count = 0;       ///< valid responses
  double mean = 0.0;            ///< mean of the valid rewards
  double m2 = 0.0;              ///< sum of squared deviations from mean
  double min = 0.0;
  double max = 0.0;
  std::int64_t argmax = -1;     ///< group-order position of the first maximal reward (-1: none)
  double second_max = 0.0;      ///< largest reward among the others (== max when tied)
  double weight_sum = 0.0;      ///< sum of lengths (or count when no lengths)
  double weighted_mean = 0.0;   ///< sum(length * reward) / sum(length)
  double median = 0.0;          ///< of the valid rewards (computed for policies that need it)
  double abs_dev = 0.0;  ///< sum of |r - mean| over the valid rewards (for policies that need it)
  bool singleton_as_raw = false;  ///< verl's size-1 rule is in force: mean 0, std 1

  [[nodiscard]] HADW_HOST_DEVICE bool degenerate() const {
    return count >= 1 && min == max && !singleton_as_raw;
  }
  /// Variance with ddof 1 (unbiased, torch's default) or 0 (population). A single response has
  /// no unbiased variance: 0 is returned (the size-1 rule of the estimator decides what happens).
  [[nodiscard]] HADW_HOST_DEVICE double variance(bool unbiased) const {
    const std::int64_t dof = unbiased ? count - 1 : count;
    return dof > 0 ? m2 / static_cast<double>(dof) : 0.0;
  }
  [[nodiscard]] HADW_HOST_DEVICE double stddev(bool unbiased) const {
    return singleton_as_raw ? 1.0 : std::sqrt(variance(unbiased));
  }

  /// r minus the group mean; exactly 0 in an all-equal group.
  [[nodiscard]] HADW_HOST_DEVICE double centred(double r) const {
    return degenerate() ? 0.0 : r - mean;
  }

  /// verl's convention for a group with one response: baseline 0 and std 1, so the advantage is
  /// the raw reward (divided by 1 + eps where the estimator normalises).
  HADW_HOST_DEVICE void make_raw_singleton() {
    mean = 0.0;
    weighted_mean = 0.0;
    second_max = 0.0;
    median = 0.0;
    m2 = 0.0;
    abs_dev = 0.0;
    singleton_as_raw = true;
  }
};

/// compute_group_stats as a running accumulator, one response at a time. V is double (one
/// group), or a SIMD vector of doubles with one group per lane: the CPU kernels step the groups
/// of a uniform, dense batch in lockstep that way, each lane in its own group's order, so every
/// lane's bits are those of the one-group walk. The formulas exist once, here.
///
/// `Extrema` = false skips argmax and second_max (only the Pass@k baseline reads them; see
/// needs_extrema_v); every other field is computed with the same operations either way. The
/// vector form has no extrema, and every lane counts the same responses (count is shared).
///
/// `Weighted` = false is for readers whose every weight is 1 (dense_view): there the weighted
/// sum is the sum and the weight sum the count, bit for bit (1.0 * r == r, and sums of ones are
/// exact), so they are not accumulated.
template <bool Extrema = true, class V = double, bool Weighted = true>
struct group_accumulator {
  static_assert(!Extrema || std::is_same_v<V, double>, "extrema are tracked for one group only");
  std::int64_t count = 0;
  V min{}, max{}, sum{}, weighted_sum{}, weight_sum{};
  V mean{};  ///< set from stats() before pass 2
  V m2{};
  std::int64_t argmax = -1;  ///< Extrema only
  double second_max = 0.0;   ///< Extrema only

  /// Pass 1: response at group position `pos` with reward r and weight w.
  HADW_HOST_DEVICE void add(V r, V w, std::int64_t pos) {
    if (count == 0) {
      min = max = r;
      if constexpr (Extrema) {
        argmax = pos;
        second_max = -INFINITY;
      }
    } else {
      // Selects, not branches: with 0/1 rewards "a new maximum" is a coin flip per response,
      // and a mispredicted branch costs more than the whole update. (A new maximum exceeds
      // the minimum, so updating min unconditionally changes nothing.)
      const auto new_max = r > max;
      if constexpr (Extrema) {
        second_max = new_max ? max : (r > second_max ? r : second_max);
        argmax = new_max ? pos : argmax;
      }
      max = new_max ? r : max;
      min = r < min ? r : min;
    }
    ++count;
    sum += r;
    if constexpr (Weighted) {
      weighted_sum += w * r;
      weight_sum += w;
    }
  }
  /// After pass 1, for one group (V = double; the vector form is read through split()): its
  /// statistics with its means. `spread` tells whether pass 2 (the squared deviations, into m2)
  /// is needed; not for an empty or all-equal group (exact mean, exact zero spread).
  HADW_HOST_DEVICE group_stats stats(bool& spread) const {
    static_assert(std::is_same_v<V, double> && Weighted, "one group's accumulator only");
    group_stats g;
    g.count = count;
    g.min = min;
    g.max = max;
    g.weight_sum = weight_sum;
    g.argmax = argmax;
    g.second_max = second_max;
    spread = false;
    if (count == 0) return g;
    if (Extrema && count == 1) g.second_max = g.max;
    if (g.min == g.max) {
      g.mean = g.weighted_mean = g.min;
      return g;
    }
    g.mean = sum / static_cast<double>(count);
    g.weighted_mean = g.weight_sum > 0.0 ? weighted_sum / g.weight_sum : g.mean;
    spread = true;
    return g;
  }
  /// After pass 1 (count > 0): every lane's mean as stats() forms it, to set `mean` for pass 2
  /// of the vector form.
  [[nodiscard]] V means() const {
    return min == max ? min : sum / (V{} + static_cast<double>(count));
  }
  /// The vector form after pass 2 has run in every lane (count > 0, unweighted, `mean` set from
  /// means()): lane l's statistics into out[l], the fields stats() and pass 2 give for that
  /// group alone — an all-equal lane's m2 is exactly 0 here too, each r - mean being +0. One
  /// store per member, then plain reads: no lane extraction per field.
  void split(group_stats* out) const {
    static_assert(!Extrema && !Weighted && !std::is_same_v<V, double>);
    constexpr int width = sizeof(V) / sizeof(double);
    double lo[width], hi[width], mu[width], sq[width];
    std::memcpy(lo, &min, sizeof lo);
    std::memcpy(hi, &max, sizeof hi);
    std::memcpy(mu, &mean, sizeof mu);
    std::memcpy(sq, &m2, sizeof sq);
    for (int l = 0; l < width; ++l) {
      group_stats& g = out[l];
      g.count = count;
      g.min = lo[l];
      g.max = hi[l];
      g.mean = g.weighted_mean = mu[l];
      g.m2 = sq[l];
      g.weight_sum = static_cast<double>(count);
    }
  }
  /// Pass 2, in the same response order as pass 1 (mean set per lane): m2 += (r - mean)^2.
  HADW_HOST_DEVICE void add_square(V r) {
    const V d = r - mean;
    m2 += d * d;
  }
};

/// |d|, as a select, for a double or per lane of a pack: the scalar and the lockstep sums of
/// absolute deviations use this one formula, so a lane's bits are the one-group walk's.
template <class V>
[[nodiscard]] HADW_HOST_DEVICE V absolute(V d) {
  return d < 0.0 ? -d : d;
}

/// sum |r - mean| over the valid rewards of positions [begin, end), in group order: a pass of
/// its own after the mean (the mean absolute deviation's numerator; DGPO's scale). 0 for an
/// all-equal group without reading it (exact mean, every term +0).
template <response_reader View>
[[nodiscard]] HADW_HOST_DEVICE double group_abs_deviation(const View& in, std::int64_t begin,
                                                          std::int64_t end, double mean) {
  double s = 0.0;
  for (std::int64_t j = begin; j < end; ++j) {
    const std::int64_t i = in.index(j);
    if (in.valid(i)) s += absolute(in.reward(i) - mean);
  }
  return s;
}

/// Statistics of group-order positions [begin, end) of `in`. Two passes over the group (and the
/// median's counting passes when `Median`, a third for the absolute deviations when `AbsDev`).
template <bool Extrema = true, bool Median = false, bool AbsDev = false, response_reader View>
[[nodiscard]] HADW_HOST_DEVICE group_stats compute_group_stats(const View& in, std::int64_t begin,
                                                               std::int64_t end) {
  group_accumulator<Extrema> acc;
  for (std::int64_t j = begin; j < end; ++j) {
    const std::int64_t i = in.index(j);
    if (in.valid(i)) acc.add(in.reward(i), in.weight(i), j - begin);
  }
  bool spread = false;
  group_stats g = acc.stats(spread);
  if (spread) {
    acc.mean = g.mean;
    for (std::int64_t j = begin; j < end; ++j) {
      const std::int64_t i = in.index(j);
      if (in.valid(i)) acc.add_square(in.reward(i));
    }
    g.m2 = acc.m2;
    if constexpr (AbsDev) g.abs_dev = group_abs_deviation(in, begin, end, g.mean);
  }
  if constexpr (Median) g.median = group_median_of(in, begin, end, g.count);
  return g;
}

}  // namespace hadw
