// hadw::remax: ReMax's advantage, the reward minus a greedy-decoding baseline reward of the same
// prompt (Li et al. 2023, "ReMax", arXiv:2310.10505, Algorithm 1: A = r(x, y) - r(x, y_greedy)),
// per response and, as verl computes it, per token.
#pragma once

#include <hadw/api/tokens.hpp>
#include <hadw/backend/tags.hpp>
#include <hadw/detail/alias.hpp>
#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/tokens/remax.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>

namespace hadw {

/// Per response: advantages[i] = rewards[i] - baselines[i], baselines one per response (verl's
/// reward_baselines, shape (bs,)). Throws hadw::error before writing on sizes that disagree,
/// non-finite values, or advantages overlapping an input other than exactly (in place is allowed).
template <std::floating_point T, std::floating_point U>
void remax(std::span<const T> rewards, std::span<const T> baselines, std::span<U> advantages) {
  detail::require_size(baselines.size(), rewards.size(), "baselines", "rewards.size()");
  detail::require_size(advantages.size(), rewards.size(), "advantages", "rewards.size()");
  detail::require_in_place_or_disjoint(advantages, "advantages", rewards, "rewards");
  detail::require_in_place_or_disjoint(advantages, "advantages", baselines, "baselines");
  detail::require_finite_values(rewards, "rewards");
  detail::require_finite_values(baselines, "baselines");
  for (std::size_t i = 0; i < rewards.size(); ++i)
    advantages[i] = static_cast<U>(
        remax_advantage(static_cast<double>(rewards[i]), static_cast<double>(baselines[i])));
}

/// Per response with one baseline per prompt group: advantages[i] = rewards[i] - baselines[k],
/// k the group of response i (baselines.size() == layout.num_groups()).
template <std::floating_point T, std::floating_point U>
void remax(const group_layout& layout, std::span<const T> rewards, std::span<const T> baselines,
           std::span<U> advantages) {
  detail::require_size(rewards.size(), static_cast<std::size_t>(layout.num_responses()), "rewards",
                       "layout.num_responses()");
  detail::require_size(baselines.size(), static_cast<std::size_t>(layout.num_groups()), "baselines",
                       "layout.num_groups()");
  detail::require_size(advantages.size(), rewards.size(), "advantages", "rewards.size()");
  detail::require_in_place_or_disjoint(advantages, "advantages", rewards, "rewards");
  detail::require(!detail::overlapping(detail::bytes_of(advantages), detail::bytes_of(baselines)),
                  "advantages and baselines must not overlap in memory");
  detail::require_finite_values(rewards, "rewards");
  detail::require_finite_values(baselines, "baselines");
  for (std::int64_t k = 0; k < layout.num_groups(); ++k)
    for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j) {
      const auto i = static_cast<std::size_t>(layout.index(j));
      advantages[i] = static_cast<U>(
          remax_advantage(static_cast<double>(rewards[i]),
                          static_cast<double>(baselines[static_cast<std::size_t>(k)])));
    }
}

/// A token mask ReMax multiplies by, as verl does: 0/1 bytes or a float weight per token.
template <class M>
concept remax_mask_element =
    std::same_as<M, std::uint8_t> || std::same_as<M, bool> || std::floating_point<M>;

/// Token level, exactly as verl's compute_remax_outcome_advantage (core_algos.py, verl 0.9.1):
///   returns[i, t]    = sum_{t' >= t} token_rewards[i, t'] * mask[i, t']   (reverse scan per row)
///   advantages[i, t] = returns[i, t] - baselines[i] * mask[i, t]
/// [N, L] row-major, L = `L`. With the outcome reward on the last valid token of a right-padded
/// row this is r - b on every valid token and 0 after; per-token rewards (a KL penalty in the
/// reward) give each token its reward-to-go. A masked token before a valid one keeps its return,
/// as in verl. The row scan is tokens/remax.hpp's remax_row (double, rounded once per element),
/// run by backend::traits<B>::token_scans (CPU: host spans; CUDA: device spans, one thread per
/// row). Throws hadw::error before writing on shapes that disagree, L < 1, overlapping buffers,
/// or non-finite inputs (token_rewards, baselines, a float mask; the CPU's messages on both).
template <backend::backend_tag B, std::floating_point T, remax_mask_element M,
          std::floating_point U>
void remax_tokens(B be, std::span<const T> token_rewards, std::span<const M> mask, std::int64_t L,
                  std::span<const T> baselines, std::span<U> advantages, std::span<U> returns) {
  detail::require(L >= 1, "L >= 1 required, got ", L);
  const auto n = baselines.size(), ul = static_cast<std::size_t>(L);
  detail::require(token_rewards.size() % ul == 0 && token_rewards.size() / ul == n,
                  "token_rewards.size() == baselines.size() * L required, got ",
                  token_rewards.size(), " vs ", n, " * ", L);
  detail::require_size(mask.size(), token_rewards.size(), "mask", "token_rewards.size()");
  detail::require_size(advantages.size(), token_rewards.size(), "advantages",
                       "token_rewards.size()");
  detail::require_size(returns.size(), token_rewards.size(), "returns", "token_rewards.size()");
  const auto out_a = detail::bytes_of(advantages), out_r = detail::bytes_of(returns);
  for (const auto in : {detail::bytes_of(token_rewards), detail::bytes_of(mask),
                        detail::bytes_of(baselines), out_r})
    detail::require(!detail::overlapping(out_a, in),
                    "advantages must not overlap token_rewards, mask, baselines or returns");
  for (const auto in :
       {detail::bytes_of(token_rewards), detail::bytes_of(mask), detail::bytes_of(baselines)})
    detail::require(!detail::overlapping(out_r, in),
                    "returns must not overlap token_rewards, mask or baselines");
  backend::traits<B>::token_scans::remax_tokens(be, token_rewards, mask, L, baselines, advantages,
                                                returns);
}

/// remax_tokens on the default backend (backend::cpu).
template <std::floating_point T, remax_mask_element M, std::floating_point U>
void remax_tokens(std::span<const T> token_rewards, std::span<const M> mask, std::int64_t L,
                  std::span<const T> baselines, std::span<U> advantages, std::span<U> returns) {
  remax_tokens(backend::cpu{}, token_rewards, mask, L, baselines, advantages, returns);
}

}  // namespace hadw
