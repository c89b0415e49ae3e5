// A trainer loop over 200 steps with a drifting model accuracy: how each belief policy of the
// difficulty anchor tracks it, and what the HA-DW weights do meanwhile.
//
//   anchor_trajectory [--csv]   (--csv: one row per step, for plotting)
#include <hadw/hadw.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

namespace {

/// One simulated policy: 128 prompts x 8 rollouts whose accuracy drifts up, dips (a bad update,
/// steps 120-140), and recovers.
double true_accuracy(int step) {
  const double trend = 0.25 + 0.45 / (1.0 + std::exp(-(step - 80) / 25.0));
  return step >= 120 && step < 140 ? trend - 0.15 : trend;
}

template <class Belief>
struct tracked {
  const char* name;
  hadw::difficulty_anchor<Belief> anchor;
  hadw::reweight_options options;
  hadw::step_stats last{};
};

}  // namespace

int main(int argc, char** argv) {
  const bool csv = argc > 1 && std::strcmp(argv[1], "--csv") == 0;
  constexpr std::int64_t prompts = 128, rollouts = 8, n = prompts * rollouts;
  const auto layout = hadw::group_layout::uniform(prompts, rollouts);
  std::mt19937_64 rng(7);
  std::normal_distribution<double> spread(0.0, 1.2);
  std::vector<double> offset(prompts);
  for (auto& o : offset) o = spread(rng);

  tracked<hadw::kalman_belief> paper{"paper (kalman, eta 0.1)", {}, {}};
  tracked<hadw::kalman_belief> fast{
      "kalman, eta 1, window 5",
      hadw::difficulty_anchor<hadw::kalman_belief>{
          hadw::kalman_belief::config{.eta = 1.0, .window = 5}},
      {}};
  tracked<hadw::window_mean_belief> released{"released (window mean 10, posterior)", {}, {}};
  released.options.timing = hadw::anchor_timing::posterior;
  tracked<hadw::fixed_belief> fixed{"fixed 0.5", {}, {}};

  std::vector<float> rewards(n), advantages(n), weighted(n);
  if (csv)
    std::printf("step,accuracy,batch,paper,fast,released,fixed,phi_mean_paper,phi_mean_released\n");
  else
    std::printf("step  true acc  batch  | C paper  C eta=1  C released  C fixed | phi mean "
                "(paper / released)\n");
  for (int step = 0; step < 200; ++step) {
    const double acc = true_accuracy(step);
    const double logit = std::log(acc / (1 - acc));
    for (std::int64_t k = 0; k < prompts; ++k) {
      const double p = 1.0 / (1.0 + std::exp(-(logit + offset[k])));
      for (std::int64_t i = 0; i < rollouts; ++i)
        rewards[k * rollouts + i] = std::bernoulli_distribution(p)(rng) ? 1.f : 0.f;
    }
    hadw::estimate(hadw::grpo{}, layout, std::span<const float>(rewards),
                   std::span<float>(advantages));
    const auto step_with = [&](auto& t) {
      weighted = advantages;
      t.last = hadw::reweight(hadw::grouped(std::span<float>(weighted), layout),
                              hadw::grouped(std::span<const float>(rewards), layout), t.anchor,
                              t.options);
    };
    step_with(paper);
    step_with(fast);
    step_with(released);
    step_with(fixed);
    if (csv)
      std::printf("%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n", step, acc,
                  paper.last.batch_accuracy, paper.last.posterior, fast.last.posterior,
                  released.last.posterior, fixed.last.posterior, paper.last.phi_mean,
                  released.last.phi_mean);
    else if (step % 10 == 0 || step == 199)
      std::printf("%4d  %.3f     %.3f  | %.3f    %.3f    %.3f       %.3f   | %.3f / %.3f\n", step,
                  acc, paper.last.batch_accuracy, paper.last.posterior, fast.last.posterior,
                  released.last.posterior, fixed.last.posterior, paper.last.phi_mean,
                  released.last.phi_mean);
  }
  return 0;
}
