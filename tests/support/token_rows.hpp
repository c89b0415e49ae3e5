// Seeded [B, L] token inputs for the token-level estimator tests (CPU and CUDA): values, and
// masks with the shapes trainers produce: leading zeros (left padding), trailing zeros (right
// padding), interior holes (tool observations), a fully masked row, a fully valid row.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace test_support {

template <class T>
std::vector<T> token_values(std::int64_t B, std::int64_t L, std::uint64_t seed, double lo = -1.0,
                            double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> x(static_cast<std::size_t>(B * L));
  for (auto& v : x) v = static_cast<T>(u(rng));
  return x;
}

inline std::vector<std::uint8_t> token_mask(std::int64_t B, std::int64_t L, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> m(static_cast<std::size_t>(B * L), 0);
  for (std::int64_t i = 0; i < B; ++i) {
    std::uint8_t* row = m.data() + i * L;
    if (i % 7 == 3) continue;  // a fully masked row
    if (i % 7 == 5) {          // a fully valid row
      for (std::int64_t t = 0; t < L; ++t) row[t] = 1;
      continue;
    }
    const auto lead = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(L / 3 + 1));
    const auto trail = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(L / 3 + 1));
    for (std::int64_t t = lead; t < L - trail; ++t) row[t] = rng() % 5 != 0;  // interior holes
  }
  return m;
}

}  // namespace test_support
