// Fixed blocks of groups: how the CPU kernels split a batch across threads and still give
// results that do not depend on the thread count.
#pragma once

#include <hadw/config.hpp>

#include <algorithm>
#include <cstdint>

#if HADW_HAS_OPENMP
#include <omp.h>
#endif

namespace hadw::detail {

/// Groups per block. A reduction sums each block sequentially, then the block partials in block
/// order: the association of every floating-point sum is fixed by the data and this constant, so
/// 1, 2 or 64 threads give bit-identical results. Part of the numeric contract: changing it
/// changes the last bits of batch-level statistics.
inline constexpr std::int64_t block_groups = 64;
/// Blocks whose partials are held at once (on the stack: no allocation per call).
inline constexpr std::int64_t blocks_per_round = 64;
/// Below this many element operations (responses + tokens) a kernel stays on the calling
/// thread: an OpenMP fork/join costs microseconds, more than the whole response-level step.
inline constexpr std::int64_t parallel_min_work = std::int64_t{1} << 20;

/// Runs fn(first_group, end_group, partial) over consecutive blocks of block_groups groups, each
/// into a fresh Partial, and merges the partials into the result in block order with
/// Partial::merge. fn must not throw (kernels record failures in their partial). With OpenMP
/// (HADW_ENABLE_OPENMP) and `parallel`, the blocks of a round run on the team, dynamically
/// scheduled; the merge order is the same as on one thread.
template <class Partial, class Fn>
[[nodiscard]] Partial reduce_blocks(std::int64_t num_groups, bool parallel, Fn&& fn) {
  const std::int64_t num_blocks = (num_groups + block_groups - 1) / block_groups;
  Partial total{};
#if HADW_HAS_OPENMP
  if (parallel && num_blocks > 1 && omp_get_max_threads() > 1 && !omp_in_parallel()) {
    Partial parts[blocks_per_round];
    for (std::int64_t first = 0; first < num_blocks; first += blocks_per_round) {
      const std::int64_t count = std::min(blocks_per_round, num_blocks - first);
#pragma omp parallel for schedule(dynamic, 1)
      for (std::int64_t b = 0; b < count; ++b) {
        const std::int64_t g0 = (first + b) * block_groups;
        parts[b] = Partial{};
        fn(g0, std::min(num_groups, g0 + block_groups), parts[b]);
      }
      for (std::int64_t b = 0; b < count; ++b) total.merge(parts[b]);
    }
    return total;
  }
#else
  (void)parallel;
#endif
  for (std::int64_t b = 0; b < num_blocks; ++b) {
    Partial part{};
    fn(b * block_groups, std::min(num_groups, (b + 1) * block_groups), part);
    total.merge(part);
  }
  return total;
}

/// Runs fn(first, end) over [0, n) in chunks of `chunk`, in parallel when asked (no reduction,
/// so any schedule gives the same result).
template <class Fn>
void for_chunks(std::int64_t n, std::int64_t chunk, bool parallel, Fn&& fn) {
  const std::int64_t num_chunks = (n + chunk - 1) / chunk;
#if HADW_HAS_OPENMP
  if (parallel && num_chunks > 1 && omp_get_max_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t c = 0; c < num_chunks; ++c) fn(c * chunk, std::min(n, (c + 1) * chunk));
    return;
  }
#else
  (void)parallel;
#endif
  for (std::int64_t c = 0; c < num_chunks; ++c) fn(c * chunk, std::min(n, (c + 1) * chunk));
}

}  // namespace hadw::detail
