// Token-level advantage estimators on [B, L] row-major token arrays with a response mask, as
// verl 0.9.1's registry computes them: GAE, REINFORCE++ and the optimal token baseline. Entry
// points validate the shapes and options, then dispatch on the backend tag
// (backend::traits<B>::token_scans); data checks (finite inputs, enough valid tokens to whiten)
// run before anything is written. Formulas: tokens/scan.hpp, tokens/whiten.hpp, tokens/otb.hpp;
// docs/math.md "Token-level estimators".
#pragma once

#include <hadw/api/tokens.hpp>
#include <hadw/backend/tags.hpp>
#include <hadw/detail/alias.hpp>
#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/tokens/otb.hpp>
#include <hadw/tokens/scan.hpp>

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>

namespace hadw {

namespace detail {
/// [B, L] token arrays: L >= 1, n a multiple of L; returns B.
inline std::int64_t token_rows_of(std::size_t n, std::int64_t L) {
  require(L >= 1, "L (tokens per row) >= 1 required, got ", L);
  require(n % static_cast<std::size_t>(L) == 0, "rewards.size() a multiple of L required, got ", n,
          " with L = ", L);
  return static_cast<std::int64_t>(n) / L;
}

/// Every output is refused if it shares memory with an input or the other output: the scans
/// read whole rows (whitening, the group columns) after writing them.
template <class Out>
void require_token_outputs(std::span<Out> advantages, std::span<Out> returns,
                           std::initializer_list<std::span<const std::byte>> inputs,
                           std::initializer_list<const char*> names) {
  require_disjoint(advantages, "advantages", returns, "returns");
  const char* const* name = names.begin();
  for (const auto& in : inputs) {
    require_disjoint(advantages, "advantages", in, *name);
    require_disjoint(returns, "returns", in, *name);
    ++name;
  }
}
}  // namespace detail

/// verl's GAE (compute_gae_advantage_return): per row, the reverse scan of tokens/scan.hpp's
/// gae_row, masked tokens skipped; returns = A + V; then, if o.whiten (verl always does), the
/// advantages whitened over the batch's valid tokens (masked_whiten; masked tokens keep verl's
/// whitened carried value, not 0). rewards, values, mask, advantages, returns: [B, L] row-major;
/// gamma and lambda in [0, 1]. Throws hadw::error (nothing written) on a bad size, option,
/// overlap, non-finite input, or fewer than 2 valid tokens when whitening.
template <backend::backend_tag B, class T, class M>
requires token_mask_element<M>
void gae(B be, std::span<const T> rewards, std::span<const T> values, std::span<const M> mask,
         std::int64_t L, std::span<T> advantages, std::span<T> returns, const gae_options& o = {}) {
  detail::require_advantage_value<T>();
  const std::size_t n = rewards.size();
  detail::token_rows_of(n, L);
  detail::require_size(values.size(), n, "values", "rewards.size()");
  detail::require_size(mask.size(), n, "mask", "rewards.size()");
  detail::require_size(advantages.size(), n, "advantages", "rewards.size()");
  detail::require_size(returns.size(), n, "returns", "rewards.size()");
  detail::require_discount(o.gamma, "gamma");
  detail::require_discount(o.lambda, "lambda");
  detail::require_token_outputs(
      advantages, returns, {std::as_bytes(rewards), std::as_bytes(values), std::as_bytes(mask)},
      {"rewards", "values", "mask"});
  backend::traits<B>::token_scans::gae(be, rewards, values, mask, L, advantages, returns, o);
}

/// gae on the default backend (backend::cpu).
template <class T, class M>
requires token_mask_element<M>
void gae(std::span<const T> rewards, std::span<const T> values, std::span<const M> mask,
         std::int64_t L, std::span<T> advantages, std::span<T> returns, const gae_options& o = {}) {
  gae(backend::cpu{}, rewards, values, mask, L, advantages, returns, o);
}

/// verl's REINFORCE++ (compute_reinforce_plus_plus_outcome_advantage): per row the discounted
/// returns of tokens/scan.hpp's discounted_return_row (masked tokens carry the running return
/// and get 0), then advantages = masked_whiten(returns) * mask over the batch's valid tokens.
/// Throws hadw::error (nothing written) as gae does; at least 2 valid tokens required.
template <backend::backend_tag B, class T, class M>
requires token_mask_element<M>
void reinforce_pp(B be, std::span<const T> rewards, std::span<const M> mask, std::int64_t L,
                  std::span<T> advantages, std::span<T> returns,
                  const reinforce_pp_options& o = {}) {
  detail::require_advantage_value<T>();
  const std::size_t n = rewards.size();
  detail::token_rows_of(n, L);
  detail::require_size(mask.size(), n, "mask", "rewards.size()");
  detail::require_size(advantages.size(), n, "advantages", "rewards.size()");
  detail::require_size(returns.size(), n, "returns", "rewards.size()");
  detail::require_discount(o.gamma, "gamma");
  detail::require_token_outputs(advantages, returns, {std::as_bytes(rewards), std::as_bytes(mask)},
                                {"rewards", "mask"});
  backend::traits<B>::token_scans::reinforce_pp(be, rewards, mask, L, advantages, returns, o);
}

/// reinforce_pp on the default backend (backend::cpu).
template <class T, class M>
requires token_mask_element<M>
void reinforce_pp(std::span<const T> rewards, std::span<const M> mask, std::int64_t L,
                  std::span<T> advantages, std::span<T> returns,
                  const reinforce_pp_options& o = {}) {
  reinforce_pp(backend::cpu{}, rewards, mask, L, advantages, returns, o);
}

/// verl's optimal token baseline (compute_optimal_token_baseline_advantage; tokens/otb.hpp):
/// groups from `layout` (one response per row; the backend's layout type: group_layout on the
/// CPU, device_group_layout on CUDA), old_log_probs and sum_pi_squared [B, L] from the rollout
/// policy, is_weights [B, L] or empty (no IS correction). advantages = (G - B*) m, returns = G,
/// the undiscounted reward-to-go. Throws hadw::error (nothing written) on a bad size, eps,
/// overlap or non-finite input.
template <backend::backend_tag B, class Layout, class T, class M>
requires token_mask_element<M> && std::same_as<Layout, typename backend::traits<B>::layout>
void optimal_token_baseline(B be, const Layout& layout, std::span<const T> rewards,
                            std::span<const M> mask, std::span<const T> old_log_probs,
                            std::span<const T> sum_pi_squared, std::span<const T> is_weights,
                            std::int64_t L, std::span<T> advantages, std::span<T> returns,
                            const otb_options& o = {}) {
  detail::require_advantage_value<T>();
  const std::size_t n = rewards.size();
  const std::int64_t rows = detail::token_rows_of(n, L);
  detail::require(layout.num_responses() == rows, "layout.num_responses() == rows (",
                  "rewards.size() / L) required, got ", layout.num_responses(), " vs ", rows);
  detail::require_size(mask.size(), n, "mask", "rewards.size()");
  detail::require_size(old_log_probs.size(), n, "old_log_probs", "rewards.size()");
  detail::require_size(sum_pi_squared.size(), n, "sum_pi_squared", "rewards.size()");
  if (!is_weights.empty())
    detail::require_size(is_weights.size(), n, "is_weights", "rewards.size()");
  detail::require_size(advantages.size(), n, "advantages", "rewards.size()");
  detail::require_size(returns.size(), n, "returns", "rewards.size()");
  detail::require(o.eps >= 0.0 && std::isfinite(o.eps), "eps >= 0 (finite) required, got ", o.eps);
  detail::require_token_outputs(
      advantages, returns,
      {std::as_bytes(rewards), std::as_bytes(mask), std::as_bytes(old_log_probs),
       std::as_bytes(sum_pi_squared), std::as_bytes(is_weights)},
      {"rewards", "mask", "old_log_probs", "sum_pi_squared", "is_weights"});
  backend::traits<B>::token_scans::optimal_token_baseline(be, layout, rewards, mask, old_log_probs,
                                                          sum_pi_squared, is_weights, L, advantages,
                                                          returns, o);
}

/// optimal_token_baseline on the default backend (backend::cpu).
template <class T, class M>
requires token_mask_element<M>
void optimal_token_baseline(const group_layout& layout, std::span<const T> rewards,
                            std::span<const M> mask, std::span<const T> old_log_probs,
                            std::span<const T> sum_pi_squared, std::span<const T> is_weights,
                            std::int64_t L, std::span<T> advantages, std::span<T> returns,
                            const otb_options& o = {}) {
  optimal_token_baseline(backend::cpu{}, layout, rewards, mask, old_log_probs, sum_pi_squared,
                         is_weights, L, advantages, returns, o);
}

}  // namespace hadw
