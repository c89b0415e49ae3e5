// Token-level step: GRPO + HA-DW + broadcast to [N, L] token advantages in one fused pass, beside
// a naive two-pass reference (response loop, then a plain broadcast loop) and a streaming
// baseline that moves the same bytes (one memset of the output, one read of the mask).
//
// Bytes per call: N*L output floats written, plus N*L mask bytes read (mask variant); the N
// rewards and advantages are counted too but are <0.1% of it. Arguments: responses N (G = 16),
// tokens per row L, threads (OpenMP, HADW_ENABLE_OPENMP).
#include <hadw/hadw.hpp>

#include "bench_common.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#if HADW_HAS_OPENMP
#include <omp.h>
#endif

namespace {

using hadw_bench::binary_rewards;
constexpr std::int64_t group_size = 16;

struct token_problem {
  std::int64_t n, L;
  std::vector<float> rewards, adv, out;
  std::vector<std::uint8_t> mask;
  std::vector<std::int64_t> lengths;
  token_problem(std::int64_t n_, std::int64_t L_)
      : n(n_), L(L_), rewards(binary_rewards(n_, 1)), adv(static_cast<std::size_t>(n_)),
        out(static_cast<std::size_t>(n_ * L_)), mask(static_cast<std::size_t>(n_ * L_)),
        lengths(static_cast<std::size_t>(n_)) {
    std::mt19937 gen(7);
    std::uniform_int_distribution<std::int64_t> len(L / 8, L);
    for (std::int64_t i = 0; i < n; ++i) {  // a response mask: ones then zeros
      lengths[static_cast<std::size_t>(i)] = len(gen);
      std::fill_n(mask.begin() + i * L, lengths[static_cast<std::size_t>(i)], std::uint8_t{1});
    }
  }
  [[nodiscard]] std::int64_t tokens() const { return n * L; }
};

/// The streaming baseline: the output filled by one memset (glibc's best store loop for the size)
/// and the mask read once (an OR over
/// 64-bit words that the compiler vectorises). Returns a value so the read is not dropped.
std::uint64_t stream_baseline(token_problem& p, bool read_mask) {
  // Non-zero bytes: a store of zeros can be cheaper than the kernel's (zero-line tricks in
  // hardware or hypervisor), which would flatter the baseline against real data.
  std::memset(p.out.data(), 0x3f, p.out.size() * sizeof(float));
  std::uint64_t acc = 0;
  if (read_mask) {
    const auto words = p.mask.size() / 8;
    const auto* m = p.mask.data();
    for (std::size_t w = 0; w < words; ++w) {
      std::uint64_t x;
      std::memcpy(&x, m + 8 * w, 8);
      acc |= x;
    }
  }
  return acc;
}

/// Interleaves the streaming baseline with the kernel: before every timed call, one untimed
/// baseline call is timed on its own (PauseTiming), so that both see the same machine load and
/// "% of streaming baseline" is a ratio from one run, robust to drifting load on a shared host.
struct interleaved_baseline {
  token_problem& p;
  bool read_mask;
  double seconds = 0.0;
  void run(benchmark::State& state) {
    state.PauseTiming();
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(stream_baseline(p, read_mask));
    benchmark::ClobberMemory();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.ResumeTiming();
  }
};

/// The naive reference, response level: two-pass mean and std per group, Phi = lambda exp(D M)
/// per response.
void naive_response(const float* r, float* adv, std::int64_t n, double prior) {
  for (std::int64_t k = 0; k < n / group_size; ++k) {
    const float* g = r + k * group_size;
    double sum = 0.0;
    for (std::int64_t i = 0; i < group_size; ++i) sum += g[i];
    const double mean = sum / group_size;
    double m2 = 0.0;
    for (std::int64_t i = 0; i < group_size; ++i) m2 += (g[i] - mean) * (g[i] - mean);
    const double sd = std::sqrt(m2 / (group_size - 1));
    const double diff = mean - prior;
    for (std::int64_t i = 0; i < group_size; ++i) {
      const double x = (g[i] - mean) / (sd + 1e-6);
      const double d = -static_cast<double>((x > 0) - (x < 0)) * ((diff > 0) - (diff < 0));
      adv[k * group_size + i] = static_cast<float>(x * 1.5 * std::exp(d * std::fabs(diff)));
    }
  }
}

void set_threads(benchmark::State& state) {
#if HADW_HAS_OPENMP
  omp_set_num_threads(static_cast<int>(state.range(2)));
#else
  if (state.range(2) != 1) state.SkipWithError("built without HADW_ENABLE_OPENMP");
#endif
}

void counters(benchmark::State& state, const token_problem& p, bool read_mask,
              double baseline_s, double wall_s = 0.0) {  // both summed over the calls
  const auto bytes_per_call =
      p.tokens() * static_cast<std::int64_t>(sizeof(float) + (read_mask ? 1 : 0));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * bytes_per_call);
  if (baseline_s > 0.0 && wall_s > 0.0)
    state.counters["pct_of_stream"] = 100.0 * baseline_s / wall_s;
}

/// Wall time of the calls of a benchmark loop (threads included, unlike CPU time).
struct wall_clock {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  [[nodiscard]] double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

void BM_stream_baseline_mask(benchmark::State& state) {
  token_problem p(state.range(0), state.range(1));
  for (auto _ : state) {
    benchmark::DoNotOptimize(stream_baseline(p, true));
    benchmark::ClobberMemory();
  }
  counters(state, p, true, 0.0);
}

/// Times `call` once per iteration, each right after one run of the streaming baseline that
/// moves the same bytes, so both see the same load; reports bytes/s and % of that baseline.
template <class Call>
void against_interleaved_baseline(benchmark::State& state, token_problem& p, bool read_mask,
                                  Call&& call) {
  interleaved_baseline base{p, read_mask};
  double wall = 0.0;
  for (auto _ : state) {
    base.run(state);
    const wall_clock clock;
    call();
    benchmark::ClobberMemory();
    wall += clock.seconds();
  }
  counters(state, p, read_mask, base.seconds, wall);
}

/// The naive reference: the two-pass response loop, then a plain token loop (mask or lengths).
template <bool Mask>
void BM_naive_two_pass(benchmark::State& state) {
  token_problem p(state.range(0), state.range(1));
  against_interleaved_baseline(state, p, Mask, [&] {
    naive_response(p.rewards.data(), p.adv.data(), p.n, 0.5);
    for (std::int64_t i = 0; i < p.n; ++i) {
      const auto row = static_cast<std::size_t>(i);
      for (std::int64_t t = 0; t < p.L; ++t) {
        const auto k = static_cast<std::size_t>(i * p.L + t);
        const bool valid = Mask ? p.mask[k] != 0 : t < p.lengths[row];
        p.out[k] = valid ? p.adv[row] : 0.0f;
      }
    }
    benchmark::DoNotOptimize(p.out.data());
  });
}

/// hadw's fused estimate -> reweight -> broadcast, under a uint8 mask or per-row lengths.
template <bool Mask>
void BM_hadw_fused(benchmark::State& state) {
  set_threads(state);
  token_problem p(state.range(0), state.range(1));
  const auto layout = hadw::group_layout::uniform(p.n / group_size, group_size);
  hadw::difficulty_anchor<> anchor;
  hadw::reweight_options opt;
  opt.update_anchor = false;
  against_interleaved_baseline(state, p, Mask, [&] {
    const auto rows = [&] {
      if constexpr (Mask) return std::span<const std::uint8_t>(p.mask);
      else return std::span<const std::int64_t>(p.lengths);
    }();
    auto st = hadw::estimate_reweight_broadcast(hadw::grpo{}, layout,
                                                std::span<const float>(p.rewards),
                                                std::span<float>(p.adv), anchor, rows, p.L,
                                                std::span<float>(p.out), opt);
    benchmark::DoNotOptimize(st);
  });
}

void BM_stream_baseline_lengths(benchmark::State& state) {
  token_problem p(state.range(0), state.range(1));
  for (auto _ : state) {
    benchmark::DoNotOptimize(stream_baseline(p, false));
    benchmark::ClobberMemory();
  }
  counters(state, p, false, 0.0);
}

/// N = 8192 responses (512 prompts x 16) at L = 1024, 8192 and 16384: 2^23, 2^26, 2^27 tokens.
void shapes(benchmark::internal::Benchmark* b, bool threads) {
  b->ArgNames({"N", "L", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
  for (std::int64_t L : {1024, 8192, 16384}) {
    b->Args({8192, L, 1});
    if (threads) b->Args({8192, L, 2});
  }
}

}  // namespace

BENCHMARK(BM_stream_baseline_mask)->Apply([](auto* b) { shapes(b, false); });
BENCHMARK(BM_naive_two_pass<true>)->Name("BM_naive_two_pass_mask")->Apply([](auto* b) { shapes(b, false); });
BENCHMARK(BM_hadw_fused<true>)->Name("BM_hadw_fused_mask")->Apply([](auto* b) { shapes(b, true); });
BENCHMARK(BM_stream_baseline_lengths)->Apply([](auto* b) { shapes(b, false); });
BENCHMARK(BM_naive_two_pass<false>)->Name("BM_naive_two_pass_lengths")->Apply([](auto* b) { shapes(b, false); });
BENCHMARK(BM_hadw_fused<false>)->Name("BM_hadw_fused_lengths")->Apply([](auto* b) { shapes(b, true); });
