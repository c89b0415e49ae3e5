// ReMax's formula and its per-row token scan, written once as HADW_HOST_DEVICE functions: the
// CPU backend loops over rows and the CUDA kernel (one thread per row) calls the same code
// (Li et al. 2023, "ReMax", arXiv:2310.10505, Algorithm 1: A = r(x, y) - r(x, y_greedy); token
// level as verl 0.9.1's compute_remax_outcome_advantage). docs/math.md §5.
#pragma once

#include <hadw/config.hpp>
#include <hadw/error.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace hadw {

/// ReMax's one formula: the return G minus the prompt's greedy baseline b (per response: G = r).
[[nodiscard]] HADW_HOST_DEVICE inline double remax_advantage(double ret, double baseline) {
  return ret - baseline;
}

}  // namespace hadw

namespace hadw::detail {

/// One row of remax_tokens, as verl: returns_t = sum_{t' >= t} r_t' m_t' (reverse scan, in
/// double, rounded once per element), advantages_t = returns_t - b m_t. The mask multiplies
/// (0/1 bytes or a float weight), so a masked token before a valid one keeps its return.
template <class T, class M, class U>
HADW_HOST_DEVICE void remax_row(const T* rewards, const M* mask, std::int64_t L, double baseline,
                                U* advantages, U* returns) {
  double running = 0.0;
  for (std::int64_t t = L - 1; t >= 0; --t) {
    const double m = static_cast<double>(mask[t]);
    running += static_cast<double>(rewards[t]) * m;
    returns[t] = static_cast<U>(running);
    advantages[t] = static_cast<U>(remax_advantage(running, baseline * m));
  }
}

/// The error for element i of input `name` when it is not finite (CPU and CUDA checks alike).
inline void require_finite_at(double v, const char* name, std::size_t i) {
  require(std::isfinite(v), name, "[", i, "] finite required, got ", v);
}

template <class T>
void require_finite_values(std::span<const T> v, const char* name) {
  for (std::size_t i = 0; i < v.size(); ++i) require_finite_at(static_cast<double>(v[i]), name, i);
}

}  // namespace hadw::detail
