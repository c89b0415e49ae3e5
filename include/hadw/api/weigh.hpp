// hadw::weigh: a difficulty weighting other than HA-DW's anchor step (F-GRPO, GRPO-LEAD, DGPO's
// question weights, ROLL's static labels, Delta-L, HA-DW with per-prompt priors) applied to a
// step's advantages: every valid advantage is multiplied in place by the policy's weight. Same
// checks as hadw::reweight (shared helpers: detail::check_reweight_shapes, scan_for_reweight).
#pragma once

#include <hadw/api/reweight.hpp>
#include <hadw/backend/cpu/entry.hpp>
#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/stats/readers.hpp>
#include <hadw/weighting/phi.hpp>
#include <hadw/weighting/policy.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>

namespace hadw {

/// The per-response inputs and conventions of a weighing (reweight_options' subset that applies).
struct weigh_options {
  reward_range range{};  ///< p̂ = the group mean mapped onto [0, 1]; rewards outside are errors
  std::span<const std::uint8_t> mask{};  ///< 0: neither read nor written (empty: all valid)
  nan_policy nan = nan_policy::reject;

  /// The reweight_options whose checks weigh shares (lambda_scale etc. at their defaults).
  [[nodiscard]] reweight_options as_reweight_options() const {
    return detail::reward_checks_of(*this);
  }
};

/// What a weighing did, over the valid responses.
struct weigh_stats {
  double weight_min = NAN, weight_mean = NAN, weight_max = NAN;
  std::int64_t total = 0;  ///< valid responses weighted
  std::int64_t num_groups = 0;
  std::int64_t degenerate = 0;  ///< groups whose valid rewards are all equal
};

/// Multiplies every valid advantage by policy's weight (weighting/policy.hpp; the shipped
/// policies are in weighting/{focal,lead,question,static_difficulty,length,prompt_phi}.hpp).
/// Masked and unscorable responses are neither read nor written.
///
/// Throws hadw::error before writing anything on: a null or different layout, sizes that
/// disagree, advantages overlapping the rewards other than exactly, NaN rewards (unless
/// nan_policy::unscorable), rewards outside options.range, non-finite advantages of valid
/// responses, a batch with no valid response, and the policy's own checks (named by field).
/// CPU only: one pass per group plus the policy's batch passes, no allocation, deterministic.
template <class A, class R, weighting_policy P>
weigh_stats weigh(grouped_span<A> advantages, grouped_span<R> rewards, const P& policy,
                  const weigh_options& options = {}) {
  static_assert(!std::is_const_v<A>, "hadw::weigh: advantages must be writable (std::span<T>)");
  const reweight_options ro = options.as_reweight_options();
  detail::check_reweight_shapes(advantages, rewards, ro);
  const group_layout& layout = *rewards.layout;
  policy.validate(layout, layout.num_responses());
  (void)detail::scan_for_reweight(advantages, rewards, ro);
  const auto view = detail::reweight_view(layout, rewards.values, ro);
  const detail::weigh_batch<decltype(view)> batch{layout, view, options.range};
  const auto bound = policy.prepare(batch);  // the last step that may throw

  weigh_stats st;
  st.num_groups = layout.num_groups();
  double sum = 0.0, lo = INFINITY, hi = -INFINITY;
  for (std::int64_t k = 0; k < layout.num_groups(); ++k) {
    const group_point g = batch.group(k);
    if (g.count == 0) continue;
    st.degenerate += g.degenerate;
    batch.for_each_valid(k, [&](std::int64_t i) {
      auto& a = advantages.values[static_cast<std::size_t>(i)];
      const double w = bound(g, static_cast<double>(a), i);
      a = static_cast<std::remove_cv_t<A>>(static_cast<double>(a) * w);
      sum += w;
      lo = std::min(lo, w);
      hi = std::max(hi, w);
      ++st.total;
    });
  }
  st.weight_min = lo;
  st.weight_max = hi;
  st.weight_mean = sum / static_cast<double>(st.total);
  return st;
}

}  // namespace hadw
