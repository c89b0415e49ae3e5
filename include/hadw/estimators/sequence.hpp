// Sequential baselines: a baseline that reads its group's valid rewards in group order (KRPO's
// Kalman filter), and the one walk that every backend uses to reach a response's state.
#pragma once

#include <hadw/concepts.hpp>
#include <hadw/error.hpp>
#include <hadw/estimators/rules.hpp>
#include <hadw/stats/batch.hpp>
#include <hadw/stats/readers.hpp>
#include <hadw/stats/summary.hpp>

#include <cmath>
#include <cstdint>

namespace hadw {

/// KRPO ("Kalman Filter Enhanced Group Relative Policy Optimization for Language
/// Model Reasoning", arXiv 2505.07527; billhhh/KRPO_LLMs_RL train.py, KalmanFilter and
/// group_advantages): a 1-D Kalman filter run over the group's rewards in order, from x_0, P_0:
///   P^- = P_{i-1} + Q,  K = P^- / (P^- + R),  x_i = x_{i-1} + K (r_i - x_{i-1}),  P_i = (1 - K) P^-
///   A_i = (r_i - x_i) / (sqrt(P_i) + eps)
/// x_i, P_i are the *posterior* estimates after r_i (the source's update() returns them, and the
/// advantage is taken after it). The filter restarts for every group. It is order-dependent: the
/// same rewards in another order get other advantages, and an all-equal group does not get 0
/// (the filter starts at x_0 = 0). Masked and unscorable responses are skipped: the filter steps
/// over the valid rewards, in group order (the layout's permutation, if any, defines it). A
/// size-1 group under singleton_rule::raw_reward gets its reward (verl's baseline 0, std 1).
/// The source filters in float32; hadw in double.
struct kalman_baseline {
  static constexpr bool sequential = true;
  static constexpr bool scalar_only = true;
  double process_var = 1e-5;      ///< Q
  double measurement_var = 1e-2;  ///< R
  double initial_mean = 0.0;      ///< x_0
  double initial_var = 1.0;       ///< P_0
  double eps = 1e-8;

  struct state {
    double x = 0.0;  ///< the posterior mean after the rewards stepped so far
    double p = 1.0;  ///< its variance
  };
  [[nodiscard]] HADW_HOST_DEVICE state start() const { return {initial_mean, initial_var}; }
  /// One filter update with reward r (the source's KalmanFilter.update).
  HADW_HOST_DEVICE void step(state& s, double r) const {
    const double predicted = s.p + process_var;
    const double gain = predicted / (predicted + measurement_var);
    s.x = s.x + gain * (r - s.x);
    s.p = (1.0 - gain) * predicted;
  }
  /// `s`: the state after r's own update.
  HADW_HOST_DEVICE double deviation(const group_summary<double>& g, const batch_stats&, double r,
                                    const state& s) const {
    if (g.singleton_as_raw) return r;
    return (r - s.x) / (std::sqrt(s.p) + eps);
  }
  /// Variances in [1e-12, 1e12] (Q may be 0): P stays >= about R / n and the advantages finite
  /// in float (|A| <~ sqrt(n / R) |r - x|); a smaller R lets them overflow.
  void validate() const {
    const auto in_range = [](double v) { return std::isfinite(v) && v >= 1e-12 && v <= 1e12; };
    detail::require(std::isfinite(process_var) && process_var >= 0.0 && process_var <= 1e12,
                    "process_var in [0, 1e12] required, got ", process_var);
    detail::require(in_range(measurement_var), "measurement_var in [1e-12, 1e12] required, got ",
                    measurement_var);
    detail::require(in_range(initial_var), "initial_var in [1e-12, 1e12] required, got ",
                    initial_var);
    detail::require(std::isfinite(initial_mean) && std::fabs(initial_mean) <= max_abs_reward,
                    "initial_mean finite with |initial_mean| <= 1e15 required, got ",
                    initial_mean);
    detail::check_eps(eps);
  }
};

static_assert(baseline_policy<kalman_baseline>);

/// A sequential baseline's state after the valid rewards of group-order positions [begin, j]:
/// the CPU kernels carry it along their one walk; a CUDA lane, which owns scattered positions,
/// replays the walk to each of its own (the same steps in the same order: the same bits).
template <class B, response_reader View>
[[nodiscard]] HADW_HOST_DEVICE typename B::state state_through(const B& b, const View& in,
                                                              std::int64_t begin,
                                                              std::int64_t j) {
  typename B::state s = b.start();
  for (std::int64_t q = begin; q <= j; ++q) {
    const std::int64_t i = in.index(q);
    if (in.valid(i)) b.step(s, in.reward(i));
  }
  return s;
}

}  // namespace hadw
