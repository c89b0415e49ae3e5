// hadw::reweight: HA-DW applied to a step's advantages, and the anchor update.
#pragma once

#include <hadw/anchor.hpp>
#include <hadw/backend/cpu.hpp>
#include <hadw/error.hpp>
#include <hadw/estimate.hpp>
#include <hadw/layout.hpp>
#include <hadw/stats.hpp>
#include <hadw/weighting.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string_view>

namespace hadw {

/// Which belief a step's weights are made with.
enum class anchor_timing : std::uint8_t {
  prior,      ///< C_t^-, then observe y_t (the paper, eq. 13 and §3.1)
  posterior,  ///< observe y_t first, weight with C_t^+ (the authors' released code)
};

/// What y_t (eq. 7) is.
enum class observation_kind : std::uint8_t {
  mean_reward,   ///< the batch mean of the normalised reward (= accuracy for 0/1 rewards)
  success_rate,  ///< correct / total, "correct" = normalised reward >= success_threshold
};

struct reweight_options {
  /// lambda_scale of eq. 16. 1.5: the authors' released scripts; the paper's best is 1.3-1.5.
  double lambda_scale = 1.5;
  /// Observe y_t into the anchor. false: weight only, and observe the all-reduced counts of
  /// step_stats::correct/total yourself (data-parallel training).
  bool update_anchor = true;
  anchor_timing timing = anchor_timing::prior;
  /// The reward's declared range, mapped onto [0, 1] for p̂ and y_t. Rewards outside it are errors.
  reward_range range{};
  observation_kind observation = observation_kind::mean_reward;
  double success_threshold = 0.5;  ///< on the normalised reward, for correct / success_rate
  /// Steps (anchor.step() below this) weighted with Phi = 1 while the anchor warms up (the
  /// public TRL reading skips the first batch: 1).
  std::int64_t warmup_steps = 0;
  /// 0 excludes a response from p̂, y_t and the statistics; its advantage is left as is.
  std::span<const std::uint8_t> mask{};
  nan_policy nan = nan_policy::reject;

  void validate() const {
    detail::require(lambda_scale > 0.0 && lambda_scale <= max_lambda_scale,
                    "lambda_scale in (0, 1e6] required, got ", lambda_scale);
    range.validate();
    detail::require(std::isfinite(success_threshold) && success_threshold >= 0.0 &&
                        success_threshold <= 1.0,
                    "success_threshold in [0, 1] required, got ", success_threshold);
    detail::require(warmup_steps >= 0, "warmup_steps >= 0 required, got ", warmup_steps);
  }
};

/// Diagnostics of one step, for the trainer's logger (keys "hadw/<field>", see for_each).
struct step_stats {
  double prior = NAN;           ///< C_t^- before the step
  double posterior = NAN;       ///< the anchor's belief after the step (== prior if not updated)
  double eta = NAN;             ///< weight of the observation (eta_t) after the step
  double weighting_belief = NAN;  ///< the belief Phi was made with (prior or posterior timing)
  double batch_accuracy = NAN;  ///< y_t of this (local) batch
  std::int64_t correct = 0;     ///< local responses with normalised reward >= success_threshold
  std::int64_t total = 0;       ///< local valid responses
  std::int64_t num_groups = 0;
  double degenerate_fraction = NAN;  ///< groups whose valid rewards are all equal (size 1 too)
  double phi_min = NAN, phi_mean = NAN, phi_max = NAN;  ///< over valid responses
  double adv_mean_before = NAN, adv_std_before = NAN;   ///< population std over valid responses
  double adv_mean_after = NAN, adv_std_after = NAN;
  std::int64_t step = 0;  ///< anchor.step() after the call

  /// Calls f(key, value) for every field, keys "hadw/prior", "hadw/phi_mean", ...
  template <class F>
  void for_each(F&& f) const {
    f(std::string_view("hadw/prior"), prior);
    f(std::string_view("hadw/posterior"), posterior);
    f(std::string_view("hadw/eta"), eta);
    f(std::string_view("hadw/weighting_belief"), weighting_belief);
    f(std::string_view("hadw/batch_accuracy"), batch_accuracy);
    f(std::string_view("hadw/correct"), static_cast<double>(correct));
    f(std::string_view("hadw/total"), static_cast<double>(total));
    f(std::string_view("hadw/num_groups"), static_cast<double>(num_groups));
    f(std::string_view("hadw/degenerate_fraction"), degenerate_fraction);
    f(std::string_view("hadw/phi_min"), phi_min);
    f(std::string_view("hadw/phi_mean"), phi_mean);
    f(std::string_view("hadw/phi_max"), phi_max);
    f(std::string_view("hadw/adv_mean_before"), adv_mean_before);
    f(std::string_view("hadw/adv_std_before"), adv_std_before);
    f(std::string_view("hadw/adv_mean_after"), adv_mean_after);
    f(std::string_view("hadw/adv_std_after"), adv_std_after);
    f(std::string_view("hadw/step"), static_cast<double>(step));
  }
};

namespace detail {

/// Batch-level facts reweight needs before it may write anything.
struct reweight_scan {
  std::int64_t correct = 0, total = 0, degenerate = 0;
  double reward_sum = 0.0;  ///< of normalised rewards, group order
  [[nodiscard]] double accuracy(observation_kind kind) const {
    return kind == observation_kind::mean_reward
               ? std::clamp(reward_sum / static_cast<double>(total), 0.0, 1.0)
               : static_cast<double>(correct) / static_cast<double>(total);
  }
};

/// The per-response inputs of reweight's options as estimate() takes them (the fused calls add
/// the estimator's lengths).
inline estimate_options estimate_options_of(const reweight_options& opt,
                                            std::span<const std::int64_t> lengths = {}) {
  return {.mask = opt.mask, .lengths = lengths, .nan = opt.nan};
}

/// The rewards as the kernels read them under reweight's options (no lengths).
template <class R>
[[nodiscard]] response_view<std::remove_cv_t<R>> reweight_view(const group_layout& layout,
                                                               std::span<R> rewards,
                                                               const reweight_options& opt) {
  return make_view(layout, std::span<const std::remove_cv_t<R>>(rewards),
                   estimate_options_of(opt));
}

/// reweight's verdict on a kernel scan: throws on the first bad reward or an empty batch.
inline reweight_scan checked_scan(const cpu::scan_partial& p, const group_layout& layout,
                                  const reweight_options& opt) {
  if (p.reweight_failure.what != cpu::scan_failure::kind::none)
    cpu::raise(p.reweight_failure, layout, opt.range);
  require(p.total > 0, "rewards: no valid response in the batch (all masked or unscorable)");
  return {p.correct, p.total, p.degenerate, p.reward_sum};
}

/// Validates the rewards and options and collects y_t's inputs, touching nothing.
template <class R>
[[nodiscard]] reweight_scan scan_rewards(const group_layout& layout, std::span<R> rewards,
                                         const reweight_options& opt) {
  opt.validate();
  const auto n = static_cast<std::size_t>(layout.num_responses());
  require_size(rewards.size(), n, "rewards", "layout.num_responses()");
  if (!opt.mask.empty()) require_size(opt.mask.size(), n, "mask", "layout.num_responses()");
  const auto view = reweight_view(layout, rewards, opt);
  const cpu::scan_partial p =
      cpu::scan(layout, view, opt.range,
                {.reweight = true, .success_threshold = opt.success_threshold});
  return checked_scan(p, layout, opt);
}

/// Validates everything reweight reads before it writes anything (strong exception guarantee).
template <class A, class R>
[[nodiscard]] reweight_scan scan_for_reweight(grouped_span<A> advantages, grouped_span<R> rewards,
                                              const reweight_options& opt) {
  const group_layout& layout = *rewards.layout;
  require(advantages.layout == rewards.layout || *advantages.layout == layout,
          "advantages and rewards must share one group layout");
  const reweight_scan s = scan_rewards(layout, rewards.values, opt);
  require_size(advantages.values.size(), rewards.values.size(), "advantages", "rewards.size()");
  for (std::size_t i = 0; i < advantages.values.size(); ++i) {
    if (!opt.mask.empty() && opt.mask[i] == 0) continue;
    const double a = static_cast<double>(advantages.values[i]);
    require(advantage_in_domain(a), "advantages[", i, "] is ", a,
            "; finite advantages with |advantage| <= max_abs_advantage (1e30) required");
  }
  return s;
}

/// What reweight and the fused calls share around the kernel: the step's belief and counts, the
/// weighting stage handed to `run` (which returns the kernel's step_partial), the diagnostics,
/// and the anchor update, which happens only after the kernel returned.
template <class Belief, class Run>
step_stats weigh_step(difficulty_anchor<Belief>& anchor, const reweight_scan& scan,
                      const group_layout& layout, const reweight_options& options, Run&& run) {
  step_stats st;
  st.prior = anchor.prior();
  st.batch_accuracy = scan.accuracy(options.observation);
  st.correct = scan.correct;
  st.total = scan.total;
  st.num_groups = layout.num_groups();
  st.degenerate_fraction =
      static_cast<double>(scan.degenerate) / static_cast<double>(layout.num_groups());

  // The anchor after observing y_t, built on a copy so that `anchor` stays untouched until the
  // kernel is done. Only when something reads it: a weight-only step with the prior (a trainer
  // that all-reduces the counts itself) skips the copy, which allocates for a belief that
  // keeps a history.
  std::optional<difficulty_anchor<Belief>> observed;
  if (options.update_anchor || options.timing == anchor_timing::posterior) {
    observed.emplace(anchor);
    observed->observe(st.batch_accuracy);
  }
  const double belief =
      options.timing == anchor_timing::prior ? anchor.prior() : observed->prior();
  st.weighting_belief = belief;

  const cpu::step_partial part = cpu::with_range(options.range, [&](const auto& range) {
    return run(cpu::weighting<std::remove_cvref_t<decltype(range)>>{
        belief, options.lambda_scale, range, anchor.step() < options.warmup_steps});
  });
  part.report(st);

  if (options.update_anchor) anchor = std::move(*observed);
  st.posterior = anchor.prior();
  st.eta = anchor.eta();
  st.step = anchor.step();
  return st;
}

}  // namespace detail

/// Multiplies every valid advantage by Phi = lambda_scale * exp(D * M) (eq. 13-16), with
/// p̂_k = the group's mean normalised reward and C = the anchor's prior (or, with
/// anchor_timing::posterior, its belief after observing this batch). Then the anchor observes
/// y_t unless options.update_anchor is false. Works on any estimator's output and layout.
///
/// Throws hadw::error before touching advantages or anchor on: layouts that differ, sizes that
/// disagree, NaN rewards (unless nan_policy::unscorable), rewards outside options.range, non-finite
/// advantages, bad options, a batch with no valid response.
template <class A, class R, class Belief>
step_stats reweight(grouped_span<A> advantages, grouped_span<R> rewards,
                    difficulty_anchor<Belief>& anchor, const reweight_options& options = {}) {
  static_assert(!std::is_const_v<A>, "hadw::reweight: advantages must be writable (std::span<T>)");
  const detail::reweight_scan scan = detail::scan_for_reweight(advantages, rewards, options);
  const group_layout& layout = *rewards.layout;

  const auto view = detail::reweight_view(layout, rewards.values, options);
  return detail::weigh_step(anchor, scan, layout, options, [&](const auto& w) {
    return detail::cpu::with_reader(view, [&](const auto& in) {
      return detail::cpu::run_step(layout, detail::cpu::no_estimator{}, batch_stats{}, w, in,
                                   advantages.values.data(), detail::cpu::no_rows{}, 0);
    });
  });
}

}  // namespace hadw
