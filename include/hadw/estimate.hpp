// hadw::estimate: rewards -> group-relative advantages, written into caller memory.
#pragma once

#include <hadw/backend/cpu.hpp>
#include <hadw/batch_stats.hpp>
#include <hadw/error.hpp>
#include <hadw/estimators.hpp>
#include <hadw/layout.hpp>
#include <hadw/stats.hpp>

#include <cmath>
#include <cstdint>
#include <span>

namespace hadw {

/// Per-response inputs beside the rewards, all in the caller's order.
struct estimate_options {
  /// 0 excludes a response: it gets advantage 0 and does not enter any statistic. Empty: all valid.
  std::span<const std::uint8_t> mask{};
  /// Token counts per response (>= 0): required by OPO; weights REINFORCE++'s batch whitening.
  std::span<const std::int64_t> lengths{};
  nan_policy nan = nan_policy::reject;
};

namespace detail {

template <class T>
[[nodiscard]] response_view<T> make_view(const group_layout& layout, std::span<const T> rewards,
                                         const estimate_options& opt) {
  return {rewards.data(), opt.mask.empty() ? nullptr : opt.mask.data(),
          opt.lengths.empty() ? nullptr : opt.lengths.data(),
          layout.has_permutation() ? layout.permutation().data() : nullptr,
          opt.nan == nan_policy::unscorable};
}

/// The O(1) checks and the lengths of validate_inputs.
template <class T>
void validate_sizes(const group_layout& layout, std::span<const T> rewards,
                    const estimate_options& opt, bool needs_lengths) {
  const auto n = static_cast<std::size_t>(layout.num_responses());
  require_size(rewards.size(), n, "rewards", "layout.num_responses()");
  if (!opt.mask.empty()) require_size(opt.mask.size(), n, "mask", "layout.num_responses()");
  if (!opt.lengths.empty()) {
    require_size(opt.lengths.size(), n, "lengths", "layout.num_responses()");
    for (std::size_t i = 0; i < n; ++i)
      require(opt.lengths[i] >= 0, "lengths[", i, "] >= 0 required, got ", opt.lengths[i]);
  }
  require(!needs_lengths || !opt.lengths.empty(),
          "lengths required by this estimator (OPO's length-weighted baseline), got none");
}

/// Checks every input before any output is written (strong exception guarantee): sizes, lengths,
/// non-finite rewards and groups left with a single valid response under singleton_rule::reject.
template <class T>
void validate_inputs(const group_layout& layout, std::span<const T> rewards,
                     const estimate_options& opt, singleton_rule singleton, bool needs_lengths) {
  validate_sizes(layout, rewards, opt, needs_lengths);
  // The per-group checks run in the CPU kernel's read-only scan; it reports the first failure
  // a sequential walk meets, so the message is the same whatever the thread count.
  const auto in = make_view(layout, rewards, opt);
  const cpu::scan_partial s =
      cpu::scan(layout, in, reward_range{}, {.estimate = true, .singleton = singleton});
  if (s.estimate_failure.what != cpu::scan_failure::kind::none)
    cpu::raise(s.estimate_failure, layout, reward_range{});
}

/// One pass over the batch for the estimators that normalise across it. Groups merge in group
/// order, so the result does not depend on how groups are scheduled.
template <class T>
[[nodiscard]] batch_stats compute_batch_stats(const group_layout& layout,
                                              const response_view<T>& in, singleton_rule rule,
                                              bool weighted) {
  batch_stats b;
  for (std::int64_t k = 0; k < layout.num_groups(); ++k) {
    const group_stats raw = compute_group_stats(in, layout.begin(k), layout.end(k));
    // A singleton zeroed by its rule is dropped: it enters no batch statistic.
    if (raw.count == 1 && rule == singleton_rule::zero) continue;
    b.merge_raw(raw);
    const group_stats g = rule_applied<T>(raw, rule);
    for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j) {
      const std::int64_t i = in.index(j);
      if (!in.valid(i)) continue;
      const double r = in.reward(i);
      const double w = weighted ? in.weight(i) : 1.0;
      const double c = g.centred(r);
      b.nonzero += r != 0.0;
      b.centred_weight += w;
      b.centred_sum += w * c;
      b.centred_sq += w * c * c;
    }
  }
  return b;
}

/// Writes the advantages of group k (positions [begin, end)) at their caller indices.
template <class Est, class T, class U>
HADW_HOST_DEVICE void write_group(const Est& est, const response_view<T>& in, std::int64_t begin,
                                  std::int64_t end, const batch_stats& b, U* out) {
  const group_stats g = rule_applied<T>(compute_group_stats(in, begin, end), est.singleton);
  const bool zero_all = g.count == 1 && est.singleton == singleton_rule::zero;
  for (std::int64_t j = begin; j < end; ++j) {
    const std::int64_t i = in.index(j);
    out[i] = (zero_all || !in.valid(i))
                 ? U(0)
                 : static_cast<U>(est.advantage(g, b, in.reward(i), j - begin));
  }
}

}  // namespace detail

/// Group-relative advantages of `rewards` under `estimator`, written to `advantages` (both in the
/// caller's order, size layout.num_responses()). Accumulates in double; the result is the same
/// bit for bit on every run. Throws hadw::error, before writing anything, on: sizes that disagree,
/// NaN/Inf rewards (unless nan_policy::unscorable), negative lengths or eps, missing lengths for
/// OPO, and a group with one valid response under singleton_rule::reject.
template <estimator_like E, class T, class U>
void estimate(const E& estimator, const group_layout& layout, std::span<const T> rewards,
              std::span<U> advantages, const estimate_options& options = {}) {
  const auto& est = estimator.policies();
  est.validate();
  detail::validate_inputs(layout, rewards, options, est.singleton, est.needs_lengths);
  detail::require_size(advantages.size(), rewards.size(), "advantages", "rewards.size()");
  const auto in = detail::make_view(layout, rewards, options);
  batch_stats b;
  if constexpr (std::remove_cvref_t<decltype(est)>::needs_batch_stats)
    b = detail::compute_batch_stats(layout, in, est.singleton, est.uses_lengths);
  detail::cpu::with_reader(in, [&](const auto& reader) {
    (void)detail::cpu::run_step(layout, est, b, detail::cpu::no_weighting{}, reader,
                                advantages.data(), detail::cpu::no_rows{}, 0);
  });
}

/// Convenience for non-const spans of rewards.
template <estimator_like E, class T, class U>
  requires(!std::is_const_v<T>)
void estimate(const E& estimator, const group_layout& layout, std::span<T> rewards,
              std::span<U> advantages, const estimate_options& options = {}) {
  estimate(estimator, layout, std::span<const T>(rewards), advantages, options);
}

}  // namespace hadw
