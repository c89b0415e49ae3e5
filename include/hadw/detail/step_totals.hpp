// The running sums behind step_stats' diagnostics, shared by the CPU and CUDA backends.
#pragma once

#include <hadw/config.hpp>

#include <cmath>
#include <cstdint>
#include <type_traits>

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
