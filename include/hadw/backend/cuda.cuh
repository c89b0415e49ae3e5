// The CUDA backend: hadw::backend::cuda{stream}, passed first to the same entry points as the
// CPU backend, with device spans (DESIGN.md §2 "Backends"). Opt-in: compile with nvcc and link
// hadw::cuda (CMake option HADW_ENABLE_CUDA); not included by hadw/hadw.hpp.
//
//     hadw::device_group_layout d_layout(layout, stream);          // uploads offsets/permutation
//     hadw::estimate(hadw::backend::cuda{stream}, hadw::grpo{}, d_layout, d_rewards, d_adv);
//     auto st = hadw::estimate_reweight_broadcast(hadw::backend::cuda{stream}, hadw::grpo{},
//         d_layout, d_rewards, d_adv, anchor, d_token_mask, L, d_token_adv);
//
// Contract, the same as the CPU backend's where it can be:
// - Results: every per-element formula is the shared HADW_HOST_DEVICE one, and the group
//   statistics are computed in the CPU's order, so per-response advantages match the CPU backend
//   up to the device's exp() and FMA contraction (a few ulp in double before rounding to the
//   output type). Batch-level sums (batch-std estimators, y_t, step_stats moments) merge groups
//   in a fixed tree instead of left to right: the same bits on every run, within rounding of
//   the CPU's. No float atomics.
// - Errors: sizes, options and host pointers throw hadw::error before any launch. Data-dependent
//   errors (NaN or out-of-range rewards, a lone response under singleton_rule::reject, negative
//   lengths, non-finite advantages, an all-masked batch) are found on the device by a checking
//   pass; the writing pass then writes nothing, and the call throws the very hadw::error the CPU
//   backend throws (it replays the CPU checks on a host copy of the inputs: error path only).
// - Synchronisation: the caller's stream; each call ends with one small device-to-host copy (a
//   ~160-byte workspace header: the check status, the batch counts for the host anchor and the
//   step_stats sums) and waits for it. anchor_timing::posterior needs y_t before the weights,
//   so it makes that copy twice. broadcast_to_tokens with a mask checks nothing on the device
//   and does not synchronise at all.
#pragma once

#include <hadw/anchor/anchor.hpp>
#include <hadw/backend/cuda/error.cuh>
#include <hadw/backend/cuda/kernels.cuh>
#include <hadw/backend/cuda/launch.cuh>
#include <hadw/backend/cuda/layout.cuh>
#include <hadw/backend/cuda/token_scans.cuh>
#include <hadw/backend/tags.hpp>
#include <hadw/api/estimate.hpp>
#include <hadw/api/fused.hpp>
#include <hadw/api/reweight.hpp>
#include <hadw/api/tokens.hpp>
#include <hadw/api/remax.hpp>
#include <hadw/api/token_scans.hpp>

#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

namespace hadw {
namespace detail::cuda {

/// What the entry points run under backend::cuda (backend::traits<cuda>::entry), once the shapes
/// are checked: the device checks, the kernels, one small copy back. Spans are device spans,
/// the layout a device_group_layout; the anchor stays on the host.
struct entry {
  /// estimate on the device; one 160-byte copy back, on be.stream.
  template <class Est, class T, class U>
  static void estimate(backend::cuda be, const Est& est, const device_group_layout& layout,
                       std::span<const T> rewards, std::span<U> advantages,
                       const estimate_options& options) {
    check_estimate_args(est, layout, rewards, advantages, options.mask, options.lengths);
    kernel_args<Est, T, U, std::uint8_t, U> a;
    a.layout = layout.view();
    a.rewards = rewards.data();
    a.mask = options.mask.empty() ? nullptr : options.mask.data();
    a.lengths = options.lengths.empty() ? nullptr : options.lengths.data();
    a.skip_nan = options.nan == nan_policy::unscorable;
    a.advantages = advantages.data();
    a.est = est;
    a.weighted = est.uses_lengths;
    a.ws = layout.header();
    a.partials = layout.partials<scan_totals>();
    clear_workspace(layout, be.stream);
    launch_scan<estimate_pass>(a, layout, be.stream);
    launch_apply<estimate_pass>(a, layout, be.stream);
    if (read_header(layout, be.stream).status == 0) return;
    const auto r = to_host(rewards, be.stream);
    const auto m = to_host(options.mask, be.stream);
    const auto len = to_host(options.lengths, be.stream);
    std::vector<U> out(advantages.size());
    hadw::estimate(backend::cpu{}, est, layout.host(), std::span<const T>(r), std::span<U>(out),
                   estimate_options{.mask = m, .lengths = len, .nan = options.nan});
    replay_found_nothing();
  }

  /// reweight on the device: the anchor observes y_t from the one small copy of the counts.
  template <class A, class R, class Belief>
  static step_stats reweight(backend::cuda be, device_grouped_span<A> advantages,
                             device_grouped_span<R> rewards, difficulty_anchor<Belief>& anchor,
                             const reweight_options& options) {
    using T = std::remove_cv_t<R>;
    const device_group_layout& layout = *rewards.layout;
    require_device(rewards.values, "rewards");
    require_device(advantages.values, "advantages");
    require_device(options.mask, "mask");
    kernel_args<no_estimator, T, A, std::uint8_t, A> a;
    a.rewards = rewards.values.data();
    a.advantages = advantages.values.data();
    const auto replay = [&] {
      auto adv = to_host(advantages.values, be.stream);
      const auto rew = to_host(rewards.values, be.stream);
      const auto m = to_host(options.mask, be.stream);
      reweight_options o = options;
      o.mask = m;
      difficulty_anchor<Belief> scratch = anchor;
      hadw::reweight(grouped(std::span<A>(adv), layout.host()),
                     grouped(std::span<const T>(rew), layout.host()), scratch, o);
      replay_found_nothing();
    };
    return run_step<reweight_pass | check_advantages>(a, layout, be.stream, anchor, options,
                                                      replay);
  }

  /// estimate then reweight: two launches and one copy back.
  template <class Est, class T, class U, class Belief>
  static step_stats estimate_and_reweight(backend::cuda be, const Est& est,
                                          const device_group_layout& layout,
                                          std::span<const T> rewards, std::span<U> advantages,
                                          difficulty_anchor<Belief>& anchor,
                                          const reweight_options& options,
                                          std::span<const std::int64_t> lengths) {
    return fused_step<estimate_pass | reweight_pass>(be, est, layout, rewards, advantages, anchor,
                                                     options, lengths,
                                                     std::span<const std::uint8_t>{}, 0,
                                                     std::span<U>{});
  }

  /// The whole step: a checking pass, then ONE launch that computes each group's statistics,
  /// advantages and HA-DW weights and streams the group's token rows, then one copy back for
  /// the anchor. A token mask only (token_lengths are read on the host: tokens.hpp refuses them).
  template <class Est, class T, class U, class Belief, class M, class V>
  static step_stats estimate_reweight_broadcast(
      backend::cuda be, const Est& est, const device_group_layout& layout,
      std::span<const T> rewards, std::span<U> advantages, difficulty_anchor<Belief>& anchor,
      std::span<const M> token_mask, std::int64_t L, std::span<V> token_advantages,
      const reweight_options& options, std::span<const std::int64_t> lengths) {
    require_device(token_mask, "token_mask");
    require_device(token_advantages, "token_advantages");
    return fused_step<estimate_pass | reweight_pass | token_pass>(
        be, est, layout, rewards, advantages, anchor, options, lengths, token_mask, L,
        token_advantages);
  }

  /// broadcast_to_tokens: no data to check, so no synchronisation.
  template <class T, class M, class U>
  static void broadcast_to_tokens(backend::cuda be, std::span<const T> advantages,
                                  std::span<const M> mask, std::int64_t L,
                                  std::span<U> token_advantages) {
    require_device(advantages, "advantages");
    require_device(mask, "mask");
    require_device(token_advantages, "token_advantages");
    if (advantages.empty()) return;
    const auto n = static_cast<std::int64_t>(advantages.size());
    const std::int64_t rows = (32768 + L - 1) / L;
    const auto blocks = static_cast<unsigned>((n + rows - 1) / rows);
    const bool vec =
        L % 4 == 0 &&
        reinterpret_cast<std::uintptr_t>(token_advantages.data()) % (4 * sizeof(U)) == 0 &&
        reinterpret_cast<std::uintptr_t>(mask.data()) % 4 == 0;
    if (vec)
      broadcast_kernel<true><<<blocks, 256, 0, be.stream>>>(advantages.data(), n, mask.data(), L,
                                                             token_advantages.data(), rows);
    else
      broadcast_kernel<false><<<blocks, 256, 0, be.stream>>>(advantages.data(), n, mask.data(), L,
                                                              token_advantages.data(), rows);
    HADW_CUDA_CHECK(cudaGetLastError());
  }
};

}  // namespace detail::cuda

namespace backend {
template <>
struct traits<cuda> {
  static constexpr bool host_memory = false;  ///< spans point to device memory
  static constexpr const char* name = "cuda";
  using layout = device_group_layout;
  template <class T>
  using grouped = device_grouped_span<T>;
  using entry = detail::cuda::entry;
  using token_scans = detail::cuda::token_scan_entry;  ///< the token-level estimators
};
static_assert(backend_tag<cuda>);
}  // namespace backend

}  // namespace hadw