// Response-level advantages -> token-level advantages [N, L] (row-major). Validates the shapes,
// then dispatches on the backend tag (backend::cpu when none is given).
#pragma once

#include <hadw/backend/cpu/entry.hpp>
#include <hadw/backend/tags.hpp>
#include <hadw/concepts.hpp>
#include <hadw/detail/alias.hpp>
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

/// A per-row length element: any integral type but the mask types; it must then be a
/// standard_integer (int8_t ... uint64_t, not a character type), which check_row_lengths
/// requires with a message.
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
  static_assert(standard_integer<I>,
                "hadw: token lengths must be a standard integer type (int8_t ... uint64_t; "
                "uint8_t and bool are token masks), not a character type");
  require_size(lengths.size(), n, "lengths", "advantages.size()");
  if constexpr (standard_integer<I>)  // std::cmp_* would add a second error for the others
    for (std::size_t i = 0; i < lengths.size(); ++i)
      require(std::cmp_greater_equal(lengths[i], 0) && std::cmp_less_equal(lengths[i], L),
              "0 <= lengths[", i, "] <= L required, got ", lengths[i], " with L = ", L);
}

/// The token stage's shapes: [N, L] out; a mask of the same size, or N row lengths in [0, L]
/// (read on the host, so host-memory backends only). Float or double advantages.
template <class B, class T, class MaskOrLength, class V>
void check_token_rows(std::span<T> advantages, std::span<const MaskOrLength> token_rows,
                      std::int64_t L, std::span<V> token_advantages,
                      const char* mask_name = "token_mask") {
  require_advantage_value<std::remove_cv_t<T>>();
  require_advantage_value<V>();
  const std::size_t n_adv = advantages.size(), n_out = token_advantages.size();
  check_token_shape(n_adv, L, n_out);
  if constexpr (token_mask_element<MaskOrLength>) {
    require_size(token_rows.size(), n_out, mask_name, "token_advantages.size()");
  } else {
    static_assert(backend::traits<B>::host_memory,
                  "per-row token lengths are read on the host: use a token mask on this backend");
    check_row_lengths(token_rows, n_adv, L);
  }
}
}  // namespace detail

/// token_advantages[i*L + t] = mask[i*L + t] ? advantages[i] : 0 (token_rows a mask [N, L] of
/// uint8/bool), or t < lengths[i] ? advantages[i] : 0 (token_rows N per-row lengths of right-
/// padded rows, 0 <= lengths[i] <= L). Dropped tokens are exactly 0. token_advantages must not
/// overlap advantages (except exactly, in place, which only L = 1 allows). Allocates nothing;
/// on the CPU, rows run through a vectorised select (streaming stores for outputs beyond the
/// cache, OpenMP over rows when enabled: no reduction, so any thread count gives the same bytes).
template <backend::backend_tag B, class T, class MaskOrLength, class U>
  requires(token_mask_element<MaskOrLength> || row_length_element<MaskOrLength>)
void broadcast_to_tokens(B be, std::span<const T> advantages,
                         std::span<const MaskOrLength> token_rows, std::int64_t L,
                         std::span<U> token_advantages) {
  detail::check_token_rows<B>(advantages, token_rows, L, token_advantages, "mask");
  // A row of L > 1 tokens would overwrite advantages not yet read; L = 1 in place is a select.
  detail::require_in_place_or_disjoint(token_advantages, "token_advantages", advantages,
                                       "advantages");
  backend::traits<B>::entry::broadcast_to_tokens(be, advantages, token_rows, L, token_advantages);
}

/// broadcast_to_tokens on the default backend (backend::cpu).
template <class T, class MaskOrLength, class U>
  requires(token_mask_element<MaskOrLength> || row_length_element<MaskOrLength>)
void broadcast_to_tokens(std::span<const T> advantages, std::span<const MaskOrLength> token_rows,
                         std::int64_t L, std::span<U> token_advantages) {
  broadcast_to_tokens(backend::cpu{}, advantages, token_rows, L, token_advantages);
}

}  // namespace hadw
