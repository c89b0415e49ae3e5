// Overlapping caller buffers. The kernels read an input element before they write the output
// element at the same index, so an output that is exactly an input (in place: the same first
// byte, the same extent) is safe; any other overlap would read values the call has already
// overwritten (rewards = buf[0:8], advantages = buf[1:9] gave wrong advantages), and is refused.
#pragma once

#include <hadw/error.hpp>

#include <cstdint>
#include <span>

namespace hadw::detail {

/// The bytes [first, last) a span covers, as integers: `<` on pointers into different arrays is
/// unspecified, on their std::uintptr_t values it is an ordinary integer comparison (host and
/// CUDA device pointers share one address space).
struct byte_range {
  std::uintptr_t first = 0, last = 0;
};
template <class T>
[[nodiscard]] byte_range bytes_of(std::span<T> s) {
  const auto first = reinterpret_cast<std::uintptr_t>(s.data());
  return {first, first + s.size_bytes()};
}

/// Whether two ranges share a byte (empty ranges share none).
[[nodiscard]] inline bool overlapping(byte_range a, byte_range b) {
  return a.first < a.last && b.first < b.last && a.first < b.last && b.first < a.last;
}
[[nodiscard]] inline bool same_bytes(byte_range a, byte_range b) {
  return a.first == b.first && a.last == b.last;
}

/// An output that is exactly the input (in place) or shares no byte with it.
template <class Out, class In>
void require_in_place_or_disjoint(std::span<Out> out, const char* out_name, std::span<In> in,
                                  const char* in_name) {
  const byte_range o = bytes_of(out), i = bytes_of(in);
  require(!overlapping(o, i) || same_bytes(o, i), out_name, " and ", in_name,
          " overlap in memory without being the same buffer; pass the same span for in-place "
          "use (",
          out_name, " = ", in_name, ", same element type), or buffers that do not overlap");
}

/// An output that shares no byte with another buffer of the call.
template <class Out, class Other>
void require_disjoint(std::span<Out> out, const char* out_name, std::span<Other> other,
                      const char* other_name) {
  require(!overlapping(bytes_of(out), bytes_of(other)), out_name, " and ", other_name,
          " overlap in memory; ", out_name, " must not share memory with ", other_name);
}

}  // namespace hadw::detail
