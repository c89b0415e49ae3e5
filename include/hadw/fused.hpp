// One call for the whole step: estimate -> HA-DW reweight (-> token broadcast).
#pragma once

#include <hadw/estimate.hpp>
#include <hadw/reweight.hpp>
#include <hadw/tokens.hpp>

#include <cstdint>
#include <span>

namespace hadw {

namespace detail {
inline estimate_options estimate_options_of(const reweight_options& opt,
                                            std::span<const std::int64_t> lengths) {
  return {.mask = opt.mask, .lengths = lengths, .nan = opt.nan};
}
}  // namespace detail

/// estimate(estimator, ...) then reweight(...) on the result: advantages receive the HA-DW
/// weighted advantages and the anchor is updated per `options`. `lengths` goes to estimators
/// that use it (OPO, REINFORCE++). All inputs are validated before anything is written.
template <estimator_like E, class T, class U, class Belief>
step_stats estimate_and_reweight(const E& estimator, const group_layout& layout,
                                 std::span<const T> rewards, std::span<U> advantages,
                                 difficulty_anchor<Belief>& anchor,
                                 const reweight_options& options = {},
                                 std::span<const std::int64_t> lengths = {}) {
  (void)detail::scan_rewards(layout, rewards, options);  // reweight's checks, before any write
  estimate(estimator, layout, rewards, advantages, detail::estimate_options_of(options, lengths));
  return reweight(grouped(advantages, layout), grouped(rewards, layout), anchor, options);
}

/// estimate_and_reweight, then broadcast_to_tokens under a per-token mask [N, L]: token_advantages
/// receives the weighted advantage on every unmasked token and exactly 0 elsewhere. `advantages`
/// (size N) receives the per-response result too.
template <estimator_like E, class T, class U, class Belief, token_mask_element M, class V>
step_stats estimate_reweight_broadcast(const E& estimator, const group_layout& layout,
                                       std::span<const T> rewards, std::span<U> advantages,
                                       difficulty_anchor<Belief>& anchor,
                                       std::span<const M> token_mask, std::int64_t L,
                                       std::span<V> token_advantages,
                                       const reweight_options& options = {},
                                       std::span<const std::int64_t> lengths = {}) {
  detail::check_token_shape(advantages.size(), L, token_advantages.size());
  detail::require_size(token_mask.size(), token_advantages.size(), "token_mask",
                       "token_advantages.size()");
  const step_stats st =
      estimate_and_reweight(estimator, layout, rewards, advantages, anchor, options, lengths);
  broadcast_to_tokens(std::span<const U>(advantages), token_mask, L, token_advantages);
  return st;
}

}  // namespace hadw
