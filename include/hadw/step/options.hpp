// The options of an HA-DW step (hadw::reweight and the fused calls, on every backend).
#pragma once

#include <hadw/error.hpp>
#include <hadw/stats/group.hpp>
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
    detail::require(std::isfinite(success_threshold) && success_threshold >= 0.0 &&
                        success_threshold <= 1.0,
                    "success_threshold in [0, 1] required, got ", success_threshold);
    detail::require(warmup_steps >= 0, "warmup_steps >= 0 required, got ", warmup_steps);
  }
};

}  // namespace hadw
