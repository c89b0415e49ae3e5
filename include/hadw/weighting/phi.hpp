// History-aware adaptive difficulty weighting (paper §3.2, eq. 13-16): the per-response factor
// Phi that HA-DW multiplies each advantage by. Pure HADW_HOST_DEVICE functions shared by the CPU
// loops and the CUDA kernels.
#pragma once

#include <hadw/config.hpp>
#include <hadw/error.hpp>

#include <cmath>

namespace hadw {

/// The declared range of the verifier's reward, mapped affinely onto [0,1] before p̂ and y_t are
/// formed (the anchor is a success rate). Default [0,1]; verl's math_dapo reward is [-1,1].
struct reward_range {
  double low = 0.0;
  double high = 1.0;

  [[nodiscard]] HADW_HOST_DEVICE double normalise(double r) const {
    return (r - low) / (high - low);
  }
  /// high - low must be finite too: [-DBL_MAX, DBL_MAX] would normalise rewards to NaN.
  void validate() const {
    detail::require(std::isfinite(low) && std::isfinite(high) && low < high &&
                        std::isfinite(high - low),
                    "reward_range low < high (finite, high - low finite) required, got [", low,
                    ", ", high, "]");
  }
};

/// The largest |advantage| reweight accepts, and the largest lambda_scale. Phi <= lambda_scale * e
/// (|diff| <= 1), so with both bounds a weighted advantage stays below 1e30 * 1e6 * e ~ 2.7e36,
/// finite even in float: without them a finite advantage times Phi could overflow to +-Inf.
inline constexpr double max_abs_advantage = 1e30;
inline constexpr double max_lambda_scale = 1e6;

/// Whether an advantage reweight may weight: |a| <= max_abs_advantage (so not NaN or +-Inf).
[[nodiscard]] HADW_HOST_DEVICE inline bool advantage_in_domain(double a) {
  return std::fabs(a) <= max_abs_advantage;
}

/// sgn(x) in {-1, 0, +1}.
[[nodiscard]] HADW_HOST_DEVICE inline double sign(double x) {
  return static_cast<double>((x > 0.0) - (x < 0.0));
}

/// Eq. 13: diff^his = p̂ - C^-. Negative: the prompt is harder than the model's current level.
[[nodiscard]] HADW_HOST_DEVICE inline double history_difficulty(double p_hat, double prior) {
  return p_hat - prior;
}

/// Eq. 14: D = -sgn(Â) sgn(diff^his). +1 amplifies (a correct answer on a hard prompt, a wrong one
/// on an easy prompt), -1 damps, 0 when either is 0.
[[nodiscard]] HADW_HOST_DEVICE inline double direction(double advantage, double difficulty) {
  return -sign(advantage) * sign(difficulty);
}

/// Eq. 15: M = |diff^his|.
[[nodiscard]] HADW_HOST_DEVICE inline double magnitude(double difficulty) {
  return std::fabs(difficulty);
}

/// Eq. 16: Phi = lambda_scale * exp(D * M). With |diff| <= 1, Phi lies in
/// [lambda/e, lambda*e]; it is exactly lambda_scale when p̂ equals the prior.
[[nodiscard]] HADW_HOST_DEVICE inline double phi(double advantage, double difficulty,
                                                 double lambda_scale) {
  return lambda_scale * std::exp(direction(advantage, difficulty) * magnitude(difficulty));
}

}  // namespace hadw
