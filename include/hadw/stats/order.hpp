// Order statistics of a group's valid rewards (the median), for the policies that declare them.
#pragma once

#include <hadw/config.hpp>
#include <hadw/stats/readers.hpp>

#include <cmath>
#include <cstdint>

namespace hadw {

/// The k-th smallest (0-based) valid reward of positions [begin, end): the reward v with
/// #{r < v} <= k < #{r <= v}. By counting, in O(n^2) compares and no memory, so that the same
/// function serves the CPU loops and the CUDA kernels (groups are 4-64 responses; a median
/// policy on groups of thousands pays ~n^2 / 2 compares per group).
template <response_reader View>
[[nodiscard]] HADW_HOST_DEVICE double order_statistic(const View& in, std::int64_t begin,
                                                      std::int64_t end, std::int64_t k) {
  for (std::int64_t j = begin; j < end; ++j) {
    const std::int64_t i = in.index(j);
    if (!in.valid(i)) continue;
    const double v = in.reward(i);
    std::int64_t less = 0, equal = 0;
    for (std::int64_t q = begin; q < end; ++q) {
      const std::int64_t iq = in.index(q);
      if (!in.valid(iq)) continue;
      const double r = in.reward(iq);
      less += r < v;
      equal += r == v;
    }
    if (less <= k && k < less + equal) return v;
  }
  return NAN;  // k >= the number of valid rewards
}

/// The median of the `count` valid rewards of positions [begin, end): the middle one, or the
/// mean of the two middle ones for an even count (NumPy's median; torch.median takes the lower).
template <response_reader View>
[[nodiscard]] HADW_HOST_DEVICE double group_median_of(const View& in, std::int64_t begin,
                                                      std::int64_t end, std::int64_t count) {
  if (count == 0) return 0.0;
  const double hi = order_statistic(in, begin, end, count / 2);
  if (count % 2 == 1) return hi;
  const double lo = order_statistic(in, begin, end, count / 2 - 1);
  return lo + (hi - lo) / 2.0;  // no overflow, exact when lo == hi
}

}  // namespace hadw
