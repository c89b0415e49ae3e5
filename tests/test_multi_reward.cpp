// hadw::estimate_multi (GDPO) and hadw::remax / remax_tokens, against naive long-double loops
// written here from the sources' formulas (verl 0.9.1 core_algos.py compute_gdpo_outcome_advantage
// and compute_remax_outcome_advantage, verl_F.masked_whiten; TRL 1.16 grpo_trainer.py
// normalize_then_sum).
#include <hadw/api/estimate.hpp>
#include <hadw/api/multi_reward.hpp>
#include <hadw/api/remax.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

using real = long double;

/// A batch: group id per response (any order), K rewards per response row-major, lengths, mask.
struct batch {
  std::vector<std::int64_t> ids;
  std::vector<double> rewards;  // N x K
  std::vector<std::int64_t> lengths;
  std::vector<std::uint8_t> mask;
  std::int64_t K = 1;
  std::size_t n() const { return ids.size(); }
  bool valid(std::size_t i) const { return mask.empty() || mask[i] != 0; }
};

enum class convention { verl, trl };

/// GDPO by hand. verl: per column, per group over valid responses: mean, ddof-1 std, (r - mean) /
/// (std + 1e-6), a lone response as mean 0, std 1; s = sum w_k A_k; then masked_whiten over
/// tokens: mu = sum L s / sum L, var = sum L (s - mu)^2 / (sum L - 1), (s - mu) / sqrt(var + 1e-8).
/// TRL: per column (r - mean) / (std + 1e-4) (a lone completion: 0); then the same over the batch,
/// unweighted, with std + 1e-4 (a lone response: 0).
std::vector<real> naive_gdpo(const batch& b, const std::vector<double>& w, convention c) {
  const std::size_t n = b.n(), K = static_cast<std::size_t>(b.K);
  const real eps = c == convention::verl ? 1e-6L : 1e-4L;
  std::vector<real> s(n, 0.0L);
  for (std::size_t k = 0; k < K; ++k) {
    for (std::size_t i = 0; i < n; ++i) {
      if (!b.valid(i)) continue;
      real sum = 0, cnt = 0;
      for (std::size_t j = 0; j < n; ++j)
        if (b.valid(j) && b.ids[j] == b.ids[i]) sum += b.rewards[j * K + k], ++cnt;
      const real mean = sum / cnt;
      real m2 = 0;
      for (std::size_t j = 0; j < n; ++j)
        if (b.valid(j) && b.ids[j] == b.ids[i])
          m2 += (b.rewards[j * K + k] - mean) * (b.rewards[j * K + k] - mean);
      const real r = b.rewards[i * K + k];
      real a;
      if (cnt == 1)
        a = c == convention::verl ? r / (1.0L + eps) : 0.0L;
      else {
        const real sd = std::sqrt(m2 / (cnt - 1));
        a = (r == mean) ? 0.0L : (r - mean) / (sd + eps);
        if (m2 == 0) a = 0;
      }
      s[i] += static_cast<real>(w[k]) * a;
    }
  }
  real W = 0, S = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!b.valid(i)) continue;
    const real wt = c == convention::verl && !b.lengths.empty() ? b.lengths[i] : 1;
    W += wt, S += wt * s[i];
  }
  const real mu = S / W;
  real V = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!b.valid(i)) continue;
    const real wt = c == convention::verl && !b.lengths.empty() ? b.lengths[i] : 1;
    V += wt * (s[i] - mu) * (s[i] - mu);
  }
  std::vector<real> out(n, 0.0L);
  for (std::size_t i = 0; i < n; ++i) {
    if (!b.valid(i)) continue;
    if (c == convention::verl)
      out[i] = (s[i] - mu) / std::sqrt(V / (W - 1) + 1e-8L);
    else
      out[i] = W < 2 ? 0.0L : (s[i] - mu) / (std::sqrt(V / (W - 1)) + 1e-4L);
  }
  return out;
}

template <class T>
double tol() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-11;
}

template <class T>
void check_close(const std::vector<T>& got, const std::vector<real>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("i = " << i << ", got " << got[i] << ", want " << static_cast<double>(want[i]));
    CHECK(static_cast<double>(got[i]) ==
          Approx(static_cast<double>(want[i])).epsilon(tol<T>()).margin(tol<T>()));
  }
}

/// Random groups (sizes in [lo, hi], ids shuffled when `shuffle`), K columns of which column 1
/// (when K > 1) is constant within each group (a degenerate dimension) and the last binary.
batch make_batch(std::mt19937_64& rng, int groups, int lo, int hi, std::int64_t K, bool shuffle,
                 bool with_mask) {
  batch b;
  b.K = K;
  std::uniform_int_distribution<int> size(lo, hi), len(1, 40);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int g = 0; g < groups; ++g) {
    const int G = size(rng);
    const double level = std::round(u(rng) * 4) / 4;
    for (int i = 0; i < G; ++i) {
      b.ids.push_back(g);
      for (std::int64_t k = 0; k < K; ++k) {
        double r = std::round(u(rng) * 64) / 64;
        if (k == 1) r = level;
        if (k == K - 1 && K > 2) r = u(rng) < 0.5 ? 1.0 : 0.0;
        b.rewards.push_back(r);
      }
      b.lengths.push_back(len(rng));
      b.mask.push_back(with_mask && u(rng) < 0.15 ? 0 : 1);
    }
  }
  if (shuffle) {
    std::vector<std::size_t> p(b.n());
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = i;
    std::shuffle(p.begin(), p.end(), rng);
    batch s = b;
    for (std::size_t i = 0; i < p.size(); ++i) {
      s.ids[i] = b.ids[p[i]];
      s.lengths[i] = b.lengths[p[i]];
      s.mask[i] = b.mask[p[i]];
      for (std::size_t k = 0; k < static_cast<std::size_t>(K); ++k)
        s.rewards[i * static_cast<std::size_t>(K) + k] =
            b.rewards[p[i] * static_cast<std::size_t>(K) + k];
    }
    b = s;
  }
  if (!with_mask) b.mask.clear();
  return b;
}

template <class T>
std::vector<T> as(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <class T>
std::vector<T> run_gdpo(const auto& est, const batch& b, const std::vector<double>& w, bool lengths,
                        hadw::multi_reward_workspace* ws = nullptr,
                        hadw::nan_policy nan = hadw::nan_policy::reject) {
  const auto layout = hadw::group_layout::from_ids(b.ids);
  const auto r = as<T>(b.rewards);
  std::vector<T> out(b.n(), T(-999));
  hadw::estimate_options opt{.mask = b.mask, .lengths = {}, .nan = nan};
  if (lengths) opt.lengths = b.lengths;
  if (ws)
    hadw::estimate_multi(est, layout, std::span<const T>(r), b.K, std::span<const double>(w),
                         std::span<T>(out), *ws, opt);
  else
    hadw::estimate_multi(est, layout, std::span<const T>(r), b.K, std::span<const double>(w),
                         std::span<T>(out), opt);
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE(
    "gdpo with verl's preset equals the naive per-column GRPO, weighted sum, "
    "token-weighted whitening",
    "[multi_reward][gdpo]", float, double) {
  std::mt19937_64 rng(19);
  const std::vector<double> w{1.0, 0.5, -2.0, 0.25};
  for (int rep = 0; rep < 6; ++rep) {
    const bool ragged = rep % 2 == 1, masked = rep >= 4;
    // Ragged batches include size-1 groups (verl: mean 0, std 1).
    const batch b = make_batch(rng, 7, ragged ? 1 : 6, ragged ? 9 : 6, 4, ragged, masked);
    check_close(run_gdpo<TestType>(hadw::compat::verl::gdpo, b, w, true),
                naive_gdpo(b, w, convention::verl));
  }
}

TEMPLATE_TEST_CASE("gdpo with TRL's preset equals the naive normalize_then_sum",
                   "[multi_reward][gdpo]", float, double) {
  std::mt19937_64 rng(20);
  const std::vector<double> w{2.0, 1.0, 0.5};
  for (int rep = 0; rep < 4; ++rep) {
    const batch b = make_batch(rng, 9, 8, 8, 3, rep % 2 == 1, rep >= 2);
    check_close(run_gdpo<TestType>(hadw::compat::trl::gdpo, b, w, false),
                naive_gdpo(b, w, convention::trl));
  }
}

TEST_CASE("gdpo with one reward is GRPO, then the whitening over the batch",
          "[multi_reward][gdpo]") {
  std::mt19937_64 rng(21);
  const batch b = make_batch(rng, 8, 2, 8, 1, true, true);
  const auto layout = hadw::group_layout::from_ids(b.ids);
  const hadw::estimate_options opt{.mask = b.mask, .lengths = b.lengths};
  std::vector<double> grpo(b.n()), want(b.n());
  hadw::estimate(hadw::compat::verl::grpo, layout, std::span<const double>(b.rewards),
                 std::span<double>(grpo), opt);
  hadw::estimate(hadw::compat::verl::gdpo.whitening,
                 hadw::group_layout::uniform(1, static_cast<std::int64_t>(b.n())),
                 std::span<const double>(grpo), std::span<double>(want), opt);
  CHECK(run_gdpo<double>(hadw::compat::verl::gdpo, b, {1.0}, true) == want);
  check_close(run_gdpo<double>(hadw::compat::verl::gdpo, b, {1.0}, true),
              naive_gdpo(b, {1.0}, convention::verl));
}

TEST_CASE("gdpo: a dimension constant within its groups adds nothing; all constant gives 0",
          "[multi_reward][gdpo]") {
  std::mt19937_64 rng(22);
  const batch b = make_batch(rng, 6, 4, 4, 2, false, false);  // column 1 constant per group
  batch only0 = b;
  only0.K = 1;
  only0.rewards.clear();
  for (std::size_t i = 0; i < b.n(); ++i) only0.rewards.push_back(b.rewards[2 * i]);
  const auto two = run_gdpo<double>(hadw::compat::verl::gdpo, b, {1.0, 3.0}, true);
  const auto one = run_gdpo<double>(hadw::compat::verl::gdpo, only0, {1.0}, true);
  for (std::size_t i = 0; i < b.n(); ++i) CHECK(two[i] == Approx(one[i]).margin(1e-14));
  // A batch whose every column is constant per group: all advantages 0.
  batch flat = b;
  for (std::size_t i = 0; i < b.n(); ++i) flat.rewards[2 * i] = flat.rewards[2 * i + 1];
  for (double a : run_gdpo<double>(hadw::compat::verl::gdpo, flat, {1.0, 3.0}, true))
    CHECK(a == 0.0);
}

TEST_CASE(
    "gdpo under nan_policy::unscorable follows TRL: a NaN drops out of its column and the "
    "sum, a row of NaNs out of the whitening",
    "[multi_reward][gdpo]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Two groups of 4, K = 2; response 1 has a NaN in column 0, response 6 is all NaN.
  batch b;
  b.K = 2;
  b.ids = {0, 0, 0, 0, 1, 1, 1, 1};
  b.rewards = {1, 0, nan, 1, 0, 0, 1, 1, 0.5, 0, 1, 1, nan, nan, 0, 1};
  // By hand, TRL's lines: column k per group over the non-NaN entries, NaN entries add 0.
  std::vector<real> s(8, 0.0L);
  for (std::size_t k = 0; k < 2; ++k)
    for (std::size_t g = 0; g < 2; ++g) {
      real sum = 0, cnt = 0, m2 = 0;
      for (std::size_t i = 4 * g; i < 4 * g + 4; ++i)
        if (!std::isnan(b.rewards[2 * i + k])) sum += b.rewards[2 * i + k], ++cnt;
      const real mean = sum / cnt;
      for (std::size_t i = 4 * g; i < 4 * g + 4; ++i)
        if (!std::isnan(b.rewards[2 * i + k])) m2 += std::pow(b.rewards[2 * i + k] - mean, 2);
      const real sd = std::sqrt(m2 / (cnt - 1));
      for (std::size_t i = 4 * g; i < 4 * g + 4; ++i)
        if (!std::isnan(b.rewards[2 * i + k]))
          s[i] += (k == 0 ? 1.0L : 0.5L) * (b.rewards[2 * i + k] - mean) / (sd + 1e-4L);
    }
  real S = 0, V = 0;
  for (std::size_t i = 0; i < 8; ++i)
    if (i != 6) S += s[i];
  const real mu = S / 7;
  for (std::size_t i = 0; i < 8; ++i)
    if (i != 6) V += (s[i] - mu) * (s[i] - mu);
  std::vector<real> want(8, 0.0L);
  for (std::size_t i = 0; i < 8; ++i)
    if (i != 6) want[i] = (s[i] - mu) / (std::sqrt(V / 6) + 1e-4L);
  check_close(run_gdpo<double>(hadw::compat::trl::gdpo, b, {1.0, 0.5}, false, nullptr,
                               hadw::nan_policy::unscorable),
              want);
  // Under the default policy the NaN is refused, naming its column.
  CHECK_THROWS_WITH(run_gdpo<double>(hadw::compat::trl::gdpo, b, {1.0, 0.5}, false),
                    Catch::Contains("rewards column 0"));
}

TEST_CASE("gdpo reuses its workspace across batch sizes with the same results",
          "[multi_reward][gdpo]") {
  std::mt19937_64 rng(23);
  hadw::multi_reward_workspace ws;
  const std::vector<double> w{1.0, 1.0, 1.0};
  for (int groups : {5, 2, 9, 9}) {
    const batch b = make_batch(rng, groups, 2, 6, 3, true, false);
    CHECK(run_gdpo<double>(hadw::compat::verl::gdpo, b, w, true, &ws) ==
          run_gdpo<double>(hadw::compat::verl::gdpo, b, w, true));
  }
}

TEST_CASE("gdpo refuses bad shapes and weights by name and writes nothing",
          "[multi_reward][gdpo][errors]") {
  const auto layout = hadw::group_layout::uniform(2, 2);
  const std::vector<double> r{1, 0, 0, 1, 1, 1, 0, 0};  // N = 4, K = 2
  std::vector<double> out(4, -7.0);
  const auto call = [&](std::span<const double> rew, std::int64_t K, std::vector<double> w,
                        std::span<double> o) {
    hadw::estimate_multi(hadw::compat::verl::gdpo, layout, rew, K, std::span<const double>(w), o);
  };
  const std::span<const double> rs(r);
  const std::span<double> os(out);
  CHECK_THROWS_WITH(call(rs, 0, {}, os), Catch::Contains("num_rewards >= 1"));
  CHECK_THROWS_WITH(call(rs, 3, {1, 1, 1}, os),
                    Catch::Contains("rewards.size() == layout.num_responses() * num_rewards"));
  CHECK_THROWS_WITH(call(rs, 2, {1}, os), Catch::Contains("weights.size() == num_rewards"));
  CHECK_THROWS_WITH(call(rs, 2, {1, std::nan("")}, os), Catch::Contains("weights[1] finite"));
  CHECK_THROWS_WITH(call(rs, 2, {1, INFINITY}, os), Catch::Contains("weights[1] finite"));
  CHECK_THROWS_WITH(call(rs, 2, {1, 1}, os.subspan(0, 3)), Catch::Contains("advantages.size()"));
  std::vector<double> shared(r);
  CHECK_THROWS_WITH(
      call(std::span<const double>(shared), 2, {1, 1}, std::span<double>(shared).subspan(0, 4)),
      Catch::Contains("must not overlap"));
  // A size-1 group under hadw's default (reject) rule, named with its column.
  const auto lone = hadw::group_layout::from_offsets({0, 1, 4});
  CHECK_THROWS_WITH(hadw::estimate_multi(hadw::gdpo<>{}, lone, rs, 2,
                                         std::span<const double>(std::vector<double>{1, 1}), os),
                    Catch::Contains("rewards column 0"));
  hadw::estimate_options bad_mask{.mask = std::vector<std::uint8_t>(3, 1)};
  CHECK_THROWS_WITH(
      hadw::estimate_multi(hadw::compat::verl::gdpo, layout, rs, 2,
                           std::span<const double>(std::vector<double>{1, 1}), os, bad_mask),
      Catch::Contains("mask.size()"));
  for (double a : out) CHECK(a == -7.0);
}

// ---------------------------------------------------------------------------------------------
// ReMax

TEMPLATE_TEST_CASE("remax per response is the reward minus the prompt's greedy baseline",
                   "[multi_reward][remax]", float, double) {
  std::mt19937_64 rng(30);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  const auto layout = hadw::group_layout::from_ids(std::vector<int>{2, 0, 1, 0, 2, 2, 1});
  std::vector<TestType> r(7), greedy{TestType(0.25), TestType(-0.5), TestType(0.75)};
  for (auto& x : r) x = static_cast<TestType>(u(rng));
  const std::vector<int> group_of{0, 1, 2, 1, 0, 0, 2};  // ids in order of first appearance
  std::vector<TestType> per_response(7), out(7), out2(7);
  for (std::size_t i = 0; i < 7; ++i)
    per_response[i] = greedy[static_cast<std::size_t>(group_of[i])];
  hadw::remax(layout, std::span<const TestType>(r), std::span<const TestType>(greedy),
              std::span<TestType>(out));
  hadw::remax(std::span<const TestType>(r), std::span<const TestType>(per_response),
              std::span<TestType>(out2));
  for (std::size_t i = 0; i < 7; ++i) {
    const auto want =
        static_cast<TestType>(static_cast<real>(r[i]) - static_cast<real>(per_response[i]));
    CHECK(out[i] == want);
    CHECK(out2[i] == want);
  }
  CHECK_THROWS_WITH(hadw::remax(layout, std::span<const TestType>(r),
                                std::span<const TestType>(per_response), std::span<TestType>(out)),
                    Catch::Contains("baselines.size() == layout.num_groups()"));
  per_response[3] = std::numeric_limits<TestType>::infinity();
  CHECK_THROWS_WITH(hadw::remax(std::span<const TestType>(r),
                                std::span<const TestType>(per_response), std::span<TestType>(out2)),
                    Catch::Contains("baselines[3] finite"));
}

TEMPLATE_TEST_CASE("remax_tokens is verl's reverse cumulative return minus the masked baseline",
                   "[multi_reward][remax]", float, double) {
  std::mt19937_64 rng(31);
  std::uniform_real_distribution<double> u(-1.0, 1.0), m01(0.0, 1.0);
  const std::size_t N = 9, L = 13;
  std::vector<TestType> tr(N * L, 0), b(N), mask_f(N * L);
  std::vector<std::uint8_t> mask_u(N * L);
  for (std::size_t i = 0; i < N; ++i) {
    b[i] = static_cast<TestType>(u(rng));
    const std::size_t len = i % 4 == 3 ? 0 : 1 + static_cast<std::size_t>(m01(rng) * (L - 1));
    for (std::size_t t = 0; t < L; ++t) {
      // Right padding, plus a hole at t = 1 in every other row (a masked token before valid ones).
      const bool valid = t < len && !(i % 2 == 1 && t == 1);
      mask_u[i * L + t] = valid;
      mask_f[i * L + t] = valid ? static_cast<TestType>(i == 4 ? 0.5 : 1.0) : TestType(0);
      // Per-token rewards (a KL term) in some rows, an outcome reward on the last token in others.
      if (i % 3 == 0)
        tr[i * L + t] = static_cast<TestType>(u(rng));
      else if (len > 0 && t == len - 1)
        tr[i * L + t] = static_cast<TestType>(u(rng));
    }
  }
  const auto check = [&](const auto& mask) {
    std::vector<TestType> adv(N * L, TestType(-9)), ret(N * L, TestType(-9));
    hadw::remax_tokens(std::span<const TestType>(tr), std::span(std::as_const(mask)),
                       static_cast<std::int64_t>(L), std::span<const TestType>(b),
                       std::span<TestType>(adv), std::span<TestType>(ret));
    for (std::size_t i = 0; i < N; ++i)
      for (std::size_t t = 0; t < L; ++t) {
        real g = 0;
        for (std::size_t s = t; s < L; ++s)
          g += static_cast<real>(tr[i * L + s]) * static_cast<real>(mask[i * L + s]);
        const real a = g - static_cast<real>(b[i]) * static_cast<real>(mask[i * L + t]);
        INFO("i = " << i << ", t = " << t);
        CHECK(static_cast<double>(ret[i * L + t]) ==
              Approx(static_cast<double>(g)).margin(tol<TestType>()));
        CHECK(static_cast<double>(adv[i * L + t]) ==
              Approx(static_cast<double>(a)).margin(tol<TestType>()));
      }
  };
  check(mask_u);
  check(mask_f);
  // Outcome reward on the last valid token of a right-padded row: r - b on every valid token.
  std::vector<TestType> one_tr(L, 0), one_b{TestType(0.25)}, adv(L), ret(L);
  std::vector<std::uint8_t> one_m(L, 0);
  for (std::size_t t = 0; t < 5; ++t) one_m[t] = 1;
  one_tr[4] = TestType(1);
  hadw::remax_tokens(std::span<const TestType>(one_tr), std::span<const std::uint8_t>(one_m),
                     static_cast<std::int64_t>(L), std::span<const TestType>(one_b),
                     std::span<TestType>(adv), std::span<TestType>(ret));
  for (std::size_t t = 0; t < L; ++t) CHECK(adv[t] == (t < 5 ? TestType(0.75) : TestType(0)));
  CHECK_THROWS_WITH(
      hadw::remax_tokens(std::span<const TestType>(one_tr), std::span<const std::uint8_t>(one_m), 0,
                         std::span<const TestType>(one_b), std::span<TestType>(adv),
                         std::span<TestType>(ret)),
      Catch::Contains("L >= 1"));
  CHECK_THROWS_WITH(
      hadw::remax_tokens(std::span<const TestType>(one_tr),
                         std::span<const std::uint8_t>(one_m).subspan(1),
                         static_cast<std::int64_t>(L), std::span<const TestType>(one_b),
                         std::span<TestType>(adv), std::span<TestType>(ret)),
      Catch::Contains("mask.size()"));
}
