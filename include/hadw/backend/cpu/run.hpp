// Runs a CPU step over a batch: fixed blocks of groups (in parallel when worth it), the lockstep
// where it applies, the token rows alone for broadcast_to_tokens.
//
// Numeric contract of the batch-level sums (y_t, step_stats): each group is summed
// sequentially, the groups of a block (detail::block_groups) in order, the blocks in order. That
// association is fixed by the data alone, so the result is the same for any OpenMP thread count.
#pragma once

#include <hadw/backend/cpu/group.hpp>
#include <hadw/backend/cpu/lockstep.hpp>
#include <hadw/backend/cpu/readers.hpp>
#include <hadw/backend/cpu/rows.hpp>
#include <hadw/detail/blocks.hpp>
#include <hadw/detail/row_store.hpp>
#include <hadw/layout.hpp>

#include <cstdint>

namespace hadw::detail::cpu {

/// Runs the step over every group in fixed blocks (in parallel when worth it). Without token
/// rows, a uniform layout read densely goes through step_lanes.
template <class Est, class W, class Reader, class U, class Rows>
[[nodiscard]] step_partial run_step(const group_layout& layout, const Est& est,
                                    const batch_stats& batch, const W& w, const Reader& in,
                                    U* adv, const Rows& rows, std::int64_t tokens) {
  constexpr bool lockstep =
      lockstep_enabled && is_dense_view<Reader> && !Rows::active && !step_needs_extrema<Est>() &&
      !step_needs_median<Est>();  // the lockstep computes neither
  const bool parallel = worth_parallel(layout.num_responses(), tokens);
  return reduce_blocks<step_partial>(
      layout.num_groups(), parallel, [&](std::int64_t g0, std::int64_t g1, step_partial& part) {
        phi_memo memo;
        std::int64_t k = g0;
        if constexpr (lockstep)
          if (layout.is_uniform() && lockstep_fits(layout.uniform_size()))
            for (; k + lanes <= g1; k += lanes)
              step_lanes(est, batch, w, in, k, layout.uniform_size(), adv, memo, part);
        for (; k < g1; ++k)
          step_group(est, batch, w, in, layout.begin(k), layout.end(k), adv, rows, memo, part);
        if (rows.stream) streaming_fence();
      });
}

/// Token rows alone (hadw::broadcast_to_tokens): rows in chunks, no reduction.
template <class T, class Rows>
void run_rows(const T* adv, std::int64_t n, std::int64_t tokens, const Rows& rows) {
  for_chunks(n, 64, worth_parallel(n, tokens), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t i = r0; i < r1; ++i) rows(i, adv[i]);
    if (rows.stream) streaming_fence();
  });
}

}  // namespace hadw::detail::cpu
