// The options of an HA-DW step (hadw::reweight and the fused calls, on every backend).
#pragma once

#include <hadw/error.hpp>
#include <hadw/stats/group.hpp>
#include <hadw/stats/readers.hpp>
#include <hadw/step/observation.hpp>
#include <hadw/weighting/phi.hpp>

#include <cmath>
#include <cstdint>
#include <span>

namespace hadw {

/// Which belief a step's weights are made with.
enum class anchor_timing : std::uint8_t {
  prior,      ///< C_t^-, then observe y_t (the paper, eq. 13 and §3.1)
  posterior,  ///< observe y_t first, weight with C_t^+ (the authors' released code)
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
    // The estimators' bound on rewards (max_abs_reward) holds for every reward inside the range,
    // so a group's sum and mean stay finite in reweight alone too: [0, 1.7e308] let the mean of
    // {1.6e308, 1.7e308} overflow to inf and gave -inf advantages from finite input.
    detail::require(reward_in_domain(range.low) && reward_in_domain(range.high),
                    "reward_range within [-max_abs_reward, max_abs_reward] = [-1e15, 1e15] "
                    "required, got [",
                    range.low, ", ", range.high, "]");
    detail::require(timing == anchor_timing::prior || timing == anchor_timing::posterior,
                    "timing (anchor_timing) must be anchor_timing::prior or ::posterior, got ",
                    static_cast<int>(timing));
    detail::require(observation == observation_kind::mean_reward ||
                        observation == observation_kind::success_rate,
                    "observation (observation_kind) must be observation_kind::mean_reward or "
                    "::success_rate, got ",
                    static_cast<int>(observation));
    detail::require(std::isfinite(success_threshold) && success_threshold >= 0.0 &&
                        success_threshold <= 1.0,
                    "success_threshold in [0, 1] required, got ", success_threshold);
    detail::require(warmup_steps >= 0, "warmup_steps >= 0 required, got ", warmup_steps);
  }
};

}  // namespace hadw
