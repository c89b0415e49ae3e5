// A SIMD register of doubles (GCC / Clang vector extensions) for the CPU kernels' dense path:
// one group per lane in the lockstep, consecutive responses of a group in the packed division.
// Every operation on a pack is the IEEE operation on each lane (addpd, mulpd, divpd, cvtpd2ps
// are addsd, mulsd, divsd, cvtsd2ss per lane), so a lane's bits are those of the same scalar
// code; selects are bitwise, so nothing is speculated that the scalar code would not compute.
// Host only (nvcc rejects vector types in device code; the CUDA backend steps doubles).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace hadw::detail {

/// Lanes per pack: the widest register the translation unit is compiled for. Without an -m
/// flag that is SSE2 (2 doubles, the x86-64 baseline); -mavx / -march=x86-64-v3 give 4 and
/// -mavx512f / -march=x86-64-v4 give 8. The width changes the speed only: each lane computes
/// its own group's bits, so every width gives the same results.
#if defined(__AVX512F__)
inline constexpr int pack_width = 8;
#elif defined(__AVX__)
inline constexpr int pack_width = 4;
#else
inline constexpr int pack_width = 2;
#endif
using pack = double __attribute__((vector_size(pack_width * sizeof(double))));
using pack_float = float __attribute__((vector_size(pack_width * sizeof(float))));

/// Lane l of every pack read from p[l * stride] (the same position in consecutive groups).
template <class T>
[[nodiscard]] inline pack load_lanes(const T* p, std::int64_t stride) {
  return [&]<std::size_t... L>(std::index_sequence<L...>) {
    return pack{static_cast<double>(p[static_cast<std::int64_t>(L) * stride])...};
  }(std::make_index_sequence<pack_width>{});
}

/// pack_width consecutive values p[0 .. pack_width), converted to double.
template <class T>
[[nodiscard]] inline pack load_pack(const T* p) {
  if constexpr (std::is_same_v<T, double>) {
    pack v;
    std::memcpy(&v, p, sizeof v);
    return v;
  } else if constexpr (std::is_same_v<T, float>) {
    pack_float v;
    std::memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, pack);
  } else {
    return load_lanes(p, 1);
  }
}

/// Lane l of v rounded to U, the way static_cast<U> rounds a double, returned in double: what a
/// reader of the stored U sees (for float, one packed conversion each way).
template <class U>
[[nodiscard]] inline pack rounded_to(pack v) {
  if constexpr (std::is_same_v<U, double>) {
    return v;
  } else if constexpr (std::is_same_v<U, float>) {
    return __builtin_convertvector(__builtin_convertvector(v, pack_float), pack);
  } else {
    return [&]<std::size_t... L>(std::index_sequence<L...>) {
      return pack{static_cast<double>(static_cast<U>(v[L]))...};
    }(std::make_index_sequence<pack_width>{});
  }
}

/// The correctly rounded square root of each lane: std::sqrt's bits (IEEE), a register at a time.
[[nodiscard]] inline pack lane_sqrt(pack v) {
#if defined(__AVX512F__)
  return _mm512_mask_sqrt_pd(v, 0xFF, v);  // _mm512_sqrt_pd trips GCC 12 -Wmaybe-uninitialized
#elif defined(__AVX__)
  return _mm256_sqrt_pd(v);
#elif defined(__SSE2__)
  return _mm_sqrt_pd(v);
#else
  for (int l = 0; l < pack_width; ++l) v[l] = std::sqrt(v[l]);
  return v;
#endif
}

/// Whether every lane of a comparison result is true.
template <class M>
[[nodiscard]] inline bool all_lanes(M m) {
  for (int l = 0; l < pack_width; ++l)
    if (!m[l]) return false;
  return true;
}

/// Stores static_cast<U>(v[l]) at p[l * stride].
template <class U>
inline void store_lanes(U* p, std::int64_t stride, pack v) {
  for (int l = 0; l < pack_width; ++l) p[l * stride] = static_cast<U>(v[l]);
}

/// Stores static_cast<U>(v[l]) at p[l], l < pack_width.
template <class U>
inline void store_pack(U* p, pack v) {
  if constexpr (std::is_same_v<U, double>) {
    std::memcpy(p, &v, sizeof v);
  } else if constexpr (std::is_same_v<U, float>) {
    const pack_float f = __builtin_convertvector(v, pack_float);
    std::memcpy(p, &f, sizeof f);
  } else {
    store_lanes(p, 1, v);
  }
}

#if defined(__CUDACC__)
/// nvcc's front end cannot expand a parameter pack inside __builtin_shufflevector. CUDA
/// translation units never take the lockstep (cpu::lockstep_enabled), so a plain swap will do.
inline void transpose(pack (&rows)[pack_width]) {
  for (int i = 0; i < pack_width; ++i)
    for (int c = i + 1; c < pack_width; ++c) {
      const double t = rows[i][c];
      rows[i][c] = rows[c][i];
      rows[c][i] = t;
    }
}
#else
namespace pack_shuffle {
/// Level B of the block-swap transpose: a and b are rows i and i + B of a tile (i & B == 0);
/// `low` is the new row i (a's columns c & B == 0, then b's same-offset columns), `high` row i + B.
template <int B, std::size_t... C>
[[nodiscard]] inline pack low(pack a, pack b, std::index_sequence<C...>) {
  return __builtin_shufflevector(a, b, ((C & B) == 0 ? C : pack_width + C - B)...);
}
template <int B, std::size_t... C>
[[nodiscard]] inline pack high(pack a, pack b, std::index_sequence<C...>) {
  return __builtin_shufflevector(a, b, ((C & B) == 0 ? C + B : pack_width + C)...);
}
template <int B>
inline void level(pack (&rows)[pack_width]) {
  constexpr auto columns = std::make_index_sequence<pack_width>{};
  for (int i = 0; i < pack_width; ++i) {
    if (i & B) continue;
    const pack a = rows[i], b = rows[i + B];
    rows[i] = low<B>(a, b, columns);
    rows[i + B] = high<B>(a, b, columns);
  }
  if constexpr (B > 1) level<B / 2>(rows);
}
}  // namespace pack_shuffle

/// Transposes a pack_width x pack_width tile held as rows: log2(pack_width) levels of
/// two-register shuffles (one instruction each on AVX-512), no memory round trip. Moves bits
/// only.
inline void transpose(pack (&rows)[pack_width]) { pack_shuffle::level<pack_width / 2>(rows); }
#endif

}  // namespace hadw::detail
