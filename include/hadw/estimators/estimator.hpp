// estimator<Baseline, Scale>: a baseline, a scale and the shared rules, composed.
#pragma once

#include <hadw/concepts.hpp>
#include <hadw/estimators/rules.hpp>
#include <hadw/stats/batch.hpp>
#include <hadw/stats/group.hpp>
#include <hadw/stats/summary.hpp>

#include <concepts>
#include <cstdint>

namespace hadw {

// ---------------------------------------------------------------------------------------------
// The composition

/// An estimator: a baseline, a scale, and the rules every estimator shares.
template <baseline_policy Baseline, scale_policy Scale>
struct estimator {
  Baseline baseline{};
  Scale scale{};
  singleton_rule singleton = singleton_rule::reject;
  bool needs_lengths = false;  ///< lengths are required (OPO)
  bool uses_lengths = false;   ///< lengths, when given, weight the batch statistics (REINFORCE++)

  static constexpr bool needs_batch_stats =
      needs_batch_stats_v<Baseline> || needs_batch_stats_v<Scale>;
  static constexpr bool needs_extrema = needs_extrema_v<Baseline> || needs_extrema_v<Scale>;
  static constexpr bool needs_median = needs_median_v<Baseline> || needs_median_v<Scale>;
  static constexpr bool needs_abs_deviation =
      needs_abs_deviation_v<Baseline> || needs_abs_deviation_v<Scale>;
  static constexpr bool sequential = sequential_v<Baseline>;
  static constexpr bool scalar_only =
      scalar_only_v<Baseline> || scalar_only_v<Scale> || sequential;

  void validate() const {
    baseline.validate();
    scale.validate();
  }
  /// The group's summary as each policy declared it (the kernels computed what either declared).
  [[nodiscard]] HADW_HOST_DEVICE static auto baseline_view(const group_stats& g) {
    return summary_of<needs_extrema_v<Baseline>, needs_median_v<Baseline>,
                      needs_abs_deviation_v<Baseline>>(g);
  }
  [[nodiscard]] HADW_HOST_DEVICE static auto scale_view(const group_stats& g) {
    return summary_of<needs_extrema_v<Scale>, needs_median_v<Scale>,
                      needs_abs_deviation_v<Scale>>(g);
  }
  /// The group's scale (group-invariant: the kernels evaluate it once per group).
  [[nodiscard]] HADW_HOST_DEVICE double group_scale(const group_stats& g,
                                                    const batch_stats& b) const {
    return scale.scale(scale_view(g), b);
  }
  /// The advantage of one response. Exactly 0 when its deviation is 0 (all-equal groups).
  ///
  /// Also 0 when the scale is 0 although the deviation is not: with eps = 0 that happens only
  /// when the squared deviations underflow double (rewards differing by less than ~1e-154), a
  /// spread no verifier resolves; dividing would turn finite rewards into +-Inf. (A scale may
  /// also return 0 on purpose: MaxRL's mean_scale where the group mean is <= 0.)
  ///
  /// `where` is the response's position in its group, or for a sequential baseline the state
  /// of its pass over the group after this response's reward (estimators/sequence.hpp).
  template <class Where>
  HADW_HOST_DEVICE double advantage(const group_stats& g, const batch_stats& b, double r,
                                    const Where& where) const {
    const double d = baseline.deviation(baseline_view(g), b, r, where);
    if (d == 0.0) return 0.0;
    const double s = group_scale(g, b);
    return s > 0.0 ? d / s : 0.0;
  }
  [[nodiscard]] constexpr const estimator& policies() const { return *this; }
};

/// Anything hadw::estimate accepts: an estimator<> or a named preset that maps to one.
template <class E>
concept estimator_like = requires(const E& e) {
  e.policies().validate();
  { e.policies().singleton } -> std::convertible_to<singleton_rule>;
};

}  // namespace hadw
