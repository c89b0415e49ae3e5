// simulate: a synthetic RLVR run, no network, no model — does HA-DW's reweighting help, in a world
// where the true success probabilities (and so the true advantages) are known?
//
//   simulate [--seed 1] [--seeds 16] [--steps 200] [--csv FILE]
//
// World. 512 prompts with latent difficulty d_j ~ Normal(1, 1.5). The "policy" gives prompt j the
// success probability p_j = sigmoid(s + w_j - d_j): a shared skill s (learning on one prompt
// transfers to all) and a per-prompt parameter w_j, both 0 at the start (median p_j ~ 0.27).
// Each step draws 64 prompts, G = 8 rollouts each, verifier rewards r ~ Bernoulli(p_j); hadw makes
// the advantages Â; the policy takes one gradient step on the REINFORCE surrogate
// (1/(B G)) sum_{j,i} Â_ji log pi(r_ji), whose gradient w.r.t. the logit of prompt j is
// (1/(B G)) sum_i Â_ji (r_ji - p_j). s moves by the batch sum (lr 0.02), w_j by B times its own
// term (lr 0.2) — plain SGD, no clipping, no KL.
//
// Methods, each with the same seeds (common random numbers: the same prompts per step and the same
// uniform u per (step, slot, rollout), r = u < p_j; GRPO-2G's first G rollouts reuse GRPO's):
//   grpo              GRPO (group std normalisation), G = 8
//   hadw-kalman       + HA-DW, paper's belief (eta 0.1, m 10, C_0 0.5), prior timing, lambda 1.5
//   hadw-window       + HA-DW, the authors' released belief (mean of last 10), posterior timing
//   hadw-fixed        + HA-DW, a fixed anchor C = 0.5 (the paper's ablation)
//   grpo-2G           GRPO with 16 rollouts per prompt (twice the samples)
//   grpo-lr1.5        GRPO with learning rate x 1.5: Phi = lambda e^{DM} also scales every update
//                     by lambda = 1.5, so this control separates "bigger steps" from "reweighting"
//
// Reported: (a) on correct responses of non-degenerate groups, the mean of Phi*(r - p̂) - (1 - p_j),
// i.e. the measured bias of the theory's (unnormalised) advantage against the true one, on hard
// (p_j < 0.5) and easy (p_j > 0.5) prompts, beside its exact expectation for GRPO
// (-correct_response_bias(p_j, G) averaged over the same responses) and the lambda-free version
// Phi/lambda; (b) the final mean p_j over the hardest quartile of prompts (by d_j) and over all,
// as mean +- standard error over seeds, and the paired difference to GRPO.
#include <hadw/hadw.hpp>
#include <hadw/theory.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

namespace th = hadw::theory;

namespace {

constexpr int num_prompts = 512, batch = 64, group = 8;
constexpr double lambda_scale = 1.5;
// Chosen so that plain GRPO ends the 200 steps half-way on the hardest quartile (neither at 0 nor
// saturated), where differences between methods can show.
constexpr double lr_skill = 0.02, lr_prompt = 0.2;

enum class method { grpo, hadw_kalman, hadw_window, hadw_fixed, grpo_2g, grpo_lr };
constexpr method all_methods[] = {method::grpo,       method::hadw_kalman, method::hadw_window,
                                  method::hadw_fixed, method::grpo_2g,     method::grpo_lr};
const char* name(method m) {
  switch (m) {
    case method::grpo:
      return "grpo";
    case method::hadw_kalman:
      return "hadw-kalman";
    case method::hadw_window:
      return "hadw-window";
    case method::hadw_fixed:
      return "hadw-fixed";
    case method::grpo_2g:
      return "grpo-2G";
    case method::grpo_lr:
      return "grpo-lr1.5";
  }
  return "?";
}

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

/// Sums for the bias of correct responses' advantages, per difficulty side.
struct bias_sums {
  double n = 0, measured = 0, scale_free = 0, theory = 0;
  void add(double weighted_minus_true, double scale_free_minus_true, double theory_value) {
    n += 1;
    measured += weighted_minus_true;
    scale_free += scale_free_minus_true;
    theory += theory_value;
  }
};

struct run_result {
  double hard_quartile = 0, overall = 0;
  double final_belief = NAN;  // the anchor's prior after the last step (HA-DW runs)
  bias_sums hard, easy;
  std::vector<double> curve_hard, curve_all;  // per step
};

struct world {
  std::vector<double> difficulty;
  std::vector<int> hardest_quartile;
};

world make_world(std::uint64_t seed) {
  world w;
  th::random_source rng(th::splitmix64(seed) ^ 0x5eedULL);
  w.difficulty.resize(num_prompts);
  for (double& d : w.difficulty) d = 1.0 + 1.5 * rng.normal();
  std::vector<int> order(num_prompts);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return w.difficulty[a] > w.difficulty[b]; });
  w.hardest_quartile.assign(order.begin(), order.begin() + num_prompts / 4);
  return w;
}

/// The step's prompts: a partial Fisher-Yates shuffle from a per-(seed, step) stream, identical
/// for every method.
std::vector<int> draw_prompts(std::uint64_t seed, int step) {
  th::random_source rng(th::splitmix64(seed * 1000003ULL + static_cast<std::uint64_t>(step)));
  std::vector<int> all(num_prompts);
  std::iota(all.begin(), all.end(), 0);
  for (int i = 0; i < batch; ++i) {
    const int j = i + static_cast<int>(rng.uniform() * (num_prompts - i));
    std::swap(all[i], all[j]);
  }
  all.resize(batch);
  return all;
}

/// The uniform deciding rollout i of slot b at step t (common random numbers).
double rollout_uniform(std::uint64_t seed, int step, int slot, int rollout) {
  const std::uint64_t key = (static_cast<std::uint64_t>(step) << 24) ^
                            (static_cast<std::uint64_t>(slot) << 12) ^
                            static_cast<std::uint64_t>(rollout);
  return th::unit_double(th::splitmix64(th::splitmix64(seed) ^ key));
}

template <class Anchor>
run_result run(method m, const world& w, std::uint64_t seed, int steps, Anchor anchor,
               hadw::reweight_options options) {
  const bool reweighted =
      m == method::hadw_kalman || m == method::hadw_window || m == method::hadw_fixed;
  const int G = m == method::grpo_2g ? 2 * group : group;
  const double lr = m == method::grpo_lr ? lambda_scale : 1.0;
  const auto layout = hadw::group_layout::uniform(batch, G);
  std::vector<float> rewards(batch * G), adv(batch * G), weighted(batch * G);
  std::vector<double> w_prompt(num_prompts, 0.0);
  double skill = 0.0;
  auto prob = [&](int j) { return sigmoid(skill + w_prompt[j] - w.difficulty[j]); };
  run_result out;
  for (int t = 0; t < steps; ++t) {
    const std::vector<int> prompts = draw_prompts(seed, t);
    std::vector<double> p(batch);
    for (int b = 0; b < batch; ++b) {
      p[b] = prob(prompts[b]);
      for (int i = 0; i < G; ++i)
        rewards[b * G + i] = rollout_uniform(seed, t, b, i) < p[b] ? 1.f : 0.f;
    }
    hadw::estimate(hadw::grpo{}, layout, std::span<const float>(rewards), std::span<float>(adv));
    weighted = adv;
    if (reweighted)
      (void)hadw::reweight(hadw::grouped(std::span<float>(weighted), layout),
                           hadw::grouped(std::span<const float>(rewards), layout), anchor, options);
    double skill_grad = 0.0;
    for (int b = 0; b < batch; ++b) {
      double sum = 0.0, p_hat = 0.0;
      for (int i = 0; i < G; ++i) p_hat += rewards[b * G + i];
      p_hat /= G;
      for (int i = 0; i < G; ++i) {
        const int k = b * G + i;
        sum += weighted[k] * (rewards[k] - p[b]);
        // (a) correct responses in non-degenerate groups: Phi (r - p̂) against A = 1 - p.
        if (rewards[k] == 1.f && p_hat < 1.0) {
          const double phi = adv[k] != 0.f ? static_cast<double>(weighted[k]) / adv[k] : 1.0;
          const double truth = 1.0 - p[b];
          const double est = 1.0 - p_hat;
          auto& side = p[b] < 0.5 ? out.hard : out.easy;
          if (p[b] != 0.5)
            side.add(phi * est - truth, phi / (reweighted ? lambda_scale : 1.0) * est - truth,
                     -th::correct_response_bias(p[b], G));
        }
      }
      const double g = sum / (batch * G);
      skill_grad += g;
      w_prompt[prompts[b]] += lr * lr_prompt * batch * g;
    }
    skill += lr * lr_skill * skill_grad;
    double hard = 0.0, all = 0.0;
    for (int j : w.hardest_quartile) hard += prob(j);
    for (int j = 0; j < num_prompts; ++j) all += prob(j);
    out.curve_hard.push_back(hard / w.hardest_quartile.size());
    out.curve_all.push_back(all / num_prompts);
  }
  if (reweighted) out.final_belief = anchor.prior();
  out.hard_quartile = out.curve_hard.back();
  out.overall = out.curve_all.back();
  return out;
}

run_result run(method m, const world& w, std::uint64_t seed, int steps) {
  hadw::reweight_options options;
  options.lambda_scale = lambda_scale;
  switch (m) {
    case method::hadw_kalman:
      return run(m, w, seed, steps,
                 hadw::difficulty_anchor<hadw::kalman_belief>{
                     hadw::kalman_belief::config{.eta = 0.1, .window = 10, .initial_belief = 0.5}},
                 options);
    case method::hadw_window:
      options.timing = hadw::anchor_timing::posterior;
      return run(m, w, seed, steps,
                 hadw::difficulty_anchor<hadw::window_mean_belief>{
                     hadw::window_mean_belief::config{.window = 10}},
                 options);
    case method::hadw_fixed:
      return run(
          m, w, seed, steps,
          hadw::difficulty_anchor<hadw::fixed_belief>{hadw::fixed_belief::config{.belief = 0.5}},
          options);
    default:
      return run(m, w, seed, steps, hadw::difficulty_anchor<hadw::fixed_belief>{}, options);
  }
}

struct mean_se {
  double mean, se;
};
mean_se summarise(const std::vector<double>& x) {
  const double n = static_cast<double>(x.size());
  const double m = std::accumulate(x.begin(), x.end(), 0.0) / n;
  double ss = 0.0;
  for (double v : x) ss += (v - m) * (v - m);
  return {m, n > 1 ? std::sqrt(ss / (n - 1) / n) : 0.0};
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 1;
  int seeds = 16, steps = 200;
  std::string csv;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seed") && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--seeds") && i + 1 < argc)
      seeds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc)
      steps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--csv") && i + 1 < argc)
      csv = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--seed 1] [--seeds 16] [--steps 200] [--csv FILE]\n",
                   argv[0]);
      return 2;
    }
  }
  if (seeds < 1 || steps < 1) {
    std::fprintf(stderr, "--seeds >= 1 and --steps >= 1 required\n");
    return 2;
  }

  constexpr int num_methods = std::size(all_methods);
  std::vector<std::vector<run_result>> results(num_methods);
  for (int s = 0; s < seeds; ++s) {
    const std::uint64_t run_seed = seed + static_cast<std::uint64_t>(s);
    const world w = make_world(run_seed);
    for (int m = 0; m < num_methods; ++m)
      results[m].push_back(run(all_methods[m], w, run_seed, steps));
  }

  std::printf(
      "simulate: %d prompts, %d per step, G = %d, %d steps, %d seeds from %llu, "
      "lambda_scale %.1f\n\n",
      num_prompts, batch, group, steps, seeds, static_cast<unsigned long long>(seed), lambda_scale);
  std::printf(
      "(a) correct responses in non-degenerate groups: mean of Phi*(r - p̂) - (1 - p), "
      "all steps and seeds\n");
  std::printf(
      "    (exact expectation for plain GRPO: -correct_response_bias(p, G), same "
      "responses; Phi/lambda: lambda-free)\n\n");
  std::printf(
      "  method         hard p<.5: measured  Phi/lambda   GRPO theory |"
      " easy p>.5: measured  Phi/lambda   GRPO theory\n");
  for (int m = 0; m < num_methods; ++m) {
    bias_sums hard, easy;
    for (const auto& r : results[m]) {
      for (auto [to, from] : {std::pair{&hard, &r.hard}, std::pair{&easy, &r.easy}}) {
        to->n += from->n;
        to->measured += from->measured;
        to->scale_free += from->scale_free;
        to->theory += from->theory;
      }
    }
    std::printf(
        "  %-13s  %+.4f (n=%7.0f)  %+.4f      %+.4f     |  %+.4f (n=%7.0f)  %+.4f      %+.4f\n",
        name(all_methods[m]), hard.measured / hard.n, hard.n, hard.scale_free / hard.n,
        hard.theory / hard.n, easy.measured / easy.n, easy.n, easy.scale_free / easy.n,
        easy.theory / easy.n);
  }

  std::printf(
      "\n(b) after %d steps: mean success probability (mean +- s.e. over %d seeds), and "
      "paired difference to grpo\n\n",
      steps, seeds);
  std::printf(
      "  method         hardest quartile       all prompts        | hardest - grpo"
      "       all - grpo        | final anchor C\n");
  for (int m = 0; m < num_methods; ++m) {
    std::vector<double> hard, all, dhard, dall;
    for (int s = 0; s < seeds; ++s) {
      hard.push_back(results[m][s].hard_quartile);
      all.push_back(results[m][s].overall);
      dhard.push_back(results[m][s].hard_quartile - results[0][s].hard_quartile);
      dall.push_back(results[m][s].overall - results[0][s].overall);
    }
    std::vector<double> belief;
    for (const auto& r : results[m]) belief.push_back(r.final_belief);
    const auto h = summarise(hard), a = summarise(all), dh = summarise(dhard), da = summarise(dall);
    const auto c = summarise(belief);
    std::printf("  %-13s  %.4f +- %.4f      %.4f +- %.4f    | %+.4f +- %.4f    %+.4f +- %.4f    | ",
                name(all_methods[m]), h.mean, h.se, a.mean, a.se, dh.mean, dh.se, da.mean, da.se);
    if (std::isnan(c.mean))
      std::printf("-\n");
    else
      std::printf("%.3f\n", c.mean);
  }

  if (!csv.empty()) {
    std::FILE* f = std::fopen(csv.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", csv.c_str());
      return 1;
    }
    std::fprintf(f, "method,step,hardest_quartile,all\n");
    for (int m = 0; m < num_methods; ++m)
      for (int t = 0; t < steps; ++t) {
        double h = 0, a = 0;
        for (const auto& r : results[m]) {
          h += r.curve_hard[t];
          a += r.curve_all[t];
        }
        std::fprintf(f, "%s,%d,%.6f,%.6f\n", name(all_methods[m]), t + 1, h / seeds, a / seeds);
      }
    std::fclose(f);
  }
  return 0;
}
