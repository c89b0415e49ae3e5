// hadw::compat presets: the size-1 and unscorable-response conventions of each peer, as hand
// values worked out from the peers' code (the full random cross-checks against the installed
// verl and TRL packages are python/tests/test_peer_*.py).
#include <hadw/estimators/compat.hpp>
#include <hadw/api/estimate.hpp>
#include <hadw/anchor/anchor.hpp>
#include <hadw/anchor/beliefs.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <deque>
#include <numeric>
#include <vector>

namespace {

std::vector<double> run(const auto& est, const hadw::group_layout& layout,
                        const std::vector<double>& r, hadw::nan_policy nan) {
  std::vector<double> out(r.size(), -999.0);
  hadw::estimate(est, layout, std::span<const double>(r), std::span<double>(out),
                 {.nan = nan});
  return out;
}

}  // namespace

// Group 0 = {NaN, 0.7}: TRL's nanmean/nanstd leave one scorable completion, whose advantage is
// 0.7 - 0.7 = 0 (or 0 / (NaN + 1e-4) -> nan_to_num -> 0). Group 1 = {1, 0}.
TEST_CASE("compat::trl gives 0 to a group left with one scorable completion", "[compat][trl]") {
  const auto layout = hadw::group_layout::uniform(2, 2);
  const std::vector<double> r{NAN, 0.7, 1.0, 0.0};
  const auto un = hadw::nan_policy::unscorable;

  SECTION("scale_rewards=group: (r - mean) / (std + 1e-4), std = sqrt(0.5)") {
    const auto a = run(hadw::compat::trl::grpo, layout, r, un);
    CHECK(a[0] == 0.0);
    CHECK(a[1] == 0.0);
    CHECK(a[2] == Approx(0.5 / (std::sqrt(0.5) + 1e-4)).epsilon(1e-14));  // 0.70700679...
    CHECK(a[3] == Approx(-0.7070067953266834).epsilon(1e-14));
  }
  SECTION("scale_rewards=batch: TRL counts the lone 0.7 in the batch std; so does the preset") {
    // TRL: stdev{0.7, 1, 0} (ddof 1) = 0.51316014..., A = +-0.5 / (0.51316014 + 1e-4); the lone
    // 0.7 gets 0.7 - 0.7 = 0.
    const auto a = run(hadw::compat::trl::grpo_batch_std, layout, r, un);
    const double sd = std::sqrt(((0.7 - 17.0 / 30) * (0.7 - 17.0 / 30) +
                                 (1.0 - 17.0 / 30) * (1.0 - 17.0 / 30) +
                                 (17.0 / 30) * (17.0 / 30)) / 2.0);
    CHECK(a[0] == 0.0);
    CHECK(a[1] == 0.0);
    CHECK(a[2] == Approx(0.5 / (sd + 1e-4)).epsilon(1e-14));
    CHECK(a[3] == Approx(-0.5 / (sd + 1e-4)).epsilon(1e-14));
    const std::vector<double> ok{NAN, 0.7, 0.3, 1.0, 0.0};  // group 0 keeps two scorable
    const auto b = run(hadw::compat::trl::grpo_batch_std,
                       hadw::group_layout::from_offsets(std::vector<std::int64_t>{0, 3, 5}), ok,
                       un);
    // stdev{0.7, 0.3, 1, 0} (ddof 1) = 0.43969686527576396
    CHECK(b[0] == 0.0);
    CHECK(b[1] == Approx(0.2 / (0.43969686527576396 + 1e-4)).epsilon(1e-12));
    CHECK(b[3] == Approx(0.5 / (0.43969686527576396 + 1e-4)).epsilon(1e-12));
  }
  SECTION("the first batch preset, trl::grpo_batch, still rejects (kept for tests/golden)") {
    CHECK_THROWS_WITH(run(hadw::compat::trl::grpo_batch, layout, r, un),
                      Catch::Contains("single valid response"));
  }
  SECTION("scale_rewards=batch, evaluation: G = 1 and N = 1 give 0, as TRL (no error)") {
    // num_generations_eval = 1: every group is one completion, r - mean = 0 for each.
    const std::vector<double> g1{0.3, 1.0, 0.0, 0.8};
    CHECK(run(hadw::compat::trl::grpo_batch_std, hadw::group_layout::uniform(4, 1), g1, un) ==
          std::vector<double>(4, 0.0));
    const std::vector<double> n1{0.9};
    CHECK(run(hadw::compat::trl::grpo_batch_std, hadw::group_layout::uniform(1, 1), n1, un) ==
          std::vector<double>{0.0});
  }
  SECTION("scale_rewards=none: r - mean") {
    const auto a = run(hadw::compat::trl::dr_grpo, layout, r, un);
    CHECK(a == std::vector<double>{0.0, 0.0, 0.5, -0.5});
  }
  SECTION("a wholly unscorable group gets 0 too") {
    const std::vector<double> r2{NAN, NAN, 1.0, 0.0};
    const auto a = run(hadw::compat::trl::grpo, layout, r2, un);
    CHECK(a[0] == 0.0);
    CHECK(a[1] == 0.0);
  }
}

TEST_CASE("compat::verl keeps a size-1 group's raw reward (mean 0, std 1)", "[compat][verl]") {
  const auto layout = hadw::group_layout::from_offsets(std::vector<std::int64_t>{0, 1, 3});
  const std::vector<double> r{0.7, 1.0, 0.0};
  const auto rej = hadw::nan_policy::reject;
  CHECK(run(hadw::compat::verl::grpo, layout, r, rej)[0] == Approx(0.7 / (1.0 + 1e-6)));
  CHECK(run(hadw::compat::verl::rloo, layout, r, rej)[0] == 0.7);
  CHECK(run(hadw::compat::verl::dr_grpo, layout, r, rej)[0] == 0.7);
  // verl raises on a pass@k group of one.
  CHECK_THROWS_AS(run(hadw::compat::verl::grpo_passk, layout, r, rej), hadw::error);
}

// verl 0.9.1 has two RLOOs: compute_rloo_outcome_advantage (size-1 group: the raw reward) and
// compute_rloo_vectorized_outcome_advantage (`* (c > 1)`: 0).
TEST_CASE("compat::verl::rloo_vectorized gives a size-1 group 0, rloo its raw reward",
          "[compat][verl]") {
  const auto layout = hadw::group_layout::from_offsets(std::vector<std::int64_t>{0, 1, 4});
  const std::vector<double> r{0.7, 1.0, 0.0, 0.5};
  const auto rej = hadw::nan_policy::reject;
  const auto loo = run(hadw::compat::verl::rloo, layout, r, rej);
  const auto vec = run(hadw::compat::verl::rloo_vectorized, layout, r, rej);
  CHECK(loo[0] == 0.7);
  CHECK(vec[0] == 0.0);
  for (std::size_t i = 1; i < 4; ++i) {  // r_i - mean of the other two
    double others = 0.0;
    for (std::size_t j = 1; j < 4; ++j) others += j == i ? 0.0 : r[j];
    CHECK(loo[i] == Approx(r[i] - others / 2.0).epsilon(1e-15));
    CHECK(vec[i] == loo[i]);
  }
}

// docs/math.md: under singleton_rule::raw_reward a size-1 group has mean 0 and std 1, so
// A = r / (1 + eps) under a std scale -- the batch std too (it was r / eps on a one-response
// batch: 10000 for r = 1).
TEST_CASE("grpo_batch_std with singleton raw_reward gives r / (1 + eps)", "[compat][singleton]") {
  const auto rej = hadw::nan_policy::reject;
  for (const bool centred : {false, true}) {
    const hadw::grpo_batch_std est{
        .eps = 1e-4, .centred = centred, .singleton = hadw::singleton_rule::raw_reward};
    CHECK(run(est, hadw::group_layout::uniform(1, 1), {1.0}, rej)[0] == 1.0 / (1.0 + 1e-4));
    // All-equal rewards: no spread in the raw batch std, so the lone 0.6 would be divided by
    // eps. (The centred values {0.6, 0, 0} do have a spread: the raw singleton's c is r.)
    const auto layout = hadw::group_layout::from_offsets(std::vector<std::int64_t>{0, 1, 3});
    if (!centred)
      CHECK(run(est, layout, {0.6, 0.6, 0.6}, rej) ==
            std::vector<double>{0.6 / (1.0 + 1e-4), 0.0, 0.0});
    // With a spread it is divided by the batch std like the others (unchanged).
    const auto c = run(est, layout, {0.6, 1.0, 0.0}, rej);
    CHECK(c[0] > 0.6);
  }
  // REINFORCE++-baseline keeps verl's whitening of the lone response with the batch: one
  // response, c = r - 0 = r, whitened to 0.
  CHECK(run(hadw::compat::verl::reinforce_pp_baseline, hadw::group_layout::uniform(1, 1), {1.0},
            rej)[0] == 0.0);
}

namespace {
/// The authors' compute_ha_dw_outcome_advantage (github yangfengkai/HA-DW,
/// verl/trainer/ppo/core_algos.py), one response at a time as their loop: a size-1 group has mean
/// 0 and std 1; scale = 1.5 exp(-sgn(gmean - H) sgn(r - gmean) |gmean - H|).
double authors_advantage(const std::vector<double>& group, double r, double H, bool norm) {
  const double n = static_cast<double>(group.size());
  double mean = 0.0, std = 1.0;
  if (group.size() > 1) {
    for (const double x : group) mean += x / n;
    double ss = 0.0;
    for (const double x : group) ss += (x - mean) * (x - mean);
    std = std::sqrt(ss / (n - 1.0));
  }
  if (!norm) return r - mean;
  const auto sgn = [](double x) { return static_cast<double>((x > 0) - (x < 0)); };
  const double diff = mean - H;
  const double scale = 1.5 * std::exp(-sgn(diff) * sgn(r - mean) * std::fabs(diff));
  return scale * (r - mean) / (std + 1e-6);
}
}  // namespace

TEST_CASE("compat::authors::ha_dw is the authors' advantage: size-1 groups, +-1, no std",
          "[compat][authors]") {
  const auto layout = hadw::group_layout::from_offsets(std::vector<std::int64_t>{0, 1, 5, 9});
  const std::vector<std::vector<double>> groups{{1.0}, {1.0, -1.0, -1.0, 1.0},
                                                {-1.0, -1.0, -1.0, 1.0}};
  std::vector<double> r;
  for (const auto& g : groups) r.insert(r.end(), g.begin(), g.end());
  for (const bool norm : {true, false}) {
    for (const double H : {-0.4, 0.0, 0.3}) {
      auto est = hadw::compat::authors::ha_dw;
      est.history_mean = H;
      est.normalise = norm;
      const auto a = run(est, layout, r, hadw::nan_policy::reject);
      std::size_t i = 0;
      for (const auto& g : groups)
        for (const double x : g) {
          CHECK(a[i] == Approx(authors_advantage(g, x, H, norm)).epsilon(1e-14));
          ++i;
        }
    }
  }
  hadw::ha_dw_authors bad{.history_mean = NAN};
  CHECK_THROWS_WITH(run(bad, layout, r, hadw::nan_policy::reject),
                    Catch::Contains("history_mean"));
}

// docs/integrating.md quotes the loop body: a window-10 mean anchor that observes the batch mean
// first gives their history mean (their trainer's deque of batch means, maxlen 10).
TEST_CASE("compat::authors::ha_dw with a window-10 anchor follows their history over steps",
          "[compat][authors]") {
  const double low = -1.0, high = 1.0;
  const auto layout = hadw::group_layout::from_offsets(std::vector<std::int64_t>{0, 1, 4, 7});
  hadw::difficulty_anchor<hadw::window_mean_belief> anchor{{.window = 10}};
  std::deque<double> history;  // theirs
  std::vector<double> rewards(7), advantages(7);
  for (int step = 0; step < 13; ++step) {
    for (std::size_t i = 0; i < rewards.size(); ++i)
      rewards[i] = ((step * 7 + i * 3) % 5) < 2 ? 1.0 : -1.0;
    const double mean_reward =
        std::accumulate(rewards.begin(), rewards.end(), 0.0) / static_cast<double>(rewards.size());
    history.push_back(mean_reward);
    if (history.size() > 10) history.pop_front();
    const double H = std::accumulate(history.begin(), history.end(), 0.0) /
                     static_cast<double>(history.size());
    // [snippet:authors_exact]
    // Each step: the batch's mean reward enters the window first (their deque, maxlen 10).
    anchor.observe((mean_reward - low) / (high - low));  // difficulty_anchor<window_mean_belief>
    auto est = hadw::compat::authors::ha_dw;              // .normalise = false: their no-std branch
    est.history_mean = low + (high - low) * anchor.prior();
    hadw::estimate(est, layout, std::span<const double>(rewards), std::span<double>(advantages));
    // [end:authors_exact]
    const std::vector<std::vector<double>> groups{
        {rewards[0]}, {rewards[1], rewards[2], rewards[3]}, {rewards[4], rewards[5], rewards[6]}};
    std::size_t i = 0;
    for (const auto& g : groups)
      for (const double x : g) {
        INFO("step " << step << " response " << i);
        CHECK(advantages[i] == Approx(authors_advantage(g, x, H, true)).epsilon(1e-13));
        ++i;
      }
  }
}

// OpenRLHF 0.11.2, reinforce_baseline (experience_maker.py): rewards - group mean, then over the
// batch's tokens mean = sum(a m) / sum(m), var = sum((a - mean)^2 m) / sum(m) (population),
// a = (a - mean) * var.clamp(min=1e-8).rsqrt(). Per response: a = c weighted by its length.
TEST_CASE("compat::openrlhf::reinforce_baseline whitens with OpenRLHF's clamped population var",
          "[compat][openrlhf]") {
  const auto layout = hadw::group_layout::uniform(3, 4);
  const std::vector<std::int64_t> len{3, 1, 4, 2, 5, 0, 2, 2, 1, 6, 3, 4};
  for (const std::vector<double>& r :
       {std::vector<double>{1, 0, 0, 1, 0.3, 0.9, 0.1, 0.5, 1, 1, 0, 0},
        std::vector<double>(12, 0.25)}) {  // all equal: 0, not 0 / sqrt(1e-8)
    std::vector<double> c(12), out(12);
    for (std::size_t k = 0; k < 3; ++k) {
      const double mean = (r[4 * k] + r[4 * k + 1] + r[4 * k + 2] + r[4 * k + 3]) / 4.0;
      for (std::size_t i = 4 * k; i < 4 * k + 4; ++i) c[i] = r[i] - mean;
    }
    double tokens = 0.0, sum = 0.0, sq = 0.0;
    for (std::size_t i = 0; i < 12; ++i) tokens += len[i], sum += len[i] * c[i];
    const double mean = sum / tokens;
    for (std::size_t i = 0; i < 12; ++i) sq += len[i] * (c[i] - mean) * (c[i] - mean);
    const double rstd = 1.0 / std::sqrt(std::max(sq / tokens, 1e-8));
    hadw::estimate(hadw::compat::openrlhf::reinforce_baseline, layout, std::span<const double>(r),
                   std::span<double>(out), {.lengths = len});
    for (std::size_t i = 0; i < 12; ++i)
      CHECK(out[i] == Approx((c[i] - mean) * rstd).epsilon(1e-13).margin(1e-15));
  }
  CHECK_THROWS_WITH(run(hadw::grpo{.eps_at = hadw::eps_placement::floor_var}, layout,
                        std::vector<double>(12, 0.0), hadw::nan_policy::reject),
                    Catch::Contains("floor_var"));
}

// ---------------------------------------------------------------------------------------------
// The other trainers' presets against naive loops written from each trainer's code.

namespace {

/// One group's advantages as NeMo-RL's calculate_baseline_and_std_per_prompt (leave-one-out) and
/// GRPOAdvantageEstimator compute them, in double: each response's baseline and ddof-1 std over
/// the others (sqrt((E[x^2] - E[x]^2) * m / (m - 1)), NaN -> 0), divided by std + 1e-6 where
/// std > 0; <= 1 valid response: baseline = reward.
std::vector<double> nemo_rl_group(const std::vector<double>& r) {
  const std::size_t n = r.size();
  std::vector<double> a(n, 0.0);
  if (n <= 1) return a;
  for (std::size_t i = 0; i < n; ++i) {
    const double m = static_cast<double>(n - 1);
    double s = 0.0, sq = 0.0;
    for (std::size_t j = 0; j < n; ++j)
      if (j != i) s += r[j], sq += r[j] * r[j];
    const double b = s / m;
    double sd = std::sqrt((sq / m - b * b) * (m / (m - 1.0)));
    if (std::isnan(sd)) sd = 0.0;
    a[i] = sd > 0.0 ? (r[i] - b) / (sd + 1e-6) : r[i] - b;
  }
  return a;
}

/// (r - mean) / (std + eps) per group, std with ddof `ddof`; a size-1 group per `lone`.
std::vector<double> grpo_loop(const std::vector<std::vector<double>>& groups, double eps, int ddof,
                              double (*lone)(double)) {
  std::vector<double> out;
  for (const auto& g : groups) {
    if (g.size() == 1) {
      out.push_back(lone(g[0]));
      continue;
    }
    double mean = 0.0, ss = 0.0;
    for (const double x : g) mean += x;
    mean /= static_cast<double>(g.size());
    for (const double x : g) ss += (x - mean) * (x - mean);
    const double sd = std::sqrt(ss / static_cast<double>(g.size() - ddof));
    for (const double x : g) out.push_back((x - mean) / (sd + eps));
  }
  return out;
}

std::vector<double> flat(const std::vector<std::vector<double>>& groups) {
  std::vector<double> r;
  for (const auto& g : groups) r.insert(r.end(), g.begin(), g.end());
  return r;
}

hadw::group_layout layout_of(const std::vector<std::vector<double>>& groups) {
  std::vector<std::int64_t> off{0};
  for (const auto& g : groups) off.push_back(off.back() + static_cast<std::int64_t>(g.size()));
  return hadw::group_layout::from_offsets(off);
}

}  // namespace

// NeMo-RL (NVIDIA-NeMo/RL 165f994): the std is each response's own, over the others. {1, 0, 0, 0}:
// the 1's others are all 0 (std 0): 1 - 0 = 1, undivided. A group of 2: std 0, r - other.
TEST_CASE("compat::nemo_rl::grpo divides by each response's leave-one-out std",
          "[compat][nemo_rl]") {
  const std::vector<std::vector<double>> groups{
      {1, 0, 0, 0}, {0.3, 0.9, 0.1, 0.5, 0.7}, {1, 0},    {0.25, 0.25, 0.25},
      {0.6},        {1, 1, 0, 1, 0, 0, 1, 0},  {-1, 1, 1}};
  const auto r = flat(groups);
  const auto a = run(hadw::compat::nemo_rl::grpo, layout_of(groups), r, hadw::nan_policy::reject);
  std::size_t i = 0;
  for (const auto& g : groups)
    for (const double want : nemo_rl_group(g)) {
      INFO("response " << i);
      CHECK(a[i] == Approx(want).epsilon(1e-12).margin(1e-15));
      ++i;
    }
  CHECK(a[0] == 1.0);   // others all 0: not divided
  CHECK(a[9] == 1.0);  // {1, 0}: 1 - 0, undivided
  CHECK(a[10] == -1.0);
  CHECK(a[11] == 0.0);  // all equal
  CHECK(a[14] == 0.0);  // a lone response: baseline = reward
  CHECK(a[1] == Approx(-1.0 / 3.0 / (std::sqrt(1.0 / 3.0) + 1e-6)).epsilon(1e-14));

  // Uniform groups take the lockstep path (one group per SIMD lane): the same bits.
  std::vector<double> u(64);
  for (std::size_t k = 0; k < u.size(); ++k) u[k] = static_cast<double>((k * 7 + k / 5) % 4) / 3.0;
  const auto au = run(hadw::compat::nemo_rl::grpo, hadw::group_layout::uniform(16, 4), u,
                      hadw::nan_policy::reject);
  for (std::size_t k = 0; k < 16; ++k) {
    const auto want = nemo_rl_group({u[4 * k], u[4 * k + 1], u[4 * k + 2], u[4 * k + 3]});
    for (std::size_t j = 0; j < 4; ++j)
      CHECK(au[4 * k + j] == Approx(want[j]).epsilon(1e-12).margin(1e-15));
  }

  // normalize_rewards = false: plain RLOO; a lone response 0.
  const auto b = run(hadw::compat::nemo_rl::rloo, layout_of(groups), r, hadw::nan_policy::reject);
  CHECK(b[1] == Approx(-1.0 / 3.0).epsilon(1e-14));
  CHECK(b[14] == 0.0);
}

// slime (THUDM/slime a51f071) and ROLL (alibaba/ROLL 4142237): torch.std (ddof 1) + 1e-6. slime's
// lone response gets r - r = 0; ROLL's std of one is NaN: rejected.
TEST_CASE("compat::slime and compat::roll: ddof 1 + 1e-6, their size-1 rules",
          "[compat][slime][roll]") {
  const std::vector<std::vector<double>> groups{{1, 0, 0, 1}, {0.3, 0.9, 0.1}, {0.4}};
  const auto r = flat(groups);
  const auto want = grpo_loop(groups, 1e-6, 1, [](double) { return 0.0; });
  const auto a = run(hadw::compat::slime::grpo, layout_of(groups), r, hadw::nan_policy::reject);
  for (std::size_t i = 0; i < r.size(); ++i) CHECK(a[i] == Approx(want[i]).epsilon(1e-13));
  CHECK(a[7] == 0.0);
  CHECK(run(hadw::compat::slime::dr_grpo, layout_of(groups), r, hadw::nan_policy::reject)[7] ==
        0.0);
  const std::vector<std::vector<double>> two{groups[0], groups[1]};
  const auto b = run(hadw::compat::roll::grpo, layout_of(two), flat(two), hadw::nan_policy::reject);
  for (std::size_t i = 0; i < 7; ++i) CHECK(b[i] == Approx(want[i]).epsilon(1e-13));
  CHECK_THROWS_AS(run(hadw::compat::roll::grpo, layout_of(groups), r, hadw::nan_policy::reject),
                  hadw::error);
}

// rllm (rllm-org/rllm aabd8a3, rl_algo.py): np.std (population) + 1e-6; a lone response has mean
// 0 and std 1 (GRPO: r / (1 + 1e-6)), or keeps its reward (RLOO).
TEST_CASE("compat::rllm: population std + 1e-6, a lone response mean 0 std 1", "[compat][rllm]") {
  const std::vector<std::vector<double>> groups{{1, 0, 0, 1}, {0.3, 0.9, 0.1}, {0.4}};
  const auto r = flat(groups);
  const auto want = grpo_loop(groups, 1e-6, 0, [](double x) { return x / (1.0 + 1e-6); });
  const auto a = run(hadw::compat::rllm::grpo, layout_of(groups), r, hadw::nan_policy::reject);
  for (std::size_t i = 0; i < r.size(); ++i) CHECK(a[i] == Approx(want[i]).epsilon(1e-13));
  CHECK(a[0] == Approx(0.5 / (0.5 + 1e-6)).epsilon(1e-14));  // population std of {1,0,0,1}: 0.5
  const auto b = run(hadw::compat::rllm::rloo, layout_of(groups), r, hadw::nan_policy::reject);
  CHECK(b[7] == 0.4);
  CHECK(b[4] == Approx(0.3 - 0.5).epsilon(1e-14));
}

// SkyRL (NovaSky-AI/SkyRL 9210371, skyrl-train ppo_utils.py): GRPO as verl's (ddof 1 + 1e-6, a
// lone response mean 0 std 1); its RLOO gives a lone response 0.
TEST_CASE("compat::skyrl: verl's GRPO, RLOO with a lone response 0", "[compat][skyrl]") {
  const std::vector<std::vector<double>> groups{{1, 0, 0, 1}, {0.3, 0.9, 0.1}, {0.4}};
  const auto r = flat(groups);
  const auto want = grpo_loop(groups, 1e-6, 1, [](double x) { return x / (1.0 + 1e-6); });
  const auto a = run(hadw::compat::skyrl::grpo, layout_of(groups), r, hadw::nan_policy::reject);
  for (std::size_t i = 0; i < r.size(); ++i) CHECK(a[i] == Approx(want[i]).epsilon(1e-13));
  const auto b = run(hadw::compat::skyrl::rloo, layout_of(groups), r, hadw::nan_policy::reject);
  CHECK(b[0] == Approx(4.0 / 3.0 * 0.5).epsilon(1e-14));
  CHECK(b[7] == 0.0);
  CHECK(run(hadw::compat::skyrl::dr_grpo, layout_of(groups), r, hadw::nan_policy::reject)[7] ==
        0.4);
}
