// Response-level advantages -> token-level advantages [N, L] (row-major).
#pragma once

#include <hadw/error.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>

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
}  // namespace detail

/// token_advantages[i*L + t] = mask[i*L + t] ? advantages[i] : 0. Masked tokens are exactly 0.
/// Allocates nothing; the inner loop is a branch-free select the compiler vectorises.
template <class T, token_mask_element M, class U>
void broadcast_to_tokens(std::span<const T> advantages, std::span<const M> mask, std::int64_t L,
                         std::span<U> token_advantages) {
  detail::check_token_shape(advantages.size(), L, token_advantages.size());
  detail::require_size(mask.size(), token_advantages.size(), "mask", "token_advantages.size()");
  const auto row = static_cast<std::size_t>(L);
  for (std::size_t i = 0; i < advantages.size(); ++i) {
    const U a = static_cast<U>(advantages[i]);
    const M* m = mask.data() + i * row;
    U* out = token_advantages.data() + i * row;
    for (std::size_t t = 0; t < row; ++t) out[t] = m[t] ? a : U(0);
  }
}

/// token_advantages[i*L + t] = t < lengths[i] ? advantages[i] : 0 (right-padded rows).
/// Requires 0 <= lengths[i] <= L.
template <class T, row_length_element I, class U>
void broadcast_to_tokens(std::span<const T> advantages, std::span<const I> lengths, std::int64_t L,
                         std::span<U> token_advantages) {
  detail::check_token_shape(advantages.size(), L, token_advantages.size());
  detail::require_size(lengths.size(), advantages.size(), "lengths", "advantages.size()");
  for (std::size_t i = 0; i < lengths.size(); ++i)
    detail::require(lengths[i] >= 0 && static_cast<std::int64_t>(lengths[i]) <= L,
                    "0 <= lengths[", i, "] <= L required, got ", lengths[i], " with L = ", L);
  const auto row = static_cast<std::size_t>(L);
  for (std::size_t i = 0; i < advantages.size(); ++i) {
    const U a = static_cast<U>(advantages[i]);
    const auto len = static_cast<std::size_t>(lengths[i]);
    U* out = token_advantages.data() + i * row;
    for (std::size_t t = 0; t < len; ++t) out[t] = a;
    for (std::size_t t = len; t < row; ++t) out[t] = U(0);
  }
}

}  // namespace hadw
