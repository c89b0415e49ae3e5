// hadw::estimate: rewards -> group-relative advantages, written into caller memory. Validates the
// shapes, then dispatches on the backend tag (backend::cpu when none is given) through
// backend::traits<Backend>::entry.
#pragma once

#include <hadw/backend/cpu/entry.hpp>
#include <hadw/backend/tags.hpp>
#include <hadw/concepts.hpp>
#include <hadw/detail/alias.hpp>
#include <hadw/error.hpp>
#include <hadw/estimators/named.hpp>
#include <hadw/layout.hpp>

#include <concepts>
#include <cstdint>
#include <span>

namespace hadw {

namespace detail {
/// The O(1) checks every backend shares: element types, sizes against the layout, lengths
/// where the estimator needs them, advantages either exactly the rewards (in place) or apart.
template <class Layout, class T, class U>
void check_estimate_shapes(const Layout& layout, std::span<const T> rewards,
                           std::span<U> advantages, const estimate_options& opt,
                           bool needs_lengths) {
  require_reward_value<T>();
  require_advantage_value<U>();
  const auto n = static_cast<std::size_t>(layout.num_responses());
  require_size(rewards.size(), n, "rewards", "layout.num_responses()");
  if (!opt.mask.empty()) require_size(opt.mask.size(), n, "mask", "layout.num_responses()");
  if (!opt.lengths.empty()) require_size(opt.lengths.size(), n, "lengths", "layout.num_responses()");
  require(!needs_lengths || !opt.lengths.empty(),
          "lengths required by this estimator (OPO's length-weighted baseline), got none");
  require_size(advantages.size(), rewards.size(), "advantages", "rewards.size()");
  require_in_place_or_disjoint(advantages, "advantages", rewards, "rewards");
}
}  // namespace detail

/// Group-relative advantages of `rewards` under `estimator`, written to `advantages` (both in the
/// caller's order, size layout.num_responses()), on backend `be` (its layout type: group_layout
/// for backend::cpu, device_group_layout for backend::cuda). Accumulates in double; the result
/// is the same bit for bit on every run. Throws hadw::error, before writing anything, on: sizes
/// that disagree, NaN/Inf rewards (unless nan_policy::unscorable), negative lengths or eps,
/// missing lengths for OPO, a group with one valid response under singleton_rule::reject, and
/// advantages that overlap the rewards other than exactly (in place is allowed). Rewards are
/// float, double or a standard integer; advantages float or double (else it does not compile).
template <backend::backend_tag B, estimator_like E, class Layout, class T, class U>
  requires std::same_as<Layout, typename backend::traits<B>::layout>
void estimate(B be, const E& estimator, const Layout& layout, std::span<const T> rewards,
              std::span<U> advantages, const estimate_options& options = {}) {
  const auto& est = estimator.policies();
  est.validate();
  detail::check_estimate_shapes(layout, rewards, advantages, options, est.needs_lengths);
  backend::traits<B>::entry::estimate(be, est, layout, rewards, advantages, options);
}

/// Convenience for non-const spans of rewards.
template <backend::backend_tag B, estimator_like E, class Layout, class T, class U>
  requires(!std::is_const_v<T>)
void estimate(B be, const E& estimator, const Layout& layout, std::span<T> rewards,
              std::span<U> advantages, const estimate_options& options = {}) {
  estimate(be, estimator, layout, std::span<const T>(rewards), advantages, options);
}

/// estimate on the default backend (backend::cpu).
template <estimator_like E, class T, class U>
void estimate(const E& estimator, const group_layout& layout, std::span<T> rewards,
              std::span<U> advantages, const estimate_options& options = {}) {
  estimate(backend::cpu{}, estimator, layout, std::span<const std::remove_const_t<T>>(rewards),
           advantages, options);
}

}  // namespace hadw
