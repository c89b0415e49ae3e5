// The CUDA backend's launches and its HA-DW step: clear the workspace, launch the checking and the
// writing pass, read the one small header back, and hand the step (step/step.hpp) a backend
// whose observation is the checking pass's.
#pragma once

#include <hadw/anchor/anchor.hpp>
#include <hadw/backend/cuda/error.cuh>
#include <hadw/backend/cuda/kernels.cuh>
#include <hadw/backend/cuda/layout.cuh>
#include <hadw/api/fused.hpp>
#include <hadw/api/reweight.hpp>
#include <hadw/backend/tags.hpp>
#include <hadw/step/options.hpp>
#include <hadw/step/step.hpp>

#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace hadw::backend {

/// The CUDA backend: every span points to device memory (or managed / mapped host memory); the
/// work is queued on `stream` (the legacy default stream when null).
struct cuda {
  cudaStream_t stream = nullptr;
};

}  // namespace hadw::backend

namespace hadw::detail::cuda {

/// Throws hadw::error unless `s` is reachable from the device (a host pointer is the usual
/// mistake: it would fault inside a kernel instead).
template <class T>
void require_device(std::span<T> s, const char* name) {
  if (s.empty()) return;
  cudaPointerAttributes attr{};
  HADW_CUDA_CHECK(cudaPointerGetAttributes(&attr, s.data()));
  require(attr.type != cudaMemoryTypeUnregistered, name,
          " must point to device memory under backend::cuda, got a host pointer");
}

/// A device array copied to the host (error path only: synchronises).
template <class T>
[[nodiscard]] std::vector<std::remove_cv_t<T>> to_host(std::span<T> d, cudaStream_t stream) {
  std::vector<std::remove_cv_t<T>> h(d.size());
  if (!d.empty())
    HADW_CUDA_CHECK(
        cudaMemcpyAsync(h.data(), d.data(), d.size_bytes(), cudaMemcpyDeviceToHost, stream));
  HADW_CUDA_CHECK(cudaStreamSynchronize(stream));
  return h;
}

inline void clear_workspace(const device_group_layout& layout, cudaStream_t stream) {
  HADW_CUDA_CHECK(cudaMemsetAsync(layout.header(), 0, offsetof(workspace_header, scan), stream));
}

/// The one small copy of a call: the workspace header, then wait for it.
[[nodiscard]] inline workspace_header read_header(const device_group_layout& layout,
                                                  cudaStream_t stream) {
  workspace_header h;
  HADW_CUDA_CHECK(cudaMemcpyAsync(&h, layout.header(), sizeof h, cudaMemcpyDeviceToHost, stream));
  HADW_CUDA_CHECK(cudaStreamSynchronize(stream));
  return h;
}

[[noreturn]] inline void replay_found_nothing() {
  throw error(
      "hadw::backend::cuda: the device check flagged the inputs but the host replay of the "
      "checks found nothing (please report this)");
}

template <unsigned Pass, class Args>
void launch_scan(Args a, const device_group_layout& layout, cudaStream_t stream) {
  using T = std::remove_cv_t<std::remove_pointer_t<decltype(a.rewards)>>;
  a.shape = make_shape<T>(layout, a.lengths != nullptr, 0);
  scan_kernel<Pass><<<a.shape.blocks, a.shape.threads, a.shape.shared_bytes, stream>>>(a);
  HADW_CUDA_CHECK(cudaGetLastError());
}

template <unsigned Pass, class Args>
void launch_apply(Args a, const device_group_layout& layout, cudaStream_t stream) {
  using T = std::remove_cv_t<std::remove_pointer_t<decltype(a.rewards)>>;
  using V = std::remove_pointer_t<decltype(a.token_advantages)>;
  const bool tokens = (Pass & token_pass) != 0;
  a.shape = make_shape<T>(layout, a.lengths != nullptr, tokens ? a.L : 0);
  const bool vec = tokens && a.L % 4 == 0 &&
                   reinterpret_cast<std::uintptr_t>(a.token_advantages) % (4 * sizeof(V)) == 0 &&
                   reinterpret_cast<std::uintptr_t>(a.token_mask) % 4 == 0;
  if constexpr ((Pass & token_pass) != 0) {
    if (vec)
      apply_kernel<Pass, true>
          <<<a.shape.blocks, a.shape.threads, a.shape.shared_bytes, stream>>>(a);
    else
      apply_kernel<Pass, false>
          <<<a.shape.blocks, a.shape.threads, a.shape.shared_bytes, stream>>>(a);
  } else {
    (void)vec;
    apply_kernel<Pass, false><<<a.shape.blocks, a.shape.threads, a.shape.shared_bytes, stream>>>(a);
  }
  HADW_CUDA_CHECK(cudaGetLastError());
}

/// What the shape checks of the entry points cannot see: that every span is device memory.
template <class Est, class T, class U>
void check_estimate_args(const Est&, const device_group_layout&, std::span<const T> rewards,
                         std::span<U> advantages, std::span<const std::uint8_t> mask,
                         std::span<const std::int64_t> lengths) {
  require_device(rewards, "rewards");
  require_device(advantages, "advantages");
  require_device(mask, "mask");
  require_device(lengths, "lengths");
}

/// The HA-DW step shared by reweight and the fused calls: the checking pass, then the step of
/// step/step.hpp with this backend: the writing pass weighs with the belief it is given, and
/// the observation is the checking pass's, read back in the one small copy. `replay` throws the
/// CPU backend's error for inputs the device flagged.
template <unsigned Pass, class Args, class Belief, class Replay>
step_stats run_step(Args a, const device_group_layout& layout, cudaStream_t stream,
                    difficulty_anchor<Belief>& anchor, const reweight_options& opt,
                    Replay&& replay) {
  a.layout = layout.view();
  a.ws = layout.header();
  a.partials = layout.partials<detail::cuda::scan_totals>();
  a.range = opt.range;
  a.success_threshold = opt.success_threshold;
  a.mask = opt.mask.empty() ? nullptr : opt.mask.data();
  a.skip_nan = opt.nan == nan_policy::unscorable;
  clear_workspace(layout, stream);
  launch_scan<Pass & ~unsigned(token_pass)>(a, layout, stream);

  struct backend {
    Args& a;
    const device_group_layout& layout;
    cudaStream_t stream;
    Replay& replay;
    observation checked(const workspace_header& h) {
      if (h.status != 0 || h.scan.seen.total == 0) replay();
      return h.scan.seen;
    }
    void launch(const weighting<>& w) {
      a.belief = w.belief;
      a.lambda_scale = w.lambda_scale;
      a.range = w.range;
      a.warming_up = w.warming_up;
      launch_apply<Pass & ~unsigned(check_advantages)>(a, layout, stream);
    }
    observation observe() { return checked(read_header(layout, stream)); }
    step_totals weigh(const weighting<>& w) {  // posterior timing: after observe()
      launch(w);
      return read_header(layout, stream).apply;
    }
    std::pair<step_totals, observation> weigh_then_observe(const weighting<>& w) {
      launch(w);  // the writing pass skips itself if the checking pass flagged anything
      const workspace_header h = read_header(layout, stream);
      return {h.apply, checked(h)};
    }
  };
  return hadw_step(anchor, opt, layout.num_groups(), backend{a, layout, stream, replay});
}


template <unsigned Pass, class E, class T, class U, class M, class V, class Belief>
step_stats fused_step(backend::cuda be, const E& est, const device_group_layout& layout,
                      std::span<const T> rewards, std::span<U> advantages,
                      difficulty_anchor<Belief>& anchor, const reweight_options& options,
                      std::span<const std::int64_t> lengths, std::span<const M> token_mask,
                      std::int64_t L, std::span<V> token_advantages) {
  using Est = std::remove_cvref_t<decltype(est)>;
  check_estimate_args(est, layout, rewards, advantages, options.mask, lengths);
  kernel_args<Est, T, U, M, V> a;
  a.rewards = rewards.data();
  a.lengths = lengths.empty() ? nullptr : lengths.data();
  a.advantages = advantages.data();
  a.est = est;
  a.weighted = est.uses_lengths;
  a.token_mask = token_mask.data();
  a.token_advantages = token_advantages.data();
  a.L = L;
  const auto replay = [&] {
    const auto rew = to_host(rewards, be.stream);
    const auto m = to_host(options.mask, be.stream);
    const auto len = to_host(lengths, be.stream);
    std::vector<U> adv(advantages.size());
    reweight_options o = options;
    o.mask = m;
    difficulty_anchor<Belief> scratch = anchor;
    hadw::estimate_and_reweight(backend::cpu{}, est, layout.host(), std::span<const T>(rew),
                                std::span<U>(adv), scratch, o, std::span<const std::int64_t>(len));
    replay_found_nothing();
  };
  return run_step<Pass>(a, layout, be.stream, anchor, options, replay);
}

}  // namespace hadw::detail::cuda
