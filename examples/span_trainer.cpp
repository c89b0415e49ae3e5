// A trainer loop on plain spans: what a verl-, TRL- or OpenRLHF-style trainer does with hadw
// each step, with the model and verifier replaced by a simulation.
//
// Per step: the rollout workers return N = prompts x rollouts responses in any order, each with
// the uid of its prompt, a verifier reward and a response length. hadw groups them by uid, turns
// the rewards into GRPO advantages (verl's conventions), reweights them with HA-DW against the
// difficulty anchor, and broadcasts them to a right-padded [N, L] token grid for the policy loss.
// The anchor is the only state: it is logged every step and checkpointed with the model.
//
// The regions between "// [snippet:NAME]" and "// [end:NAME]" are quoted in docs/ (tests/test_docs
// checks the quotes match this file).
#include <hadw/hadw.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

/// One step's rollouts as a trainer holds them: flat arrays in the workers' order.
struct rollout_batch {
  std::vector<std::string> uid;         // prompt id of each response (verl's "uid")
  std::vector<float> rewards;           // verifier score in [0, 1]
  std::vector<std::int64_t> lengths;    // response tokens
};

/// Simulated rollouts: prompt k is solved with probability sigmoid(skill - hardness_k); the
/// responses come back shuffled, as from asynchronous workers.
rollout_batch simulate_rollouts(std::mt19937_64& rng, int step, std::int64_t prompts,
                                std::int64_t rollouts, std::int64_t max_len) {
  rollout_batch b;
  std::normal_distribution<double> hardness(0.0, 1.5);
  std::uniform_int_distribution<std::int64_t> length(1, max_len);
  for (std::int64_t k = 0; k < prompts; ++k) {
    const double p = 1.0 / (1.0 + std::exp(hardness(rng) - 0.1 * step));
    for (std::int64_t i = 0; i < rollouts; ++i) {
      b.uid.push_back("step" + std::to_string(step) + "/prompt" + std::to_string(k));
      b.rewards.push_back(std::bernoulli_distribution(p)(rng) ? 1.0f : 0.0f);
      b.lengths.push_back(length(rng));
    }
  }
  std::vector<std::size_t> order(b.uid.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::shuffle(order.begin(), order.end(), rng);
  rollout_batch shuffled;
  for (std::size_t j : order) {
    shuffled.uid.push_back(b.uid[j]);
    shuffled.rewards.push_back(b.rewards[j]);
    shuffled.lengths.push_back(b.lengths[j]);
  }
  return shuffled;
}

}  // namespace

int main() {
  constexpr std::int64_t prompts = 32, rollouts = 8, max_len = 64, steps = 12;
  std::mt19937_64 rng(7);

  // [snippet:anchor]
  // The anchor lives in the trainer, next to the optimizer: one per run, carried across steps.
  hadw::difficulty_anchor<hadw::kalman_belief> anchor{hadw::kalman_belief::config{
      .eta = 0.5, .window = 10, .initial_belief = 0.5}};
  hadw::reweight_options options;
  options.lambda_scale = 1.5;  // paper's best range: 1.3-1.5
  // [end:anchor]

  std::vector<std::uint8_t> checkpoint;
  for (int step = 0; step < steps; ++step) {
    const rollout_batch batch = simulate_rollouts(rng, step, prompts, rollouts, max_len);
    const auto n = static_cast<std::int64_t>(batch.rewards.size());

    // [snippet:estimate]
    // Group by prompt id (any order, any id type), then GRPO with verl's conventions.
    const auto layout = hadw::group_layout::from_ids(batch.uid);
    std::vector<float> advantages(batch.rewards.size());
    hadw::estimate(hadw::compat::verl::grpo, layout, std::span<const float>(batch.rewards),
                   std::span<float>(advantages));
    // [end:estimate]

    // [snippet:reweight]
    // HA-DW: Phi = lambda * exp(D * M) with the anchor's prior, then the anchor observes y_t.
    const hadw::step_stats stats =
        hadw::reweight(hadw::grouped(std::span<float>(advantages), layout),
                       hadw::grouped(std::span<const float>(batch.rewards), layout), anchor,
                       options);
    // [end:reweight]

    // [snippet:tokens]
    // Per-token advantages on a right-padded [N, L] grid: token t of response i gets
    // advantages[i] if t < lengths[i], else exactly 0.
    std::vector<float> token_advantages(static_cast<std::size_t>(n * max_len));
    hadw::broadcast_to_tokens(std::span<const float>(advantages),
                              std::span<const std::int64_t>(batch.lengths), max_len,
                              std::span<float>(token_advantages));
    // [end:tokens]

    // [snippet:log]
    // Every step_stats field under a "hadw/<field>" key, for wandb / tensorboard.
    if (step % 4 == 0) {
      std::printf("step %2d:", step);
      stats.for_each([](std::string_view key, double value) {
        if (key == "hadw/prior" || key == "hadw/batch_accuracy" || key == "hadw/eta" ||
            key == "hadw/phi_mean" || key == "hadw/degenerate_fraction")
          std::printf("  %.*s=%.4f", static_cast<int>(key.size()), key.data(), value);
      });
      std::printf("\n");
    }
    // [end:log]

    if (step == steps / 2) {
      // [snippet:checkpoint]
      // Save with the model; load() throws hadw::error on a corrupt or foreign buffer.
      checkpoint = anchor.save();
      auto resumed = hadw::difficulty_anchor<hadw::kalman_belief>::load(checkpoint);
      // [end:checkpoint]
      if (!(resumed == anchor)) {
        std::printf("resume mismatch\n");
        return 1;
      }
      std::printf("step %2d: checkpointed the anchor (%zu bytes)\n", step, checkpoint.size());
    }
  }
  std::printf("final belief C = %.4f after %lld steps\n", anchor.prior(),
              static_cast<long long>(anchor.step()));
  return 0;
}
