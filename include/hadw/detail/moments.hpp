// Running moments of the HA-DW diagnostics (step_stats), mergeable in a fixed order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace hadw::detail {

/// Count, sum, sum of squares, min and max in double. Kernels accumulate one per group, merge
/// the groups of a block in order and the blocks in order (detail::reduce_blocks), so the bits
/// of the result depend on the data and the fixed block size only, never on the thread count.
struct moments {
  std::int64_t n = 0;
  double sum = 0.0, sq = 0.0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();

  void add(double v) {
    ++n;
    sum += v;
    sq += v * v;
    min = v < min ? v : min;
    max = v > max ? v : max;
  }
  void merge(const moments& o) {
    n += o.n;
    sum += o.sum;
    sq += o.sq;
    min = std::min(min, o.min);
    max = std::max(max, o.max);
  }
  [[nodiscard]] double mean() const { return n ? sum / static_cast<double>(n) : NAN; }
  /// Population standard deviation (one-pass form: these are diagnostics, not estimator inputs).
  [[nodiscard]] double stddev() const {
    if (!n) return NAN;
    const double m = mean();
    return std::sqrt(std::max(0.0, sq / static_cast<double>(n) - m * m));
  }
};

}  // namespace hadw::detail
