// A trainer loop on Eigen matrices: rewards arrive as a B x G row-major matrix (row k = the G
// rollouts of prompt k), hadw writes advantages into another, in place, with no copies.
//
// The same code runs on memory the trainer already owns (a libtorch tensor's data_ptr(), a numpy
// buffer): wrap it in an Eigen::Map, as the second half of each step shows for the token grid.
// Requires Eigen (opt-in header hadw/interop/eigen.hpp; CMake: link Eigen3::Eigen).
#include <hadw/hadw.hpp>
#include <hadw/interop/eigen.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <span>
#include <vector>

int main() {
  constexpr Eigen::Index prompts = 16, rollouts = 8, max_len = 32;
  using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::mt19937_64 rng(11);
  std::normal_distribution<double> hardness(0.0, 1.5);

  hadw::difficulty_anchor<hadw::window_mean_belief> anchor{
      hadw::window_mean_belief::config{.window = 10}};
  hadw::reweight_options options;
  options.timing = hadw::anchor_timing::posterior;  // the authors' released code

  for (int step = 0; step < 6; ++step) {
    row_matrix rewards(prompts, rollouts);
    for (Eigen::Index k = 0; k < prompts; ++k) {
      const double p = 1.0 / (1.0 + std::exp(hardness(rng) - 0.2 * step));
      for (Eigen::Index i = 0; i < rollouts; ++i)
        rewards(k, i) = std::bernoulli_distribution(p)(rng) ? 1.0f : 0.0f;
    }

    // [snippet:eigen]
    row_matrix advantages(prompts, rollouts);                 // B x G, row-major
    hadw::estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, rewards, advantages);
    const hadw::step_stats stats = hadw::reweight(advantages, rewards, anchor, options);
    // [end:eigen]

    // [snippet:eigen_tokens]
    // Any span entry point takes a matrix through hadw::as_span (its row-major storage, no copy).
    std::vector<float> token_buffer(prompts * rollouts * max_len);  // e.g. a tensor's memory
    Eigen::Map<row_matrix> token_advantages(token_buffer.data(), prompts * rollouts, max_len);
    std::vector<std::int64_t> lengths(prompts * rollouts, max_len / 2);
    hadw::broadcast_to_tokens(std::span<const float>(hadw::as_span(advantages)),
                              std::span<const std::int64_t>(lengths), max_len,
                              hadw::as_span(token_advantages));
    // [end:eigen_tokens]

    std::printf("step %d: C %.3f -> %.3f, y_t %.3f, phi in [%.3f, %.3f], std(A) %.3f -> %.3f, "
                "token sum / length %.3f vs sum %.3f\n",
                step, stats.prior, stats.posterior, stats.batch_accuracy, stats.phi_min,
                stats.phi_max, stats.adv_std_before, stats.adv_std_after,
                static_cast<double>(token_advantages.sum() / (max_len / 2)),
                static_cast<double>(advantages.sum()));
  }
  return 0;
}
