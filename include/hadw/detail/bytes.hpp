// FNV-1a checksum of the anchor's saved state. The byte writer/reader of that state are public:
// hadw::state_writer / hadw::state_reader (hadw/anchor/state.hpp).
#pragma once

#include <cstdint>
#include <span>

namespace hadw::detail {

/// FNV-1a, 64-bit: detects any single flipped byte and truncation-with-stale-tail; not a MAC.
[[nodiscard]] inline std::uint64_t fnv1a64(std::span<const std::uint8_t> bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace hadw::detail
