// The shipped baseline and scale policies (DESIGN.md §1.1): A = (r - b) / s. Each is written once
// for every value type (see baseline_policy in hadw/concepts.hpp).
#pragma once

#include <hadw/concepts.hpp>
#include <hadw/error.hpp>
#include <hadw/estimators/rules.hpp>
#include <hadw/stats/batch.hpp>
#include <hadw/stats/summary.hpp>
#include <hadw/weighting/phi.hpp>

#include <cmath>
#include <cstdint>

namespace hadw {

// ---------------------------------------------------------------------------------------------
// Baselines and scales: each written once for every value type (see baseline_policy).

/// b = the group mean. GRPO, Dr.GRPO, GPG.
struct mean_baseline {
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const batch_stats&, typename G::value_type r,
                                  std::int64_t) const {
    return g.centred(r);
  }
  void validate() const {}
};

/// b = the mean of the *other* responses (RLOO): r - (S - r)/(n-1) = n/(n-1) (r - mean).
struct leave_one_out_baseline {
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const batch_stats&, typename G::value_type r,
                                  std::int64_t) const {
    if (g.count < 2) return r - g.mean;  // size-1 rule already applied to g
    const double n = static_cast<double>(g.count);
    return n / (n - 1.0) * (r - g.mean);
  }
  void validate() const {}
};

/// NeMo-RL's GRPO (nemo_rl/algorithms/utils.py, calculate_baseline_and_std_per_prompt, with
/// use_leave_one_out_baseline and normalize_rewards): each response against the *other* responses,
/// d = r - mean_others, divided by std_others (ddof 1) + eps only where std_others > 0. The std is
/// each response's own, so it lives in the deviation (with unit_scale), not in a group scale.
/// A group of 2 has one other response: NeMo-RL's ddof-1 std is 0 * inf = NaN, nan_to_num'd to 0,
/// so d is not divided. `normalise` = false is the plain leave-one-out deviation (RLOO).
struct leave_one_out_std_baseline {
  double eps = 1e-6;
  bool normalise = true;
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const batch_stats&, typename G::value_type r,
                                  std::int64_t) const {
    using V = typename G::value_type;
    if (g.count < 2) return r - g.mean;  // size-1 rule already applied to g
    const double n = static_cast<double>(g.count);
    const V c = r - g.mean;
    const V d = n / (n - 1.0) * c;  // r - the others' mean
    if (!normalise || g.count < 3) return d;
    // The others' squared deviations: the group's, less r's share (Welford's downdate). A
    // remainder at rounding level of the group's is an all-equal rest (std 0 in exact arithmetic;
    // NeMo-RL's float32 E[x^2] - E[x]^2 resolves nothing near it).
    const V m2 = g.m2 - c * d;
    const V var = m2 > g.m2 * resolved_spread ? m2 / (n - 2.0) : V{};
    const V s = lane_sqrt(var);
    return s > 0.0 ? d / (s + eps) : d;
  }
  static constexpr double resolved_spread = 1e-12;
  void validate() const { detail::check_eps(eps); }
};

/// b = sum(len_i r_i) / sum(len_i), the length-weighted group mean (verl's OPO). Needs lengths.
struct length_weighted_baseline {
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const batch_stats&, typename G::value_type r,
                                  std::int64_t) const {
    return r - g.weighted_mean;
  }
  void validate() const {}
};

/// b = the group mean plus the batch mean of the centred rewards: together with a centred
/// batch-std scale this whitens (r - mean_k) over the batch (REINFORCE++-baseline).
struct batch_centred_baseline {
  static constexpr bool needs_batch_stats = true;
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const batch_stats& b, typename G::value_type r,
                                  std::int64_t) const {
    return g.centred(r) - b.centred_mean();
  }
  void validate() const {}
};

/// Pass@k (verl's grpo_passk): only the group's best response learns, against the second best;
/// every other response gets deviation 0.
struct pass_k_baseline {
  static constexpr bool needs_extrema = true;
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const batch_stats&, typename G::value_type r,
                                  std::int64_t pos) const {
    return pos == g.argmax ? r - g.second_max : typename G::value_type{};
  }
  void validate() const {}
};

/// The authors' HA-DW (yangfengkai/HA-DW, verl/trainer/ppo/core_algos.py,
/// compute_ha_dw_outcome_advantage): the GRPO deviation r - mean times their Phi,
/// lambda_scale exp(-sgn(mean - H) sgn(r - mean) |mean - H|), H = the mean of the last batches'
/// mean rewards, in the reward's own units (no reward_range: +-1 rewards weigh differences up to
/// 2). It sees the group as their code does: a size-1 group under singleton_rule::raw_reward has
/// mean 0. `weigh` = false is their norm_adv_by_std_in_grpo=False branch, which applies no weight.
/// One group at a time (std::exp of a double).
struct history_weighted_baseline {
  static constexpr bool scalar_only = true;
  double history_mean = 0.0;
  double lambda_scale = 1.5;
  bool weigh = true;
  HADW_HOST_DEVICE double deviation(const group_summary<double>& g, const batch_stats&, double r,
                                    std::int64_t) const {
    const double d = g.centred(r);
    if (!weigh) return d;
    const double diff = g.mean - history_mean;
    return lambda_scale * std::exp(-sign(diff) * sign(d) * std::fabs(diff)) * d;
  }
  /// The weight is at most lambda_scale e^|mean - H|: H and lambda_scale finite, as reweight's.
  void validate() const {
    detail::require(std::isfinite(history_mean), "history_mean finite required, got ",
                    history_mean);
    detail::require(lambda_scale > 0.0 && lambda_scale <= max_lambda_scale,
                    "lambda_scale in (0, 1e6] required, got ", lambda_scale);
  }
};

/// s = 1.
struct unit_scale {
  template <class G>
  HADW_HOST_DEVICE auto scale(const G&, const batch_stats&) const {
    return splat<typename G::value_type>(1.0);
  }
  void validate() const {}
};

/// s = the group's std (+ eps, per `eps_at`); s = 1 when `normalise` is false (verl's
/// norm_adv_by_std_in_grpo=False).
struct group_std_scale {
  double eps = 1e-6;
  bool unbiased = true;
  eps_placement eps_at = eps_placement::add_to_std;
  bool normalise = true;
  template <class G>
  HADW_HOST_DEVICE auto scale(const G& g, const batch_stats&) const {
    using V = typename G::value_type;
    if (!normalise) return splat<V>(1.0);
    if (eps_at == eps_placement::add_to_var && !g.singleton_as_raw)
      return lane_sqrt(g.variance(unbiased) + eps);
    return g.stddev(unbiased) + eps;
  }
  void validate() const {
    detail::check_eps(eps);
    detail::require(eps_at != eps_placement::floor_var,
                    "eps_at: add_to_std or add_to_var required for a group std (floor_var is a "
                    "batch scale's)");
  }
};

/// s = the batch's std (+ eps) of the raw or the group-centred rewards.
struct batch_std_scale {
  static constexpr bool needs_batch_stats = true;
  double eps = 1e-4;
  bool unbiased = true;
  eps_placement eps_at = eps_placement::add_to_std;
  batch_source source = batch_source::raw;
  /// A size-1 group under singleton_rule::raw_reward (baseline 0, std 1) is divided by the batch
  /// std like the others, but by 1 + eps, as under group_std_scale, where the batch has no spread
  /// (a one-response batch, all-equal rewards): its deviation r is not 0 there, and dividing by eps
  /// gave r / eps (10000 for r = 1). REINFORCE++-baseline sets it false: verl whitens the lone
  /// response with the batch whatever it holds.
  bool raw_singleton_unit_std = true;
  template <class G>
  HADW_HOST_DEVICE auto scale(const G& g, const batch_stats& b) const {
    const double var = b.variance(source, unbiased);
    if (raw_singleton_unit_std && g.singleton_as_raw && !(var > 0.0))
      return splat<typename G::value_type>(1.0 + eps);
    const double s = eps_at == eps_placement::add_to_var  ? std::sqrt(var + eps)
                     : eps_at == eps_placement::floor_var ? std::sqrt(var > eps ? var : eps)
                                                          : std::sqrt(var) + eps;
    return splat<typename G::value_type>(s);
  }
  void validate() const { detail::check_eps(eps); }
};

/// GPG's batch factor: A = alpha (r - b) / f_norm with alpha = N / max(1, #non-zero rewards),
/// so s = f_norm * max(1, nonzero) / N.
struct gpg_scale {
  static constexpr bool needs_batch_stats = true;
  double f_norm = 1.0;
  template <class G>
  HADW_HOST_DEVICE auto scale(const G&, const batch_stats& b) const {
    const double nonzero = b.nonzero > 0 ? static_cast<double>(b.nonzero) : 1.0;
    return splat<typename G::value_type>(f_norm * nonzero / static_cast<double>(b.count));
  }
  /// f_norm >= 1e-6: a smaller divisor multiplies advantages past float range (A grows as N / f_norm).
  void validate() const {
    detail::require(std::isfinite(f_norm) && f_norm >= 1e-6,
                    "f_norm >= 1e-6 (finite) required, got ", f_norm);
  }
};

/// MaxRL's scale (Tajwar et al., arXiv 2602.02710, Algorithm 1; prime-rl
/// orchestrator/algo/advantage.py max_rl_advantage_fn, SkyRL ppo_utils.py
/// compute_maxrl_advantage): s = the group mean (+ eps), so A = (r - mean) / (mean + eps).
/// A group whose mean is <= 0 has no success to reweigh: s = 0, so its advantages are 0
/// (prime-rl's guard; without it a negative mean flips every sign, as SkyRL's formula does).
/// MaxRL is derived for non-negative (binary) rewards: there |A| <= n - 1. With rewards of both
/// signs the mean can sit just above 0 and |A| is unbounded. A size-1 group under
/// singleton_rule::raw_reward keeps its reward (s = 1: SkyRL's r - 0, undivided).
struct mean_scale {
  double eps = 0.0;  ///< prime-rl: 0; SkyRL: 1e-6
  template <class G>
  HADW_HOST_DEVICE auto scale(const G& g, const batch_stats&) const {
    using V = typename G::value_type;
    if (g.singleton_as_raw) return splat<V>(1.0);
    return g.mean > 0.0 ? g.mean + eps : V{};
  }
  void validate() const { detail::check_eps(eps); }
};

/// DGPO's scale (MathForge, ICLR 2026, arXiv 2601.20614, DGAE; AMAP-ML/MathForge
/// trl-0.20.0/trl/trainer/grpo_trainer.py, enable_dgpo): A = n (r - mean) / (sum |r - mean| + eps),
/// the mean absolute deviation in place of the std, so s = (sum |r - mean| + eps) / n, n the
/// group's valid responses. |A| <= n. A size-1 group under singleton_rule::raw_reward is divided
/// by 1 + eps, as under group_std_scale (verl's std 1).
struct mad_scale {
  static constexpr bool needs_abs_deviation = true;
  double eps = 1e-4;
  template <class G>
  HADW_HOST_DEVICE auto scale(const G& g, const batch_stats&) const {
    using V = typename G::value_type;
    if (g.singleton_as_raw) return splat<V>(1.0 + eps);
    const double n = g.count > 0 ? static_cast<double>(g.count) : 1.0;
    return (g.abs_dev + eps) / n;
  }
  void validate() const { detail::check_eps(eps); }
};

static_assert(baseline_policy<mean_baseline> && baseline_policy<leave_one_out_baseline> &&
              baseline_policy<length_weighted_baseline> &&
              baseline_policy<batch_centred_baseline> && baseline_policy<pass_k_baseline> &&
              baseline_policy<history_weighted_baseline> &&
              baseline_policy<leave_one_out_std_baseline>);
static_assert(scale_policy<unit_scale> && scale_policy<group_std_scale> &&
              scale_policy<batch_std_scale> && scale_policy<gpg_scale> &&
              scale_policy<mean_scale> && scale_policy<mad_scale>);

}  // namespace hadw
