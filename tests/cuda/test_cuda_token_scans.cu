// hadw::gae, reinforce_pp, remax_tokens and optimal_token_baseline under backend::cuda: the CPU
// backend's results (checked against verl's loops in tests/test_token_scans.cpp and
// tests/test_multi_reward.cpp) re-computed on the device and compared;
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

TEMPLATE_TEST_CASE("cuda remax_tokens matches the CPU backend", "[cuda][token_scans][remax]", float,
                   double) {
  for (const auto& [B, L] : {std::pair<std::int64_t, std::int64_t>{1, 7}, {37, 23}, {300, 64}}) {
    const auto r = token_values<TestType>(B, L, 6), b = token_values<TestType>(B, 1, 7);
    const auto m = token_mask(B, L, 8);  // leading, trailing, interior zeros; empty/full rows
    std::vector<TestType> w(m.size());   // a float mask: verl multiplies by the mask's weights
    for (std::size_t k = 0; k < m.size(); ++k) w[k] = m[k] ? TestType(0.25 + (k % 3) * 0.5) : 0;
    const auto compare = [&](const auto& mask) {
      using M = typename std::decay_t<decltype(mask)>::value_type;
      std::vector<TestType> a(r.size()), g(r.size());
      hadw::remax_tokens(std::span<const TestType>(r), std::span<const M>(mask), L,
                         std::span<const TestType>(b), std::span<TestType>(a),
                         std::span<TestType>(g));
      device_vector<TestType> d_r(r), d_b(b), d_a(r.size(), TestType(-7)), d_g(r.size());
      device_vector<M> d_m(mask);
      hadw::remax_tokens(hadw::backend::cuda{}, d_r.cspan(), d_m.cspan(), L, d_b.cspan(),
                         d_a.span(), d_g.span());
      require_tokens_close(a, d_a.host(), "remax_tokens advantages");
      require_tokens_close(g, d_g.host(), "remax_tokens returns");
    };
    compare(m);
    compare(w);
  }
}

TEST_CASE("cuda remax_tokens writes float outputs from double inputs as the CPU does",
          "[cuda][token_scans][remax]") {
  const std::int64_t B = 65, L = 31;
  const auto r = token_values<double>(B, L, 9), b = token_values<double>(B, 1, 10);
  const auto m = token_mask(B, L, 11);
  std::vector<float> a(r.size()), g(r.size());
  hadw::remax_tokens(std::span<const double>(r), std::span<const std::uint8_t>(m), L,
                     std::span<const double>(b), std::span<float>(a), std::span<float>(g));
  device_vector<double> d_r(r), d_b(b);
  device_vector<std::uint8_t> d_m(m);
  device_vector<float> d_a(r.size()), d_g(r.size());
  hadw::remax_tokens(hadw::backend::cuda{}, d_r.cspan(), d_m.cspan(), L, d_b.cspan(), d_a.span(),
                     d_g.span());
  require_tokens_close(a, d_a.host(), "remax_tokens advantages");
  require_tokens_close(g, d_g.host(), "remax_tokens returns");
}

TEST_CASE("cuda remax_tokens throws the CPU's errors and writes nothing",
          "[cuda][token_scans][remax]") {
  const std::int64_t L = 4;
  std::vector<double> r(12, 0.5), b(3, 0.25), w(12, 1.0);
  std::vector<std::uint8_t> m(12, 1);
  // The CPU reports every token_rewards element before any baseline, then the mask: a NaN
  // weight in row 0, a NaN baseline in row 1 and an Inf reward in row 2 name the reward.
  w[1] = std::nan("");
  b[1] = std::nan("");
  r[9] = std::numeric_limits<double>::infinity();
  const auto run_both = [&](const std::vector<double>& rr, const std::vector<double>& bb,
                            const std::vector<double>& ww) {
    std::vector<double> a(12, -7.0), g(12, -7.0);
    const std::string cpu = error_of([&] {
      hadw::remax_tokens(std::span<const double>(rr), std::span<const double>(ww), L,
                         std::span<const double>(bb), std::span<double>(a), std::span<double>(g));
    });
    device_vector<double> d_r(rr), d_b(bb), d_w(ww), d_a(12, -7.0), d_g(12, -7.0);
    const std::string dev = error_of([&] {
      hadw::remax_tokens(hadw::backend::cuda{}, d_r.cspan(), d_w.cspan(), L, d_b.cspan(),
                         d_a.span(), d_g.span());
    });
    for (const double x : d_a.host()) REQUIRE(x == -7.0);
    for (const double x : d_g.host()) REQUIRE(x == -7.0);
    CHECK(dev == cpu);
    return dev;
  };
  CHECK_THAT(run_both(r, b, w), Catch::Contains("token_rewards[9] finite required"));
  r[9] = 0.5;
  CHECK_THAT(run_both(r, b, w), Catch::Contains("baselines[1] finite required"));
  b[1] = 0.25;
  CHECK_THAT(run_both(r, b, w), Catch::Contains("mask[1] finite required"));
  device_vector<double> d_b(b), d_a(12, -7.0), d_g(12, -7.0);
  device_vector<std::uint8_t> d_m(m);
  CHECK_THAT(error_of([&] {
               hadw::remax_tokens(hadw::backend::cuda{}, std::span<const double>(r), d_m.cspan(), L,
                                  d_b.cspan(), d_a.span(), d_g.span());
             }),
             Catch::Contains("token_rewards must point to device memory"));
  for (const double x : d_a.host()) REQUIRE(x == -7.0);
}

TEMPLATE_TEST_CASE("cuda optimal_token_baseline matches the CPU backend",
                   "[cuda][token_scans][otb]", float, double) {
  auto layouts = test_layouts();
  layouts.push_back({"with singletons", hadw::group_layout::from_offsets({0, 1, 4, 5, 9})});
  const std::int64_t L = 19;
  for (const auto& [name, layout] : layouts) {
    const std::int64_t B = layout.num_responses();
    const auto r = token_values<TestType>(B, L, 12), lp = token_values<TestType>(B, L, 13, -4, 0);
    const auto u = token_values<double>(B, L, 14, 0, 1);
    const auto rho = token_values<TestType>(B, L, 15, 0.5, 1.5);
    // A policy's sum_pi_squared lies in [pi^2, pi^2 + (1 - pi)^2], so every w_t >= 0 and B_t
    // is a weighted mean of the group's returns (well conditioned on both backends).
    std::vector<TestType> sp(lp.size());
    for (std::size_t k = 0; k < sp.size(); ++k) {
      const double pi = std::exp(static_cast<double>(lp[k]));
      sp[k] = static_cast<TestType>(pi * pi + u[k] * (1 - pi) * (1 - pi));
    }
    const auto m = token_mask(B, L, 16);  // lengths differ: unique longest responses
    hadw::device_group_layout d_layout(layout, cudaStream_t{});
    device_vector<TestType> d_r(r), d_lp(lp), d_sp(sp), d_rho(rho);
    device_vector<std::uint8_t> d_m(m);
    for (const bool with_is : {false, true})
      for (const bool tail : {true, false}) {
        INFO(name << ", is_weights " << with_is << ", handle_zero_tail " << tail);
        const hadw::otb_options o{.handle_zero_tail = tail};
        const std::span<const TestType> is =
            with_is ? std::span<const TestType>(rho) : std::span<const TestType>();
        std::vector<TestType> a(r.size()), g(r.size());
        hadw::optimal_token_baseline(layout, std::span<const TestType>(r),
                                     std::span<const std::uint8_t>(m),
                                     std::span<const TestType>(lp), std::span<const TestType>(sp),
                                     is, L, std::span<TestType>(a), std::span<TestType>(g), o);
        device_vector<TestType> d_a(r.size(), TestType(-7)), d_g(r.size(), TestType(-7));
        hadw::optimal_token_baseline(
            hadw::backend::cuda{}, d_layout, d_r.cspan(), d_m.cspan(), d_lp.cspan(), d_sp.cspan(),
            with_is ? d_rho.cspan() : std::span<const TestType>(), L, d_a.span(), d_g.span(), o);
        require_tokens_close(a, d_a.host(), "otb advantages");
        require_tokens_close(g, d_g.host(), "otb returns");
      }
  }
}

TEST_CASE("cuda optimal_token_baseline throws the CPU's errors and writes nothing",
          "[cuda][token_scans][otb]") {
  const std::int64_t L = 4;
  const auto layout = hadw::group_layout::uniform(1, 3);
  std::vector<double> r(12, 0.5), lp(12, -1.0), sp(12, 0.5);
  std::vector<std::uint8_t> m(12, 1);
  sp[6] = std::nan("");
  device_vector<double> d_r(r), d_lp(lp), d_sp(sp), d_a(12, -7.0), d_g(12, -7.0);
  device_vector<std::uint8_t> d_m(m);
  hadw::device_group_layout d_layout(layout, cudaStream_t{});
  std::vector<double> a(12), g(12);
  const std::string cpu = error_of([&] {
    hadw::optimal_token_baseline(layout, std::span<const double>(r),
                                 std::span<const std::uint8_t>(m), std::span<const double>(lp),
                                 std::span<const double>(sp), std::span<const double>(), L,
                                 std::span<double>(a), std::span<double>(g));
  });
  CHECK_THAT(cpu, Catch::Contains("sum_pi_squared[1, 2] finite required"));
  CHECK(error_of([&] {
          hadw::optimal_token_baseline(hadw::backend::cuda{}, d_layout, d_r.cspan(), d_m.cspan(),
                                       d_lp.cspan(), d_sp.cspan(), std::span<const double>(), L,
                                       d_a.span(), d_g.span());
        }) == cpu);
  CHECK_THAT(error_of([&] {
               hadw::optimal_token_baseline(hadw::backend::cuda{}, d_layout,
                                            std::span<const double>(r), d_m.cspan(), d_lp.cspan(),
                                            d_sp.cspan(), std::span<const double>(), L, d_a.span(),
                                            d_g.span());
             }),
             Catch::Contains("rewards must point to device memory"));
  for (const double x : d_a.host()) REQUIRE(x == -7.0);
  for (const double x : d_g.host()) REQUIRE(x == -7.0);
}
