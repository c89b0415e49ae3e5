// The published difficulty weightings that compete with HA-DW's Phi (weighting/phi.hpp): each a
// per-group or per-response multiplier of an advantage, written once as a pure HADW_HOST_DEVICE
// function so the weighting kernels and hadw::theory evaluate the same formula. Equations and
// sources: docs/math.md §4.
#pragma once

#include <hadw/config.hpp>

#include <cmath>

namespace hadw {

/// F-GRPO (focal weighting): w = (1 - p̂)^gamma, p̂ = the group's success rate. gamma = 0 is GRPO.
[[nodiscard]] HADW_HOST_DEVICE inline double focal_weight(double p_hat, double gamma) {
  return gamma == 0.0 ? 1.0 : std::pow(1.0 - p_hat, gamma);
}

/// GRPO-LEAD's logistic difficulty weight w(rho) = low + (high - low) / (1 + exp(k (rho - x0))),
/// rho = the group's accuracy: high on hard prompts, low on easy ones.
struct lead_curve {
  double low = 0.4;
  double high = 1.5;
  double x0 = 0.75;
  double k = 10.0;
  [[nodiscard]] HADW_HOST_DEVICE double operator()(double rho) const {
    return low + (high - low) / (1.0 + std::exp(k * (rho - x0)));
  }
};

/// GRPO-LEAD's weight of one response: w(rho) for a positive advantage, w(1 - rho) for a
/// negative one (a wrong answer on an easy prompt is penalised hard), 1 for a zero advantage.
[[nodiscard]] HADW_HOST_DEVICE inline double lead_weight(const lead_curve& w, double rho,
                                                         double advantage) {
  if (advantage > 0.0) return w(rho);
  if (advantage < 0.0) return w(1.0 - rho);
  return 1.0;
}

/// ROLL's static difficulty weight from a per-prompt label d: w = 0.5 + 1.5 clamp(d, 0, 1).
[[nodiscard]] HADW_HOST_DEVICE inline double static_difficulty_weight(double d) {
  const double c = d < 0.0 ? 0.0 : (d > 1.0 ? 1.0 : d);
  return 0.5 + 1.5 * c;
}

/// DGPO's question weight before normalisation: exp(-mean_q / T). The weights of the batch's
/// non-degenerate questions are N_valid softmax(-mean_q / T) = N_valid e_q / sum e; `shift` is the
/// largest -mean / T of the batch, subtracted so no exponent overflows (softmax is shift-free).
[[nodiscard]] HADW_HOST_DEVICE inline double question_logit_exp(double mean_q, double temperature,
                                                                double shift) {
  return std::exp(-mean_q / temperature - shift);
}

/// Delta-L's length weight before renormalisation: (L_i / mean L)^(-alpha).
[[nodiscard]] HADW_HOST_DEVICE inline double length_weight(double length, double mean_length,
                                                           double alpha) {
  return std::pow(length / mean_length, -alpha);
}

}  // namespace hadw
