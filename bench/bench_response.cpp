// Response-level step (GRPO + HA-DW) at trainer sizes: the fused kernel beside a naive
// two-pass reference loop and a streaming copy of the same bytes, all measured in one run.
//
// Bytes moved per call: N rewards read + N advantages written (sizeof(float) each).
#include <hadw/hadw.hpp>

#include "bench_common.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace {

using hadw_bench::binary_rewards;

constexpr double lambda_scale = 1.5;

/// The textbook implementation a trainer author writes first: per group a mean pass and a
/// variance pass (two-pass, double), then the advantage, then Phi = lambda exp(D M) per response.
void naive_grpo_hadw(const float* rewards, float* adv, std::int64_t groups, std::int64_t size,
                     double prior, double eps) {
  for (std::int64_t k = 0; k < groups; ++k) {
    const float* r = rewards + k * size;
    float* a = adv + k * size;
    double sum = 0.0;
    for (std::int64_t i = 0; i < size; ++i) sum += r[i];
    const double mean = sum / static_cast<double>(size);
    double m2 = 0.0;
    for (std::int64_t i = 0; i < size; ++i) m2 += (r[i] - mean) * (r[i] - mean);
    const double stddev = std::sqrt(m2 / static_cast<double>(size - 1));
    const double diff = mean - prior;
    for (std::int64_t i = 0; i < size; ++i) {
      const double x = (r[i] - mean) / (stddev + eps);
      const double d = -static_cast<double>((x > 0) - (x < 0)) * ((diff > 0) - (diff < 0));
      a[i] = static_cast<float>(x * lambda_scale * std::exp(d * std::fabs(diff)));
    }
  }
}

void set_counters(benchmark::State& state, std::int64_t n) {
  const auto bytes = static_cast<std::int64_t>(state.iterations()) * n * 2 *
                     static_cast<std::int64_t>(sizeof(float));
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * n);
}

/// (b) The same bytes streamed: N floats read, N floats written.
void BM_stream_copy(benchmark::State& state) {
  const std::int64_t n = state.range(0) * state.range(1);
  const auto r = binary_rewards(n, 1);
  std::vector<float> out(static_cast<std::size_t>(n));
  for (auto _ : state) {
    std::memcpy(out.data(), r.data(), static_cast<std::size_t>(n) * sizeof(float));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, n);
}

/// (a) The naive reference.
void BM_naive_grpo_hadw(benchmark::State& state) {
  const std::int64_t b = state.range(0), g = state.range(1), n = b * g;
  const auto r = binary_rewards(n, 1);
  std::vector<float> out(static_cast<std::size_t>(n));
  for (auto _ : state) {
    naive_grpo_hadw(r.data(), out.data(), b, g, 0.5, 1e-6);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, n);
}

/// hadw::estimate alone (GRPO).
void BM_hadw_estimate_grpo(benchmark::State& state) {
  const std::int64_t b = state.range(0), g = state.range(1), n = b * g;
  const auto layout = hadw::group_layout::uniform(b, g);
  const auto r = binary_rewards(n, 1);
  std::vector<float> out(static_cast<std::size_t>(n));
  for (auto _ : state) {
    hadw::estimate(hadw::grpo{}, layout, std::span<const float>(r), std::span<float>(out));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, n);
}

/// The fused step: GRPO + HA-DW weights with the prior, anchor not updated (so every iteration
/// does the same work).
void BM_hadw_fused_grpo_hadw(benchmark::State& state) {
  const std::int64_t b = state.range(0), g = state.range(1), n = b * g;
  const auto layout = hadw::group_layout::uniform(b, g);
  const auto r = binary_rewards(n, 1);
  std::vector<float> out(static_cast<std::size_t>(n));
  hadw::difficulty_anchor<> anchor;
  hadw::reweight_options opt;
  opt.update_anchor = false;
  opt.lambda_scale = lambda_scale;
  for (auto _ : state) {
    auto st = hadw::estimate_and_reweight(hadw::grpo{}, layout, std::span<const float>(r),
                                          std::span<float>(out), anchor, opt);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, n);
}

void sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"prompts", "G"})->Args({512, 16})->Args({1024, 64});
}

}  // namespace

BENCHMARK(BM_stream_copy)->Apply(sizes);
BENCHMARK(BM_naive_grpo_hadw)->Apply(sizes);
BENCHMARK(BM_hadw_estimate_grpo)->Apply(sizes);
BENCHMARK(BM_hadw_fused_grpo_hadw)->Apply(sizes);
