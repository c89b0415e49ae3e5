// Response-level advantages -> token-level advantages [N, L] (row-major).
#pragma once

#include <hadw/backend/cpu.hpp>
#include <hadw/error.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

namespace hadw {

/// A per-token mask element: uint8 (0/1, as torch's bool tensors are stored) or bool.
template <class M>
concept token_mask_element = std::same_as<M, std::uint8_t> || std::same_as<M, bool>;

/// A per-row length element (anything integral but the mask types).
template <class I>
concept row_length_element = std::integral<I> && !token_mask_element<I>;

namespace detail {
inline void check_token_shape(std::size_t n_adv, std::int64_t L, std::size_t n_out) {
  require(L >= 1, "L (tokens per row) >= 1 required, got ", L);
  require(n_adv <= n_out / static_cast<std::size_t>(L) &&
              n_out == n_adv * static_cast<std::size_t>(L),
          "token_advantages.size() == advantages.size() * L required, got ", n_out, " vs ",
          n_adv, " * ", L);
}

/// lengths.size() == n and 0 <= lengths[i] <= L, compared as integers of any signedness (an
/// unsigned length past INT64_MAX must not wrap to a negative that passes).
template <class I>
void check_row_lengths(std::span<const I> lengths, std::size_t n, std::int64_t L) {
  require_size(lengths.size(), n, "lengths", "advantages.size()");
  for (std::size_t i = 0; i < lengths.size(); ++i)
    require(std::cmp_greater_equal(lengths[i], 0) && std::cmp_less_equal(lengths[i], L),
            "0 <= lengths[", i, "] <= L required, got ", lengths[i], " with L = ", L);
}
}  // namespace detail

/// token_advantages[i*L + t] = mask[i*L + t] ? advantages[i] : 0. Masked tokens are exactly 0.
/// Allocates nothing; rows run through the CPU backend's vectorised select (streaming stores for
/// outputs beyond the cache, OpenMP over rows when enabled: no reduction, so any thread count
/// gives the same bytes).
template <class T, token_mask_element M, class U>
void broadcast_to_tokens(std::span<const T> advantages, std::span<const M> mask, std::int64_t L,
                         std::span<U> token_advantages) {
  detail::check_token_shape(advantages.size(), L, token_advantages.size());
  detail::require_size(mask.size(), token_advantages.size(), "mask", "token_advantages.size()");
  const auto tokens = static_cast<std::int64_t>(token_advantages.size());
  detail::cpu::run_rows(advantages.data(), static_cast<std::int64_t>(advantages.size()), tokens,
                        detail::cpu::mask_rows<M, U>{mask.data(), token_advantages.data(),
                                                     static_cast<std::size_t>(L),
                                                     detail::cpu::stream_tokens<U>(tokens)});
}

/// token_advantages[i*L + t] = t < lengths[i] ? advantages[i] : 0 (right-padded rows).
/// Requires 0 <= lengths[i] <= L.
template <class T, row_length_element I, class U>
void broadcast_to_tokens(std::span<const T> advantages, std::span<const I> lengths, std::int64_t L,
                         std::span<U> token_advantages) {
  detail::check_token_shape(advantages.size(), L, token_advantages.size());
  detail::check_row_lengths(lengths, advantages.size(), L);
  const auto tokens = static_cast<std::int64_t>(token_advantages.size());
  detail::cpu::run_rows(advantages.data(), static_cast<std::int64_t>(advantages.size()), tokens,
                        detail::cpu::length_rows<I, U>{lengths.data(), token_advantages.data(),
                                                       static_cast<std::size_t>(L),
                                                       detail::cpu::stream_tokens<U>(tokens)});
}

}  // namespace hadw
