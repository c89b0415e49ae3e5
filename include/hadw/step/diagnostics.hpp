// step_stats, the diagnostics of one HA-DW step for the trainer's logger, and the running sums
// behind them (shared by the CPU, SIMD and CUDA paths).
#pragma once

#include <hadw/config.hpp>

#include <cmath>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace hadw {

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

}  // namespace hadw

namespace hadw::detail {

/// The diagnostics' update for one response, its Phi f and its advantage before (x) and after
/// (y), into sums S of one group (step_totals, V = double) or of a pack of groups stepped in
/// lockstep (the CPU backend's step_sums). Written once for both.
template <class S, class V>
HADW_HOST_DEVICE void add_response(S& s, V f, V x, V y) {
  s.phi_sum += f;
  s.phi_min = f < s.phi_min ? f : s.phi_min;
  s.phi_max = f > s.phi_max ? f : s.phi_max;
  s.before_sum += x;
  s.before_sq += x * x;
  s.after_sum += y;
  s.after_sq += y * y;
}

/// Over the valid responses of one group, or of many merged in a fixed (group) order: Phi (sum,
/// min, max) and the advantages before and after it (sum, sum of squares). Trivially copyable, so
/// the CUDA kernels reduce it in device memory; min/max are comparisons written out so both
/// backends resolve NaN-free ties the same way.
struct step_totals {
  std::int64_t n = 0;
  double phi_sum = 0.0;
  double phi_min = INFINITY;
  double phi_max = -INFINITY;
  double before_sum = 0.0, before_sq = 0.0, after_sum = 0.0, after_sq = 0.0;

  /// The identity of merge: what a reduction starts from.
  [[nodiscard]] HADW_HOST_DEVICE static step_totals empty() { return {}; }

  /// One response: its Phi f and its advantage before (x) and after (y).
  HADW_HOST_DEVICE void add(double f, double x, double y) {
    ++n;
    add_response(*this, f, x, y);
  }
  HADW_HOST_DEVICE void merge(const step_totals& o) {
    n += o.n;
    phi_sum += o.phi_sum;
    phi_min = o.phi_min < phi_min ? o.phi_min : phi_min;
    phi_max = o.phi_max > phi_max ? o.phi_max : phi_max;
    before_sum += o.before_sum;
    before_sq += o.before_sq;
    after_sum += o.after_sum;
    after_sq += o.after_sq;
  }
  /// NaN when empty, as step_stats reports it.
  [[nodiscard]] HADW_HOST_DEVICE double mean(double sum) const {
    return n ? sum / static_cast<double>(n) : NAN;
  }
  /// Population standard deviation, one-pass form (a diagnostic, not an estimator input).
  [[nodiscard]] HADW_HOST_DEVICE double stddev(double sum, double sq) const {
    if (!n) return NAN;
    const double m = mean(sum), v = sq / static_cast<double>(n) - m * m;
    return std::sqrt(0.0 < v ? v : 0.0);
  }
  /// Writes Phi min/mean/max and the advantage mean/std before and after into a step_stats.
  template <class Stats>
  void report(Stats& st) const {
    st.phi_min = phi_min;
    st.phi_max = phi_max;
    st.phi_mean = mean(phi_sum);
    st.adv_mean_before = mean(before_sum);
    st.adv_std_before = stddev(before_sum, before_sq);
    st.adv_mean_after = mean(after_sum);
    st.adv_std_after = stddev(after_sum, after_sq);
  }
};
static_assert(std::is_trivially_copyable_v<step_totals> && sizeof(step_totals) % 8 == 0);

}  // namespace hadw::detail
