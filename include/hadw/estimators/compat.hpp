// Peer presets: the options that make hadw reproduce each trainer's numbers to float rounding.
#pragma once

#include <hadw/estimators/named.hpp>

namespace hadw::compat {

/// verl (verl/trainer/ppo/core_algos.py): torch.std (unbiased) + 1e-6; a size-1 group has mean 0
/// and std 1; REINFORCE++ whitens over tokens with eps 1e-8 inside the sqrt.
namespace verl {
inline constexpr hadw::grpo grpo{.eps = 1e-6, .unbiased = true, .singleton = singleton_rule::raw_reward};
inline constexpr hadw::dr_grpo dr_grpo{.singleton = singleton_rule::raw_reward};
inline constexpr hadw::rloo rloo{.singleton = singleton_rule::raw_reward};
/// verl's compute_rloo_vectorized_outcome_advantage (adv_estimator=rloo_vectorized): the same
/// RLOO, but `* (c > 1)` gives a size-1 group 0 where `rloo` gives the raw reward.
inline constexpr hadw::rloo rloo_vectorized{.singleton = singleton_rule::zero};
inline constexpr hadw::reinforce_pp_baseline reinforce_pp_baseline{
    .eps = 1e-8, .unbiased = true, .singleton = singleton_rule::raw_reward};
inline constexpr hadw::opo opo{.singleton = singleton_rule::raw_reward};
inline constexpr hadw::gpg gpg{.f_norm = 1.0, .singleton = singleton_rule::raw_reward};
/// verl raises on a group of fewer than 2 for pass@k.
inline constexpr hadw::grpo_passk grpo_passk{.eps = 1e-6, .unbiased = true};
}  // namespace verl

/// TRL GRPOTrainer: unbiased std + 1e-4 (scale_rewards "group" / "batch" / "none"). TRL requires
/// num_generations >= 2 in training, but a group can be left with one valid response when its
/// other completions are unscorable (NaN rewards, nan_policy::unscorable), and evaluation may run
/// with num_generations_eval = 1: TRL's nanmean/nanstd then give r - r = 0 (or 0 / NaN, which its
/// nan_to_num turns into 0), so a lone completion gets 0 (trl/trainer/grpo_trainer.py, TRL 1.16;
/// python/tests/test_peer_trl.py). Under "batch" that lone reward still counts in the batch std
/// (singleton_rule::keep, grpo_batch_std); under "group" and "none" nothing else reads it
/// (singleton_rule::zero).
namespace trl {
inline constexpr hadw::grpo grpo{.eps = 1e-4, .unbiased = true, .singleton = singleton_rule::zero};
/// scale_rewards="batch" as TRL computes it in every case: a lone completion gets 0 and its
/// reward counts in the batch std; G = 1 (num_generations_eval = 1) and N = 1 give 0.
inline constexpr hadw::grpo_batch_std grpo_batch_std{
    .eps = 1e-4, .unbiased = true, .centred = false, .singleton = singleton_rule::keep};
/// The first "batch" preset, kept bit for bit (tests/golden): it rejects a group left with one
/// scorable completion (hadw::error) where TRL gives 0. Prefer grpo_batch_std.
inline constexpr hadw::grpo_batch_std grpo_batch{.eps = 1e-4, .unbiased = true, .centred = false};
inline constexpr hadw::dr_grpo dr_grpo{.singleton = singleton_rule::zero};
}  // namespace trl

/// OpenRLHF (advantage_estimator group_norm / dr_grpo / rloo / reinforce_baseline;
/// openrlhf/trainer/ppo_utils/experience_maker.py, 0.11.2): unbiased std + 1e-9 per group;
/// reinforce_baseline whitens r - mean over the batch's tokens with the population variance,
/// clamped: rsqrt(max(var, 1e-8)) (python/tests/test_peer_presets.py runs those lines).
namespace openrlhf {
inline constexpr hadw::grpo grpo{.eps = 1e-9, .unbiased = true};
inline constexpr hadw::dr_grpo dr_grpo{};
inline constexpr hadw::rloo rloo{};
inline constexpr hadw::reinforce_pp_baseline reinforce_baseline{
    .eps = 1e-8, .unbiased = false, .eps_at = eps_placement::floor_var};
/// The first REINFORCE++ preset (unbiased, sqrt(var + 1e-8)), kept bit for bit (tests/golden);
/// OpenRLHF 0.11.2 computes reinforce_baseline.
inline constexpr hadw::reinforce_pp_baseline reinforce_pp_baseline{.eps = 1e-8, .unbiased = true};
}  // namespace openrlhf

/// The authors' released HA-DW code (github yangfengkai/HA-DW, verl/trainer/ppo/core_algos.py,
/// compute_ha_dw_outcome_advantage): their weight inside the advantage, in reward units, with
/// verl's size-1 rule and no weight without the std (docs/integrating.md, "The authors' code").
namespace authors {
inline constexpr hadw::ha_dw_authors ha_dw{};
}  // namespace authors

}  // namespace hadw::compat
