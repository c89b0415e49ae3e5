// One call for the whole step: estimate -> HA-DW reweight (-> token broadcast), as one pass of
// the CPU kernel (hadw/backend/cpu.hpp).
#pragma once

#include <hadw/backend/cpu.hpp>
#include <hadw/estimate.hpp>
#include <hadw/reweight.hpp>
#include <hadw/tokens.hpp>

#include <cstdint>
#include <span>

namespace hadw {

namespace detail {
/// The fused step with token stage `rows`: every check of estimate() and reweight() in one
/// read-only scan, then one pass of group statistics -> advantage -> Phi -> token rows. The
/// arithmetic and its order are those of estimate() then reweight() then broadcast_to_tokens(),
/// so the results are bit-identical to that chain.
template <class E, class T, class U, class Belief, class Rows>
step_stats fused_step(const E& estimator, const group_layout& layout, std::span<const T> rewards,
                      std::span<U> advantages, difficulty_anchor<Belief>& anchor,
                      const reweight_options& options, std::span<const std::int64_t> lengths,
                      const Rows& rows, std::int64_t tokens) {
  const auto& est = estimator.policies();
  options.validate();
  est.validate();
  const estimate_options eopt = estimate_options_of(options, lengths);
  validate_sizes(layout, rewards, eopt, est.needs_lengths);
  require_size(advantages.size(), rewards.size(), "advantages", "rewards.size()");
  const auto in = make_view(layout, rewards, eopt);
  const cpu::scan_partial p =
      cpu::scan(layout, in, options.range,
                {.estimate = true,
                 .singleton = est.singleton,
                 .reweight = true,
                 .success_threshold = options.success_threshold});
  const reweight_scan scan = checked_scan(p, layout, options);  // reweight's checks come first,
  if (p.estimate_failure.what != cpu::scan_failure::kind::none)  // as in the unfused chain
    cpu::raise(p.estimate_failure, layout, options.range);
  batch_stats b;
  if constexpr (std::remove_cvref_t<decltype(est)>::needs_batch_stats)
    b = compute_batch_stats(layout, in, est.singleton, est.uses_lengths);
  return weigh_step(anchor, scan, layout, options, [&](const auto& w) {
    return cpu::with_reader(in, [&](const auto& reader) {
      return cpu::run_step(layout, est, b, w, reader, advantages.data(), rows, tokens);
    });
  });
}
}  // namespace detail

/// estimate(estimator, ...) then reweight(...) on the result, in one pass: advantages receive the
/// HA-DW weighted advantages and the anchor is updated per `options`. `lengths` goes to
/// estimators that use it (OPO, REINFORCE++). All inputs are validated before anything is
/// written. Bit-identical to the two calls.
template <estimator_like E, class T, class U, class Belief>
step_stats estimate_and_reweight(const E& estimator, const group_layout& layout,
                                 std::span<const T> rewards, std::span<U> advantages,
                                 difficulty_anchor<Belief>& anchor,
                                 const reweight_options& options = {},
                                 std::span<const std::int64_t> lengths = {}) {
  return detail::fused_step(estimator, layout, rewards, advantages, anchor, options, lengths,
                            detail::cpu::no_rows{}, 0);
}

/// estimate_and_reweight, then broadcast_to_tokens under a per-token mask [N, L], in one pass:
/// token_advantages receives the weighted advantage on every unmasked token and exactly 0
/// elsewhere. `advantages` (size N) receives the per-response result too.
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
  const auto tokens = static_cast<std::int64_t>(token_advantages.size());
  return detail::fused_step(
      estimator, layout, rewards, advantages, anchor, options, lengths,
      detail::cpu::mask_rows<M, V>{token_mask.data(), token_advantages.data(),
                                   static_cast<std::size_t>(L),
                                   detail::cpu::stream_tokens<V>(tokens)},
      tokens);
}

/// The same with right-padded rows: token_advantages[i*L + t] = t < token_lengths[i] ? the
/// weighted advantage of response i : 0. Requires 0 <= token_lengths[i] <= L. (`lengths`, for
/// OPO / REINFORCE++, is separate: pass token_lengths there too if the estimator should see
/// them.)
template <estimator_like E, class T, class U, class Belief, row_length_element I, class V>
step_stats estimate_reweight_broadcast(const E& estimator, const group_layout& layout,
                                       std::span<const T> rewards, std::span<U> advantages,
                                       difficulty_anchor<Belief>& anchor,
                                       std::span<const I> token_lengths, std::int64_t L,
                                       std::span<V> token_advantages,
                                       const reweight_options& options = {},
                                       std::span<const std::int64_t> lengths = {}) {
  detail::check_token_shape(advantages.size(), L, token_advantages.size());
  detail::check_row_lengths(token_lengths, advantages.size(), L);
  const auto tokens = static_cast<std::int64_t>(token_advantages.size());
  return detail::fused_step(
      estimator, layout, rewards, advantages, anchor, options, lengths,
      detail::cpu::length_rows<I, V>{token_lengths.data(), token_advantages.data(),
                                     static_cast<std::size_t>(L),
                                     detail::cpu::stream_tokens<V>(tokens)},
      tokens);
}

}  // namespace hadw
