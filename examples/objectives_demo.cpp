// One synthetic training step per algorithm — GRPO, GSPO and DAPO, each without and with HA-DW —
// from verifier rewards to the scalar loss, d loss / d logp per token and the diagnostics a
// trainer logs. What a C++ trainer (e.g. LibTorch) does with spans over its tensors.
//
//   objectives_demo
#include <hadw/hadw.hpp>
#include <hadw/objectives.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <span>
#include <vector>

namespace {

constexpr std::int64_t prompts = 8, rollouts = 8, L = 48;  // L: the padded response length

/// The rollout of one step: rewards, lengths and log-probabilities, as the trainer has them.
struct rollout {
  std::int64_t groups = 0;
  std::vector<float> acc;             ///< 0/1 verifier outcome per response
  std::vector<std::int64_t> lengths;  ///< valid tokens per response
  std::vector<float> old_logp, logp;  ///< [N, L], right-padded
};

rollout sample(std::uint64_t seed) {
  // Prompts from hard to easy: true success rates p_k.
  const double p[prompts] = {0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 0.98};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0), old(-3.0, -0.05);
  std::normal_distribution<double> drift(0.0, 0.08);  // the policy moved since sampling
  std::uniform_int_distribution<std::int64_t> len(8, L);
  rollout r;
  r.groups = prompts;
  for (std::int64_t k = 0; k < prompts; ++k)
    for (std::int64_t j = 0; j < rollouts; ++j) {
      r.acc.push_back(u(rng) < p[k] ? 1.0f : 0.0f);
      r.lengths.push_back(len(rng));
      for (std::int64_t t = 0; t < L; ++t) {
        const double o = old(rng);
        r.old_logp.push_back(static_cast<float>(o));
        r.logp.push_back(static_cast<float>(o + drift(rng)));
      }
    }
  return r;
}

/// The rows of the kept groups (DAPO's dynamic sampling; the trainer would index its tensors).
rollout gather(const rollout& r, std::span<const std::uint8_t> keep_group) {
  rollout out;
  for (std::int64_t k = 0; k < r.groups; ++k) {
    if (!keep_group[static_cast<std::size_t>(k)]) continue;
    ++out.groups;
    for (std::int64_t i = k * rollouts; i < (k + 1) * rollouts; ++i) {
      const auto s = static_cast<std::size_t>(i);
      out.acc.push_back(r.acc[s]);
      out.lengths.push_back(r.lengths[s]);
      out.old_logp.insert(out.old_logp.end(), r.old_logp.begin() + i * L,
                          r.old_logp.begin() + (i + 1) * L);
      out.logp.insert(out.logp.end(), r.logp.begin() + i * L, r.logp.begin() + (i + 1) * L);
    }
  }
  return out;
}

void header() {
  std::printf("%-5s %-5s %6s %10s %6s %6s %8s %8s %8s %10s %10s %9s %s\n", "algo", "HA-DW",
              "groups", "loss", "clip", "dual", "r_mean", "r_min", "r_max", "kl_k1", "kl_k3",
              "|grad|", "phi mean [min, max]");
}

template <class Objective>
void step(const char* algo, const Objective& objective, const rollout& r,
          std::span<const float> rewards, const hadw::difficulty_anchor<>& history, bool hadw_on) {
  const auto layout = hadw::group_layout::uniform(r.groups, rollouts);
  const auto n = static_cast<std::size_t>(layout.num_responses());

  // 1. Group-relative advantages (GRPO's estimator: (r - mean) / (std + eps)).
  std::vector<float> adv(n);
  hadw::estimate(hadw::grpo{}, layout, rewards, std::span<float>(adv));

  // 2. HA-DW: Phi * A with the anchor's prior (paper eq. 13-17). p̂ and y_t are success rates,
  //    so the anchor sees the 0/1 accuracy even where the reward was shaped (DAPO).
  hadw::step_stats st{};
  if (hadw_on) {
    hadw::difficulty_anchor<> anchor = history;  // every run starts from the same anchor
    st = hadw::reweight(hadw::grouped(std::span<float>(adv), layout),
                        hadw::grouped(std::span<const float>(r.acc), layout), anchor);
  }

  // 3. The policy loss and its gradient with respect to the new log-probabilities.
  std::vector<float> grad(r.logp.size());
  const hadw::policy_batch<float> batch{.logp = r.logp,
                                        .old_logp = r.old_logp,
                                        .advantages = adv,
                                        .lengths = r.lengths,
                                        .row_length = L};
  const hadw::policy_loss_result res = hadw::policy_loss(objective, batch, std::span<float>(grad));

  double norm = 0.0;
  for (float g : grad) norm += static_cast<double>(g) * g;
  std::printf("%-5s %-5s %3lld/%-2lld %10.6f %6.3f %6.3f %8.5f %8.5f %8.5f %10.3e %10.3e %9.3e",
              algo, hadw_on ? "on" : "off", static_cast<long long>(r.groups),
              static_cast<long long>(prompts), res.loss, res.clip_fraction, res.dual_clip_fraction,
              res.ratio_mean, res.ratio_min, res.ratio_max, res.approx_kl, res.approx_kl_k3,
              std::sqrt(norm));
  if (hadw_on)
    std::printf(" %.3f [%.3f, %.3f] (prior %.3f)\n", st.phi_mean, st.phi_min, st.phi_max, st.prior);
  else
    std::printf(" -\n");
}

}  // namespace

int main() {
  const rollout r = sample(2026);

  // The anchor after five earlier steps of batch accuracy ~0.35 (from C_0 = 0.5; the paper's
  // Kalman belief moves slowly, eta_t = eta * sigma_t): this step's prompts are judged against
  // its prior.
  hadw::difficulty_anchor<> anchor;
  for (double y : {0.30, 0.34, 0.38, 0.36, 0.40}) anchor.observe(y);

  std::printf("synthetic step: %lld prompts x %lld rollouts, L = %lld, batch accuracy %.3f\n\n",
              static_cast<long long>(prompts), static_cast<long long>(rollouts),
              static_cast<long long>(L), [&] {
                double s = 0;
                for (float a : r.acc) s += a;
                return s / static_cast<double>(r.acc.size());
              }());
  header();

  // GRPO: token ratio, clip 0.2, seq-mean-token-mean; the reward is the 0/1 accuracy.
  for (bool h : {false, true}) step("GRPO", hadw::grpo_objective{}, r, r.acc, anchor, h);

  // GSPO: sequence ratio s_i, clip (3e-4, 4e-4), seq-mean-token-mean.
  for (bool h : {false, true}) step("GSPO", hadw::gspo_objective{}, r, r.acc, anchor, h);

  // DAPO: soft overlong punishment on the reward (buffer: the last 12 of 48 tokens), dynamic
  // sampling on the accuracy (verl's filter_groups.metric = acc), clip-higher, token-mean.
  const hadw::overlong_shaping shaping{.max_length = L, .buffer = 12, .penalty_factor = 1.0};
  const auto layout = hadw::group_layout::uniform(prompts, rollouts);
  std::vector<std::uint8_t> keep(r.acc.size()), keep_group(prompts);
  const auto filtered = hadw::filter_degenerate_groups(layout, std::span<const float>(r.acc),
                                                       std::span<std::uint8_t>(keep),
                                                       std::span<std::uint8_t>(keep_group));
  const rollout kept = gather(r, keep_group);
  std::vector<float> shaped = kept.acc;
  hadw::apply_overlong_penalty(shaping, std::span<const std::int64_t>(kept.lengths),
                               std::span<float>(shaped));
  for (bool h : {false, true}) step("DAPO", hadw::dapo_objective{}, kept, shaped, anchor, h);

  std::printf(
      "\nDAPO dynamic sampling kept %lld of %lld groups (%lld responses); a trainer "
      "samples more prompts to refill the batch.\n",
      static_cast<long long>(filtered.kept_groups), static_cast<long long>(prompts),
      static_cast<long long>(filtered.kept_responses));
  std::printf(
      "clip: clipped-branch fraction (verl pg_clipfrac); kl_k1: mean(old_logp - logp) "
      "(verl ppo_kl); kl_k3: mean(clamp(r - 1 - log r, -10, 10)) (verl low_var_kl).\n");
  return 0;
}
