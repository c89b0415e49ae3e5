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
inline constexpr hadw::reinforce_pp_baseline reinforce_pp_baseline{
    .eps = 1e-8, .unbiased = true, .singleton = singleton_rule::raw_reward};
inline constexpr hadw::opo opo{.singleton = singleton_rule::raw_reward};
inline constexpr hadw::gpg gpg{.f_norm = 1.0, .singleton = singleton_rule::raw_reward};
/// verl raises on a group of fewer than 2 for pass@k.
inline constexpr hadw::grpo_passk grpo_passk{.eps = 1e-6, .unbiased = true};
}  // namespace verl

/// TRL GRPOTrainer: unbiased std + 1e-4 (scale_rewards "group" / "batch" / "none"). TRL requires
/// num_generations >= 2, but a group can still be left with one valid response when its other
/// completions are unscorable (NaN rewards, nan_policy::unscorable): TRL's nanmean/nanstd then
/// give r - r = 0 (or 0 / NaN, which its nan_to_num turns into 0), so under "group" and "none" a
/// size-1 group yields 0 (trl/trainer/grpo_trainer.py, TRL 1.16; python/tests/test_peer_trl.py).
/// Under "batch" TRL still counts that lone reward in the batch std, whereas singleton_rule::zero
/// drops it from every batch statistic, so that preset keeps rejecting size-1 groups rather than
/// differing silently.
namespace trl {
inline constexpr hadw::grpo grpo{.eps = 1e-4, .unbiased = true, .singleton = singleton_rule::zero};
inline constexpr hadw::grpo_batch_std grpo_batch{.eps = 1e-4, .unbiased = true, .centred = false};
inline constexpr hadw::dr_grpo dr_grpo{.singleton = singleton_rule::zero};
}  // namespace trl

/// OpenRLHF (advantage_estimator group_norm / dr_grpo / rloo / reinforce_baseline): unbiased std
/// + 1e-9.
namespace openrlhf {
inline constexpr hadw::grpo grpo{.eps = 1e-9, .unbiased = true};
inline constexpr hadw::dr_grpo dr_grpo{};
inline constexpr hadw::rloo rloo{};
inline constexpr hadw::reinforce_pp_baseline reinforce_pp_baseline{.eps = 1e-8, .unbiased = true};
}  // namespace openrlhf

}  // namespace hadw::compat
