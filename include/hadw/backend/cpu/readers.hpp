// The CPU backend's compile-time views of the runtime options: the reward range [0, 1] and the
// dense reader as types (their checks vanish from the hot loops), and when work goes parallel.
#pragma once

#include <hadw/config.hpp>
#include <hadw/detail/blocks.hpp>
#include <hadw/stats/readers.hpp>
#include <hadw/weighting/phi.hpp>

#include <cstdint>

namespace hadw::detail::cpu {

// ---------------------------------------------------------------------------------------------
// Compile-time views of the runtime options

/// reward_range{0, 1}, the default: there normalise(r) = (r - 0) / (1 - 0) is r exactly for every
/// double, so the kernels use this type and skip a division per reward without changing a bit.
struct unit_range {
  template <class V>  // double, or a pack of groups
  [[nodiscard]] HADW_HOST_DEVICE static constexpr V normalise(V r) {
    return r;
  }
};

[[nodiscard]] constexpr double range_low(const unit_range&) { return 0.0; }
[[nodiscard]] constexpr double range_high(const unit_range&) { return 1.0; }
[[nodiscard]] constexpr double range_low(const reward_range& r) { return r.low; }
[[nodiscard]] constexpr double range_high(const reward_range& r) { return r.high; }

template <class F>
decltype(auto) with_range(const reward_range& range, F&& f) {
  if (range.low == 0.0 && range.high == 1.0) return f(unit_range{});
  return f(range);
}

/// Runs f with a dense_view when the caller gave no mask, lengths, permutation or NaN policy, so
/// that those checks are compiled out of the hot loops; otherwise with the response_view.
template <class T, class F>
decltype(auto) with_reader(const response_view<T>& in, F&& f) {
  if (!in.mask && !in.lengths && !in.permutation && !in.skip_nan) return f(dense_view<T>{in.rewards});
  return f(in);
}

template <class R>
inline constexpr bool is_dense_view = false;
template <class T>
inline constexpr bool is_dense_view<dense_view<T>> = true;

template <class T>
[[nodiscard]] bool masked_out(const response_view<T>& in, std::int64_t i) {
  return in.mask && in.mask[i] == 0;
}
template <class T>
[[nodiscard]] constexpr bool masked_out(const dense_view<T>&, std::int64_t) {
  return false;
}
template <class T>
[[nodiscard]] bool skips_nan(const response_view<T>& in) {
  return in.skip_nan;
}
template <class T>
[[nodiscard]] constexpr bool skips_nan(const dense_view<T>&) {
  return false;
}

/// Parallel only where the work pays for a fork/join.
[[nodiscard]] inline bool worth_parallel(std::int64_t responses, std::int64_t tokens = 0) {
  return responses + tokens >= parallel_min_work;
}


// The dense lockstep (detail/tile.hpp): on a uniform layout, `lanes` groups at a time, one
// group per SIMD lane. Each group's sums are a chain of dependent additions in a fixed order
// (the numeric contract); one group at a time, the core waits out the adder's latency on every
// response and uses one SIMD lane. In lockstep every group keeps its own order, so the bits
// are those of the one-group walk, with independent chains and full SIMD registers.
/// nvcc rejects vector types in HADW_HOST_DEVICE functions (group_accumulator<pack>), so a
/// translation unit compiled by it walks one group at a time: the same bits, more slowly.
#if defined(__CUDACC__)
inline constexpr bool lockstep_enabled = false;
#else
inline constexpr bool lockstep_enabled = true;
#endif

}  // namespace hadw::detail::cpu
