// The rewards as every kernel reads them: response_view (mask, lengths, permutation, NaN policy)
// and dense_view (none of them), plain pointers so the CPU loops and CUDA kernels share them.
#pragma once

#include <hadw/config.hpp>

#include <cmath>
#include <concepts>
#include <cstdint>

namespace hadw {

/// What a NaN reward means.
enum class nan_policy : std::uint8_t {
  reject,      ///< a NaN reward is an error (default: a silent NaN poisons a whole batch)
  unscorable,  ///< a NaN reward marks a response the verifier could not score: it is excluded from
               ///< its group's statistics and gets advantage 0, as if masked (TRL's behaviour)
};

/// The largest reward magnitude the estimators accept. Verifier rewards are O(1)-O(100); one past
/// 1e15 is a bug upstream (uninitialised memory, a token count in place of a score). Bounding it
/// keeps every sum, square and advantage the estimators form finite in double and in float
/// (|A| <= 4e15 for the unit and std scales, <= N * 2e21 for GPG with f_norm >= 1e-6): without
/// the bound, finite float rewards near FLT_MAX gave +-Inf advantages (found by fuzzing).
inline constexpr double max_abs_reward = 1e15;

/// Whether a reward that is not NaN is one the estimators accept: |r| <= max_abs_reward (so
/// +-Inf is not). One definition for the CPU scan and the CUDA kernels.
[[nodiscard]] HADW_HOST_DEVICE inline bool reward_in_domain(double r) {
  return std::fabs(r) <= max_abs_reward;
}

/// A flat per-response input as the kernels read it: rewards, optional mask, optional per-response
/// lengths (token counts), optional group-order -> caller-order permutation. Plain pointers so that
/// the same reader serves the CPU loops and the CUDA kernels.
template <class T>
struct response_view {
  const T* rewards = nullptr;
  const std::uint8_t* mask = nullptr;      ///< nullptr: every response valid
  const std::int64_t* lengths = nullptr;   ///< nullptr: every response weighs 1
  const std::int64_t* permutation = nullptr;  ///< nullptr: group order == caller order
  bool skip_nan = false;                   ///< nan_policy::unscorable

  /// Caller index of group-order position j.
  HADW_HOST_DEVICE std::int64_t index(std::int64_t j) const {
    return permutation ? permutation[j] : j;
  }
  /// Whether the response at caller index i enters the statistics.
  HADW_HOST_DEVICE bool valid(std::int64_t i) const {
    if (mask && mask[i] == 0) return false;
    return !(skip_nan && std::isnan(static_cast<double>(rewards[i])));
  }
  HADW_HOST_DEVICE double reward(std::int64_t i) const { return static_cast<double>(rewards[i]); }
  HADW_HOST_DEVICE double weight(std::int64_t i) const {
    return lengths ? static_cast<double>(lengths[i]) : 1.0;
  }
};

/// A response_view whose every optional input is absent: no mask, no lengths, no permutation,
/// NaN rejected upstream. The CPU kernels read through it when the caller passed none of them,
/// so that the checks of response_view vanish at compile time; the formulas read through it are
/// the same ones (compute_group_stats below), so the results are bit-identical.
template <class T>
struct dense_view {
  const T* rewards = nullptr;
  HADW_HOST_DEVICE static constexpr std::int64_t index(std::int64_t j) { return j; }
  HADW_HOST_DEVICE static constexpr bool valid(std::int64_t) { return true; }
  HADW_HOST_DEVICE double reward(std::int64_t i) const { return static_cast<double>(rewards[i]); }
  HADW_HOST_DEVICE static constexpr double weight(std::int64_t) { return 1.0; }
};

/// What compute_group_stats reads: response_view<T> or dense_view<T>.
template <class V>
concept response_reader = requires(const V& v, std::int64_t j) {
  { v.index(j) } -> std::same_as<std::int64_t>;
  { v.valid(j) } -> std::same_as<bool>;
  { v.reward(j) } -> std::same_as<double>;
  { v.weight(j) } -> std::same_as<double>;
};

}  // namespace hadw
