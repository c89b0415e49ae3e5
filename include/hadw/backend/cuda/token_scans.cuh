// The CUDA backend's token-level estimators (hadw::gae, hadw::reinforce_pp under backend::cuda):
// the same HADW_HOST_DEVICE row scans and whitening formulas as the CPU backend
// (tokens/scan.hpp, tokens/whiten.hpp), one thread per row for the scans (a row is a sequential
// recurrence; trainer batches have hundreds to thousands of rows) and one thread per token for
// the whitening's affine map.
//
// Flow, on the caller's stream: a checking kernel writes each row's token_row_check; the host
// folds the B checks in the CPU's order and throws the CPU's hadw::error before anything is
// written. The scan kernel writes the rows and each row's masked sum; the host folds them
// (fold_rows: the CPU's association, so the mean is the CPU's given the same row values), then
// the squares likewise, then the whitening kernel. Three small device-to-host copies (B records
// each) and waits; a workspace of B records is taken with cudaMallocAsync per call.
#pragma once

#include <hadw/backend/cuda/error.cuh>
#include <hadw/backend/cuda/launch.cuh>
#include <hadw/tokens/scan.hpp>
#include <hadw/tokens/whiten.hpp>

#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <vector>

namespace hadw::detail::cuda {

inline constexpr int token_threads = 128;

[[nodiscard]] inline unsigned token_blocks(std::int64_t n) {
  return static_cast<unsigned>((n + token_threads - 1) / token_threads);
}

template <class T, class M>
__global__ void token_check_kernel(const T* a, const T* b, const M* mask, std::int64_t B,
                                   std::int64_t L, token_row_check* out) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B) return;
  token_row_check c;
  check_row(c, a + i * L, mask + i * L, L, i, 0, true);
  if (b) check_row(c, b + i * L, mask + i * L, L, i, 1, false);
  out[i] = c;
}

/// GAE rows (values != nullptr) or REINFORCE++ rows (values == nullptr: the returns are copied
/// to the advantages, which are then whitened); `sums` (optional) gets each row's masked sum.
template <class T, class M>
__global__ void token_scan_kernel(const T* rewards, const T* values, const M* mask, std::int64_t B,
                                  std::int64_t L, double gamma, double lambda, T* advantages,
                                  T* returns, masked_sum* sums) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B) return;
  const std::int64_t o = i * L;
  if (values) {
    gae_row(rewards + o, values + o, mask + o, L, gamma, lambda, advantages + o, returns + o);
  } else {
    discounted_return_row(rewards + o, mask + o, L, gamma, returns + o);
    for (std::int64_t t = 0; t < L; ++t) advantages[o + t] = returns[o + t];
  }
  if (sums) sums[i] = row_sum(advantages + o, mask + o, L);
}

template <class T, class M>
__global__ void token_square_sum_kernel(const T* x, const M* mask, std::int64_t B, std::int64_t L,
                                        double mean, masked_sum* sums) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i < B) sums[i] = row_square_sum(x + i * L, mask + i * L, L, mean);
}

template <class T, class M>
__global__ void token_whiten_kernel(T* x, const M* mask, std::int64_t n, token_whitening w,
                                    bool zero_masked) {
  const std::int64_t k = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (k < n) x[k] = whiten_token(x[k], token_valid(mask, k), w, zero_masked);
}

/// B records of device scratch for one call, freed on the stream when the call ends (or throws).
class token_workspace {
 public:
  token_workspace(std::int64_t B, cudaStream_t stream) : stream_(stream) {
    const std::size_t bytes =
        static_cast<std::size_t>(B < 1 ? 1 : B) * (sizeof(token_row_check) > sizeof(masked_sum)
                                                       ? sizeof(token_row_check)
                                                       : sizeof(masked_sum));
    HADW_CUDA_CHECK(cudaMallocAsync(&p_, bytes, stream));
  }
  token_workspace(const token_workspace&) = delete;
  token_workspace& operator=(const token_workspace&) = delete;
  ~token_workspace() { cudaFreeAsync(p_, stream_); }
  template <class R>
  [[nodiscard]] R* as() const {
    return static_cast<R*>(p_);
  }
  /// The B records, copied to the host and folded in the CPU's order.
  template <class R>
  [[nodiscard]] R fold(std::int64_t B) const {
    std::vector<R> h(static_cast<std::size_t>(B));
    if (B > 0)
      HADW_CUDA_CHECK(
          cudaMemcpyAsync(h.data(), p_, h.size() * sizeof(R), cudaMemcpyDeviceToHost, stream_));
    HADW_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return fold_rows<R>(B, false, [&](std::int64_t r) { return h[static_cast<std::size_t>(r)]; });
  }

 private:
  void* p_ = nullptr;
  cudaStream_t stream_;
};

struct token_scan_entry {
  template <class T, class M>
  static void gae(backend::cuda be, std::span<const T> rewards, std::span<const T> values,
                  std::span<const M> mask, std::int64_t L, std::span<T> advantages,
                  std::span<T> returns, const gae_options& o) {
    run(be, rewards, values.data(), mask, L, advantages, returns, o.gamma, o.lambda, o.whiten,
        false);
  }

  template <class T, class M>
  static void reinforce_pp(backend::cuda be, std::span<const T> rewards, std::span<const M> mask,
                           std::int64_t L, std::span<T> advantages, std::span<T> returns,
                           const reinforce_pp_options& o) {
    run(be, rewards, static_cast<const T*>(nullptr), mask, L, advantages, returns, o.gamma, 1.0,
        true, true);
  }

 private:
  template <class T, class M>
  static void run(backend::cuda be, std::span<const T> rewards, const T* values,
                  std::span<const M> mask, std::int64_t L, std::span<T> advantages,
                  std::span<T> returns, double gamma, double lambda, bool whiten,
                  bool zero_masked) {
    require_device(rewards, "rewards");
    require_device(std::span<const T>(values, values ? rewards.size() : 0), "values");
    require_device(mask, "mask");
    require_device(advantages, "advantages");
    require_device(returns, "returns");
    const std::int64_t B = static_cast<std::int64_t>(rewards.size()) / L;
    const cudaStream_t s = be.stream;
    token_workspace ws(B, s);
    if (B > 0) {
      token_check_kernel<<<token_blocks(B), token_threads, 0, s>>>(
          rewards.data(), values, mask.data(), B, L, ws.as<token_row_check>());
      HADW_CUDA_CHECK(cudaGetLastError());
    }
    const token_row_check check = ws.fold<token_row_check>(B);
    if (values)
      require_token_rows(check, {"rewards", "values"}, whiten ? 2 : 0);
    else
      require_token_rows(check, {"rewards"}, 2);
    if (B == 0) return;
    token_scan_kernel<<<token_blocks(B), token_threads, 0, s>>>(
        rewards.data(), values, mask.data(), B, L, gamma, lambda, advantages.data(), returns.data(),
        whiten ? ws.as<masked_sum>() : nullptr);
    HADW_CUDA_CHECK(cudaGetLastError());
    if (!whiten) return;
    const double mean = token_whitening::mean_of(ws.fold<masked_sum>(B));
    token_square_sum_kernel<<<token_blocks(B), token_threads, 0, s>>>(
        advantages.data(), mask.data(), B, L, mean, ws.as<masked_sum>());
    HADW_CUDA_CHECK(cudaGetLastError());
    const token_whitening w = token_whitening::make(mean, ws.fold<masked_sum>(B));
    const std::int64_t n = B * L;
    token_whiten_kernel<<<token_blocks(n), token_threads, 0, s>>>(advantages.data(), mask.data(), n,
                                                                  w, zero_masked);
    HADW_CUDA_CHECK(cudaGetLastError());
  }
};

}  // namespace hadw::detail::cuda
