// Test support for the CUDA tests: device buffers, seeded inputs, layouts and comparisons.
#pragma once

#include <hadw/backend/cuda.cuh>
#include <hadw/hadw.hpp>

#include <catch2/catch.hpp>

#include "../support/error_of.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace hadw_test {

/// A device copy of a host vector (cudaMalloc; tests only).
template <class T>
class device_vector {
 public:
  explicit device_vector(const std::vector<T>& host) : n_(host.size()) {
    HADW_CUDA_CHECK(cudaMalloc(&p_, std::max<std::size_t>(1, n_) * sizeof(T)));
    if (n_) HADW_CUDA_CHECK(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  explicit device_vector(std::size_t n, T fill = T{}) : device_vector(std::vector<T>(n, fill)) {}
  device_vector(const device_vector&) = delete;
  device_vector& operator=(const device_vector&) = delete;
  ~device_vector() { cudaFree(p_); }
  [[nodiscard]] std::span<T> span() { return {p_, n_}; }
  [[nodiscard]] std::span<const T> cspan() const { return {p_, n_}; }
  [[nodiscard]] std::vector<T> host() const {
    std::vector<T> h(n_);
    if (n_) HADW_CUDA_CHECK(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

/// Binary rewards with per-group success probability drawn uniformly (trainer-like), or
/// continuous rewards in [0, 1].
template <class T>
std::vector<T> make_rewards(std::int64_t n, std::uint64_t seed, bool binary = true) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<T> r(static_cast<std::size_t>(n));
  for (auto& x : r) x = static_cast<T>(binary ? (u(rng) < 0.4 ? 1.0 : 0.0) : u(rng));
  return r;
}

inline std::vector<std::uint8_t> make_mask(std::int64_t n, std::uint64_t seed, double keep = 0.85) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution b(keep);
  std::vector<std::uint8_t> m(static_cast<std::size_t>(n));
  for (auto& x : m) x = b(rng) ? 1 : 0;
  return m;
}

inline std::vector<std::int64_t> make_lengths(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> d(1, 4096);
  std::vector<std::int64_t> l(static_cast<std::size_t>(n));
  for (auto& x : l) x = d(rng);
  return l;
}

/// The layouts the CPU tests use: uniform, ragged CSR (sizes 2..40), unsorted ids (a
/// permutation), and groups larger than the device's shared-memory staging limit.
struct named_layout {
  std::string name;
  hadw::group_layout layout;
};

inline std::vector<named_layout> test_layouts() {
  std::vector<named_layout> out;
  out.push_back({"uniform 512x16", hadw::group_layout::uniform(512, 16)});
  out.push_back({"uniform 7x4", hadw::group_layout::uniform(7, 4)});
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::int64_t> size(2, 40);
  std::vector<std::int64_t> offsets{0};
  for (int k = 0; k < 300; ++k) offsets.push_back(offsets.back() + size(rng));
  out.push_back({"ragged 2..40", hadw::group_layout::from_offsets(offsets)});
  std::vector<std::int64_t> ids(2000);
  std::uniform_int_distribution<std::int64_t> id(0, 99);
  for (auto& x : ids) x = id(rng);
  out.push_back({"ids, unsorted", hadw::group_layout::from_ids(ids)});
  out.push_back({"uniform 3x300 (in place)", hadw::group_layout::uniform(3, 300)});
  std::vector<std::int64_t> big{0, 5, 305, 309, 1000};
  out.push_back({"ragged 4..691 (in place)", hadw::group_layout::from_offsets(big)});
  return out;
}

/// |device - cpu| within a few ulp of the output type (the device contracts a*b+c into FMAs and
/// has its own exp(); the statistics themselves are computed in the CPU's order).
template <class U>
void require_close(const std::vector<U>& cpu, const std::vector<U>& dev, const std::string& what) {
  REQUIRE(cpu.size() == dev.size());
  const double rel = std::is_same_v<U, float> ? 4e-7 : 1e-13;
  std::size_t worst = 0;
  double worst_err = 0.0;
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    const double c = static_cast<double>(cpu[i]), d = static_cast<double>(dev[i]);
    if (std::isnan(c) && std::isnan(d)) continue;
    const double err = std::fabs(c - d) / std::max(1.0, std::fabs(c));
    if (err > worst_err) {
      worst_err = err;
      worst = i;
    }
  }
  INFO(what << ": worst relative error " << worst_err << " at " << worst << " (cpu "
            << (cpu.empty() ? 0.0 : static_cast<double>(cpu[worst])) << ", device "
            << (dev.empty() ? 0.0 : static_cast<double>(dev[worst])) << ")");
  REQUIRE(worst_err <= rel);
}

inline void require_close(double cpu, double dev, const char* what, double rel = 1e-12) {
  INFO(what << ": cpu " << cpu << ", device " << dev);
  if (std::isnan(cpu)) {
    REQUIRE(std::isnan(dev));
    return;
  }
  if (std::isinf(cpu)) {
    REQUIRE(cpu == dev);
    return;
  }
  REQUIRE(std::fabs(cpu - dev) <= rel * std::max(1.0, std::fabs(cpu)));
}

inline void require_same_stats(const hadw::step_stats& c, const hadw::step_stats& d) {
  require_close(c.prior, d.prior, "prior");
  require_close(c.posterior, d.posterior, "posterior");
  require_close(c.eta, d.eta, "eta");
  require_close(c.weighting_belief, d.weighting_belief, "weighting_belief");
  require_close(c.batch_accuracy, d.batch_accuracy, "batch_accuracy");
  REQUIRE(c.correct == d.correct);
  REQUIRE(c.total == d.total);
  REQUIRE(c.num_groups == d.num_groups);
  REQUIRE(c.degenerate_fraction == d.degenerate_fraction);
  require_close(c.phi_min, d.phi_min, "phi_min");
  require_close(c.phi_max, d.phi_max, "phi_max");
  require_close(c.phi_mean, d.phi_mean, "phi_mean");
  require_close(c.adv_mean_before, d.adv_mean_before, "adv_mean_before", 1e-9);
  require_close(c.adv_std_before, d.adv_std_before, "adv_std_before", 1e-9);
  require_close(c.adv_mean_after, d.adv_mean_after, "adv_mean_after", 1e-9);
  require_close(c.adv_std_after, d.adv_std_after, "adv_std_after", 1e-9);
  REQUIRE(c.step == d.step);
}

using test_support::error_of;  // the message of the hadw::error f throws ("" when none)

}  // namespace hadw_test
