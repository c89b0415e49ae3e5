// Two doubles in one SSE2 register (GCC / Clang vector extensions), for the CPU kernels' dense
// path: one group per lane in the lockstep, two responses of a group in the packed division.
// Every operation on a pack is the IEEE operation on each lane (addpd, mulpd, divpd, cvtpd2ps
// are addsd, mulsd, divsd, cvtsd2ss per lane), so a lane's bits are those of the same scalar
// code; selects are bitwise, so nothing is speculated that the scalar code would not compute.
// Host only (nvcc rejects vector types in device code; the CUDA backend steps doubles).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace hadw::detail {

/// Lanes per pack: groups in the lockstep, consecutive responses in the packed division.
/// 16 bytes: SSE2, the x86-64 baseline, so no -m flag and no ABI warning.
inline constexpr int pack_width = 2;
using pack = double __attribute__((vector_size(pack_width * sizeof(double))));
using pack_float = float __attribute__((vector_size(pack_width * sizeof(float))));

/// Lane l of every pack read from p[l * stride] (the same position in consecutive groups).
template <class T>
[[nodiscard]] inline pack load_lanes(const T* p, std::int64_t stride) {
  return pack{static_cast<double>(p[0]), static_cast<double>(p[stride])};
}
template <class T>
inline void store_lanes(T* p, std::int64_t stride, pack v) {
  p[0] = static_cast<T>(v[0]);
  p[stride] = static_cast<T>(v[1]);
}

/// Stores static_cast<U>(v[l]) at p[l * stride] and returns those values back in double (what a
/// reader of the stored U sees): for float, one packed conversion instead of one per lane.
template <class U>
inline pack store_rounded(U* p, std::int64_t stride, pack v) {
  if constexpr (std::is_same_v<U, float>) {
    const pack_float f = __builtin_convertvector(v, pack_float);
    if (stride == 1) {
      std::memcpy(p, &f, sizeof f);
    } else {
      p[0] = f[0];
      p[stride] = f[1];
    }
    return __builtin_convertvector(f, pack);
  } else {  // double (the identity), or any other U
    store_lanes(p, stride, v);
    return pack{static_cast<double>(static_cast<U>(v[0])),
                static_cast<double>(static_cast<U>(v[1]))};
  }
}

}  // namespace hadw::detail
