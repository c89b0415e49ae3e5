// Importance ratios: per token (GRPO, DAPO) and per sequence (GSPO), with their derivative with
// respect to the new log-probabilities, and the rule torch's clamps follow at their bounds.
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
/// token whose log-probability moved by 20 nats or more gets a bounded ratio and no gradient.
inline constexpr double token_log_ratio_bound = 20.0;
/// verl clamps GSPO's log s_i at 10 from above (compute_policy_loss_gspo).
inline constexpr double sequence_log_ratio_max = 10.0;

namespace detail {

/// x as the trainer holds it: rounded to the input precision P. verl and TRL compute a float32
/// batch's log-ratios, ratios and per-token losses as float32 tensors and compare them there
/// (torch.clamp compares with its bounds converted to float32), so every branch decision of the
/// objectives is taken on P-rounded values; the values themselves stay in double.
template <class P>
[[nodiscard]] HADW_HOST_DEVICE double in_precision(double x) {
  return static_cast<double>(static_cast<P>(x));
}

/// Whether torch.clamp(x, lo, hi) passes the gradient: strictly inside only. torch 2.15's
/// clamp_backward gives 0 on a bound itself (checked against the installed torch by
/// python/tests/test_peer_objectives.py), so a value exactly on a bound gets no gradient.
[[nodiscard]] HADW_HOST_DEVICE inline bool clamp_passes_gradient(double x, double lo, double hi) {
  return lo < x && x < hi;
}

}  // namespace detail

/// An importance ratio and its derivative with respect to the token's new log-probability.
struct ratio_value {
  double ratio = 1.0;
  double dratio_dlogp = 1.0;
  double log_ratio = 0.0;  ///< log of `ratio` (after the clamp)
};

/// r = exp(clamp(logp - old_logp, -20, 20)); dr/dlogp = r strictly inside the clamp and 0 on or
/// beyond a bound, as torch.clamp's gradient. P is the input precision the clamp compares in
/// (a float32 log-ratio of exactly 20 is on the bound); the value is computed in double.
template <class P = double>
[[nodiscard]] HADW_HOST_DEVICE ratio_value token_ratio(double logp, double old_logp) {
  const double d = logp - old_logp;
  const double b = token_log_ratio_bound;
  const bool passes = detail::clamp_passes_gradient(detail::in_precision<P>(d), -b, b);
  const double c = d < -b ? -b : (d > b ? b : d);
  const double r = std::exp(c);
  return {r, passes ? r : 0.0, c};
}

/// GSPO's sequence ratio from the mean token log-ratio m_i = (1/|y_i|) sum_t (logp - old_logp)
/// over the valid tokens: s_i = exp(min(m_i, 10)), with no gradient once m_i (in precision P)
/// reaches 10 (torch.clamp(max=10) passes the gradient strictly below its bound only).
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
/// which is exactly what the stand-in gives token by token (and what TRL's sequence-level
/// importance sampling, which differentiates s_i itself, gives). With per-token advantages the
/// stand-in *defines* GSPO-token's gradient (no scalar of logp has it as its gradient).
/// docs/objectives.md has the derivation.
template <class P = double>
[[nodiscard]] HADW_HOST_DEVICE ratio_value sequence_ratio(double mean_log_ratio) {
  const double b = sequence_log_ratio_max;
  const bool passes = detail::in_precision<P>(mean_log_ratio) < b;
  const double c = mean_log_ratio > b ? b : mean_log_ratio;
  const double s = std::exp(c);
  return {s, passes ? s : 0.0, c};
}

}  // namespace hadw
