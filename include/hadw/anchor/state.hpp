// hadw::state_writer / hadw::state_reader: the byte encoding of a belief's saved state (the
// payload of difficulty_anchor::save()), public so that a user-written belief_policy can save and
// load itself without touching hadw::detail.
//
// Encoding: integers little-endian, doubles as their IEEE-754 bit patterns (restored bit-exactly,
// NaN payloads and -0.0 included), a flag as one byte 0/1, a window as a u64 count followed by
// that many doubles. Every read is bounds-checked: a short buffer throws hadw::error naming the
// field that was being read ("anchor state: buffer truncated at byte 40 (44 bytes, 8 more needed)
// reading belief").
#pragma once

#include <hadw/error.hpp>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace hadw {

/// Appends fields to a byte buffer (see the encoding above).
class state_writer {
public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { uint(v, 2); }
  void u32(std::uint32_t v) { uint(v, 4); }
  void u64(std::uint64_t v) { uint(v, 8); }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  /// IEEE-754 bit pattern: restores bit-exactly, NaN payloads and -0.0 included.
  void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  /// One byte, 1 or 0 (read back with state_reader::flag).
  void flag(bool v) { u8(v ? 1 : 0); }
  /// u64 count, then the values (read back with state_reader::unit_window / f64_window).
  void f64_window(std::span<const double> values) {
    u64(values.size());
    for (double v : values) f64(v);
  }
  /// Appends bytes as they are (no length prefix).
  void raw(std::span<const std::uint8_t> bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }

  /// What was written so far.
  [[nodiscard]] std::span<const std::uint8_t> bytes() const { return out_; }
  [[nodiscard]] std::size_t size() const { return out_.size(); }
  /// Moves the buffer out; the writer is empty afterwards.
  [[nodiscard]] std::vector<std::uint8_t> release() { return std::exchange(out_, {}); }

private:
  void uint(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  std::vector<std::uint8_t> out_;
};

/// Reads fields back in the order they were written. Every read checks that the buffer holds
/// enough bytes and throws hadw::error otherwise; `what` (optional) names the field in that
/// message. The checked reads (flag, f64_unit, unit_window, f64_window) validate as well, so that
/// a loaded belief is always a valid one.
class state_reader {
public:
  explicit state_reader(std::span<const std::uint8_t> in) : in_(in) {}

  std::uint8_t u8(std::string_view what = {}) { return static_cast<std::uint8_t>(uint(1, what)); }
  std::uint16_t u16(std::string_view what = {}) { return static_cast<std::uint16_t>(uint(2, what)); }
  std::uint32_t u32(std::string_view what = {}) { return static_cast<std::uint32_t>(uint(4, what)); }
  std::uint64_t u64(std::string_view what = {}) { return uint(8, what); }
  std::int64_t i64(std::string_view what = {}) { return static_cast<std::int64_t>(u64(what)); }
  double f64(std::string_view what = {}) { return std::bit_cast<double>(u64(what)); }

  /// A byte that must be 0 or 1: "anchor state: <what> flag 2 is not 0 or 1".
  bool flag(std::string_view what) {
    const std::uint8_t v = u8(what);
    detail::require(v <= 1, "anchor state: ", what, " flag ", +v, " is not 0 or 1");
    return v == 1;
  }
  /// A double that must be finite and in [0, 1] (a belief, a rate, an accuracy):
  /// "anchor state: <what> in [0, 1] required, got 1.5".
  double f64_unit(std::string_view what) {
    const double v = f64(what);
    check_unit(v, what);
    return v;
  }
  /// A window written by state_writer::f64_window, holding at most `capacity` values, each
  /// finite and in [0, 1]: "anchor state: <what> holds 12 values, more than its window 10",
  /// "anchor state: <what> value in [0, 1] required, got -0.5".
  std::vector<double> unit_window(std::uint64_t capacity, std::string_view what) {
    std::vector<double> window = f64_window(capacity, what);
    for (double v : window) check_unit(v, what, " value");
    return window;
  }
  /// As unit_window, without the range check of the values.
  std::vector<double> f64_window(std::uint64_t capacity, std::string_view what) {
    const std::uint64_t n = u64(what);
    detail::require(n <= capacity, "anchor state: ", what, " holds ", n,
                    " values, more than its window ", capacity);
    // Refuse a count the buffer cannot hold before allocating for it.
    if (n > remaining() / 8) [[unlikely]]
      throw error(detail::concat("anchor state: buffer truncated at byte ", pos_, " (", in_.size(),
                                 " bytes, ", n, " values of 8 bytes more needed) reading ", what));
    std::vector<double> window(static_cast<std::size_t>(n));
    for (double& v : window) v = f64(what);
    return window;
  }

  /// Bytes read so far.
  [[nodiscard]] std::size_t position() const { return pos_; }
  /// Bytes left to read.
  [[nodiscard]] std::size_t remaining() const { return in_.size() - pos_; }

private:
  template <class... Suffix>
  static void check_unit(double v, std::string_view what, Suffix... suffix) {
    detail::require(std::isfinite(v) && v >= 0.0 && v <= 1.0, "anchor state: ", what, suffix...,
                    " in [0, 1] required, got ", v);
  }
  std::uint64_t uint(int n, std::string_view what) {
    if (remaining() < static_cast<std::size_t>(n)) [[unlikely]]
      throw error(detail::concat("anchor state: buffer truncated at byte ", pos_, " (", in_.size(),
                                 " bytes, ", n, " more needed)", what.empty() ? "" : " reading ",
                                 what));
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(in_[pos_++]) << (8 * i);
    return v;
  }
  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
};

}  // namespace hadw
