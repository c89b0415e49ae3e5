// The CUDA kernels of hadw: a checking pass and a writing pass over the groups, and the token
// broadcast. Every per-element formula is the shared HADW_HOST_DEVICE one (compute_group_stats,
// estimator<>::advantage, batch_stats, phi, history_difficulty, reward_range); these kernels only
// decide who reads what.
//
// Work assignment (DESIGN.md §2 "Backends"): a group of 4-64 responses is far too small for a
// block, so a *sub-warp* of `width` lanes (the power of two >= the largest group, at most 32)
// owns one group. The lanes load the group coalesced into shared memory (gathering through the
// permutation), then every lane runs compute_group_stats over the staged copy (shared-memory
// broadcast reads: the lanes stay converged and each holds the statistics), then each lane
// writes its own responses. The statistics are therefore those of the CPU backend bit for bit:
// the same function, the same order. Groups larger than stage_limit are read in place instead.
#pragma once

#include <hadw/backend/cuda/layout.cuh>
#include <hadw/backend/cuda/reduce.cuh>
#include <hadw/api/estimate.hpp>
#include <hadw/estimators/named.hpp>
#include <hadw/stats/group.hpp>
#include <hadw/weighting/phi.hpp>

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

namespace hadw::detail::cuda {

/// What a launch does (bit flags of the kernels' `Pass` parameter).
enum pass : unsigned {
  estimate_pass = 1,     ///< group-relative advantages (hadw::estimate)
  reweight_pass = 2,     ///< HA-DW weights and the anchor's observation (hadw::reweight)
  token_pass = 4,        ///< then broadcast the block's rows to tokens
  check_advantages = 8,  ///< the input advantages must be finite (reweight on its own)
};

/// The estimator slot of a reweight-only launch (never called).
using no_estimator = estimator<mean_baseline, unit_scale>;

/// Groups up to this size are staged in shared memory.
inline constexpr std::int64_t stage_limit = 256;

/// The launch shape of one kernel.
struct launch_shape {
  int threads = 128;
  int width = 1;             ///< lanes per group: a power of two, at most 32
  int groups_per_block = 1;  ///< at most threads / width
  bool staged = true;
  std::int64_t capacity = 0;  ///< staged responses per group (the largest group)
  unsigned blocks = 1;
  std::size_t shared_bytes = 0;
};

/// Everything a kernel reads, passed by value.
template <class Est, class T, class A, class M, class V>
struct kernel_args {
  layout_view layout;
  const T* rewards = nullptr;
  const std::uint8_t* mask = nullptr;
  const std::int64_t* lengths = nullptr;
  bool skip_nan = false;
  A* advantages = nullptr;  ///< estimate: output; reweight: in and out
  Est est{};
  bool weighted = false;  ///< lengths weight the batch statistics (est.uses_lengths)
  reward_range range{};
  double success_threshold = 0.5;
  double belief = 0.5;
  double lambda_scale = 1.0;
  bool warming_up = false;
  const M* token_mask = nullptr;
  V* token_advantages = nullptr;
  std::int64_t L = 0;
  workspace_header* ws = nullptr;
  void* partials = nullptr;  ///< the layout's per-block partial sums
  launch_shape shape{};
};

/// Shape for a layout: `tokens_per_row` > 0 sizes blocks for the token broadcast (about 32K
/// tokens each, so that the write stream is long and the grid still fills the GPU).
template <class T>
[[nodiscard]] inline launch_shape make_shape(const device_group_layout& layout, bool has_lengths,
                                             std::int64_t tokens_per_row) {
  launch_shape s;
  const std::int64_t g = std::max<std::int64_t>(1, layout.max_group_size());
  while (s.width < 32 && s.width < g) s.width *= 2;
  s.threads = tokens_per_row > 0 ? 256 : 128;
  s.groups_per_block = s.threads / s.width;
  if (tokens_per_row > 0) {
    const std::int64_t rows = (32768 + tokens_per_row - 1) / tokens_per_row;
    const std::int64_t avg =
        std::max<std::int64_t>(1, layout.num_responses() / layout.num_groups());
    s.groups_per_block =
        static_cast<int>(std::clamp<std::int64_t>((rows + avg - 1) / avg, 1, s.groups_per_block));
  }
  s.staged = g <= stage_limit;
  s.capacity = s.staged ? g : 0;
  s.shared_bytes = static_cast<std::size_t>(s.groups_per_block * s.capacity) *
                   (sizeof(T) + 1 + (has_lengths ? sizeof(std::int64_t) : 0));
  s.blocks =
      static_cast<unsigned>((layout.num_groups() + s.groups_per_block - 1) / s.groups_per_block);
  return s;
}

#if defined(__CUDACC__)

/// The group a sub-warp works on, as compute_group_stats reads it: staged (view positions
/// 0..n-1, no permutation) or in place (positions begin..end-1 through the permutation).
template <class T>
struct group_slot {
  response_view<T> view{};
  std::int64_t lo = 0;     ///< view position of the group's first response
  std::int64_t begin = 0;  ///< group-order position of the group's first response
  std::int64_t n = 0;
};

/// Stages group k for sub-warp `sub` (its lanes together); the caller __syncwarp()s after.
template <class Args>
__device__ auto load_group(const Args& a, std::int64_t k, int sub, int lane, unsigned char* smem) {
  using T = std::remove_cv_t<std::remove_pointer_t<decltype(a.rewards)>>;
  group_slot<T> s;
  s.begin = a.layout.offsets[k];
  s.n = a.layout.offsets[k + 1] - s.begin;
  if (!a.shape.staged) {
    s.view = {a.rewards, a.mask, a.lengths, a.layout.permutation, a.skip_nan};
    s.lo = s.begin;
    return s;
  }
  const std::int64_t cap = a.shape.capacity, slots = a.shape.groups_per_block * cap;
  auto* lengths = reinterpret_cast<std::int64_t*>(smem) + sub * cap;
  auto* rewards =
      reinterpret_cast<T*>(smem + (a.lengths ? slots * sizeof(std::int64_t) : 0)) + sub * cap;
  auto* mask =
      smem + (a.lengths ? slots * sizeof(std::int64_t) : 0) + slots * sizeof(T) + sub * cap;
  for (std::int64_t idx = lane; idx < s.n; idx += a.shape.width) {
    const std::int64_t i = a.layout.index(s.begin + idx);
    rewards[idx] = a.rewards[i];
    if (a.mask) mask[idx] = a.mask[i];
    if (a.lengths) lengths[idx] = a.lengths[i];
  }
  s.view = {rewards, a.mask ? mask : nullptr, a.lengths ? lengths : nullptr, nullptr, a.skip_nan};
  return s;
}

/// One group's share of y_t: the CPU scan's per-group observation (backend/cpu.hpp's
/// observe_group, the one definition).
template <class T>
__device__ void accumulate_observation(observation& t, const group_slot<T>& s,
                                       const reward_range& range, double success_threshold) {
  t.merge(observe_group(s.view, s.lo, s.lo + s.n, range, success_threshold));
}

/// The checking pass: every data-dependent argument check of the CPU backend (flags
/// ws->status, which the writing pass reads before it writes anything), and the batch sums the
/// writing pass and the host need (ws->scan).
template <unsigned Pass, class Est, class T, class A, class M, class V>
__global__ void __launch_bounds__(max_block_threads)
    scan_kernel(const kernel_args<Est, T, A, M, V> a) {
  extern __shared__ __align__(16) unsigned char smem[];
  constexpr bool estimating = (Pass & estimate_pass) != 0;
  constexpr bool weighting = (Pass & reweight_pass) != 0;
  constexpr bool batch = estimating && Est::needs_batch_stats;
  const int sub = threadIdx.x / a.shape.width, lane = threadIdx.x % a.shape.width;
  const std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * a.shape.groups_per_block + sub;
  const bool active = sub < a.shape.groups_per_block && k < a.layout.num_groups;
  group_slot<T> s;
  if (active) s = load_group(a, k, sub, lane, smem);
  __syncwarp();

  scan_totals mine = scan_totals::empty();
  bool bad = false;
  if (active) {
    for (std::int64_t idx = lane; idx < s.n; idx += a.shape.width) {
      const std::int64_t vi = s.view.index(s.lo + idx);
      const bool masked = s.view.mask && s.view.mask[vi] == 0;
      if (estimating && s.view.lengths && s.view.lengths[vi] < 0) bad = true;
      if (masked) continue;
      const double r = s.view.reward(vi);
      if (isnan(r)) {
        bad = bad || !a.skip_nan;
        continue;
      }
      // Only a scorable response's advantage is read (as the CPU backend: docs/errors.md).
      if constexpr ((Pass & check_advantages) != 0)
        if (!advantage_in_domain(static_cast<double>(a.advantages[a.layout.index(s.begin + idx)])))
          bad = true;
      if (estimating && !reward_in_domain(r)) bad = true;
      if (weighting && !(r >= a.range.low && r <= a.range.high)) bad = true;
    }
    const group_stats raw =
        compute_group_stats<true, Est::needs_median, Est::needs_abs_deviation>(s.view, s.lo,
                                                                              s.lo + s.n);
    if (estimating && raw.count == 1 && a.est.singleton == singleton_rule::reject) bad = true;
    if (lane == 0) {
      if constexpr (batch)
        accumulate_batch(mine.batch, s.view, s.lo, s.lo + s.n, raw, a.est.singleton, a.weighted);
      if constexpr (weighting) accumulate_observation(mine.seen, s, a.range, a.success_threshold);
    }
  }
  if (bad) atomicOr(&a.ws->status, 1u);
  if constexpr (batch || weighting)
    grid_reduce(mine, static_cast<scan_totals*>(a.partials), &a.ws->scan, &a.ws->done[0]);
}

/// Four elements of V, aligned for one vector store.
template <class V>
struct alignas(4 * sizeof(V)) vec4 {
  V v[4];
};

/// token_advantages[i*L + t] = mask[i*L + t] ? adv[i] : 0 for the rows i of group-order positions
/// [j0, j0 + rows), by the whole block. Vec: 4 tokens per step (L % 4 == 0, aligned pointers).
/// The (row, token) pair advances without a division per step.
template <bool Vec, class A, class M, class V>
__device__ void broadcast_rows(const A* adv, const std::int64_t* permutation, std::int64_t j0,
                               std::int64_t rows, const M* mask, std::int64_t L, V* out) {
  constexpr int w = Vec ? 4 : 1;
  const std::int64_t per_row = L / w;
  std::int64_t r = threadIdx.x / per_row, t = threadIdx.x % per_row;
  const std::int64_t step_r = blockDim.x / per_row, step_t = blockDim.x % per_row;
  const auto* mask_bytes = reinterpret_cast<const unsigned char*>(mask);
  while (r < rows) {
    const std::int64_t i = permutation ? permutation[j0 + r] : j0 + r;
    const V a = static_cast<V>(adv[i]);
    const std::int64_t at = i * L + t * w;
    if constexpr (Vec) {
      const unsigned m = __ldcs(reinterpret_cast<const unsigned*>(mask_bytes + at));
      if constexpr (std::is_same_v<V, float>) {
        __stcs(reinterpret_cast<float4*>(out + at),
               make_float4((m & 0xffu) ? a : 0.0f, (m & 0xff00u) ? a : 0.0f,
                           (m & 0xff0000u) ? a : 0.0f, (m & 0xff000000u) ? a : 0.0f));
      } else {
        *reinterpret_cast<vec4<V>*>(out + at) =
            vec4<V>{{(m & 0xffu) ? a : V(0), (m & 0xff00u) ? a : V(0), (m & 0xff0000u) ? a : V(0),
                     (m & 0xff000000u) ? a : V(0)}};
      }
    } else {
      out[at] = mask_bytes[at] ? a : V(0);
    }
    t += step_t;
    r += step_r;
    if (t >= per_row) {
      t -= per_row;
      ++r;
    }
  }
}

/// The writing pass: per group, the estimator's advantages and/or the HA-DW weights, written at
/// the caller's indices; then (token_pass) the block's rows broadcast to tokens. Writes nothing
/// when the checking pass flagged an input (the CPU backend's strong exception guarantee).
///
/// Register cap: at least 3 blocks of 256 per SM (<= 85 registers; ptxas gives 80 with a few
/// bytes spilled on sm_80/sm_90), since the token stream needs many warps in flight to approach
/// copy bandwidth, while the response stage alone would take ~96. (256, 4) caps at 64 but
/// spills ~100 bytes; which is faster is for a GPU run to say (bench_cuda).
template <unsigned Pass, bool Vec, class Est, class T, class A, class M, class V>
__global__ void __launch_bounds__(max_block_threads, 3)
    apply_kernel(const kernel_args<Est, T, A, M, V> a) {
  extern __shared__ __align__(16) unsigned char smem[];
  constexpr bool estimating = (Pass & estimate_pass) != 0;
  constexpr bool weighting = (Pass & reweight_pass) != 0;
  if (a.ws->status != 0) return;  // uniform over the grid
  if (weighting && a.ws->scan.seen.total == 0) return;
  const int sub = threadIdx.x / a.shape.width, lane = threadIdx.x % a.shape.width;
  const std::int64_t k0 = static_cast<std::int64_t>(blockIdx.x) * a.shape.groups_per_block;
  const std::int64_t k = k0 + sub;
  const bool active = sub < a.shape.groups_per_block && k < a.layout.num_groups;
  group_slot<T> s;
  if (active) s = load_group(a, k, sub, lane, smem);
  __syncwarp();

  apply_totals mine = apply_totals::empty();
  group_stats raw{};
  if (active)
    raw = compute_group_stats<true, Est::needs_median, Est::needs_abs_deviation>(s.view, s.lo,
                                                                                s.lo + s.n);
  // A group too large to stage is read in place: with out == rewards (exact in place, allowed)
  // no lane may write before every lane of the warp has read the group.
  __syncwarp();
  if (active) {
    batch_stats b;
    if constexpr (estimating && Est::needs_batch_stats) b = a.ws->scan.batch;
    const group_stats g = apply_singleton_rule(raw, a.est.singleton);
    const bool zero_all = zeroed_by_rule(g, a.est.singleton);
    const bool weigh = weighting && raw.count > 0;
    const double difficulty = history_difficulty(a.range.normalise(raw.mean), a.belief);
    for (std::int64_t idx = lane; idx < s.n; idx += a.shape.width) {
      const std::int64_t vi = s.view.index(s.lo + idx);
      const std::int64_t i = a.layout.index(s.begin + idx);
      const bool valid = s.view.valid(vi);
      A out;
      if constexpr (estimating) {
        if (zero_all || !valid) {
          out = A(0);
        } else if constexpr (Est::sequential) {  // this lane replays the group's walk to idx
          const auto st = state_through(a.est.baseline, s.view, s.lo, s.lo + idx);
          out = static_cast<A>(a.est.advantage(g, b, s.view.reward(vi), st));
        } else {
          out = static_cast<A>(a.est.advantage(g, b, s.view.reward(vi), idx));
        }
      }
      else
        out = a.advantages[i];
      if (weigh && valid) {  // reweight.hpp: a * phi(a, diff, lambda) in double, then rounded
        const double before = static_cast<double>(out);
        const double w = a.warming_up ? 1.0 : phi(before, difficulty, a.lambda_scale);
        out = static_cast<A>(before * w);
        mine.add(w, before, static_cast<double>(out));
      }
      if (estimating || (weigh && valid)) a.advantages[i] = out;
    }
  }
  if constexpr ((Pass & token_pass) != 0) {
    __syncthreads();  // the block's advantages are written (global writes are visible block-wide)
    const std::int64_t k1 = k0 + a.shape.groups_per_block < a.layout.num_groups
                                ? k0 + a.shape.groups_per_block
                                : a.layout.num_groups;
    const std::int64_t j0 = a.layout.offsets[k0];
    broadcast_rows<Vec>(a.advantages, a.layout.permutation, j0, a.layout.offsets[k1] - j0,
                        a.token_mask, a.L, a.token_advantages);
  }
  if constexpr (weighting)
    grid_reduce(mine, static_cast<apply_totals*>(a.partials), &a.ws->apply, &a.ws->done[1]);
}

/// Token broadcast on its own: block b writes rows [b * rows_per_block, ...).
template <bool Vec, class A, class M, class V>
__global__ void __launch_bounds__(max_block_threads)
    broadcast_kernel(const A* adv, std::int64_t n, const M* mask, std::int64_t L, V* out,
                     std::int64_t rows_per_block) {
  const std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * rows_per_block;
  const std::int64_t rows = n - j0 < rows_per_block ? n - j0 : rows_per_block;
  broadcast_rows<Vec>(adv, nullptr, j0, rows, mask, L, out);
}

#endif  // __CUDACC__

}  // namespace hadw::detail::cuda
