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

/// NeMo-RL (nemo_rl/algorithms/advantage_estimator.py, GRPOAdvantageEstimator, and
/// nemo_rl/algorithms/utils.py, calculate_baseline_and_std_per_prompt; NVIDIA-NeMo/RL 165f994):
/// grpo.use_leave_one_out_baseline + normalize_rewards (its defaults): r - the others' mean, over
/// the others' ddof-1 std + 1e-6 where that std > 0. A group with <= 1 valid response gets
/// baseline = reward, so 0. `rloo`: normalize_rewards = false.
namespace nemo_rl {
inline constexpr hadw::grpo_leave_one_out grpo{.eps = 1e-6, .singleton = singleton_rule::zero};
inline constexpr hadw::rloo rloo{.singleton = singleton_rule::zero};
}  // namespace nemo_rl

/// slime (THUDM/slime, slime/ray/rollout.py, _post_process_rewards; a51f071): r - mean, over
/// torch.std (ddof 1) + 1e-6 with grpo_std_normalization; n_samples_per_prompt = 1 switches the
/// std off (slime/utils/arguments.py), so a lone response gets r - r = 0.
namespace slime {
inline constexpr hadw::grpo grpo{.eps = 1e-6, .unbiased = true, .singleton = singleton_rule::zero};
inline constexpr hadw::dr_grpo dr_grpo{.singleton = singleton_rule::zero};
}  // namespace slime

/// ROLL (alibaba/ROLL, roll/utils/functionals.py, reward_norm with norm_mean_type =
/// norm_std_type = "group", which adv_estimator "grpo" sets; 4142237): torch.std (ddof 1) + 1e-6.
/// A size-1 group's std is NaN there (group_reward_norm asserts n_sample > 1): rejected here.
namespace roll {
inline constexpr hadw::grpo grpo{.eps = 1e-6, .unbiased = true};
}  // namespace roll

/// rllm (rllm-org/rllm, rllm/trainer/algorithms/rl_algo.py, calculate_grpo_advantages_per_group
/// and calculate_rloo_advantages_per_group; aabd8a3): np.std (population) + 1e-6; a size-1
/// group has mean 0 and std 1 (GRPO) or keeps its reward (RLOO, Dr.GRPO).
namespace rllm {
inline constexpr hadw::grpo grpo{
    .eps = 1e-6, .unbiased = false, .singleton = singleton_rule::raw_reward};
inline constexpr hadw::dr_grpo dr_grpo{.singleton = singleton_rule::raw_reward};
inline constexpr hadw::rloo rloo{.singleton = singleton_rule::raw_reward};
}  // namespace rllm

/// SkyRL (NovaSky-AI/SkyRL, skyrl-train/skyrl_train/utils/ppo_utils.py,
/// compute_grpo_outcome_advantage and compute_rloo_outcome_advantage; 9210371): verl's GRPO
/// (ddof 1, + 1e-6, size-1 group: mean 0 and std 1); its RLOO gives a size-1 group 0.
namespace skyrl {
inline constexpr hadw::grpo grpo = verl::grpo;
inline constexpr hadw::dr_grpo dr_grpo = verl::dr_grpo;
inline constexpr hadw::rloo rloo{.singleton = singleton_rule::zero};
/// skyrl/backends/skyrl_train/utils/ppo_utils.py compute_maxrl_advantage: eps 1e-6, a lone
/// response keeps r - 0 (its guard-free mean <= 0 case differs only for negative rewards).
inline constexpr hadw::maxrl maxrl{.eps = 1e-6, .singleton = singleton_rule::raw_reward};
}  // namespace skyrl

/// The authors' released HA-DW code (github yangfengkai/HA-DW, verl/trainer/ppo/core_algos.py,
/// compute_ha_dw_outcome_advantage): their weight inside the advantage, in reward units, with
/// verl's size-1 rule and no weight without the std (docs/integrating.md, "The authors' code").
namespace authors {
inline constexpr hadw::ha_dw_authors ha_dw{};
}  // namespace authors

}  // namespace hadw::compat
