// The CUDA backend's token-level estimators (hadw::gae, hadw::reinforce_pp, hadw::remax_tokens,
// hadw::optimal_token_baseline under backend::cuda): the same HADW_HOST_DEVICE row scans and
// formulas as the CPU backend (tokens/scan.hpp, whiten.hpp, remax.hpp, otb.hpp), one thread
// per row for the scans (a row is a sequential recurrence; trainer batches have hundreds to
// thousands of rows) and one thread per token for the whitening's affine map.
//
// Flow, on the caller's stream: a checking kernel writes each row's token_row_check; the host
// folds the B checks in the CPU's order and throws the CPU's hadw::error before anything is
// written. The scan kernel writes the rows and each row's masked sum; the host folds them
// (fold_rows: the CPU's association, so the mean is the CPU's given the same row values), then
// the squares likewise, then the whitening kernel. Three small device-to-host copies (B records
// each) and waits; a workspace of B records is taken with cudaMallocAsync per call. remax_tokens
// needs no whitening: one check (one copy back and wait), then the row kernel. The optimal token
// baseline: one check, a row kernel (G_t, the cumulative weights W_t into a [B, L] double
// scratch, the row lengths), then one thread per (group, column) summing over the group's rows
// in the CPU's member order.
#pragma once

#include <hadw/backend/cuda/error.cuh>
#include <hadw/backend/cuda/launch.cuh>
#include <hadw/backend/cuda/layout.cuh>
#include <hadw/tokens/otb.hpp>
#include <hadw/tokens/remax.hpp>
#include <hadw/tokens/scan.hpp>
#include <hadw/tokens/whiten.hpp>

#include <cuda_runtime.h>

#include <concepts>
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

/// remax_tokens' check of row i: the first non-finite token reward, the baseline, the first
/// non-finite mask weight (float masks), each kept apart so the host reports them in the CPU's
/// order (every token_rewards element before any baseline, then the mask).
struct remax_row_check {
  token_row_check input[3];
};

template <class T, class M>
__global__ void remax_check_kernel(const T* rewards, const M* mask, const T* baselines,
                                   std::int64_t B, std::int64_t L, remax_row_check* out) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B) return;
  remax_row_check c;
  check_row(c.input[0], rewards + i * L, mask + i * L, L, i, 0, false);
  check_row(c.input[1], baselines + i, mask, 1, i, 1, false);
  if constexpr (std::floating_point<M>) check_row(c.input[2], mask + i * L, mask, L, i, 2, false);
  out[i] = c;
}

template <class T, class M, class U>
__global__ void remax_kernel(const T* rewards, const M* mask, const T* baselines, std::int64_t B,
                             std::int64_t L, U* advantages, U* returns) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i < B)
    remax_row(rewards + i * L, mask + i * L, L, static_cast<double>(baselines[i]),
              advantages + i * L, returns + i * L);
}

template <class T, class M>
__global__ void otb_check_kernel(const T* rewards, const T* old_log_probs, const T* sum_pi_squared,
                                 const T* is_weights, const M* mask, std::int64_t B, std::int64_t L,
                                 token_row_check* out) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B) return;
  const std::int64_t o = i * L;
  token_row_check c;
  check_row(c, rewards + o, mask + o, L, i, 0, true);
  check_row(c, old_log_probs + o, mask + o, L, i, 1, false);
  check_row(c, sum_pi_squared + o, mask + o, L, i, 2, false);
  if (is_weights) check_row(c, is_weights + o, mask + o, L, i, 3, false);
  out[i] = c;
}

/// Per row: G_t into returns, W_t (the running sum of otb_token_weight over valid tokens, as
/// the CPU accumulates it column by column) into W, the valid-token count into lengths.
template <class T, class M>
__global__ void otb_row_kernel(const T* rewards, const T* old_log_probs, const T* sum_pi_squared,
                               const T* is_weights, const M* mask, std::int64_t B, std::int64_t L,
                               T* returns, double* W, std::int64_t* lengths) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B) return;
  const std::int64_t o = i * L;
  otb_return_row(rewards + o, mask + o, L, returns + o);
  double w = 0.0;
  std::int64_t len = 0;
  for (std::int64_t t = 0; t < L; ++t) {
    const std::int64_t e = o + t;
    if (token_valid(mask, e)) {
      w += otb_token_weight(static_cast<double>(old_log_probs[e]),
                            static_cast<double>(sum_pi_squared[e]),
                            is_weights ? static_cast<double>(is_weights[e]) : 1.0);
      ++len;
    }
    W[e] = w;
  }
  lengths[i] = len;
}

/// One thread per (group k, column t): B_t over the group's members in the CPU's order, then
/// each member's advantage at t.
template <class T, class M>
__global__ void otb_column_kernel(layout_view layout, const M* mask, const T* returns,
                                  const double* W, const std::int64_t* lengths, std::int64_t L,
                                  bool handle_zero_tail, double eps, T* advantages) {
  const std::int64_t id = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (id >= layout.num_groups * L) return;
  const std::int64_t k = id / L, t = id % L;
  const std::int64_t j0 = layout.offsets[k], n = layout.offsets[k + 1] - j0;
  otb_zero_tail tail{};
  if (handle_zero_tail) {
    otb_zero_tail_finder finder;
    for (std::int64_t m = 0; m < n; ++m) finder.add(lengths[layout.index(j0 + m)]);
    tail = finder.result();
  }
  double num = 0.0, den = 0.0;
  for (std::int64_t m = 0; m < n; ++m) {
    const std::int64_t e = layout.index(j0 + m) * L + t;
    if (!token_valid(mask, e)) continue;
    num += static_cast<double>(returns[e]) * W[e];
    den += W[e];
  }
  const double b = otb_baseline(num, den, n, eps);
  for (std::int64_t m = 0; m < n; ++m) {
    const std::int64_t e = layout.index(j0 + m) * L + t;
    const double base = tail.zeroes(m, t) ? 0.0 : b;
    advantages[e] =
        token_valid(mask, e) ? static_cast<T>(static_cast<double>(returns[e]) - base) : T{};
  }
}

/// B records of device scratch for one call, freed on the stream when the call ends (or throws).
class token_workspace {
 public:
  /// Room for B records of `record` bytes (default: the larger of token_row_check, masked_sum).
  token_workspace(std::int64_t B, cudaStream_t stream, std::size_t record = 0) : stream_(stream) {
    if (record == 0)
      record = sizeof(token_row_check) > sizeof(masked_sum) ? sizeof(token_row_check)
                                                            : sizeof(masked_sum);
    HADW_CUDA_CHECK(cudaMallocAsync(&p_, static_cast<std::size_t>(B < 1 ? 1 : B) * record, stream));
  }
  token_workspace(const token_workspace&) = delete;
  token_workspace& operator=(const token_workspace&) = delete;
  ~token_workspace() { cudaFreeAsync(p_, stream_); }
  template <class R>
  [[nodiscard]] R* as() const {
    return static_cast<R*>(p_);
  }
  /// The B records, copied to the host (the stream is synchronised).
  template <class R>
  [[nodiscard]] std::vector<R> host(std::int64_t B) const {
    std::vector<R> h(static_cast<std::size_t>(B));
    if (B > 0)
      HADW_CUDA_CHECK(
          cudaMemcpyAsync(h.data(), p_, h.size() * sizeof(R), cudaMemcpyDeviceToHost, stream_));
    HADW_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return h;
  }
  /// The B records, copied to the host and folded in the CPU's order.
  template <class R>
  [[nodiscard]] R fold(std::int64_t B) const {
    const std::vector<R> h = host<R>(B);
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

  template <class T, class M, class U>
  static void remax_tokens(backend::cuda be, std::span<const T> token_rewards,
                           std::span<const M> mask, std::int64_t L, std::span<const T> baselines,
                           std::span<U> advantages, std::span<U> returns) {
    require_device(token_rewards, "token_rewards");
    require_device(mask, "mask");
    require_device(baselines, "baselines");
    require_device(advantages, "advantages");
    require_device(returns, "returns");
    const auto B = static_cast<std::int64_t>(baselines.size());
    if (B == 0) return;
    const cudaStream_t s = be.stream;
    token_workspace ws(B, s, sizeof(remax_row_check));
    remax_check_kernel<<<token_blocks(B), token_threads, 0, s>>>(
        token_rewards.data(), mask.data(), baselines.data(), B, L, ws.as<remax_row_check>());
    HADW_CUDA_CHECK(cudaGetLastError());
    const std::vector<remax_row_check> checks = ws.host<remax_row_check>(B);
    const char* const names[3] = {"token_rewards", "baselines", "mask"};
    for (int k = 0; k < 3; ++k)
      for (const remax_row_check& c : checks)
        if (const token_row_check& in = c.input[k]; in.bad_row >= 0)
          require_finite_at(
              in.bad_value, names[k],
              static_cast<std::size_t>(k == 1 ? in.bad_row : in.bad_row * L + in.bad_col));
    remax_kernel<<<token_blocks(B), token_threads, 0, s>>>(token_rewards.data(), mask.data(),
                                                           baselines.data(), B, L,
                                                           advantages.data(), returns.data());
    HADW_CUDA_CHECK(cudaGetLastError());
  }

  template <class T, class M>
  static void optimal_token_baseline(backend::cuda be, const device_group_layout& layout,
                                     std::span<const T> rewards, std::span<const M> mask,
                                     std::span<const T> old_log_probs,
                                     std::span<const T> sum_pi_squared,
                                     std::span<const T> is_weights, std::int64_t L,
                                     std::span<T> advantages, std::span<T> returns,
                                     const otb_options& o) {
    require_device(rewards, "rewards");
    require_device(mask, "mask");
    require_device(old_log_probs, "old_log_probs");
    require_device(sum_pi_squared, "sum_pi_squared");
    require_device(is_weights, "is_weights");
    require_device(advantages, "advantages");
    require_device(returns, "returns");
    const std::int64_t B = static_cast<std::int64_t>(rewards.size()) / L;
    const cudaStream_t s = be.stream;
    const T* rho = is_weights.empty() ? nullptr : is_weights.data();
    token_workspace ws(B, s);  // the row checks, then the row lengths
    if (B > 0) {
      otb_check_kernel<<<token_blocks(B), token_threads, 0, s>>>(
          rewards.data(), old_log_probs.data(), sum_pi_squared.data(), rho, mask.data(), B, L,
          ws.as<token_row_check>());
      HADW_CUDA_CHECK(cudaGetLastError());
    }
    require_token_rows(ws.fold<token_row_check>(B),
                       {"rewards", "old_log_probs", "sum_pi_squared", "is_weights"}, 0);
    if (B == 0) return;
    static_assert(sizeof(token_row_check) >= sizeof(std::int64_t));
    token_workspace W(B * L, s, sizeof(double));
    otb_row_kernel<<<token_blocks(B), token_threads, 0, s>>>(
        rewards.data(), old_log_probs.data(), sum_pi_squared.data(), rho, mask.data(), B, L,
        returns.data(), W.as<double>(), ws.as<std::int64_t>());
    HADW_CUDA_CHECK(cudaGetLastError());
    const layout_view view = layout.view();
    otb_column_kernel<<<token_blocks(view.num_groups * L), token_threads, 0, s>>>(
        view, mask.data(), returns.data(), W.as<double>(), ws.as<std::int64_t>(), L,
        o.handle_zero_tail, o.eps, advantages.data());
    HADW_CUDA_CHECK(cudaGetLastError());
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
