// One call for the whole step: estimate -> HA-DW reweight (-> token broadcast), as one pass of
// the backend's kernels. Validates the shapes, then dispatches on the backend tag.
#pragma once

#include <hadw/backend/cpu/entry.hpp>
#include <hadw/backend/tags.hpp>
#include <hadw/api/estimate.hpp>
#include <hadw/api/reweight.hpp>
#include <hadw/api/tokens.hpp>

#include <concepts>
#include <cstdint>
#include <span>

namespace hadw {

namespace detail {
template <class Est, class Layout, class T, class U>
void check_fused_shapes(const Est& est, const Layout& layout, std::span<const T> rewards,
                        std::span<U> advantages, const reweight_options& options,
                        std::span<const std::int64_t> lengths) {
  options.validate();
  est.validate();
  check_estimate_shapes(layout, rewards, advantages, estimate_options_of(options, lengths),
                        est.needs_lengths);
}
}  // namespace detail

/// estimate(estimator, ...) then reweight(...) on the result, in one pass: advantages receive the
/// HA-DW weighted advantages and the anchor is updated per `options`. `lengths` goes to
/// estimators that use it (OPO, REINFORCE++). All inputs are validated before anything is
/// written. Bit-identical to the two calls. In place (advantages = rewards, the same span) is
/// allowed; any other overlap is refused.
template <backend::backend_tag B, estimator_like E, class Layout, class T, class U, class Belief>
  requires std::same_as<Layout, typename backend::traits<B>::layout>
step_stats estimate_and_reweight(B be, const E& estimator, const Layout& layout,
                                 std::span<const T> rewards, std::span<U> advantages,
                                 difficulty_anchor<Belief>& anchor,
                                 const reweight_options& options = {},
                                 std::span<const std::int64_t> lengths = {}) {
  const auto& est = estimator.policies();
  detail::check_fused_shapes(est, layout, rewards, advantages, options, lengths);
  return backend::traits<B>::entry::estimate_and_reweight(be, est, layout, rewards, advantages,
                                                          anchor, options, lengths);
}

/// estimate_and_reweight, then broadcast_to_tokens in one pass: token_advantages [N, L] receives
/// the weighted advantage where `token_rows` keeps a token and exactly 0 elsewhere; token_rows is
/// a per-token mask [N, L] (uint8 or bool) or per-row lengths [N] of right-padded rows (any other
/// integer, 0 <= length <= L). `advantages` (size N) receives the per-response result too.
/// (`lengths`, for OPO / REINFORCE++, is separate: pass the token counts there too if the
/// estimator should see them.) token_advantages shares no memory with rewards or advantages.
template <backend::backend_tag B, estimator_like E, class Layout, class T, class U, class Belief,
          class MaskOrLength, class V>
  requires std::same_as<Layout, typename backend::traits<B>::layout> &&
           (token_mask_element<MaskOrLength> || row_length_element<MaskOrLength>)
step_stats estimate_reweight_broadcast(B be, const E& estimator, const Layout& layout,
                                       std::span<const T> rewards, std::span<U> advantages,
                                       difficulty_anchor<Belief>& anchor,
                                       std::span<const MaskOrLength> token_rows, std::int64_t L,
                                       std::span<V> token_advantages,
                                       const reweight_options& options = {},
                                       std::span<const std::int64_t> lengths = {}) {
  detail::check_token_rows<B>(advantages, token_rows, L, token_advantages);
  const auto& est = estimator.policies();
  detail::check_fused_shapes(est, layout, rewards, advantages, options, lengths);
  // Both outputs are written group by group: neither may share memory with the other or with
  // rewards still to be read.
  detail::require_disjoint(token_advantages, "token_advantages", advantages, "advantages");
  detail::require_disjoint(token_advantages, "token_advantages", rewards, "rewards");
  return backend::traits<B>::entry::estimate_reweight_broadcast(
      be, est, layout, rewards, advantages, anchor, token_rows, L, token_advantages, options,
      lengths);
}

/// The two calls above on the default backend (backend::cpu).
template <estimator_like E, class T, class U, class Belief>
step_stats estimate_and_reweight(const E& estimator, const group_layout& layout,
                                 std::span<const T> rewards, std::span<U> advantages,
                                 difficulty_anchor<Belief>& anchor,
                                 const reweight_options& options = {},
                                 std::span<const std::int64_t> lengths = {}) {
  return estimate_and_reweight(backend::cpu{}, estimator, layout, rewards, advantages, anchor,
                               options, lengths);
}
template <estimator_like E, class T, class U, class Belief, class MaskOrLength, class V>
  requires(token_mask_element<MaskOrLength> || row_length_element<MaskOrLength>)
step_stats estimate_reweight_broadcast(const E& estimator, const group_layout& layout,
                                       std::span<const T> rewards, std::span<U> advantages,
                                       difficulty_anchor<Belief>& anchor,
                                       std::span<const MaskOrLength> token_rows, std::int64_t L,
                                       std::span<V> token_advantages,
                                       const reweight_options& options = {},
                                       std::span<const std::int64_t> lengths = {}) {
  return estimate_reweight_broadcast(backend::cpu{}, estimator, layout, rewards, advantages,
                                     anchor, token_rows, L, token_advantages, options, lengths);
}

}  // namespace hadw
