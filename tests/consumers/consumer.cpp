// The program every consumer project builds: it includes hadw the way a user would and calls
// hadw::reweight(advantages, rewards, anchor), then checks the weights against eq. 13-16 written
// out by hand. Exit status 0 = the package works.
#include <hadw/hadw.hpp>

#include <cmath>
#include <cstdio>
#include <span>
#include <vector>

int main() {
  // Two prompts x four responses: a hard prompt (p_hat = 0.25) and an easy one (p_hat = 0.75).
  const std::vector<float> rewards{1, 0, 0, 0, 1, 1, 1, 0};
  std::vector<float> advantages(rewards.size());
  const auto layout = hadw::group_layout::uniform(2, 4);
  hadw::estimate(hadw::dr_grpo{}, layout, std::span<const float>(rewards),
                 std::span<float>(advantages));  // r - group mean

  hadw::difficulty_anchor anchor;  // prior C = 0.5
  const auto grouped_adv = hadw::grouped(std::span<float>(advantages), layout);
  const auto grouped_rew = hadw::grouped(std::span<const float>(rewards), layout);
  const hadw::step_stats st = hadw::reweight(grouped_adv, grouped_rew, anchor);

  // Phi = 1.5 exp(D M), M = |p_hat - 0.5| = 0.25; D = +1 for the correct answer on the hard
  // prompt and the wrong answer on the easy one, -1 for the others.
  const double up = 1.5 * std::exp(0.25), down = 1.5 * std::exp(-0.25);
  const double expected[] = {0.75 * up,   -0.25 * down, -0.25 * down, -0.25 * down,
                             0.25 * down, 0.25 * down,  0.25 * down,  -0.75 * up};
  int failures = 0;
  for (std::size_t i = 0; i < advantages.size(); ++i)
    if (std::fabs(advantages[i] - expected[i]) > 1e-6) {
      std::printf("advantages[%zu] = %.9g, expected %.9g\n", i, advantages[i], expected[i]);
      ++failures;
    }
  if (st.prior != 0.5 || st.batch_accuracy != 0.5 || anchor.step() != 1) ++failures;
  std::printf("hadw %d.%d.%d consumer: prior %.3f, y_t %.3f, phi in [%.4f, %.4f]: %s\n",
              HADW_VERSION_MAJOR, HADW_VERSION_MINOR, HADW_VERSION_PATCH, st.prior,
              st.batch_accuracy, st.phi_min, st.phi_max, failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
