// Little-endian byte writer/reader and FNV-1a checksum for the anchor's saved state.
#pragma once

#include <hadw/error.hpp>

#include <bit>
#include <cstdint>
#include <span>
#include <vector>

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

class byte_writer {
public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { uint(v, 2); }
  void u32(std::uint32_t v) { uint(v, 4); }
  void u64(std::uint64_t v) { uint(v, 8); }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  /// IEEE-754 bit pattern: restores bit-exactly, NaN payloads and -0.0 included.
  void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  [[nodiscard]] std::vector<std::uint8_t>& bytes() { return out_; }

private:
  void uint(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  std::vector<std::uint8_t> out_;
};

class byte_reader {
public:
  explicit byte_reader(std::span<const std::uint8_t> in) : in_(in) {}
  std::uint8_t u8() { return static_cast<std::uint8_t>(uint(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(uint(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(uint(4)); }
  std::uint64_t u64() { return uint(8); }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  double f64() { return std::bit_cast<double>(u64()); }
  [[nodiscard]] std::size_t position() const { return pos_; }
  [[nodiscard]] std::size_t remaining() const { return in_.size() - pos_; }

private:
  std::uint64_t uint(int n) {
    require(remaining() >= static_cast<std::size_t>(n), "anchor state: buffer truncated at byte ",
            pos_, " (", in_.size(), " bytes, ", n, " more needed)");
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(in_[pos_++]) << (8 * i);
    return v;
  }
  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
};

}  // namespace hadw::detail
