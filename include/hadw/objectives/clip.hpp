// The clipped importance-weighted surrogate of one token: PPO/GRPO's symmetric clip, DAPO's
// clip-higher, and the dual-clip bound for negative advantages.
#pragma once

#include <hadw/config.hpp>
#include <hadw/error.hpp>

#include <cmath>

namespace hadw {

/// The trust region of an importance ratio r: the surrogate uses clip(r, 1 - low, 1 + high).
///
/// | objective | low | high | source |
/// |---|---|---|---|
/// | GRPO / PPO | 0.2 | 0.2 | verl `clip_ratio` |
/// | DAPO clip-higher | 0.2 | 0.28 | DAPO (arXiv 2503.14476) "Clip-Higher"; verl
/// `clip_ratio_low/high` | | GSPO (sequence ratio) | 3e-4 | 4e-4 | GSPO (arXiv 2507.18071)
/// experiments; HA-DW paper, §Experiments |
struct clip_range {
  double low = 0.2;   ///< eps_low: the ratio is clipped from below at 1 - low
  double high = 0.2;  ///< eps_high: the ratio is clipped from above at 1 + high

  [[nodiscard]] HADW_HOST_DEVICE double lower_bound() const { return 1.0 - low; }
  [[nodiscard]] HADW_HOST_DEVICE double upper_bound() const { return 1.0 + high; }

  void validate() const {
    detail::require(std::isfinite(low) && low >= 0.0 && low <= 1.0,
                    "clip.low (eps_low) in [0, 1] required, got ", low);
    detail::require(std::isfinite(high) && high >= 0.0,
                    "clip.high (eps_high) >= 0 (finite) required, got ", high);
  }
};

/// dual_clip_c is off (0) or a constant c > 1 (Ye et al. 2020, arXiv 1912.09729; verl's
/// `clip_ratio_c`, 3.0 by default there, asserted > 1).
inline void validate_dual_clip(double dual_clip_c) {
  detail::require(dual_clip_c == 0.0 || (std::isfinite(dual_clip_c) && dual_clip_c > 1.0),
                  "dual_clip_c == 0 (off) or > 1 (finite) required, got ", dual_clip_c);
}

/// One token's term of the clipped surrogate, as a loss to minimise.
struct surrogate_term {
  double loss = 0.0;          ///< l(r)
  double dloss_dratio = 0.0;  ///< dl/dr (a subgradient at the kinks, see clipped_surrogate)
  bool clipped = false;       ///< the clipped branch is strictly larger (verl's pg_clipfrac)
  bool dual_clipped = false;  ///< A < 0 and the bound -A c is strictly smaller (pg_clipfrac_lower)
};

/// l(r) = max(-A r, -A clip(r, 1 - low, 1 + high)), and, when dual_clip_c = c > 0 and A < 0,
/// l(r) = min(l(r), -A c) (PPO's L^CLIP, arXiv 1707.06347 eq. 7, written as a loss; DAPO's
/// asymmetric bounds; dual-clip as in verl's compute_policy_loss_vanilla).
///
/// dl/dr is -A where the unclipped branch is active and 0 where a clip is. At the kinks it follows
/// torch autograd, so a C++ trainer reproduces verl's gradient bit for bit in double: clamp passes
/// the gradient at the bounds themselves (r == 1 + high still gets -A), and a tie between the
/// branches of max/min splits the gradient evenly (only the dual-clip tie r == c matters: there
/// dl/dr = -A / 2). A ratio exactly on a bound is not counted as clipped (strict >, as verl).
///
/// Phi of HA-DW (eq. 17) is already inside A: Phi > 0, so it scales l and dl/dr but never changes
/// which branch is active.
[[nodiscard]] HADW_HOST_DEVICE inline surrogate_term clipped_surrogate(double ratio,
                                                                       double advantage,
                                                                       const clip_range& clip,
                                                                       double dual_clip_c = 0.0) {
  const double lo = clip.lower_bound();
  const double hi = clip.upper_bound();
  const double clamped = ratio < lo ? lo : (ratio > hi ? hi : ratio);
  const double l_unclipped = -advantage * ratio;
  const double l_clipped = -advantage * clamped;
  const double d_unclipped = -advantage;
  const double d_clipped = (ratio >= lo && ratio <= hi) ? -advantage : 0.0;

  surrogate_term s;
  s.clipped = l_clipped > l_unclipped;
  s.loss = s.clipped ? l_clipped : l_unclipped;
  s.dloss_dratio = l_unclipped > l_clipped   ? d_unclipped
                   : l_clipped > l_unclipped ? d_clipped
                                             : 0.5 * (d_unclipped + d_clipped);
  if (dual_clip_c > 0.0 && advantage < 0.0) {
    const double l_dual = -advantage * dual_clip_c;  // constant in r
    s.dual_clipped = s.loss > l_dual;
    if (s.dual_clipped) {
      s.loss = l_dual;
      s.dloss_dratio = 0.0;
    } else if (s.loss == l_dual) {
      s.dloss_dratio *= 0.5;
    }
  }
  return s;
}

}  // namespace hadw
