// What every hadw fuzz harness shares: a reader that turns the fuzzer's bytes into values (past
// the end it yields zeros, so every input is a complete test case), and FUZZ_CHECK, which aborts
// with a message so that libFuzzer records the input as a crash.
#pragma once

#include <hadw/error.hpp>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

namespace hadw_fuzz {

class input {
public:
  input(const std::uint8_t* data, std::size_t size) : bytes_(data, size) {}

  [[nodiscard]] std::uint8_t u8() { return pos_ < bytes_.size() ? bytes_[pos_++] : 0; }
  [[nodiscard]] std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(u8()) << (8 * i);
    return v;
  }
  [[nodiscard]] std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  [[nodiscard]] bool flag() { return (u8() & 1) != 0; }
  [[nodiscard]] double raw_f64() { return std::bit_cast<double>(u64()); }
  [[nodiscard]] float raw_f32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(u8()) << (8 * i);
    return std::bit_cast<float>(v);
  }
  /// A value a trainer could plausibly pass most of the time, and every float bit pattern
  /// (NaN payloads, infinities, subnormals, -0.0, huge) some of the time.
  template <class T>
  [[nodiscard]] T number() {
    const std::uint8_t tag = u8();
    if (tag < 96) return static_cast<T>(tag % 5) / T(4);  // 0, .25, .5, .75, 1
    if (tag < 160) return static_cast<T>(tag & 1);        // binary verifier
    if (tag < 176) return static_cast<T>(static_cast<int>(tag % 7) - 3);
    if (tag < 240) {
      if constexpr (sizeof(T) == 4) return std::bit_cast<T>(static_cast<std::uint32_t>(u64()));
      else return std::bit_cast<T>(u64());
    }
    constexpr T specials[] = {T(0) / T(1) * T(-1),  // -0.0
                              std::numeric_limits<T>::quiet_NaN(),
                              std::numeric_limits<T>::infinity(),
                              -std::numeric_limits<T>::infinity(),
                              std::numeric_limits<T>::max(),
                              -std::numeric_limits<T>::max(),
                              std::numeric_limits<T>::denorm_min(),
                              std::numeric_limits<T>::min(),
                              std::numeric_limits<T>::epsilon(),
                              T(1e-30),
                              T(1e30),
                              T(0.1),
                              T(-1),
                              T(2),
                              T(0.5),
                              T(1)};
    return specials[tag % 16];
  }
  [[nodiscard]] bool empty() const { return pos_ >= bytes_.size(); }
  [[nodiscard]] std::span<const std::uint8_t> rest() const { return bytes_.subspan(pos_); }

private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
};

[[noreturn]] inline void fail(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", cond, file, line);
  std::abort();
}

/// Bit-level equality of two buffers (NaN == NaN with the same payload, -0.0 != 0.0).
template <class T>
[[nodiscard]] bool same_bits(std::span<const T> a, std::span<const T> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size_bytes()) == 0);
}

}  // namespace hadw_fuzz

#define FUZZ_CHECK(cond) ((cond) ? (void)0 : ::hadw_fuzz::fail(#cond, __FILE__, __LINE__))
