// Multi-reward estimators: GDPO's decoupled normalisation, composed of two estimators that
// already exist, and its peer presets. The entry point is hadw/api/multi_reward.hpp.
#pragma once

#include <hadw/estimators/compat.hpp>
#include <hadw/estimators/estimator.hpp>
#include <hadw/estimators/named.hpp>

namespace hadw {

/// GDPO (Liu et al. 2026, arXiv:2601.05242; verl compute_gdpo_outcome_advantage, TRL
/// multi_objective_aggregation="normalize_then_sum"): with K rewards per response,
///   A_k   = per_reward applied to column k within each group  (GRPO: (r_k - mean) / (std + eps))
///   s     = sum_k w_k A_k
///   A     = whitening applied to s over the whole batch, as one group.
/// Both stages are ordinary estimators, so each formula stays where it is written (named.hpp):
/// verl whitens with masked_whiten, i.e. REINFORCE++'s (s - mean) / sqrt(var + 1e-8) weighted by
/// token counts (pass lengths); TRL with (s - mean) / (std + 1e-4), i.e. GRPO over one group.
/// The defaults are verl's formulas with hadw's reject rule for size-1 groups.
template <estimator_like PerReward = grpo, estimator_like Whitening = reinforce_pp_baseline>
struct gdpo {
  PerReward per_reward{};
  Whitening whitening{};
  void validate() const {
    per_reward.policies().validate();
    whitening.policies().validate();
  }
};

/// "sum_then_normalize" (TRL's default) needs no entry point of its own: it is the single-reward
/// estimator on s = sum_k w_k r_k (hadw::estimate on the weighted sum).

namespace compat::verl {
/// verl 0.9.1 gdpo: each column through verl's GRPO (size-1 group: mean 0, std 1), then
/// masked_whiten over the response mask's tokens. norm_adv_by_std_in_grpo=False: gdpo_dr_grpo.
inline constexpr hadw::gdpo<hadw::grpo, hadw::reinforce_pp_baseline> gdpo{
    .per_reward = verl::grpo,
    .whitening = {.eps = 1e-8, .unbiased = true, .singleton = singleton_rule::raw_reward}};
inline constexpr hadw::gdpo<hadw::dr_grpo, hadw::reinforce_pp_baseline> gdpo_dr_grpo{
    .per_reward = verl::dr_grpo, .whitening = gdpo.whitening};
}  // namespace compat::verl

namespace compat::trl {
/// TRL 1.16 normalize_then_sum: each column (r - nanmean) / (nanstd + 1e-4) in its group, then
/// (s - nanmean(s)) / (nanstd(s) + 1e-4) over the batch; a lone completion gets 0.
inline constexpr hadw::gdpo<hadw::grpo, hadw::grpo> gdpo{.per_reward = trl::grpo,
                                                         .whitening = trl::grpo};
}  // namespace compat::trl

}  // namespace hadw
