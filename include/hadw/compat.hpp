// Peer presets: the options that make hadw reproduce each trainer's numbers to float rounding.
#pragma once

#include <hadw/estimators.hpp>

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

/// TRL GRPOTrainer: unbiased std + 1e-4 (scale_rewards "group" / "batch" / "none"); it requires
/// num_generations >= 2, so a size-1 group is rejected.
namespace trl {
inline constexpr hadw::grpo grpo{.eps = 1e-4, .unbiased = true};
inline constexpr hadw::grpo_batch_std grpo_batch{.eps = 1e-4, .unbiased = true, .centred = false};
inline constexpr hadw::dr_grpo dr_grpo{};
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
