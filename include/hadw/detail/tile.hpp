// The lockstep tile: the rewards (or advantages) of `lanes` consecutive groups of a uniform,
// dense batch, transposed so that one pack holds the same response position of pack_width
// groups. The CPU kernels step those groups in lockstep, one group per SIMD lane, each lane
// summing its own group in its own order (the numeric contract), and read every pass from the
// tile with plain aligned loads instead of a strided load per lane.
#pragma once

#include <hadw/detail/pack.hpp>

#include <cstdint>

namespace hadw::detail {

/// Packs stepped together: two independent chains of additions hide the adder's latency.
inline constexpr int lane_packs = 2;
/// Groups in one lockstep step.
inline constexpr std::int64_t lanes = lane_packs * pack_width;

/// Response positions x lanes, on the stack: 32 KiB, at most 4096 / lanes responses per group
/// (256 with AVX-512). Larger groups take the one-group path.
inline constexpr std::int64_t tile_doubles = 4096;

/// Whether groups of size G are stepped in lockstep. Size 1 never: the size-1 rules are the
/// one-group path's.
[[nodiscard]] constexpr bool lockstep_fits(std::int64_t G) {
  return G >= 2 && G * lanes <= tile_doubles;
}

struct lockstep_tile {
  alignas(64) pack cell[tile_doubles / pack_width];

  /// Response j of pack p's groups (groups p * pack_width + l, l < pack_width).
  [[nodiscard]] pack& at(std::int64_t j, int p) { return cell[j * lane_packs + p]; }

  /// Fills the tile from `lanes` consecutive groups of size G starting at `first` (converted to
  /// double): pack_width x pack_width blocks, each loaded row by row and transposed in
  /// registers; positions past the last whole block are gathered a lane at a time.
  template <class T>
  void load(const T* first, std::int64_t G) {
    for (int p = 0; p < lane_packs; ++p) {
      const T* base = first + p * pack_width * G;
      std::int64_t j = 0;
      for (; j + pack_width <= G; j += pack_width) {
        pack rows[pack_width];
        for (int l = 0; l < pack_width; ++l) rows[l] = load_pack(base + l * G + j);
        transpose(rows);
        for (int c = 0; c < pack_width; ++c) at(j + c, p) = rows[c];
      }
      for (; j < G; ++j) at(j, p) = load_lanes(base + j, G);
    }
  }

  /// The inverse of load: stores static_cast<U> of every cell back at its group's position.
  template <class U>
  void store(U* first, std::int64_t G) {
    for (int p = 0; p < lane_packs; ++p) {
      U* base = first + p * pack_width * G;
      std::int64_t j = 0;
      for (; j + pack_width <= G; j += pack_width) {
        pack rows[pack_width];
        for (int c = 0; c < pack_width; ++c) rows[c] = at(j + c, p);
        transpose(rows);
        for (int l = 0; l < pack_width; ++l) store_pack(base + l * G + j, rows[l]);
      }
      for (; j < G; ++j) store_lanes(base + j, G, at(j, p));
    }
  }
};

}  // namespace hadw::detail
