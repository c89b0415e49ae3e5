// A trainer loop on xtensor containers, data-parallel: the {B, G} batch is split into row shards
// (one per simulated rank); each shard is weighted with the shared prior without touching the
// anchor, the integer counts are "all-reduced" (summed), and every rank observes the global y_t.
// The weights equal those of one process reweighting the whole batch: checked at the end of
// every step. Requires xtensor (opt-in header hadw/interop/xtensor.hpp; CMake: link xtensor).
#include <hadw/hadw.hpp>
#include <hadw/interop/xtensor.hpp>

#include <xtensor/xmath.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>

int main() {
  constexpr std::size_t prompts = 16, rollouts = 8, ranks = 2, per_rank = prompts / ranks;
  std::mt19937_64 rng(13);
  std::normal_distribution<double> hardness(0.0, 1.5);
  hadw::difficulty_anchor<> anchor, single_process;

  for (int step = 0; step < 6; ++step) {
    xt::xtensor<float, 2> rewards({prompts, rollouts});
    for (std::size_t k = 0; k < prompts; ++k) {
      const double p = 1.0 / (1.0 + std::exp(hardness(rng) - 0.2 * step));
      for (std::size_t i = 0; i < rollouts; ++i)
        rewards(k, i) = std::bernoulli_distribution(p)(rng) ? 1.0f : 0.0f;
    }
    xt::xtensor<float, 2> advantages({prompts, rollouts});
    hadw::estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, rewards, advantages);
    xt::xtensor<float, 2> reference = advantages;
    hadw::reweight(reference, rewards, single_process);

    // [snippet:xtensor_shards]
    hadw::reweight_options local;
    local.update_anchor = false;  // weight with the shared prior; observe the global y_t below
    std::int64_t correct = 0, total = 0;
    for (std::size_t rank = 0; rank < ranks; ++rank) {
      const std::size_t first = rank * per_rank, last = first + per_rank;
      auto shard = xt::view(advantages, xt::range(first, last), xt::all());  // whole rows: zero-copy
      const auto shard_rewards = xt::view(rewards, xt::range(first, last), xt::all());
      const auto st = hadw::reweight(shard, shard_rewards, anchor, local);
      correct += st.correct;  // an all-reduce (sum) of two int64 in a real trainer
      total += st.total;
    }
    anchor.observe(correct, total);  // every rank: the same counts, the same anchor
    // [end:xtensor_shards]

    const float max_diff = xt::amax(xt::abs(advantages - reference))();
    std::printf("step %d: y_t = %lld/%lld, C %.4f (single process %.4f), max |diff| %g\n", step,
                static_cast<long long>(correct), static_cast<long long>(total), anchor.prior(),
                single_process.prior(), static_cast<double>(max_diff));
    if (max_diff != 0.0f || !(anchor == single_process)) return 1;
  }
  return 0;
}
