// Shared inputs of the benchmarks: seeded, so every run measures the same data.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace hadw_bench {

/// 0/1 verifier rewards, each correct with probability 0.4.
inline std::vector<float> binary_rewards(std::int64_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::bernoulli_distribution correct(0.4);
  std::vector<float> r(static_cast<std::size_t>(n));
  for (auto& x : r) x = correct(gen) ? 1.0f : 0.0f;
  return r;
}

}  // namespace hadw_bench
