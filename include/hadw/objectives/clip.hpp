// The clipped importance-weighted surrogate of one token: PPO/GRPO's symmetric clip, DAPO's
// clip-higher, and the dual-clip bound for negative advantages.
#pragma once

#include <hadw/config.hpp>
#include <hadw/error.hpp>
#include <hadw/objectives/ratio.hpp>

#include <cmath>

namespace hadw {

/// The trust region of an importance ratio r: the surrogate uses clip(r, 1 - low, 1 + high).
///
/// | objective | low | high | source |
/// |---|---|---|---|
/// | GRPO / PPO | 0.2 | 0.2 | verl `clip_ratio` |
/// | DAPO clip-higher | 0.2 | 0.28 | DAPO (arXiv 2503.14476); verl `clip_ratio_low/high` |
/// | GSPO (sequence ratio) | 3e-4 | 4e-4 | GSPO (arXiv 2507.18071); HA-DW's experiments |
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
/// asymmetric bounds; dual-clip as in verl's compute_policy_loss_vanilla; TRL's
/// -min(A r, A clip(r)) is the same function).
///
/// dl/dr is -A where the unclipped branch is active and 0 where a clip is. At the kinks it is
/// what torch 2.15's autograd gives through verl's and TRL's code, so that a C++ trainer gets
/// their gradient there too:
///  - torch.clamp passes no gradient on its bounds (strictly inside only), and
///  - a tie of torch.maximum / torch.minimum splits the gradient evenly between the branches.
/// Strictly inside the clip range both branches are the same number, so the tie gives
/// -A/2 + -A/2 = -A. Exactly on either bound, whatever the sign of A, the branches tie too but
/// the clamped one passes nothing: dl/dr = -A/2 (verl: d loss/d logp = -0.6 at r = 1.2, A = 1).
/// At the dual-clip tie -A r == -A c torch.minimum halves it the same way: dl/dr = -A/2. A
/// ratio exactly on a bound is not counted as clipped (strict >, as verl's pg_clipfrac).
///
/// P is the input precision: these comparisons are taken on the ratio, the bounds and the branch
/// values rounded to P, as torch takes them on a float32 batch (a float32 ratio that rounds onto
/// 1.2 is on the bound); the loss value is computed in double. A product of two floats is exact
/// in double, so rounding it once to float gives torch's float32 product.
///
/// Phi of HA-DW (eq. 17) is already inside A: Phi > 0, so it scales l and dl/dr but never changes
/// which branch is active.
template <class P = double>
[[nodiscard]] HADW_HOST_DEVICE surrogate_term clipped_surrogate(double ratio, double advantage,
                                                                const clip_range& clip,
                                                                double dual_clip_c = 0.0) {
  using detail::in_precision;
  const double lo = clip.lower_bound();
  const double hi = clip.upper_bound();
  const auto clamp = [](double x, double l, double h) { return x < l ? l : (x > h ? h : x); };
  const double l_unclipped = -advantage * ratio;
  const double l_clipped = -advantage * clamp(ratio, lo, hi);

  // The branch decisions, in precision P.
  const double r_p = in_precision<P>(ratio);
  const double lo_p = in_precision<P>(lo), hi_p = in_precision<P>(hi);
  const double u_p = in_precision<P>(-advantage * r_p);
  const double c_p = in_precision<P>(-advantage * clamp(r_p, lo_p, hi_p));
  const double d_unclipped = -advantage;
  const double d_clipped = detail::clamp_passes_gradient(r_p, lo_p, hi_p) ? -advantage : 0.0;

  surrogate_term s;
  s.clipped = c_p > u_p;
  s.loss = l_clipped > l_unclipped ? l_clipped : l_unclipped;
  s.dloss_dratio = u_p > c_p   ? d_unclipped
                   : c_p > u_p ? d_clipped
                               : 0.5 * (d_unclipped + d_clipped);
  if (dual_clip_c > 0.0 && advantage < 0.0) {
    const double l_dual = -advantage * dual_clip_c;  // constant in r
    const double l_p = c_p > u_p ? c_p : u_p;
    const double dual_p = in_precision<P>(-advantage * in_precision<P>(dual_clip_c));
    s.dual_clipped = l_p > dual_p;
    if (l_dual < s.loss) s.loss = l_dual;
    if (s.dual_clipped)
      s.dloss_dratio = 0.0;
    else if (l_p == dual_p)
      s.dloss_dratio *= 0.5;
  }
  return s;
}

}  // namespace hadw
