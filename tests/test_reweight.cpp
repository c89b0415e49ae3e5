// hadw::reweight against an independent reference of eq. 7-16 (tests/support/reference.hpp).
#include <hadw/api/estimate.hpp>
#include <hadw/api/reweight.hpp>

#include "support/reference.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

namespace {

using span_f = std::span<float>;
using cspan_f = std::span<const float>;

std::vector<float> grpo_advantages(const hadw::group_layout& layout, const std::vector<float>& r) {
  std::vector<float> a(r.size());
  hadw::estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, layout, cspan_f(r),
                 span_f(a));
  return a;
}

}  // namespace

TEST_CASE("The authors' mode reproduces their documented advantages", "[reweight][authors]") {
  // window_mean_belief, posterior timing, lambda 1.5, GRPO (unbiased std, eps 1e-6), no history.
  const std::vector<float> r{1, 0, 0, 1, 1, 1, 1, 0};
  const auto layout = hadw::group_layout::uniform(2, 4);
  auto adv = grpo_advantages(layout, r);
  hadw::difficulty_anchor<hadw::window_mean_belief> anchor{
      hadw::window_mean_belief::config{.window = 10}};
  hadw::reweight_options opt;
  opt.lambda_scale = 1.5;
  opt.timing = hadw::anchor_timing::posterior;
  const auto st = hadw::reweight(hadw::grouped(span_f(adv), layout),
                                 hadw::grouped(cspan_f(r), layout), anchor, opt);
  const std::vector<double> want{1.472, -1.146395, -1.146395, 1.472,
                                 0.6618713, 0.6618713, 0.6618713, -2.549579};
  for (std::size_t i = 0; i < 8; ++i) CHECK(adv[i] == Approx(want[i]).margin(1e-5));
  CHECK(st.batch_accuracy == 0.625);
  CHECK(st.weighting_belief == 0.625);
  CHECK(anchor.prior() == 0.625);
}

TEST_CASE("Hard prompts amplify correct answers and damp wrong ones; easy prompts the reverse",
          "[reweight][sign]") {
  // Prior 0.5; group 0 has p̂ = 0.25 (hard), group 1 p̂ = 0.75 (easy), group 2 p̂ = 0.5.
  const std::vector<float> r{1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0};
  const auto layout = hadw::group_layout::uniform(3, 4);
  const auto before = grpo_advantages(layout, r);
  auto adv = before;
  hadw::difficulty_anchor<hadw::fixed_belief> anchor{hadw::fixed_belief::config{.belief = 0.5}};
  hadw::reweight(hadw::grouped(span_f(adv), layout), hadw::grouped(cspan_f(r), layout), anchor,
                 {.lambda_scale = 1.0});
  CHECK(adv[0] == Approx(before[0] * std::exp(0.25)));   // hard, correct: amplified
  CHECK(adv[1] == Approx(before[1] * std::exp(-0.25)));  // hard, wrong: damped
  CHECK(adv[4] == Approx(before[4] * std::exp(-0.25)));  // easy, correct: damped
  CHECK(adv[7] == Approx(before[7] * std::exp(0.25)));   // easy, wrong: amplified
  for (int i = 8; i < 12; ++i) CHECK(adv[i] == before[i]);  // on level: Phi = lambda = 1
}

TEMPLATE_TEST_CASE("reweight equals the reference of eq. 7-16 over a multi-step run",
                   "[reweight][random]", float, double) {
  std::mt19937_64 rng(99);
  std::uniform_real_distribution<double> u(0, 1);
  const double lambda = 1.3;
  hadw::difficulty_anchor<> anchor{
      hadw::kalman_belief::config{.eta = 0.8, .window = 4, .initial_belief = 0.4}};
  ref::kalman belief{.eta = 0.8L, .c = 0.4L, .m = 4};
  for (int step = 0; step < 40; ++step) {
    // Ragged groups with ids in shuffled order, rewards in [-1, 1], a mask.
    std::vector<int> ids;
    for (int k = 0; k < 10; ++k)
      for (int i = 0; i < 2 + (k * 7 + step) % 6; ++i) ids.push_back(k);
    std::shuffle(ids.begin(), ids.end(), rng);
    const std::size_t n = ids.size();
    std::vector<TestType> r(n), adv(n);
    std::vector<std::uint8_t> mask(n);
    for (std::size_t i = 0; i < n; ++i) {
      r[i] = static_cast<TestType>(u(rng) < 0.5 ? -1.0 : std::round(u(rng) * 8) / 8);
      adv[i] = static_cast<TestType>(u(rng) * 4 - 2);
      mask[i] = u(rng) < 0.9;
    }
    // Reference: p̂_k over valid responses of the normalised reward, y = batch mean.
    std::vector<ref::real> sum(10, 0), cnt(10, 0);
    ref::real ysum = 0, ycnt = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (mask[i]) {
        const ref::real un = (ref::real(r[i]) + 1) / 2;
        sum[static_cast<std::size_t>(ids[i])] += un;
        cnt[static_cast<std::size_t>(ids[i])] += 1;
        ysum += un;
        ycnt += 1;
      }
    std::vector<ref::real> want(n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(ids[i]);
      want[i] = mask[i] ? ref::real(adv[i]) * ref::phi(adv[i], sum[k] / cnt[k], belief.c, lambda)
                        : ref::real(adv[i]);
    }
    const auto layout = hadw::group_layout::from_ids(ids);
    hadw::reweight_options opt;
    opt.lambda_scale = lambda;
    opt.range = {.low = -1.0, .high = 1.0};
    opt.mask = mask;
    const auto st = hadw::reweight(hadw::grouped(std::span<TestType>(adv), layout),
                                   hadw::grouped(std::span<const TestType>(r), layout), anchor,
                                   opt);
    belief.observe(ysum / ycnt);
    for (std::size_t i = 0; i < n; ++i)
      CHECK(adv[i] == Approx(static_cast<double>(want[i])).epsilon(1e-5).margin(1e-6));
    CHECK(st.batch_accuracy == Approx(static_cast<double>(ysum / ycnt)).epsilon(1e-12));
    CHECK(anchor.prior() == Approx(static_cast<double>(belief.c)).epsilon(1e-10));
    CHECK(st.total == static_cast<std::int64_t>(ycnt));
  }
}

TEST_CASE("step_stats reports what happened", "[reweight][stats]") {
  const std::vector<float> r{1, 0, 0, 0, 1, 1, 1, 1};  // group 1 degenerate
  const auto layout = hadw::group_layout::uniform(2, 4);
  auto adv = grpo_advantages(layout, r);
  const auto before = adv;
  hadw::difficulty_anchor<hadw::fixed_belief> anchor{hadw::fixed_belief::config{.belief = 0.5}};
  const auto st = hadw::reweight(hadw::grouped(span_f(adv), layout),
                                 hadw::grouped(cspan_f(r), layout), anchor, {.lambda_scale = 2.0});
  CHECK(st.correct == 5);
  CHECK(st.total == 8);
  CHECK(st.batch_accuracy == 0.625);
  CHECK(st.degenerate_fraction == 0.5);
  CHECK(st.prior == 0.5);
  CHECK(st.phi_max == Approx(2.0 * std::exp(0.25)));
  CHECK(st.phi_min == Approx(2.0 * std::exp(-0.25)));  // wrong answers on the hard prompt
  double phis = 0, mb = 0, ma = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    phis += before[i] != 0 ? adv[i] / before[i] : 2.0;
    mb += before[i];
    ma += adv[i];
  }
  CHECK(st.phi_mean == Approx(phis / 8).epsilon(1e-6));
  CHECK(st.adv_mean_before == Approx(mb / 8).margin(1e-7));
  CHECK(st.adv_mean_after == Approx(ma / 8).epsilon(1e-6));
  int keys = 0;
  st.for_each([&](std::string_view key, double) {
    CHECK(key.substr(0, 5) == "hadw/");
    ++keys;
  });
  CHECK(keys >= 16);
}

TEST_CASE("update_anchor = false weights with the prior and leaves the anchor alone",
          "[reweight][distributed]") {
  const std::vector<float> r{1, 0, 0, 1, 1, 1, 1, 0};
  const auto layout = hadw::group_layout::uniform(2, 4);
  auto adv = grpo_advantages(layout, r);
  hadw::difficulty_anchor<> anchor;
  anchor.observe(0.3);
  const auto saved = anchor.save();
  hadw::reweight_options opt;
  opt.update_anchor = false;
  const auto st = hadw::reweight(hadw::grouped(span_f(adv), layout),
                                 hadw::grouped(cspan_f(r), layout), anchor, opt);
  CHECK(anchor.save() == saved);
  CHECK(st.posterior == st.prior);
  anchor.observe(st.correct, st.total);  // what a rank does after the all-reduce
  CHECK(anchor.step() == 2);
}

TEST_CASE("warmup_steps weights with Phi = 1 but still observes", "[reweight]") {
  const std::vector<float> r{1, 0, 0, 0};
  const auto layout = hadw::group_layout::uniform(1, 4);
  auto adv = grpo_advantages(layout, r);
  const auto before = adv;
  hadw::difficulty_anchor<> anchor;
  hadw::reweight_options opt;
  opt.warmup_steps = 1;
  hadw::reweight(hadw::grouped(span_f(adv), layout), hadw::grouped(cspan_f(r), layout), anchor,
                 opt);
  CHECK(adv == before);
  CHECK(anchor.step() == 1);
  hadw::reweight(hadw::grouped(span_f(adv), layout), hadw::grouped(cspan_f(r), layout), anchor,
                 opt);
  CHECK(adv != before);
}

TEST_CASE("A run resumed from a checkpoint produces exactly the uninterrupted weights",
          "[reweight][save]") {
  std::mt19937_64 rng(5);
  const auto layout = hadw::group_layout::uniform(16, 8);
  std::vector<std::vector<float>> rewards(100, std::vector<float>(128));
  for (auto& step : rewards)
    for (auto& x : step) x = std::bernoulli_distribution(0.35)(rng) ? 1.f : 0.f;
  const auto run = [&](hadw::difficulty_anchor<>& anchor, int from, int to,
                       std::vector<std::vector<float>>& out) {
    for (int t = from; t < to; ++t) {
      auto adv = grpo_advantages(layout, rewards[static_cast<std::size_t>(t)]);
      hadw::reweight(hadw::grouped(span_f(adv), layout),
                     hadw::grouped(cspan_f(rewards[static_cast<std::size_t>(t)]), layout), anchor);
      out.push_back(adv);
    }
  };
  const hadw::kalman_belief::config cfg{.eta = 0.9, .window = 6};
  hadw::difficulty_anchor<> whole{cfg}, first{cfg};
  std::vector<std::vector<float>> a, b;
  run(whole, 0, 100, a);
  run(first, 0, 50, b);
  auto resumed = hadw::difficulty_anchor<>::load(first.save());
  run(resumed, 50, 100, b);
  REQUIRE(a.size() == b.size());
  for (std::size_t t = 0; t < a.size(); ++t)
    CHECK(std::memcmp(a[t].data(), b[t].data(), a[t].size() * sizeof(float)) == 0);
  CHECK(resumed == whole);
}

TEST_CASE("Bad input is rejected before anything changes", "[reweight][errors]") {
  const auto layout = hadw::group_layout::uniform(2, 4);
  const auto other = hadw::group_layout::uniform(4, 2);
  std::vector<float> r{1, 0, 0, 1, 1, 1, 1, 0};
  std::vector<float> adv{1, -1, -1, 1, 0.5f, 0.5f, 0.5f, -1.5f};
  const auto adv0 = adv;
  hadw::difficulty_anchor<> anchor;
  anchor.observe(0.4);
  const auto state = anchor.save();
  const auto call = [&](const std::vector<float>& rew, hadw::reweight_options opt = {},
                        const hadw::group_layout* lay = nullptr) {
    hadw::reweight(hadw::grouped(span_f(adv), lay ? *lay : layout),
                   hadw::grouped(cspan_f(rew), layout), anchor, opt);
  };
  CHECK_THROWS_WITH(call(r, {.lambda_scale = 0.0}), Catch::Contains("lambda_scale"));
  CHECK_THROWS_WITH(call(r, {.lambda_scale = -1.0}), Catch::Contains("lambda_scale"));
  CHECK_THROWS_WITH(call(r, {.lambda_scale = NAN}), Catch::Contains("lambda_scale"));
  auto nan = r;
  nan[3] = NAN;
  CHECK_THROWS_WITH(call(nan), Catch::Contains("rewards[3]") && Catch::Contains("NaN"));
  auto out_of_range = r;
  out_of_range[6] = 2.f;
  CHECK_THROWS_WITH(call(out_of_range), Catch::Contains("rewards[6]") &&
                                            Catch::Contains("reward_range"));
  CHECK_THROWS_WITH(call(r, {.range = {.low = 1, .high = 0}}), Catch::Contains("reward_range"));
  CHECK_THROWS_WITH(call(r, {}, &other), Catch::Contains("layout"));
  const std::vector<std::uint8_t> none(8, 0);
  CHECK_THROWS_WITH(call(r, {.mask = none}), Catch::Contains("no valid response"));
  CHECK_THROWS_WITH(call(r, {.success_threshold = 1.5}), Catch::Contains("success_threshold"));
  CHECK_THROWS_WITH(call(r, {.warmup_steps = -1}), Catch::Contains("warmup_steps"));
  adv[2] = INFINITY;
  CHECK_THROWS_WITH(call(r), Catch::Contains("advantages[2]"));
  adv[2] = adv0[2];
  CHECK(adv == adv0);
  CHECK(anchor.save() == state);
}

TEST_CASE("An unscorable response's advantage is neither read nor written", "[reweight][nan]") {
  // Regression: reweight read it and refused a NaN there (a masked response's was accepted).
  const auto layout = hadw::group_layout::uniform(2, 4);
  const std::vector<float> r{1, NAN, 0, 0, 1, 1, 0, NAN};
  const float payload = std::bit_cast<float>(0x7fc01234u);  // a NaN with a payload
  std::vector<float> adv{1, payload, -0.5f, -0.5f, 0.5f, 0.5f, -1, payload};
  hadw::difficulty_anchor<hadw::fixed_belief> anchor{hadw::fixed_belief::config{.belief = 0.5}};
  hadw::reweight_options o;
  o.nan = hadw::nan_policy::unscorable;
  o.lambda_scale = 1.0;
  const auto st = hadw::reweight(hadw::grouped(span_f(adv), layout),
                                 hadw::grouped(cspan_f(r), layout), anchor, o);
  CHECK(std::bit_cast<std::uint32_t>(adv[1]) == 0x7fc01234u);  // untouched, bit for bit
  CHECK(std::bit_cast<std::uint32_t>(adv[7]) == 0x7fc01234u);
  // Group 0: p = 1/3 (hard, diff -1/6); group 1: p = 2/3 (easy, diff +1/6).
  CHECK(adv[0] == Approx(1.0 * std::exp(1.0 / 6.0)).epsilon(1e-6));
  CHECK(adv[2] == Approx(-0.5 * std::exp(-1.0 / 6.0)).epsilon(1e-6));
  CHECK(adv[4] == Approx(0.5 * std::exp(-1.0 / 6.0)).epsilon(1e-6));
  CHECK(adv[6] == Approx(-1.0 * std::exp(1.0 / 6.0)).epsilon(1e-6));
  CHECK(st.total == 6);
}

TEST_CASE("The widest accepted reward range keeps every weight finite", "[reweight][range]") {
  // Rewards are bounded by max_abs_reward through the range: [-1e15, 1e15] is the widest.
  const auto layout = hadw::group_layout::uniform(1, 4);
  const std::vector<double> r{1e15, 1e15, -1e15, 1e15};  // mean 5e14: p = 0.75, diff +0.25
  std::vector<double> adv{1, 1, -3, 1};
  hadw::difficulty_anchor<hadw::fixed_belief> anchor{hadw::fixed_belief::config{.belief = 0.5}};
  hadw::reweight_options o;
  o.range = {-1e15, 1e15};
  o.lambda_scale = 1.0;
  hadw::reweight(hadw::grouped(std::span<double>(adv), layout),
                 hadw::grouped(std::span<const double>(r), layout), anchor, o);
  CHECK(adv[0] == Approx(std::exp(-0.25)).epsilon(1e-15));   // easy, correct: damped
  CHECK(adv[2] == Approx(-3 * std::exp(0.25)).epsilon(1e-15));  // easy, wrong: amplified
  // A range reaching past it is refused, whatever the rewards inside it.
  const std::vector<double> inside{1, 0, 0, 1};
  o.range = {0, 1.0000001e15};
  CHECK_THROWS_WITH(hadw::reweight(hadw::grouped(std::span<double>(adv), layout),
                                   hadw::grouped(std::span<const double>(inside), layout), anchor,
                                   o),
                    Catch::Contains("reward_range within") && Catch::Contains("1e15"));
}

TEST_CASE("reweight in place (advantages = rewards) equals a separate output",
          "[reweight][in_place]") {
  const auto layout = hadw::group_layout::from_ids(std::vector<int>{3, 1, 3, 1, 2, 2, 3, 1});
  const std::vector<float> r{1, 0, 0.25f, 1, 0.5f, 0, 1, 0.75f};
  std::vector<float> out = r, buf = r;
  hadw::difficulty_anchor<> a1, a2;
  const auto s1 = hadw::reweight(hadw::grouped(span_f(out), layout),
                                 hadw::grouped(cspan_f(r), layout), a1);
  const auto s2 = hadw::reweight(hadw::grouped(span_f(buf), layout),
                                 hadw::grouped(cspan_f(buf), layout), a2);
  CHECK(std::memcmp(out.data(), buf.data(), out.size() * sizeof(float)) == 0);
  CHECK(s1.phi_mean == s2.phi_mean);
  CHECK(a1 == a2);
}
