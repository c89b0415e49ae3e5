// The CPU backend's token stage: a response's advantage written to its row of [N, L], under a
// per-token mask or per-row lengths, with streaming stores past the cache.
#pragma once

#include <hadw/detail/row_store.hpp>

#include <cstddef>
#include <cstdint>

namespace hadw::detail::cpu {

/// No token stage.
struct no_rows {
  static constexpr bool active = false;
  bool stream = false;
  template <class U>
  void operator()(std::int64_t, U) const {}
};

/// Token rows under a per-token mask [N, L].
template <class M, class V>
struct mask_rows {
  static constexpr bool active = true;
  const M* mask;
  V* out;
  std::size_t L;
  bool stream;
  template <class U>
  void operator()(std::int64_t i, U a) const {
    const std::size_t row = static_cast<std::size_t>(i) * L;
    select_row(out + row, mask + row, static_cast<V>(a), L, stream);
  }
};

/// Right-padded token rows of per-row lengths (validated to lie in [0, L]).
template <class I, class V>
struct length_rows {
  static constexpr bool active = true;
  const I* lengths;
  V* out;
  std::size_t L;
  bool stream;
  template <class U>
  void operator()(std::int64_t i, U a) const {
    fill_row(out + static_cast<std::size_t>(i) * L, static_cast<V>(a),
             static_cast<std::size_t>(lengths[i]), L, stream);
  }
};

/// Whether token rows are written with streaming stores: outputs past the cache
/// (streaming_store_min_bytes), where a plain store would first read each line it writes (the
/// write-allocate read) only to overwrite it. Measured at 2^26-2^27 float tokens: on AMD EPYC
/// Zen 4 (KVM), mask rows 108% of a memset plus the mask read streaming vs 78% plain, length
/// rows 74% streaming vs 88% plain; on an AMD EPYC without AVX-512 (KVM, 2 cores), length rows
/// 11.9 ms streaming vs 34.5 ms plain (bench/python/bench_python.py). Streaming for both: the
/// second machine's 2.9x outweighs the first one's 16%.
template <class V>
[[nodiscard]] bool stream_tokens(std::int64_t tokens) {
  return static_cast<std::size_t>(tokens) * sizeof(V) >= streaming_store_min_bytes;
}

}  // namespace hadw::detail::cpu
