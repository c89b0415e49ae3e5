// hadw::gae, hadw::reinforce_pp and hadw::optimal_token_baseline against naive loops transcribed
// from verl 0.9.1 (verl/trainer/ppo/core_algos.py and verl/utils/torch_functional.py), written
// here in double with verl's multiplicative masks, on seeded [B, L] inputs whose masks have
// leading, trailing and interior zeros, fully masked and fully valid rows.
#include <hadw/api/token_scans.hpp>

#include <catch2/catch.hpp>

#include "support/error_of.hpp"
#include "support/token_rows.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <vector>

#if HADW_HAS_OPENMP
#include <omp.h>
#endif

using test_support::error_of;
using test_support::token_mask;
using test_support::token_values;

namespace {

using vec = std::vector<double>;

template <class T>
vec to_double(const std::vector<T>& x) {
  return vec(x.begin(), x.end());
}

/// verl_F.masked_whiten: masked_mean with + 1e-8, Bessel's masked_var, rsqrt(var + 1e-8).
vec ref_masked_whiten(const vec& x, const std::vector<std::uint8_t>& m) {
  double s = 0, n = 0;
  for (std::size_t k = 0; k < x.size(); ++k) s += x[k] * m[k], n += m[k];
  const double mean = s / (n + 1e-8);
  double q = 0;
  for (std::size_t k = 0; k < x.size(); ++k) q += (x[k] - mean) * (x[k] - mean) * m[k];
  const double var = q / (n + 1e-8) * (n / (n - 1));
  vec out(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) out[k] = (x[k] - mean) / std::sqrt(var + 1e-8);
  return out;
}

/// compute_gae_advantage_return, line by line.
std::pair<vec, vec> ref_gae(const vec& r, const vec& v, const std::vector<std::uint8_t>& m,
                            std::int64_t B, std::int64_t L, double gamma, double lam, bool whiten) {
  vec adv(r.size()), ret(r.size());
  for (std::int64_t i = 0; i < B; ++i) {
    double nextvalues = 0, lastgaelam = 0;
    for (std::int64_t t = L - 1; t >= 0; --t) {
      const auto k = static_cast<std::size_t>(i * L + t);
      const double mk = m[k];
      const double delta = r[k] + gamma * nextvalues - v[k];
      const double lastgaelam_ = delta + gamma * lam * lastgaelam;
      nextvalues = v[k] * mk + (1 - mk) * nextvalues;
      lastgaelam = lastgaelam_ * mk + (1 - mk) * lastgaelam;
      adv[k] = lastgaelam;
    }
  }
  for (std::size_t k = 0; k < r.size(); ++k) ret[k] = adv[k] + v[k];
  return {whiten ? ref_masked_whiten(adv, m) : adv, ret};
}

/// compute_reinforce_plus_plus_outcome_advantage, line by line.
std::pair<vec, vec> ref_reinforce_pp(const vec& r, const std::vector<std::uint8_t>& m,
                                     std::int64_t B, std::int64_t L, double gamma) {
  vec ret(r.size());
  for (std::int64_t i = 0; i < B; ++i) {
    double running = 0;
    for (std::int64_t t = L - 1; t >= 0; --t) {
      const auto k = static_cast<std::size_t>(i * L + t);
      const double next = r[k] + gamma * running;
      ret[k] = next * m[k];
      running = next * m[k] + running * (1 - m[k]);
    }
  }
  vec adv = ref_masked_whiten(ret, m);
  for (std::size_t k = 0; k < adv.size(); ++k) adv[k] *= m[k];
  return {adv, ret};
}

/// compute_optimal_token_baseline_advantage, line by line (groups by id, in order of rows).
std::pair<vec, vec> ref_otb(const vec& r, const std::vector<std::uint8_t>& m, const vec& lp,
                            const vec& sp, const vec* rho, const std::vector<int>& ids,
                            std::int64_t B, std::int64_t L, bool zero_tail, double eps) {
  const auto at = [L](std::int64_t i, std::int64_t t) {
    return static_cast<std::size_t>(i * L + t);
  };
  vec ret(r.size()), W(r.size()), base(r.size(), 0.0), adv(r.size());
  for (std::int64_t i = 0; i < B; ++i) {
    double c = 0;
    for (std::int64_t t = L - 1; t >= 0; --t) ret[at(i, t)] = (c += r[at(i, t)] * m[at(i, t)]);
    double w = 0;
    for (std::int64_t t = 0; t < L; ++t) {
      double wt = 1 - 2 * std::exp(lp[at(i, t)]) + sp[at(i, t)];
      if (rho) wt *= (*rho)[at(i, t)] * (*rho)[at(i, t)];
      W[at(i, t)] = (w += wt * m[at(i, t)]);
    }
  }
  std::map<int, std::vector<std::int64_t>> groups;
  for (std::int64_t i = 0; i < B; ++i) groups[ids[static_cast<std::size_t>(i)]].push_back(i);
  for (const auto& [id, rows] : groups) {
    if (rows.size() == 1) continue;
    for (std::int64_t t = 0; t < L; ++t) {
      double num = 0, den = 0;
      for (auto i : rows)
        num += ret[at(i, t)] * W[at(i, t)] * m[at(i, t)], den += W[at(i, t)] * m[at(i, t)];
      for (auto i : rows) base[at(i, t)] = num / (den + eps);
    }
    if (zero_tail) {
      std::vector<std::int64_t> len;
      for (auto i : rows) {
        std::int64_t n = 0;
        for (std::int64_t t = 0; t < L; ++t) n += m[at(i, t)];
        len.push_back(n);
      }
      auto sorted = len;
      std::sort(sorted.begin(), sorted.end());
      const auto mx = sorted.back(), second = sorted[sorted.size() - 2];
      if (std::count(len.begin(), len.end(), mx) == 1 && mx > second) {
        const auto i =
            rows[static_cast<std::size_t>(std::find(len.begin(), len.end(), mx) - len.begin())];
        for (std::int64_t t = second; t < L; ++t) base[at(i, t)] = 0;
      }
    }
  }
  for (std::size_t k = 0; k < r.size(); ++k) adv[k] = (ret[k] - base[k]) * m[k];
  return {adv, ret};
}

/// Double: rounding only (a different summation order). Float: hadw accumulates in double and
/// rounds each stored token once; the reference runs in double on the same float inputs, so the
/// difference is a few float ulps of the largest magnitude in play (whitened values ~ 1-10).
template <class T>
void require_close(const std::vector<T>& got, const vec& want, const char* what) {
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-11;
  REQUIRE(got.size() == want.size());
  double scale = 1, worst = 0;
  std::size_t at = 0;
  for (double w : want) scale = std::max(scale, std::abs(w));
  for (std::size_t k = 0; k < want.size(); ++k) {
    const double err = std::abs(static_cast<double>(got[k]) - want[k]);
    if (!(err <= worst)) worst = err, at = k;  // NaN counts as the worst
  }
  INFO(what << "[" << at << "]: got " << got[at] << ", want " << want[at]);
  REQUIRE(worst <= tol * scale);
}

}  // namespace

TEMPLATE_TEST_CASE("gae matches verl's reverse scan and masked_whiten", "[token_scans][gae]", float,
                   double) {
  const std::int64_t B = 23, L = 37;
  const auto r = token_values<TestType>(B, L, 1), v = token_values<TestType>(B, L, 2, -2, 2);
  const auto m = token_mask(B, L, 3);
  for (const auto& [gamma, lam] :
       {std::pair{1.0, 1.0}, {0.0, 0.0}, {1.0, 0.0}, {0.0, 1.0}, {0.99, 0.95}}) {
    for (const bool whiten : {true, false}) {
      std::vector<TestType> adv(r.size(), TestType(-7)), ret(r.size(), TestType(-7));
      hadw::gae(std::span<const TestType>(r), std::span<const TestType>(v),
                std::span<const std::uint8_t>(m), L, std::span<TestType>(adv),
                std::span<TestType>(ret), {.gamma = gamma, .lambda = lam, .whiten = whiten});
      const auto [want_adv, want_ret] =
          ref_gae(to_double(r), to_double(v), m, B, L, gamma, lam, whiten);
      INFO("gamma " << gamma << " lambda " << lam << " whiten " << whiten);
      require_close(adv, want_adv, "advantages");
      require_close(ret, want_ret, "returns");
    }
  }
}

TEST_CASE("gae with gamma = lambda = 1 and no whitening is the reward-to-go minus the value",
          "[token_scans][gae]") {
  // Closed form on a row without holes: A_t = sum_{j >= t} r_j - V_t.
  const std::vector<double> r{0, 0, 1, 0}, v{0.5, 0.25, 0.75, 0.125};  // dyadic: exact sums
  std::vector<double> adv(4), ret(4);
  bool mask[4] = {true, true, true, true};
  hadw::gae(std::span<const double>(r), std::span<const double>(v), std::span<const bool>(mask, 4),
            4, std::span<double>(adv), std::span<double>(ret), {.whiten = false});
  CHECK(adv == std::vector<double>{0.5, 0.75, 0.25, -0.125});
  CHECK(ret == std::vector<double>{1, 1, 1, 0});
}

TEMPLATE_TEST_CASE("reinforce_pp matches verl's discounted returns and masked_whiten",
                   "[token_scans][reinforce_pp]", float, double) {
  const std::int64_t B = 29, L = 41;
  auto r = token_values<TestType>(B, L, 4);
  for (std::size_t k = 0; k < r.size(); ++k)  // sparse outcome-like rewards
    if (k % 5 != 0) r[k] = TestType(0);
  const auto m = token_mask(B, L, 5);
  for (const double gamma : {0.0, 0.5, 0.99, 1.0}) {
    std::vector<TestType> adv(r.size(), TestType(-7)), ret(r.size(), TestType(-7));
    hadw::reinforce_pp(std::span<const TestType>(r), std::span<const std::uint8_t>(m), L,
                       std::span<TestType>(adv), std::span<TestType>(ret), {.gamma = gamma});
    const auto [want_adv, want_ret] = ref_reinforce_pp(to_double(r), m, B, L, gamma);
    INFO("gamma " << gamma);
    require_close(adv, want_adv, "advantages");
    require_close(ret, want_ret, "returns");
    for (std::size_t k = 0; k < m.size(); ++k)
      if (!m[k]) REQUIRE((adv[k] == 0 && ret[k] == 0));
  }
}

TEMPLATE_TEST_CASE("optimal_token_baseline matches verl's per-timestep group baseline",
                   "[token_scans][otb]", float, double) {
  const std::int64_t B = 30, L = 19;
  const std::vector<int> ids{3, 1, 3, 2, 1, 3, 0, 4, 4, 2, 1, 5, 5, 5, 3,
                             6, 6, 7, 1, 2, 8, 8, 8, 8, 9, 3, 6, 7, 7, 0};
  const auto r = token_values<TestType>(B, L, 6);
  const auto lp = token_values<TestType>(B, L, 7, -6, 0),
             sp = token_values<TestType>(B, L, 8, 0, 1);
  const auto rho = token_values<TestType>(B, L, 9, 0.5, 2);
  auto m = token_mask(B, L, 10);
  for (std::int64_t t = 0; t < L; ++t)
    m[static_cast<std::size_t>(24 * L + t)] = 1;  // group 9: one response
  const auto layout = hadw::group_layout::from_ids(ids);
  for (const bool tail : {true, false})
    for (const bool with_is : {false, true}) {
      std::vector<TestType> adv(r.size(), TestType(-7)), ret(r.size(), TestType(-7));
      hadw::optimal_token_baseline(
          layout, std::span<const TestType>(r), std::span<const std::uint8_t>(m),
          std::span<const TestType>(lp), std::span<const TestType>(sp),
          with_is ? std::span<const TestType>(rho) : std::span<const TestType>{}, L,
          std::span<TestType>(adv), std::span<TestType>(ret), {.handle_zero_tail = tail});
      const vec rho_d = to_double(rho);
      const auto [want_adv, want_ret] = ref_otb(to_double(r), m, to_double(lp), to_double(sp),
                                                with_is ? &rho_d : nullptr, ids, B, L, tail, 1e-8);
      INFO("handle_zero_tail " << tail << " is_weights " << with_is);
      require_close(adv, want_adv, "advantages");
      require_close(ret, want_ret, "returns");
    }
}

TEST_CASE("optimal_token_baseline zeroes the unique longest response's tail baseline",
          "[token_scans][otb]") {
  // Two responses, lengths 3 and 1: from column 1 on the longest one's baseline is 0, so its
  // advantage is its return there; a group of one keeps baseline 0 everywhere.
  const std::vector<double> r{0, 0, 1, 1, 0, 0}, lp(6, std::log(0.5)), sp(6, 0.5);
  const std::uint8_t m[6] = {1, 1, 1, 1, 0, 0};
  std::vector<double> adv(6), ret(6);
  const auto layout = hadw::group_layout::from_ids(std::vector<int>{7, 7});
  hadw::optimal_token_baseline(layout, std::span<const double>(r),
                               std::span<const std::uint8_t>(m, 6), std::span<const double>(lp),
                               std::span<const double>(sp), {}, 3, std::span<double>(adv),
                               std::span<double>(ret));
  CHECK(ret == std::vector<double>{1, 1, 1, 1, 0, 0});
  CHECK(adv[1] == 1);
  CHECK(adv[2] == 1);
  CHECK(adv[4] == 0);
  CHECK(adv[5] == 0);
}

TEST_CASE("token scans refuse bad input by name and write nothing", "[token_scans][errors]") {
  const std::int64_t B = 3, L = 4;
  std::vector<double> r(12, 0.5), v(12, 0.25), adv(12, -7), ret(12, -7);
  std::vector<std::uint8_t> m(12, 1);
  const auto gae = [&](hadw::gae_options o = {}, std::int64_t l = 4) {
    hadw::gae(std::span<const double>(r), std::span<const double>(v),
              std::span<const std::uint8_t>(m), l, std::span<double>(adv), std::span<double>(ret),
              o);
  };
  CHECK_THAT(error_of([&] { gae({.gamma = 1.5}); }),
             Catch::Contains("gamma in [0, 1] required, got 1.5"));
  CHECK_THAT(error_of([&] { gae({.lambda = -0.1}); }), Catch::Contains("lambda in [0, 1]"));
  CHECK_THAT(error_of([&] { gae({.gamma = std::nan("")}); }), Catch::Contains("gamma in [0, 1]"));
  CHECK_THAT(error_of([&] { gae({}, 5); }), Catch::Contains("multiple of L"));
  CHECK_THAT(error_of([&] { gae({}, 0); }), Catch::Contains("L (tokens per row) >= 1"));
  v[6] = std::numeric_limits<double>::infinity();
  CHECK_THAT(error_of([&] { gae(); }), Catch::Contains("values[1, 2] finite required, got inf"));
  v[6] = 0.25;
  r[11] = std::nan("");
  CHECK_THAT(error_of([&] { gae(); }), Catch::Contains("rewards[2, 3] finite required"));
  r[11] = 0.5;
  std::fill(m.begin(), m.end(), 0);
  m[5] = 1;
  CHECK_THAT(error_of([&] { gae(); }), Catch::Contains("mask: at least 2 valid tokens"));
  CHECK_THAT(error_of([&] {
               hadw::reinforce_pp(std::span<const double>(r), std::span<const std::uint8_t>(m), L,
                                  std::span<double>(adv), std::span<double>(ret));
             }),
             Catch::Contains("mask: at least 2 valid tokens"));
  CHECK(std::all_of(adv.begin(), adv.end(), [](double x) { return x == -7; }));
  CHECK(std::all_of(ret.begin(), ret.end(), [](double x) { return x == -7; }));
  CHECK_NOTHROW(gae({.whiten = false}));  // without whitening one valid token is enough
  CHECK_THAT(error_of([&] {
               hadw::gae(std::span<const double>(r), std::span<const double>(v),
                         std::span<const std::uint8_t>(m), L, std::span<double>(adv),
                         std::span<double>(adv), {});
             }),
             Catch::Contains("advantages and returns overlap"));
  CHECK_THAT(error_of([&] {
               hadw::reinforce_pp(std::span<const double>(r), std::span<const std::uint8_t>(m), L,
                                  std::span<double>(r), std::span<double>(ret));
             }),
             Catch::Contains("advantages and rewards overlap"));
  const auto layout = hadw::group_layout::uniform(1, 2);
  CHECK_THAT(error_of([&] {
               hadw::optimal_token_baseline(layout, std::span<const double>(r),
                                            std::span<const std::uint8_t>(m),
                                            std::span<const double>(v), std::span<const double>(v),
                                            {}, L, std::span<double>(adv), std::span<double>(ret));
             }),
             Catch::Contains("layout.num_responses() == rows"));
  (void)B;
}

TEST_CASE("gae over rows spanning several fold blocks matches verl", "[token_scans][gae]") {
  // 200 rows: four blocks of 64 in the whitening's fixed fold (tokens/whiten.hpp fold_rows).
  const std::int64_t B = 200, L = 16;
  const auto r = token_values<double>(B, L, 11), v = token_values<double>(B, L, 12);
  const auto m = token_mask(B, L, 13);
  std::vector<double> adv(r.size()), ret(r.size());
  hadw::gae(std::span<const double>(r), std::span<const double>(v),
            std::span<const std::uint8_t>(m), L, std::span<double>(adv), std::span<double>(ret),
            {.gamma = 0.9, .lambda = 0.8});
  const auto [want_adv, want_ret] = ref_gae(r, v, m, B, L, 0.9, 0.8, true);
  require_close(adv, want_adv, "advantages");
  require_close(ret, want_ret, "returns");
}

TEST_CASE("token scans on a batch past the parallel threshold match verl, any thread count",
          "[token_scans][parallel]") {
  // 512 x 2048 tokens >= detail::parallel_min_work: with HADW_ENABLE_OPENMP the rows run on the
  // team (the sanitizer stage builds so); the fold's fixed blocks keep the bits of one thread.
  const std::int64_t B = 512, L = 2048;
  const auto r = token_values<double>(B, L, 14), v = token_values<double>(B, L, 15);
  const auto m = token_mask(B, L, 16);
  std::vector<double> adv(r.size()), ret(r.size());
  const auto run = [&] {
    hadw::reinforce_pp(std::span<const double>(r), std::span<const std::uint8_t>(m), L,
                       std::span<double>(adv), std::span<double>(ret), {.gamma = 0.99});
    hadw::gae(std::span<const double>(r), std::span<const double>(v),
              std::span<const std::uint8_t>(m), L, std::span<double>(adv), std::span<double>(ret),
              {.gamma = 0.99, .lambda = 0.95});
    return std::pair{adv, ret};
  };
  const auto [a, g] = run();
  const auto [want_adv, want_ret] = ref_gae(r, v, m, B, L, 0.99, 0.95, true);
  require_close(a, want_adv, "advantages");
  require_close(g, want_ret, "returns");
#if HADW_HAS_OPENMP
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto [a1, g1] = run();
  omp_set_num_threads(threads);
  CHECK(a1 == a);
  CHECK(g1 == g);
#endif
}
