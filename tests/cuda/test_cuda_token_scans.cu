// hadw::gae and hadw::reinforce_pp under backend::cuda: the CPU backend's results (checked
// against verl's loops in tests/test_token_scans.cpp) re-computed on the device and compared;
// the same errors, nothing written on error.
#include "device_support.cuh"

#include "../support/token_rows.hpp"

using namespace hadw_test;
using test_support::error_of;
using test_support::token_mask;
using test_support::token_values;

namespace {

/// The device contracts a * b + c into FMAs (nvcc's --fmad=true, the CUDA backend's contract)
/// where the CPU rounds twice: a scan step's double differs by an ulp or so, which can flip the
/// float rounding of a stored token by one float ulp, then whitening rescales it by 1 / std.
/// Bound: 8 ulps of the output type at the largest magnitude of the row set (double: L steps of
/// 1e-16 each stay far below 1e-12).
template <class T>
void require_tokens_close(const std::vector<T>& cpu, const std::vector<T>& dev, const char* what) {
  REQUIRE(cpu.size() == dev.size());
  double scale = 1.0, worst = 0.0;
  for (std::size_t k = 0; k < cpu.size(); ++k) {
    scale = std::max(scale, std::fabs(static_cast<double>(cpu[k])));
    worst = std::max(worst, std::fabs(static_cast<double>(cpu[k]) - static_cast<double>(dev[k])));
  }
  const double tol = (std::is_same_v<T, float> ? 8 * 1.1920929e-7 : 1e-12) * scale;
  INFO(what << ": worst absolute difference " << worst << ", bound " << tol);
  REQUIRE(worst <= tol);
}

}  // namespace

TEMPLATE_TEST_CASE("cuda gae matches the CPU backend", "[cuda][token_scans]", float, double) {
  for (const auto& [B, L] : {std::pair<std::int64_t, std::int64_t>{1, 5}, {37, 23}, {300, 64}}) {
    const auto r = token_values<TestType>(B, L, 1), v = token_values<TestType>(B, L, 2, -2, 2);
    auto m = token_mask(B, L, 3);
    if (B == 1) std::fill(m.begin(), m.end(), 1);
    for (const auto& [gamma, lam] : {std::pair{1.0, 1.0}, {0.0, 0.0}, {0.99, 0.95}})
      for (const bool whiten : {true, false}) {
        const hadw::gae_options o{.gamma = gamma, .lambda = lam, .whiten = whiten};
        std::vector<TestType> a(r.size()), g(r.size());
        hadw::gae(std::span<const TestType>(r), std::span<const TestType>(v),
                  std::span<const std::uint8_t>(m), L, std::span<TestType>(a),
                  std::span<TestType>(g), o);
        device_vector<TestType> d_r(r), d_v(v), d_a(r.size(), TestType(-7)), d_g(r.size());
        device_vector<std::uint8_t> d_m(m);
        hadw::gae(hadw::backend::cuda{}, d_r.cspan(), d_v.cspan(), d_m.cspan(), L, d_a.span(),
                  d_g.span(), o);
        require_tokens_close(a, d_a.host(), "gae advantages");
        require_tokens_close(g, d_g.host(), "gae returns");
      }
  }
}

TEMPLATE_TEST_CASE("cuda reinforce_pp matches the CPU backend", "[cuda][token_scans]", float,
                   double) {
  const std::int64_t B = 129, L = 48;
  const auto r = token_values<TestType>(B, L, 4);
  const auto m = token_mask(B, L, 5);
  for (const double gamma : {0.0, 0.9, 1.0}) {
    std::vector<TestType> a(r.size()), g(r.size());
    hadw::reinforce_pp(std::span<const TestType>(r), std::span<const std::uint8_t>(m), L,
                       std::span<TestType>(a), std::span<TestType>(g), {.gamma = gamma});
    device_vector<TestType> d_r(r), d_a(r.size()), d_g(r.size());
    device_vector<std::uint8_t> d_m(m);
    hadw::reinforce_pp(hadw::backend::cuda{}, d_r.cspan(), d_m.cspan(), L, d_a.span(), d_g.span(),
                       {.gamma = gamma});
    require_tokens_close(a, d_a.host(), "reinforce_pp advantages");
    require_tokens_close(g, d_g.host(), "reinforce_pp returns");
  }
}

TEST_CASE("cuda token scans throw the CPU's errors and write nothing", "[cuda][token_scans]") {
  const std::int64_t L = 4;
  std::vector<double> r(12, 0.5), v(12, 0.25);
  std::vector<std::uint8_t> m(12, 1);
  v[6] = std::nan("");
  device_vector<double> d_r(r), d_v(v), d_a(12, -7.0), d_g(12, -7.0);
  device_vector<std::uint8_t> d_m(m);
  CHECK_THAT(error_of([&] {
               hadw::gae(hadw::backend::cuda{}, d_r.cspan(), d_v.cspan(), d_m.cspan(), L,
                         d_a.span(), d_g.span());
             }),
             Catch::Contains("values[1, 2] finite required"));
  std::vector<std::uint8_t> one(12, 0);
  one[3] = 1;
  device_vector<std::uint8_t> d_one(one);
  CHECK_THAT(error_of([&] {
               hadw::reinforce_pp(hadw::backend::cuda{}, d_r.cspan(), d_one.cspan(), L, d_a.span(),
                                  d_g.span());
             }),
             Catch::Contains("mask: at least 2 valid tokens"));
  CHECK_THAT(error_of([&] {
               hadw::reinforce_pp(hadw::backend::cuda{}, std::span<const double>(r), d_m.cspan(), L,
                                  d_a.span(), d_g.span());
             }),
             Catch::Contains("rewards must point to device memory"));
  for (const double x : d_a.host()) REQUIRE(x == -7.0);
  for (const double x : d_g.host()) REQUIRE(x == -7.0);
}
