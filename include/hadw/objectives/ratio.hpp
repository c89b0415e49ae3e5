// Importance ratios: per token (GRPO, DAPO) and per sequence (GSPO), with their derivative with
// respect to the new log-probabilities.
#pragma once

#include <hadw/config.hpp>

#include <cmath>
#include <cstdint>

namespace hadw {

/// Which importance ratio an objective clips.
enum class ratio_level : std::uint8_t {
  token,     ///< r_{i,t} = pi(y_t) / pi_old(y_t) (PPO, GRPO, DAPO)
  sequence,  ///< s_i = (pi(y_i) / pi_old(y_i))^(1/|y_i|) (GSPO, arXiv 2507.18071)
};

/// verl clamps the token log-ratio to [-20, 20] before exp (compute_policy_loss_vanilla), so a
/// token whose log-probability moved by more than 20 nats gets a bounded ratio and no gradient.
inline constexpr double token_log_ratio_bound = 20.0;
/// verl clamps GSPO's log s_i at 10 from above (compute_policy_loss_gspo).
inline constexpr double sequence_log_ratio_max = 10.0;

/// An importance ratio and its derivative with respect to the token's new log-probability.
struct ratio_value {
  double ratio = 1.0;
  double dratio_dlogp = 1.0;
  double log_ratio = 0.0;  ///< log of `ratio` (after the clamp)
};

/// r = exp(clamp(logp - old_logp, -20, 20)); dr/dlogp = r inside the clamp (inclusive bounds,
/// as torch.clamp's gradient), 0 outside.
[[nodiscard]] HADW_HOST_DEVICE inline ratio_value token_ratio(double logp, double old_logp) {
  const double d = logp - old_logp;
  const bool inside = d >= -token_log_ratio_bound && d <= token_log_ratio_bound;
  const double c = inside ? d : (d < 0.0 ? -token_log_ratio_bound : token_log_ratio_bound);
  const double r = std::exp(c);
  return {r, inside ? r : 0.0, c};
}

/// GSPO's sequence ratio from the mean token log-ratio m_i = (1/|y_i|) sum_t (logp - old_logp)
/// over the valid tokens: s_i = exp(min(m_i, 10)).
///
/// The derivative returned is that of verl's token-level stand-in
///   s_hat_{i,t} = sg[s_i] * exp(logp_{i,t} - sg[logp_{i,t}])
/// (the GSPO paper's "GSPO-token" variant), whose value is s_i and whose derivative with respect to
/// its own logp_{i,t} is s_i (and 0 with respect to every other token). The exact derivative of s_i
/// itself is s_i / |y_i| for every token of the row. The two give the same gradient of the loss
/// whenever every valid token of a row carries the same advantage and the same aggregation
/// weight w_i (every mode of loss_agg weighs tokens per row): the loss holds |y_i| copies of
/// w_i l(s_i), so
///   d/dlogp_{i,t} [ |y_i| w_i l(s_i) ] = |y_i| w_i l'(s_i) s_i / |y_i| = w_i l'(s_i) s_i,
/// which is exactly what the stand-in gives token by token. With per-token advantages the
/// stand-in *defines* GSPO-token's gradient (no scalar of logp has it as its gradient).
/// docs/objectives.md has the derivation.
[[nodiscard]] HADW_HOST_DEVICE inline ratio_value sequence_ratio(double mean_log_ratio) {
  const bool inside = mean_log_ratio <= sequence_log_ratio_max;
  const double c = inside ? mean_log_ratio : sequence_log_ratio_max;
  const double s = std::exp(c);
  return {s, inside ? s : 0.0, c};
}

}  // namespace hadw
