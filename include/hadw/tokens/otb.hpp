// verl's optimal token baseline (OTB; verl 0.9.1 core_algos.py,
// compute_optimal_token_baseline_advantage): a per-prompt, per-timestep baseline weighted by a
// cumulative path-variance proxy. For group g (responses sharing a prompt id), timestep t:
//   w_t = (1 - 2 pi_t + sum_pi_sq_t) rho_t^2     pi_t = exp(old_log_prob_t), rho = IS weights (or
//   1) W_t = sum_{j <= t} w_j m_j                   (forward cumulative sum over the row, masked)
//   G_t = sum_{j >= t} r_j m_j                   (reward-to-go, undiscounted)
//   B_t = sum_i G_{i,t} W_{i,t} m_{i,t} / (sum_i W_{i,t} m_{i,t} + eps)
//   A_t = (G_t - B_t) m_t;  returns = G
// A group of one response keeps B = 0. handle_zero_tail: when one response is strictly the
// longest of its group (lengths = valid-token counts), its baseline is 0 from column
// second-longest on. Equations and source: docs/math.md "Token-level estimators".
#pragma once

#include <hadw/config.hpp>

#include <cmath>
#include <cstdint>

namespace hadw {

/// hadw::optimal_token_baseline's options (verl's defaults).
struct otb_options {
  bool handle_zero_tail = true;
  double eps = 1e-8;
};

}  // namespace hadw

namespace hadw::detail {

/// w_t, the per-token path-variance proxy ||s_t||^2 = 1 - 2 pi_t + sum pi^2, times rho_t^2.
[[nodiscard]] HADW_HOST_DEVICE inline double otb_token_weight(double old_log_prob,
                                                              double sum_pi_squared,
                                                              double is_weight) {
  return (1.0 - 2.0 * std::exp(old_log_prob) + sum_pi_squared) * (is_weight * is_weight);
}

/// The member of a group whose baseline handle_zero_tail zeroes, and from which column:
/// the unique longest response, from the second-longest length on (member -1: none).
struct otb_zero_tail {
  std::int64_t member = -1;
  std::int64_t from = 0;
};
template <class LengthOf>
[[nodiscard]] otb_zero_tail find_zero_tail(std::int64_t n, LengthOf&& length_of) {
  std::int64_t first = -1, second = -1, arg = -1, ties = 0;
  for (std::int64_t m = 0; m < n; ++m) {
    const std::int64_t len = length_of(m);
    if (len > first) {
      second = first;
      first = len;
      arg = m;
      ties = 1;
    } else if (len == first) {
      ++ties;
      second = len;
    } else if (len > second) {
      second = len;
    }
  }
  if (n < 2 || ties != 1 || first <= second) return {};
  return {arg, second};
}

}  // namespace hadw::detail
