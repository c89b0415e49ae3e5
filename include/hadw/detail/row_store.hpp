// Writing one token row: the only part of the token-level step that moves real bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace hadw::detail {

/// Token outputs at least this large are written with non-temporal (streaming) stores: they
/// cannot stay in cache anyway, and a plain store first reads the line it overwrites (write
/// allocate), which costs as many bytes again. Smaller outputs use plain stores and stay in
/// cache for whoever reads them next. Override with -DHADW_STREAMING_STORE_MIN_BYTES=...
#ifndef HADW_STREAMING_STORE_MIN_BYTES
#define HADW_STREAMING_STORE_MIN_BYTES (std::size_t{1} << 24)
#endif
inline constexpr std::size_t streaming_store_min_bytes = HADW_STREAMING_STORE_MIN_BYTES;

/// Orders this thread's streaming stores before whatever follows (they are weakly ordered).
inline void streaming_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

#if defined(__SSE2__)
/// 16 mask bytes -> four 4-lane masks, all-ones where the byte is zero.
struct zero_lanes {
  __m128 q[4];
  explicit zero_lanes(const std::uint8_t* m) {
    const __m128i z = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(m)),
                                     _mm_setzero_si128());
    const __m128i lo = _mm_unpacklo_epi8(z, z), hi = _mm_unpackhi_epi8(z, z);
    q[0] = _mm_castsi128_ps(_mm_unpacklo_epi16(lo, lo));
    q[1] = _mm_castsi128_ps(_mm_unpackhi_epi16(lo, lo));
    q[2] = _mm_castsi128_ps(_mm_unpacklo_epi16(hi, hi));
    q[3] = _mm_castsi128_ps(_mm_unpackhi_epi16(hi, hi));
  }
};

template <bool Stream>
inline void store4(float* p, __m128 v) {
  if constexpr (Stream)
    _mm_stream_ps(p, v);
  else
    _mm_store_ps(p, v);
}

/// Scalar head until p is 16-byte aligned; returns how many elements it wrote.
template <class Body>
inline std::size_t align_head(const float* p, std::size_t n, Body&& body) {
  std::size_t t = 0;
  while (t < n && (reinterpret_cast<std::uintptr_t>(p + t) & 15u) != 0) body(t++);
  return t;
}
#endif

#if defined(__SSE2__)
/// The aligned 16-token body of select_row for float; returns how many tokens it wrote.
template <bool Stream>
inline std::size_t select_body(float* out, const std::uint8_t* m, float a, std::size_t n) {
  std::size_t t = align_head(out, n, [&](std::size_t u) { out[u] = m[u] ? a : 0.0f; });
  const __m128 va = _mm_set1_ps(a);
  for (; t + 16 <= n; t += 16) {
    const zero_lanes z(m + t);
    for (int q = 0; q < 4; ++q) store4<Stream>(out + t + 4 * q, _mm_andnot_ps(z.q[q], va));
  }
  return t;
}
#endif

/// out[t] = mask[t] ? a : 0 for t < n. Masked tokens are exactly +0.
template <class V, class M>
inline void select_row(V* out, const M* mask, V a, std::size_t n, bool stream) {
  static_assert(sizeof(M) == 1, "token masks are one byte per token (uint8 or bool)");
  const auto* m = reinterpret_cast<const std::uint8_t*>(mask);
  std::size_t t = 0;
#if defined(__SSE2__)
  if constexpr (std::is_same_v<V, float>)
    t = stream ? select_body<true>(out, m, a, n) : select_body<false>(out, m, a, n);
#else
  (void)stream;
#endif
  for (; t < n; ++t) out[t] = m[t] ? a : V(0);
}

#if defined(__SSE2__)
/// The aligned body of fill_row for float: each 4-lane store is (t + lane < len) ? a : 0, so a
/// row is one stream of whole-line stores; two fills meeting mid-line would mix plain and
/// streaming stores in one cache line, which costs a read of the line. Returns tokens written.
template <bool Stream>
inline std::size_t fill_row_body(float* out, float a, std::size_t len, std::size_t n) {
  std::size_t t = align_head(out, n, [&](std::size_t u) { out[u] = u < len ? a : 0.0f; });
  const __m128 va = _mm_set1_ps(a);
  const __m128i lanes = _mm_setr_epi32(0, 1, 2, 3);
  const __m128i vlen = _mm_set1_epi32(static_cast<int>(len));
  for (; t + 16 <= n; t += 16)
    for (int q = 0; q < 4; ++q) {
      const __m128i idx = _mm_add_epi32(_mm_set1_epi32(static_cast<int>(t) + 4 * q), lanes);
      store4<Stream>(out + t + 4 * q,
                     _mm_and_ps(_mm_castsi128_ps(_mm_cmplt_epi32(idx, vlen)), va));
    }
  return t;
}
#endif

/// out[t] = t < len ? a : 0 for t < n (a right-padded row).
template <class V>
inline void fill_row(V* out, V a, std::size_t len, std::size_t n, bool stream) {
  std::size_t t = 0;
#if defined(__SSE2__)
  if constexpr (std::is_same_v<V, float>)
    if (n < (std::size_t{1} << 30))  // lane indices as int32
      t = stream ? fill_row_body<true>(out, a, len, n) : fill_row_body<false>(out, a, len, n);
#else
  (void)stream;
#endif
  for (; t < n; ++t) out[t] = t < len ? a : V(0);
}

}  // namespace hadw::detail
