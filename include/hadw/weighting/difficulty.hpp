// The published difficulty weightings that compete with HA-DW's Phi (weighting/phi.hpp): each a
// per-group or per-response multiplier of an advantage, written once as a pure HADW_HOST_DEVICE
// function so the weighting kernels and hadw::theory evaluate the same formula. Equations and
// sources: docs/math.md, "Difficulty weightings".
#pragma once

#include <hadw/config.hpp>

#include <cmath>

namespace hadw {

/// F-GRPO (focal weighting, arXiv 2602.06717 §4): g = (1 - mu_pos)^gamma, mu_pos = the group's
/// empirical success rate (hadw: p̂, the range-normalised group mean: the success rate for
/// binary rewards). gamma = 0 is GRPO.
[[nodiscard]] HADW_HOST_DEVICE inline double focal_weight(double p_hat, double gamma) {
  return gamma == 0.0 ? 1.0 : std::pow(1.0 - p_hat, gamma);
}

/// GRPO-LEAD's logistic difficulty weight w(rho) = low + (high - low) / (1 + exp(k (rho - x0))),
/// rho = the group's accuracy (GRPO-LEAD: the fraction of rewards > 0, not the mean reward):
/// high on hard prompts, low on easy ones. Defaults: the source's logistic_reweight.
struct lead_curve {
  double low = 0.4;
  double high = 1.5;
  double x0 = 0.75;
  double k = 10.0;
  [[nodiscard]] HADW_HOST_DEVICE double operator()(double rho) const {
    return low + (high - low) / (1.0 + std::exp(k * (rho - x0)));
  }
};

/// GRPO-LEAD's weight of one response: w(rho) for a positive advantage, w(1 - rho) otherwise
/// (a wrong answer on an easy prompt is penalised hard). The source (aeroplanepaper/GRPO-LEAD,
/// verl/trainer/ppo/core_algos.py) takes w(1 - rho) for a zero advantage too ("if scores_i > 0
/// else"); the weighted advantage is 0 either way, only the weight statistics see it.
[[nodiscard]] HADW_HOST_DEVICE inline double lead_weight(const lead_curve& w, double rho,
                                                         double advantage) {
  return advantage > 0.0 ? w(rho) : w(1.0 - rho);
}

/// ROLL's static difficulty weight from a per-prompt label d: w = 0.5 + 1.5 clamp(d, 0, 1)
/// (alibaba/ROLL, roll/pipeline/rlvr/actor_worker.py compute_sample_weights). ROLL then
/// rescales the batch's weights to mean 1 (w * N / (sum w + 1e-8)):
/// weighting/static_difficulty.hpp.
[[nodiscard]] HADW_HOST_DEVICE inline double static_difficulty_weight(double d) {
  const double c = d < 0.0 ? 0.0 : (d > 1.0 ? 1.0 : d);
  return 0.5 + 1.5 * c;
}

/// DGPO's question weight before normalisation: exp(-mean_q / T). The weights of the batch's
/// non-degenerate questions are N_valid softmax(-mean_q / T) = N_valid e_q / sum e, N_valid the
/// number of non-degenerate groups, degenerate ones weigh 1 (AMAP-ML/MathForge,
/// trl/trainer/grpo_trainer.py, enable_dgpo_dqw, T = dgpo_dqw_temp = 2.0 in its scripts); `shift`
/// is the largest -mean / T of the batch, subtracted so no exponent overflows (softmax is
/// shift-free).
[[nodiscard]] HADW_HOST_DEVICE inline double question_logit_exp(double mean_q, double temperature,
                                                                double shift) {
  return std::exp(-mean_q / temperature - shift);
}

/// Delta-L's length weight before renormalisation: (L_i / mean L)^(-alpha), L_i the response's
/// token count and mean L over the batch (zerolllin/Delta-L-Normalization, core_algos.py
/// compute_grpo_outcome_advantage, use_grpopp); then divided by the batch mean of these weights.
[[nodiscard]] HADW_HOST_DEVICE inline double length_weight(double length, double mean_length,
                                                           double alpha) {
  return std::pow(length / mean_length, -alpha);
}

}  // namespace hadw
