// CUDA backend benchmarks, timed with CUDA events (manual time), each beside the device-to-device
// copy bandwidth measured in the same run:
// - BM_copy_d2d: cudaMemcpyAsync device-to-device (read + write bytes), the bandwidth ceiling;
// - BM_fused_token_kernel: the one-launch stats + advantage + HA-DW + token broadcast kernel
//   alone (target: >= 80% of copy bandwidth at 2^26+ tokens);
// - BM_fused_step: the whole estimate_reweight_broadcast call (checking pass, the kernel above,
//   the one small copy back and the host anchor update);
// - BM_stats_kernels / BM_estimate_call: response-level GRPO for 8192 responses (512 x 16):
//   the two kernels alone (target: < 10 us) and the whole call with its copy back;
// - BM_broadcast: broadcast_to_tokens on its own.
// "pct_of_copy" = bytes/s of the benchmark / bytes/s of BM_copy_d2d's 256 MiB copy.
#include <hadw/backend/cuda.cuh>
#include <hadw/hadw.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

namespace {

template <class T>
struct buffer {
  T* p = nullptr;
  std::size_t n = 0;
  explicit buffer(std::size_t count) : n(count) {
    HADW_CUDA_CHECK(cudaMalloc(&p, count * sizeof(T)));
  }
  buffer(const std::vector<T>& h) : buffer(h.size()) {
    HADW_CUDA_CHECK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~buffer() { cudaFree(p); }
  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;
  std::span<T> span() { return {p, n}; }
  std::span<const T> cspan() const { return {p, n}; }
};

struct event_timer {
  cudaEvent_t start{}, stop{};
  event_timer() {
    HADW_CUDA_CHECK(cudaEventCreate(&start));
    HADW_CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~event_timer() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  /// Seconds that f's work took on `stream`.
  template <class F>
  double time(cudaStream_t stream, F&& f) {
    HADW_CUDA_CHECK(cudaEventRecord(start, stream));
    f();
    HADW_CUDA_CHECK(cudaEventRecord(stop, stream));
    HADW_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    HADW_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    return ms * 1e-3;
  }
};

/// Device-to-device copy bandwidth (read + write bytes per second) of a 256 MiB copy, best of 20.
double copy_bandwidth() {
  static const double bw = [] {
    const std::size_t bytes = std::size_t(1) << 28;
    buffer<unsigned char> a(bytes), b(bytes);
    event_timer t;
    double best = 1e30;
    for (int i = 0; i < 20; ++i)
      best = std::min(best, t.time(nullptr, [&] {
        HADW_CUDA_CHECK(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, nullptr));
      }));
    return 2.0 * static_cast<double>(bytes) / best;
  }();
  return bw;
}

void report(benchmark::State& state, double bytes_per_iteration) {
  state.SetBytesProcessed(
      static_cast<std::int64_t>(bytes_per_iteration * static_cast<double>(state.iterations())));
}

void set_pct(benchmark::State& state, double bytes, double seconds_total) {
  const double bw = bytes * static_cast<double>(state.iterations()) / seconds_total;
  state.counters["pct_of_copy"] = 100.0 * bw / copy_bandwidth();
  state.counters["copy_GBps"] = copy_bandwidth() * 1e-9;
}

void BM_copy_d2d(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  buffer<unsigned char> a(bytes), b(bytes);
  event_timer t;
  double total = 0;
  for (auto _ : state) {
    const double s = t.time(nullptr, [&] {
      HADW_CUDA_CHECK(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, nullptr));
    });
    state.SetIterationTime(s);
    total += s;
  }
  report(state, 2.0 * static_cast<double>(bytes));
  set_pct(state, 2.0 * static_cast<double>(bytes), total);
}
BENCHMARK(BM_copy_d2d)->Arg(1 << 26)->Arg(1 << 28)->UseManualTime()->Unit(benchmark::kMicrosecond);

/// One trainer step's inputs on the device: N = groups x 16 responses, L tokens per row.
struct step_inputs {
  hadw::group_layout layout;
  hadw::device_group_layout d_layout;
  buffer<float> rewards, adv, tokens;
  buffer<std::uint8_t> mask;
  std::int64_t L;
  step_inputs(std::int64_t groups, std::int64_t group_size, std::int64_t tokens_per_row)
      : layout(hadw::group_layout::uniform(groups, group_size)),
        d_layout(layout),
        rewards(make_rewards(groups * group_size)),
        adv(static_cast<std::size_t>(groups * group_size)),
        tokens(static_cast<std::size_t>(groups * group_size * tokens_per_row)),
        mask(make_mask(groups * group_size, tokens_per_row)),
        L(tokens_per_row) {}
  static std::vector<float> make_rewards(std::int64_t n) {
    std::mt19937 rng(1);
    std::bernoulli_distribution b(0.4);
    std::vector<float> r(static_cast<std::size_t>(n));
    for (auto& x : r) x = b(rng) ? 1.0f : 0.0f;
    return r;
  }
  /// Right-padded rows: row i has a random length in [1, L].
  static std::vector<std::uint8_t> make_mask(std::int64_t n, std::int64_t L) {
    std::mt19937 rng(2);
    std::uniform_int_distribution<std::int64_t> len(1, L);
    std::vector<std::uint8_t> m(static_cast<std::size_t>(n * L));
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t l = len(rng);
      for (std::int64_t t = 0; t < L; ++t) m[static_cast<std::size_t>(i * L + t)] = t < l;
    }
    return m;
  }
  /// Bytes the token kernel must move: the mask read and the token advantages written.
  [[nodiscard]] double token_bytes() const {
    return static_cast<double>(tokens.n) * (sizeof(float) + sizeof(std::uint8_t));
  }
};

void BM_fused_step(benchmark::State& state) {
  step_inputs in(state.range(0) / 16, 16, state.range(1));
  hadw::difficulty_anchor<> anchor;
  hadw::reweight_options opt;
  opt.update_anchor = false;
  event_timer t;
  double total = 0;
  for (auto _ : state) {
    const double s = t.time(nullptr, [&] {
      hadw::estimate_reweight_broadcast(hadw::backend::cuda{}, hadw::grpo{}, in.d_layout,
                                        in.rewards.cspan(), in.adv.span(), anchor, in.mask.cspan(),
                                        in.L, in.tokens.span(), opt);
    });
    state.SetIterationTime(s);
    total += s;
  }
  report(state, in.token_bytes());
  set_pct(state, in.token_bytes(), total);
  state.counters["tokens"] = static_cast<double>(in.tokens.n);
}

/// The fused token kernel alone: the checking pass runs once, then the writing pass (stats,
/// advantage, Phi, token rows) is timed launch by launch.
void BM_fused_token_kernel(benchmark::State& state) {
  namespace dc = hadw::detail::cuda;
  step_inputs in(state.range(0) / 16, 16, state.range(1));
  using est_t = decltype(hadw::grpo{}.policies());
  dc::kernel_args<est_t, float, float, std::uint8_t, float> a;
  a.layout = in.d_layout.view();
  a.rewards = in.rewards.p;
  a.advantages = in.adv.p;
  a.est = hadw::grpo{}.policies();
  a.range = {};
  a.belief = 0.4;
  a.lambda_scale = 1.5;
  a.token_mask = in.mask.p;
  a.token_advantages = in.tokens.p;
  a.L = in.L;
  a.ws = in.d_layout.header();
  a.partials = in.d_layout.partials<dc::scan_totals>();
  dc::clear_workspace(in.d_layout, nullptr);
  dc::launch_scan<dc::estimate_pass | dc::reweight_pass>(a, in.d_layout, nullptr);
  event_timer t;
  double total = 0;
  for (auto _ : state) {
    const double s = t.time(nullptr, [&] {
      dc::launch_apply<dc::estimate_pass | dc::reweight_pass | dc::token_pass>(a, in.d_layout,
                                                                               nullptr);
    });
    state.SetIterationTime(s);
    total += s;
  }
  HADW_CUDA_CHECK(cudaDeviceSynchronize());
  report(state, in.token_bytes());
  set_pct(state, in.token_bytes(), total);
  state.counters["tokens"] = static_cast<double>(in.tokens.n);
}

void BM_broadcast(benchmark::State& state) {
  step_inputs in(state.range(0) / 16, 16, state.range(1));
  event_timer t;
  double total = 0;
  for (auto _ : state) {
    const double s = t.time(nullptr, [&] {
      hadw::broadcast_to_tokens(hadw::backend::cuda{}, std::span<const float>(in.adv.cspan()),
                                in.mask.cspan(), in.L, in.tokens.span());
    });
    state.SetIterationTime(s);
    total += s;
  }
  report(state, in.token_bytes());
  set_pct(state, in.token_bytes(), total);
}

// 2^26 and 2^27 tokens: 8192 responses x 8192 tokens, 16384 x 8192, 131072 x 512.
#define HADW_TOKEN_SHAPES \
  ->Args({8192, 8192})->Args({16384, 8192})->Args({131072, 512})->Args({8192, 1024})
BENCHMARK(BM_fused_token_kernel) HADW_TOKEN_SHAPES->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_fused_step) HADW_TOKEN_SHAPES->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_broadcast) HADW_TOKEN_SHAPES->UseManualTime()->Unit(benchmark::kMicrosecond);

/// Response-level GRPO statistics + advantages: the checking and writing kernels alone.
void BM_stats_kernels(benchmark::State& state) {
  namespace dc = hadw::detail::cuda;
  step_inputs in(state.range(0) / 16, 16, 1);
  using est_t = decltype(hadw::grpo{}.policies());
  dc::kernel_args<est_t, float, float, std::uint8_t, float> a;
  a.layout = in.d_layout.view();
  a.rewards = in.rewards.p;
  a.advantages = in.adv.p;
  a.est = hadw::grpo{}.policies();
  a.ws = in.d_layout.header();
  a.partials = in.d_layout.partials<dc::scan_totals>();
  dc::clear_workspace(in.d_layout, nullptr);
  event_timer t;
  double total = 0;
  for (auto _ : state) {
    const double s = t.time(nullptr, [&] {
      dc::launch_scan<dc::estimate_pass>(a, in.d_layout, nullptr);
      dc::launch_apply<dc::estimate_pass>(a, in.d_layout, nullptr);
    });
    state.SetIterationTime(s);
    total += s;
  }
  state.counters["us_per_call"] = 1e6 * total / static_cast<double>(state.iterations());
}

/// The whole hadw::estimate call (memset, two kernels, the status copy back and the wait).
void BM_estimate_call(benchmark::State& state) {
  step_inputs in(state.range(0) / 16, 16, 1);
  event_timer t;
  double total = 0;
  for (auto _ : state) {
    const double s = t.time(nullptr, [&] {
      hadw::estimate(hadw::backend::cuda{}, hadw::grpo{}, in.d_layout, in.rewards.cspan(),
                     in.adv.span());
    });
    state.SetIterationTime(s);
    total += s;
  }
  state.counters["us_per_call"] = 1e6 * total / static_cast<double>(state.iterations());
}
BENCHMARK(BM_stats_kernels)->Arg(8192)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_estimate_call)->Arg(8192)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipping device benchmarks (%s)\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    return 0;
  }
  cudaDeviceProp prop{};
  HADW_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, copy bandwidth (read + write) %.0f GB/s\n", prop.name,
              copy_bandwidth() * 1e-9);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
