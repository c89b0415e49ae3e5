// Batch-level statistics for the estimators that normalise across the whole batch.
#pragma once

#include <hadw/stats/group.hpp>

#include <algorithm>
#include <cstdint>

namespace hadw {

/// Which values a batch-level scale is the spread of.
enum class batch_source : std::uint8_t {
  raw,      ///< the rewards themselves (TRL's scale_rewards="batch")
  centred,  ///< the rewards minus their group mean (verl's / OpenRLHF's whitening)
};

/// Statistics of the whole batch, built from the group statistics in group order (so the result
/// is the same whatever the thread count, as long as groups are merged in that order).
struct batch_stats {
  std::int64_t count = 0;    ///< valid responses
  std::int64_t nonzero = 0;  ///< valid responses with a non-zero reward (GPG's alpha)
  double mean = 0.0;         ///< raw rewards: mean and M2, merged group by group (Chan et al.)
  double m2 = 0.0;
  double centred_weight = 0.0;  ///< centred deviations c_i = r_i - mean_k, weighted by length
  double centred_sum = 0.0;     ///< sum w c
  double centred_sq = 0.0;      ///< sum w c^2

  /// Merges one group's raw moments: Chan, Golub & LeVeque's pairwise update (exact in the
  /// count, stable in the mean).
  HADW_HOST_DEVICE void merge_raw(const group_stats& g) {
    if (g.count == 0) return;
    const double n_a = static_cast<double>(count), n_b = static_cast<double>(g.count);
    const double n = n_a + n_b;
    const double delta = g.mean - mean;
    mean += delta * n_b / n;
    m2 += g.m2 + delta * delta * n_a * n_b / n;
    count += g.count;
  }

  [[nodiscard]] HADW_HOST_DEVICE double centred_mean() const {
    return centred_weight > 0.0 ? centred_sum / centred_weight : 0.0;
  }
  /// Variance of the chosen values; ddof 1 counts weights (verl's masked_var counts tokens).
  [[nodiscard]] HADW_HOST_DEVICE double variance(batch_source src, bool unbiased) const {
    if (src == batch_source::raw) {
      const double dof = static_cast<double>(count) - (unbiased ? 1.0 : 0.0);
      return dof > 0.0 ? m2 / dof : 0.0;
    }
    // The c_i are already centred per group, so their batch mean is tiny next to their spread
    // and sum w c^2 - W mu^2 does not cancel catastrophically.
    const double mu = centred_mean();
    // std::max(0.0, d) spelled out: std::max is a host-only constexpr function, and this
    // formula is shared with the CUDA kernels. Same result bit for bit (NaN and -0 give 0).
    const double d = centred_sq - centred_weight * mu * mu;
    const double centred_m2 = 0.0 < d ? d : 0.0;
    const double dof = centred_weight - (unbiased ? 1.0 : 0.0);
    return dof > 0.0 ? centred_m2 / dof : 0.0;
  }
};

}  // namespace hadw
