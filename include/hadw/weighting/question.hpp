// DGPO's question weights (MathForge, ICLR 2026) as a hadw::weigh policy: over the batch's
// non-degenerate groups, w_q = N_valid softmax(-mean_q / T); a degenerate group weighs 1
// (formula: weighting/difficulty.hpp question_logit_exp; docs/math.md "Difficulty weightings").
#pragma once

#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/weighting/difficulty.hpp>
#include <hadw/weighting/policy.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace hadw {

struct question_weights {
  double temperature = 2.0;  ///< T: MathForge's dgpo_dqw_temp in all its scripts

  /// The batch's softmax: its shift (largest -mean / T) and normaliser N_valid / sum e.
  struct bound {
    double temperature, shift, scale;
    [[nodiscard]] double operator()(const group_point& g, double, std::int64_t) const {
      return g.degenerate ? 1.0 : scale * question_logit_exp(g.mean, temperature, shift);
    }
  };

  void validate(const group_layout&, std::int64_t) const {
    detail::require(std::isfinite(temperature) && temperature > 0.0,
                    "question_weights.temperature > 0 (finite) required, got ", temperature);
  }
  /// Two passes over the group means (the max, then the sum): the stats are recomputed rather
  /// than stored, so the call allocates nothing.
  template <class Batch>
  [[nodiscard]] bound prepare(const Batch& b) const {
    double shift = -INFINITY, sum = 0.0;
    std::int64_t valid = 0;
    for (std::int64_t k = 0; k < b.num_groups(); ++k) {
      const group_point g = b.group(k);
      if (g.count > 0 && !g.degenerate) shift = std::max(shift, -g.mean / temperature);
    }
    for (std::int64_t k = 0; k < b.num_groups(); ++k) {
      const group_point g = b.group(k);
      if (g.count == 0 || g.degenerate) continue;
      sum += question_logit_exp(g.mean, temperature, shift);
      ++valid;
    }
    // sum >= 1 (the largest term is exp(0)) whenever a group is non-degenerate.
    return {temperature, shift, valid > 0 ? static_cast<double>(valid) / sum : 1.0};
  }
};

}  // namespace hadw
