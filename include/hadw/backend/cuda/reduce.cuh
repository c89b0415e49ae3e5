// Deterministic reductions for the CUDA backend: what a launch sums over the batch, and the
// fixed-order block and grid reductions that sum it (integer atomics only to elect the last
// block; no float atomics, so every run gives the same bits).
#pragma once

#include <hadw/stats/batch.hpp>
#include <hadw/stats/group.hpp>
#include <hadw/step/diagnostics.hpp>
#include <hadw/step/observation.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace hadw::detail::cuda {

/// What the checking pass sums over the batch: the estimator's batch statistics and y_t's
/// counts. Kept small: it lives in registers of every thread of the reduction.
struct scan_totals {
  batch_stats batch;  ///< the estimator's batch statistics (estimate.hpp's compute_batch_stats)
  observation seen;   ///< reweight: y_t's counts and sums (the observation every backend makes)

  [[nodiscard]] HADW_HOST_DEVICE static scan_totals empty() { return {batch_stats{}, observation{}}; }
  /// Adds `o`. The batch moments merge with batch_stats::merge_raw (Chan et al.'s pairwise
  /// update), the observation with its own merge; exact in the counts, rounding-order dependent
  /// only in the sums, whose order the callers fix.
  HADW_HOST_DEVICE void merge(const scan_totals& o) {
    group_stats g;
    g.count = o.batch.count;
    g.mean = o.batch.mean;
    g.m2 = o.batch.m2;
    batch.merge_raw(g);
    batch.nonzero += o.batch.nonzero;
    batch.centred_weight += o.batch.centred_weight;
    batch.centred_sum += o.batch.centred_sum;
    batch.centred_sq += o.batch.centred_sq;
    seen.merge(o.seen);
  }
};
static_assert(std::is_trivially_copyable_v<scan_totals> && sizeof(scan_totals) % 8 == 0);

/// What the writing pass sums for step_stats over the valid responses (the CPU backend's struct).
using apply_totals = detail::step_totals;

/// Bytes of one per-block partial of either pass.
inline constexpr std::size_t partial_bytes = sizeof(scan_totals) > sizeof(apply_totals)
                                                 ? sizeof(scan_totals)
                                                 : sizeof(apply_totals);

/// What a call's kernels share in device memory, at the start of the layout's workspace. The
/// counters and status are cleared (one cudaMemsetAsync) at the start of every call.
struct workspace_header {
  std::uint32_t status;   ///< non-zero: some input failed a check; nothing may be written
  std::uint32_t done[2];  ///< blocks finished, per reducing kernel (elects the last block)
  std::uint32_t reserved;
  scan_totals scan;    ///< reduced by the checking pass
  apply_totals apply;  ///< reduced by the writing pass
};

#if defined(__CUDACC__)

inline constexpr int max_block_threads = 256;

/// `v` of lane (lane + delta), word by word (any trivially copyable T of whole 8-byte words).
template <class T>
__device__ T shfl_down(const T& v, int delta) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) % 8 == 0);
  T out;
  for (std::size_t w = 0; w < sizeof(T) / 8; ++w) {
    unsigned long long word;
    std::memcpy(&word, reinterpret_cast<const char*>(&v) + 8 * w, 8);
    word = __shfl_down_sync(0xffffffffu, word, delta);
    std::memcpy(reinterpret_cast<char*>(&out) + 8 * w, &word, 8);
  }
  return out;
}

/// Merges one value per thread; the result is valid in thread 0. Fixed order: a tree inside each
/// warp, then the warps in index order. blockDim.x must be a multiple of 32 and at most
/// max_block_threads; every thread of the block must call it.
template <class T>
__device__ T block_reduce(T v) {
  __shared__ alignas(16) unsigned char scratch[(max_block_threads / 32) * sizeof(T)];
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int d = 16; d > 0; d >>= 1) {
    const T other = shfl_down(v, d);
    if (lane + d < 32) v.merge(other);
  }
  if (lane == 0) std::memcpy(scratch + warp * sizeof(T), &v, sizeof(T));
  __syncthreads();
  if (threadIdx.x == 0)
    for (unsigned w = 1; w < blockDim.x / 32; ++w) {
      T other;
      std::memcpy(&other, scratch + w * sizeof(T), sizeof(T));
      v.merge(other);
    }
  __syncthreads();
  return v;
}

/// Loads a value another block wrote in this launch (from L2, bypassing the incoherent L1).
template <class T>
__device__ T load_global_cg(const T* p) {
  T out;
  const auto* words = reinterpret_cast<const unsigned long long*>(p);
  for (std::size_t w = 0; w < sizeof(T) / 8; ++w) {
    const unsigned long long word = __ldcg(words + w);
    std::memcpy(reinterpret_cast<char*>(&out) + 8 * w, &word, 8);
  }
  return out;
}

/// The grid's sum of one value per thread, written to *result by the last block to finish
/// (the threadFenceReduction pattern): each block writes its sum to partials[blockIdx.x]; the
/// last block merges the partials in a fixed order (thread t takes a contiguous chunk, then
/// block_reduce), so the result does not depend on which block finished last. `done` must be 0
/// at launch; the last block resets it. Every thread of every block must call it.
template <class T>
__device__ void grid_reduce(const T& mine, T* partials, T* result, std::uint32_t* done) {
  __shared__ bool last;
  const T block = block_reduce(mine);
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = block;
    __threadfence();
    last = atomicAdd(done, 1u) == gridDim.x - 1;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  const unsigned chunk = (gridDim.x + blockDim.x - 1) / blockDim.x;
  const unsigned first = threadIdx.x * chunk;
  const unsigned stop = first + chunk < gridDim.x ? first + chunk : gridDim.x;
  T acc = T::empty();
  for (unsigned b = first; b < stop; ++b) acc.merge(load_global_cg(partials + b));
  acc = block_reduce(acc);
  if (threadIdx.x == 0) {
    *result = acc;
    *done = 0;
  }
}

#endif  // __CUDACC__

}  // namespace hadw::detail::cuda
