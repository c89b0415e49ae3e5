// The field's per-response estimators (MaxRL, DGPO's advantage, KRPO), through hadw::estimate,
// against naive reference loops written here from the sources' formulas (docs/math.md), on
// uniform, ragged and masked layouts, in float and double; the SIMD lockstep and the scalar
// path give the same bits; bad options are named errors with nothing written.
#include <hadw/api/estimate.hpp>
#include <hadw/backend/cpu/lockstep.hpp>
#include <hadw/estimators/named.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

using mask_t = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------------------------
// Naive references: one group's valid rewards in group order -> their advantages.

using group_fn = std::function<std::vector<double>(const std::vector<double>&)>;

double mean_of(const std::vector<double>& r) {
  double s = 0.0;
  for (double x : r) s += x;
  return s / static_cast<double>(r.size());
}

/// prime-rl max_rl_advantage_fn (eps 0) / SkyRL compute_maxrl_advantage (eps 1e-6), guarded.
group_fn naive_maxrl(double eps) {
  return [eps](const std::vector<double>& r) {
    const double m = mean_of(r);
    std::vector<double> a(r.size(), 0.0);
    if (m <= 0.0) return a;
    for (std::size_t i = 0; i < r.size(); ++i) a[i] = (r[i] - m) / (m + eps);
    return a;
  };
}

/// MathForge grpo_trainer.py (enable_dgpo): G (r - mean) / (sum |r - mean| + eps).
group_fn naive_dgpo(double eps) {
  return [eps](const std::vector<double>& r) {
    const double m = mean_of(r);
    double extent = 0.0;
    for (double x : r) extent += std::fabs(x - m);
    std::vector<double> a(r.size());
    for (std::size_t i = 0; i < r.size(); ++i)  // eps = 0, all equal: hadw's 0, not 0/0
      a[i] = r[i] == m ? 0.0 : static_cast<double>(r.size()) * (r[i] - m) / (extent + eps);
    return a;
  };
}

/// KRPO train.py group_advantages: the filter's posterior after each reward.
group_fn naive_krpo(double q = 1e-5, double rv = 1e-2, double x0 = 0.0, double p0 = 1.0,
                    double eps = 1e-8) {
  return [=](const std::vector<double>& r) {
    double x = x0, p = p0;
    std::vector<double> a;
    for (double z : r) {
      const double p_pred = p + q;
      const double k = p_pred / (p_pred + rv);
      x = x + k * (z - x);
      p = (1 - k) * p_pred;
      a.push_back((z - x) / (std::sqrt(p) + eps));
    }
    return a;
  };
}

/// Every group's valid rewards through `fn`; invalid responses get 0. Groups with `lone` valid
/// response get `lone_value(r)` instead (the size-1 rule under test).
template <class T>
std::vector<double> naive(const hadw::group_layout& layout, const std::vector<T>& r,
                          const mask_t& mask, const group_fn& fn,
                          const std::function<double(double)>& lone = {}) {
  std::vector<double> out(r.size(), 0.0);
  for (std::int64_t k = 0; k < layout.num_groups(); ++k) {
    std::vector<std::size_t> at;
    std::vector<double> v;
    for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j) {
      const auto i = static_cast<std::size_t>(j);
      if (!mask.empty() && mask[i] == 0) continue;
      at.push_back(i);
      v.push_back(static_cast<double>(r[i]));
    }
    if (v.empty()) continue;
    if (v.size() == 1 && lone) {
      out[at[0]] = lone(v[0]);
      continue;
    }
    const auto a = fn(v);
    for (std::size_t q = 0; q < at.size(); ++q) out[at[q]] = a[q];
  }
  return out;
}

template <class T>
std::vector<T> run(const auto& est, const hadw::group_layout& layout, const std::vector<T>& r,
                   const mask_t& mask = {}) {
  std::vector<T> out(r.size(), T(-999));
  hadw::estimate(est, layout, std::span<const T>(r), std::span<T>(out), {.mask = mask});
  return out;
}

template <class T>
void check_close(const std::vector<T>& got, const std::vector<double>& want) {
  const double tol = std::is_same_v<T, float> ? 2e-6 : 1e-12;
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("i = " << i << ", got " << got[i] << ", want " << want[i]);
    CHECK(static_cast<double>(got[i]) == Approx(want[i]).epsilon(tol).margin(tol));
  }
}

/// Rewards in {0, 0.5, 1} (binary-like, with all-equal groups) or uniform in [0, 2).
template <class T>
std::vector<T> rewards(std::size_t n, unsigned seed, bool discrete) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<T> r(n);
  for (auto& x : r) x = static_cast<T>(discrete ? 0.5 * std::floor(3.0 * u(rng)) : 2.0 * u(rng));
  return r;
}

mask_t random_mask(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  mask_t m(n);
  for (auto& x : m) x = u(rng) < 0.8 ? 1 : 0;
  return m;
}

/// The checks every estimator here gets: reference on uniform (lockstep), ragged and masked
/// layouts; the lockstep's bits are the scalar path's.
template <class T, class Est>
void check_estimator(const Est& est, const group_fn& fn) {
  for (std::int64_t G : {2, 3, 4, 8, 16})
    for (bool discrete : {true, false}) {
      INFO("G = " << G << ", discrete = " << discrete);
      const std::int64_t B = 3 * hadw::detail::lanes + 5;  // lockstep blocks and a scalar tail
      const auto layout = hadw::group_layout::uniform(B, G);
      const auto r = rewards<T>(static_cast<std::size_t>(B * G), 11u + static_cast<unsigned>(G),
                                discrete);
      const auto dense = run(est, layout, r);
      check_close(dense, naive(layout, r, {}, fn));
      const mask_t ones(r.size(), 1);  // a mask of ones turns the dense reader (and lockstep) off
      CHECK(run(est, layout, r, ones) == dense);
    }
  const auto ragged = hadw::group_layout::from_offsets({0, 2, 5, 9, 16, 18, 30, 38, 54});
  const auto r = rewards<T>(54, 3, false);
  check_close(run(est, ragged, r), naive(ragged, r, {}, fn));
  const auto mask = random_mask(54, 4);
  auto masked_est = est;
  masked_est.singleton = hadw::singleton_rule::zero;  // the mask may leave a group of one
  check_close(run(masked_est, ragged, r, mask),
              naive(ragged, r, mask, fn, [](double) { return 0.0; }));
}

}  // namespace

TEMPLATE_TEST_CASE("maxrl matches prime-rl's and SkyRL's formula on every layout and path",
                   "[field][maxrl]", float, double) {
  check_estimator<TestType>(hadw::maxrl{}, naive_maxrl(0.0));
  check_estimator<TestType>(hadw::maxrl{.eps = 1e-6}, naive_maxrl(1e-6));
}

TEMPLATE_TEST_CASE("dgpo matches MathForge's mean-absolute-deviation advantage",
                   "[field][dgpo]", float, double) {
  STATIC_REQUIRE(hadw::dgpo{}.policies().needs_abs_deviation);
  STATIC_REQUIRE(hadw::detail::cpu::lanes_available<decltype(hadw::dgpo{}.policies())>);
  check_estimator<TestType>(hadw::dgpo{}, naive_dgpo(1e-4));
  check_estimator<TestType>(hadw::dgpo{.eps = 0.0}, naive_dgpo(0.0));
}

TEMPLATE_TEST_CASE("krpo matches the source's Kalman filter, in group order",
                   "[field][krpo]", float, double) {
  STATIC_REQUIRE(hadw::krpo{}.policies().sequential);
  STATIC_REQUIRE_FALSE(hadw::detail::cpu::lanes_available<decltype(hadw::krpo{}.policies())>);
  check_estimator<TestType>(hadw::krpo{}, naive_krpo());
  const hadw::krpo other{.process_var = 1e-3, .measurement_var = 0.5, .initial_mean = 0.25,
                         .initial_var = 2.0, .eps = 1e-6};
  check_estimator<TestType>(other, naive_krpo(1e-3, 0.5, 0.25, 2.0, 1e-6));
}

TEST_CASE("krpo is order-dependent and follows the layout's group order", "[field][krpo]") {
  const std::vector<double> r{1.0, 0.0, 0.0, 1.0};
  const auto layout = hadw::group_layout::uniform(1, 4);
  const auto a = run(hadw::krpo{}, layout, r);
  const std::vector<double> reversed{1.0, 0.0, 0.0, 1.0};  // palindrome: same order both ways
  CHECK(run(hadw::krpo{}, layout, reversed) == a);
  const std::vector<double> other{0.0, 1.0, 1.0, 0.0};
  const auto b = run(hadw::krpo{}, layout, other);
  CHECK(b[1] != a[0]);  // the same reward at another position gets another advantage
  // from_ids: group order is the order the ids arrive in (stable), outputs at caller indices.
  const std::vector<int> ids{7, 3, 7, 3, 7, 3, 7, 3};
  const std::vector<double> mixed{1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0};
  const auto by_id = run(hadw::krpo{}, hadw::group_layout::from_ids(ids), mixed);
  const auto f = naive_krpo();
  const auto g7 = f({1.0, 0.0, 0.0, 1.0}), g3 = f({0.0, 1.0, 1.0, 0.0});
  for (int q = 0; q < 4; ++q) {
    CHECK(by_id[static_cast<std::size_t>(2 * q)] == Approx(g7[static_cast<std::size_t>(q)]));
    CHECK(by_id[static_cast<std::size_t>(2 * q + 1)] == Approx(g3[static_cast<std::size_t>(q)]));
  }
}

TEST_CASE("all-equal groups: maxrl and dgpo give exactly 0, krpo the filter's values",
          "[field]") {
  const auto layout = hadw::group_layout::uniform(3, 4);
  const std::vector<double> r{1, 1, 1, 1, 0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5};
  for (double a : run(hadw::maxrl{}, layout, r)) CHECK(a == 0.0);
  for (double a : run(hadw::dgpo{}, layout, r)) CHECK(a == 0.0);
  for (double a : run(hadw::dgpo{.eps = 0.0}, layout, r)) CHECK(a == 0.0);
  const auto k = run(hadw::krpo{}, layout, r);
  check_close(k, naive(layout, r, {}, naive_krpo()));
  CHECK(k[0] > 0.0);                                // the filter starts at x0 = 0
  for (int i = 4; i < 8; ++i) CHECK(k[i] == 0.0);   // zeros stay at x = 0
}

TEST_CASE("maxrl: a group mean <= 0 gives 0 (the sign guard); negative rewards with mean > 0 "
          "are divided by the mean",
          "[field][maxrl]") {
  const auto layout = hadw::group_layout::uniform(3, 4);
  const std::vector<double> r{-1, 0, 0, 0.5, -1, 1, 0, 0, -2, 1, 1, 1};
  const auto a = run(hadw::maxrl{}, layout, r);
  for (int i = 0; i < 8; ++i) CHECK(a[static_cast<std::size_t>(i)] == 0.0);  // means -0.125, 0
  // mean 0.25: (r - 0.25) / 0.25
  CHECK(a[8] == Approx(-9.0));
  CHECK(a[9] == Approx(3.0));
  // binary rewards: the correct ones get (n - K) / K, the wrong ones -1 (the paper's 1/p).
  const auto b = run(hadw::maxrl{}, hadw::group_layout::uniform(1, 4),
                     std::vector<double>{1, 0, 0, 0});
  CHECK(b == std::vector<double>{3.0, -1.0, -1.0, -1.0});
}

TEST_CASE("size-1 groups follow the singleton rule", "[field][singleton]") {
  const auto layout = hadw::group_layout::from_offsets({0, 1, 4});
  const std::vector<double> r{0.75, 1.0, 0.0, 0.0};
  using hadw::singleton_rule;
  SECTION("reject names the group") {
    CHECK_THROWS_WITH(run(hadw::maxrl{}, layout, r), Catch::Contains("group 0"));
    CHECK_THROWS_WITH(run(hadw::dgpo{}, layout, r), Catch::Contains("group 0"));
    CHECK_THROWS_WITH(run(hadw::krpo{}, layout, r), Catch::Contains("group 0"));
  }
  SECTION("zero") {
    CHECK(run(hadw::maxrl{.singleton = singleton_rule::zero}, layout, r)[0] == 0.0);
    CHECK(run(hadw::dgpo{.singleton = singleton_rule::zero}, layout, r)[0] == 0.0);
    CHECK(run(hadw::krpo{.singleton = singleton_rule::zero}, layout, r)[0] == 0.0);
  }
  SECTION("raw_reward: baseline 0, scale 1 (SkyRL's maxrl keeps r; dgpo divides by 1 + eps)") {
    CHECK(run(hadw::maxrl{.singleton = singleton_rule::raw_reward}, layout, r)[0] == 0.75);
    CHECK(run(hadw::dgpo{.singleton = singleton_rule::raw_reward}, layout, r)[0] ==
          Approx(0.75 / (1 + 1e-4)));
    CHECK(run(hadw::krpo{.singleton = singleton_rule::raw_reward}, layout, r)[0] == 0.75);
  }
  SECTION("keep: a group of one like any other (prime-rl's maxrl gives 0; krpo filters it)") {
    CHECK(run(hadw::maxrl{.singleton = singleton_rule::keep}, layout, r)[0] == 0.0);
    CHECK(run(hadw::dgpo{.singleton = singleton_rule::keep}, layout, r)[0] == 0.0);
    const auto k = run(hadw::krpo{.singleton = singleton_rule::keep}, layout, r);
    CHECK(k[0] == Approx(naive_krpo()({0.75})[0]));
    check_close(std::vector<double>(k.begin() + 1, k.end()), naive_krpo()({1.0, 0.0, 0.0}));
  }
}

TEST_CASE("bad options are named errors and nothing is written", "[field][errors]") {
  const auto layout = hadw::group_layout::uniform(2, 3);
  const std::vector<double> r{1, 0, 0, 1, 1, 0};
  const double nan = std::nan(""), inf = INFINITY;
  struct bad {
    std::string what, needle;
    std::function<void(std::span<double>)> call;
  };
  const auto est = [&](auto e) {
    return [e, &layout, &r](std::span<double> out) {
      hadw::estimate(e, layout, std::span<const double>(r), out);
    };
  };
  const std::vector<bad> table{
      {"maxrl eps < 0", "eps", est(hadw::maxrl{.eps = -1e-6})},
      {"maxrl eps NaN", "eps", est(hadw::maxrl{.eps = nan})},
      {"maxrl eps in (0, 1e-12)", "eps", est(hadw::maxrl{.eps = 1e-300})},
      {"dgpo eps < 0", "eps", est(hadw::dgpo{.eps = -1e-4})},
      {"dgpo eps Inf", "eps", est(hadw::dgpo{.eps = inf})},
      {"krpo eps NaN", "eps", est(hadw::krpo{.eps = nan})},
      {"krpo process_var < 0", "process_var", est(hadw::krpo{.process_var = -1e-5})},
      {"krpo process_var Inf", "process_var", est(hadw::krpo{.process_var = inf})},
      {"krpo measurement_var 0", "measurement_var", est(hadw::krpo{.measurement_var = 0.0})},
      {"krpo measurement_var below 1e-12 (advantages past float range)", "measurement_var",
       est(hadw::krpo{.measurement_var = 1e-300})},
      {"krpo measurement_var NaN", "measurement_var", est(hadw::krpo{.measurement_var = nan})},
      {"krpo initial_var 0", "initial_var", est(hadw::krpo{.initial_var = 0.0})},
      {"krpo initial_var above 1e12", "initial_var", est(hadw::krpo{.initial_var = 1e300})},
      {"krpo initial_mean NaN", "initial_mean", est(hadw::krpo{.initial_mean = nan})},
      {"krpo initial_mean past 1e15", "initial_mean", est(hadw::krpo{.initial_mean = 1e16})},
  };
  for (const auto& c : table) {
    INFO(c.what);
    std::vector<double> out(r.size(), -7.0);
    CHECK_THROWS_AS(c.call(out), hadw::error);
    CHECK_THROWS_WITH(c.call(out), Catch::Contains(c.needle));
    CHECK(out == std::vector<double>(r.size(), -7.0));
  }
  // Bad rewards are refused by name for these estimators too (the shared scan).
  std::vector<double> bad_r = r;
  bad_r[4] = inf;
  std::vector<double> out(r.size(), -7.0);
  CHECK_THROWS_WITH(hadw::estimate(hadw::krpo{}, layout, std::span<const double>(bad_r),
                                   std::span<double>(out)),
                    Catch::Contains("rewards[4]"));
  CHECK(out == std::vector<double>(r.size(), -7.0));
}
