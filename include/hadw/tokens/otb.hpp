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
#include <hadw/tokens/scan.hpp>

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

/// G_t over one row: the undiscounted reward-to-go of the masked rewards, accumulated in double
/// and rounded once per element (masked tokens carry the running sum).
template <class T, class M, class U>
HADW_HOST_DEVICE void otb_return_row(const T* rewards, const M* mask, std::int64_t L, U* returns) {
  double running = 0.0;
  for (std::int64_t t = L - 1; t >= 0; --t) {
    if (token_valid(mask, t)) running += static_cast<double>(rewards[t]);
    returns[t] = static_cast<U>(running);
  }
}

/// B_t from a group's column sums num = sum_i G W m, den = sum_i W m; verl leaves a lone
/// response's baseline at 0.
[[nodiscard]] HADW_HOST_DEVICE inline double otb_baseline(double num, double den, std::int64_t n,
                                                          double eps) {
  return n == 1 ? 0.0 : num / (den + eps);
}

/// The member of a group whose baseline handle_zero_tail zeroes, and from which column:
/// the unique longest response, from the second-longest length on (member -1: none).
struct otb_zero_tail {
  std::int64_t member = -1;
  std::int64_t from = 0;

  [[nodiscard]] HADW_HOST_DEVICE bool zeroes(std::int64_t m, std::int64_t t) const {
    return m == member && t >= from;
  }
};

/// Finds the zero tail from the members' lengths, fed in member order (no callback, so the CPU
/// loop and the CUDA kernel both drive it).
class otb_zero_tail_finder {
 public:
  HADW_HOST_DEVICE void add(std::int64_t len) {
    if (len > first_) {
      second_ = first_;
      first_ = len;
      arg_ = n_;
      ties_ = 1;
    } else if (len == first_) {
      ++ties_;
      second_ = len;
    } else if (len > second_) {
      second_ = len;
    }
    ++n_;
  }
  [[nodiscard]] HADW_HOST_DEVICE otb_zero_tail result() const {
    if (n_ < 2 || ties_ != 1 || first_ <= second_) return {};
    return {arg_, second_};
  }

 private:
  std::int64_t first_ = -1, second_ = -1, arg_ = -1, ties_ = 0, n_ = 0;
};

}  // namespace hadw::detail
