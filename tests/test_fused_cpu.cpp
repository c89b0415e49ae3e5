// The fused CPU kernels (hadw/backend/cpu.hpp): the fused calls are bit-identical to the chain
// estimate -> reweight -> broadcast_to_tokens, each response's value is bit-identical to the
// shared per-element formulas applied one response at a time, and nothing depends on the
// OpenMP thread count.
#include <hadw/hadw.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#if HADW_HAS_OPENMP
#include <omp.h>
#endif

namespace {

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void check_same_stats(const hadw::step_stats& a, const hadw::step_stats& b) {
  std::vector<double> va, vb;
  a.for_each([&](auto, double v) { va.push_back(v); });
  b.for_each([&](auto, double v) { vb.push_back(v); });
  REQUIRE(va.size() == vb.size());
  for (std::size_t i = 0; i < va.size(); ++i) {
    INFO("step_stats field " << i << ": " << va[i] << " vs " << vb[i]);
    CHECK(same_bits(va[i], vb[i]));
  }
}

/// A batch with the awkward parts switched on by the caller.
template <class T>
struct batch {
  hadw::group_layout layout;
  std::vector<T> rewards;
  std::vector<std::uint8_t> mask;        // per response (empty: none)
  std::vector<std::int64_t> lengths;     // per response
  std::int64_t L = 0;
  std::vector<std::uint8_t> token_mask;  // [N, L]
};

/// Ragged groups (sizes 2..24), rewards on a grid in [low, high] (so ties and all-equal groups
/// occur), a few masked responses, optionally shuffled into from_ids order.
template <class T>
batch<T> make_batch(std::uint64_t seed, std::int64_t groups, bool ragged, bool shuffled,
                    bool masked, double low = 0.0, double high = 1.0, std::int64_t L = 24) {
  std::mt19937_64 rng(seed);
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(groups));
  for (auto& s : sizes) s = ragged ? std::uniform_int_distribution<std::int64_t>(2, 24)(rng) : 16;
  std::vector<int> ids;
  for (std::size_t k = 0; k < sizes.size(); ++k) ids.insert(ids.end(), sizes[k], int(k));
  if (shuffled) std::shuffle(ids.begin(), ids.end(), rng);
  batch<T> b{hadw::group_layout::from_ids(ids), {}, {}, {}, L, {}};
  const auto n = ids.size();
  std::uniform_int_distribution<int> level(0, 4), all_equal(0, 9);
  std::vector<int> fixed(sizes.size(), -1);
  for (auto& f : fixed) f = all_equal(rng) == 0 ? level(rng) : -1;  // 10% all-equal groups
  for (std::size_t i = 0; i < n; ++i) {
    const int lv = fixed[static_cast<std::size_t>(ids[i])] >= 0 ? fixed[static_cast<std::size_t>(ids[i])]
                                                                 : level(rng);
    b.rewards.push_back(static_cast<T>(low + (high - low) * lv / 4.0));
  }
  if (masked) {
    b.mask.assign(n, 1);
    for (std::size_t i = 0; i < n; i += 7) b.mask[i] = 0;
  }
  std::uniform_int_distribution<std::int64_t> len(0, L);
  for (std::size_t i = 0; i < n; ++i) b.lengths.push_back(len(rng));
  b.token_mask.assign(n * static_cast<std::size_t>(L), 0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::int64_t t = 0; t < b.lengths[i]; ++t)
      b.token_mask[i * static_cast<std::size_t>(L) + static_cast<std::size_t>(t)] =
          static_cast<std::uint8_t>(1 + t % 3);  // any non-zero byte is "on"
  return b;
}

/// What one estimator configuration produces through every path.
template <class T, class E>
void check_paths(const E& est, const batch<T>& b, hadw::reweight_options opt,
                 bool pass_lengths = false) {
  const auto n = b.rewards.size();
  const std::span<const T> rewards(b.rewards);
  const std::span<const std::int64_t> lengths =
      pass_lengths ? std::span<const std::int64_t>(b.lengths) : std::span<const std::int64_t>{};
  opt.mask = b.mask;

  // The chain of separate calls.
  std::vector<T> chain(n, T(-7)), chain_tok(n * static_cast<std::size_t>(b.L), T(-7));
  hadw::difficulty_anchor<> a1;
  hadw::estimate(est, b.layout, rewards, std::span<T>(chain),
                 hadw::estimate_options{.mask = b.mask, .lengths = lengths, .nan = opt.nan});
  const auto st1 = hadw::reweight(hadw::grouped(std::span<T>(chain), b.layout),
                                  hadw::grouped(rewards, b.layout), a1, opt);
  hadw::broadcast_to_tokens(std::span<const T>(chain), std::span<const std::uint8_t>(b.token_mask),
                            b.L, std::span<T>(chain_tok));

  // The fused calls.
  std::vector<T> fused(n, T(-9)), fused2(n, T(-9)), fused_tok(chain_tok.size(), T(-9));
  std::vector<T> fused_len_tok(chain_tok.size(), T(-9)), chain_len_tok(chain_tok.size(), T(-9));
  hadw::difficulty_anchor<> a2, a3, a4;
  const auto st2 = hadw::estimate_and_reweight(est, b.layout, rewards, std::span<T>(fused), a2, opt,
                                               lengths);
  const auto st3 = hadw::estimate_reweight_broadcast(
      est, b.layout, rewards, std::span<T>(fused2), a3,
      std::span<const std::uint8_t>(b.token_mask), b.L, std::span<T>(fused_tok), opt, lengths);
  std::vector<T> fused3(n, T(-9));
  const auto st4 = hadw::estimate_reweight_broadcast(
      est, b.layout, rewards, std::span<T>(fused3), a4, std::span<const std::int64_t>(b.lengths),
      b.L, std::span<T>(fused_len_tok), opt, lengths);
  hadw::broadcast_to_tokens(std::span<const T>(chain), std::span<const std::int64_t>(b.lengths),
                            b.L, std::span<T>(chain_len_tok));

  CHECK(same_bits(fused, chain));
  CHECK(same_bits(fused2, chain));
  CHECK(same_bits(fused3, chain));
  CHECK(same_bits(fused_tok, chain_tok));
  CHECK(same_bits(fused_len_tok, chain_len_tok));
  check_same_stats(st2, st1);
  check_same_stats(st3, st1);
  check_same_stats(st4, st1);
  CHECK(a2.save() == a1.save());
  CHECK(a3.save() == a1.save());

  // Token rows against the plain definition: mask ? advantage : +0 / t < len ? advantage : +0.
  const auto L = static_cast<std::size_t>(b.L);
  bool rows_ok = true;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t t = 0; t < L; ++t) {
      const T want = b.token_mask[i * L + t] ? chain[i] : T(0);
      const T want_len = t < static_cast<std::size_t>(b.lengths[i]) ? chain[i] : T(0);
      rows_ok = rows_ok && std::memcmp(&fused_tok[i * L + t], &want, sizeof(T)) == 0 &&
                std::memcmp(&fused_len_tok[i * L + t], &want_len, sizeof(T)) == 0;
    }
  CHECK(rows_ok);
}

/// The per-response value, one response at a time through the shared formulas:
/// compute_group_stats, estimator<>::advantage (rounded to T, as estimate() stores it), phi().
template <class T, class E>
std::vector<T> one_at_a_time(const E& named, const batch<T>& b, double belief, double lambda,
                             const hadw::reward_range& range) {
  const auto est = named.policies();
  const hadw::response_view<T> in{b.rewards.data(), b.mask.empty() ? nullptr : b.mask.data(),
                                  nullptr,
                                  b.layout.has_permutation() ? b.layout.permutation().data()
                                                             : nullptr,
                                  false};
  std::vector<T> out(b.rewards.size(), T(0));
  for (std::int64_t k = 0; k < b.layout.num_groups(); ++k) {
    const auto raw = hadw::compute_group_stats(in, b.layout.begin(k), b.layout.end(k));
    auto g = raw;
    if (g.count == 1 && est.singleton == hadw::singleton_rule::raw_reward) g.make_raw_singleton();
    const bool zero = g.count == 1 && est.singleton == hadw::singleton_rule::zero;
    const double diff = hadw::history_difficulty(range.normalise(raw.mean), belief);
    for (std::int64_t j = b.layout.begin(k); j < b.layout.end(k); ++j) {
      const auto i = static_cast<std::size_t>(in.index(j));
      if (!in.valid(static_cast<std::int64_t>(i)) || zero) continue;
      const auto a = static_cast<T>(est.advantage(g, {}, in.reward(static_cast<std::int64_t>(i)),
                                                  j - b.layout.begin(k)));
      const auto x = static_cast<double>(a);
      out[i] = static_cast<T>(x * hadw::phi(x, diff, lambda));
    }
  }
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("fused calls are bit-identical to estimate, reweight, broadcast_to_tokens",
                   "[fused][cpu]", float, double) {
  using T = TestType;
  hadw::reweight_options opt;
  for (std::uint64_t seed : {1u, 2u}) {
    for (bool ragged : {false, true})
      for (bool shuffled : {false, true})
        for (bool masked : {false, true}) {
          INFO("seed " << seed << " ragged " << ragged << " shuffled " << shuffled << " masked "
                       << masked);
          const auto b = make_batch<T>(seed, 150, ragged, shuffled, masked);
          const auto z = hadw::singleton_rule::zero;
          check_paths(hadw::grpo{.singleton = z}, b, opt);
          check_paths(hadw::dr_grpo{.singleton = z}, b, opt);
          check_paths(hadw::rloo{.singleton = z}, b, opt);
          check_paths(hadw::grpo_leave_one_out{.singleton = z}, b, opt);
          check_paths(hadw::grpo_batch_std{.singleton = z}, b, opt);
          check_paths(hadw::grpo_batch_std{.centred = true, .singleton = z}, b, opt);
          check_paths(hadw::reinforce_pp_baseline{.singleton = z}, b, opt, true);
          check_paths(hadw::opo{.singleton = z}, b, opt, true);
          check_paths(hadw::gpg{.singleton = z}, b, opt);
          check_paths(hadw::grpo_passk{.singleton = hadw::singleton_rule::raw_reward}, b, opt);
        }
  }
  SECTION("under every reweight option") {
    const auto b = make_batch<T>(5, 90, true, true, true, -1.0, 1.0);
    hadw::reweight_options o;
    o.range = {-1.0, 1.0};
    o.timing = hadw::anchor_timing::posterior;
    o.observation = hadw::observation_kind::success_rate;
    o.lambda_scale = 1.3;
    check_paths(hadw::grpo{.singleton = hadw::singleton_rule::zero}, b, o);
    o.warmup_steps = 1;  // Phi = 1 on this first step
    check_paths(hadw::grpo{.singleton = hadw::singleton_rule::zero}, b, o);
  }
  SECTION("with unscorable (NaN) rewards") {
    auto b = make_batch<T>(6, 60, true, false, false);
    for (std::size_t i = 3; i < b.rewards.size(); i += 11) b.rewards[i] = T(NAN);
    hadw::reweight_options o;
    o.nan = hadw::nan_policy::unscorable;
    check_paths(hadw::grpo{.singleton = hadw::singleton_rule::zero}, b, o);
  }
}

TEMPLATE_TEST_CASE("each weighted advantage equals the shared formulas applied one at a time",
                   "[fused][cpu]", float, double) {
  using T = TestType;
  // Phi is evaluated once per sign per group and the scale once per group; neither may move a bit.
  for (bool masked : {false, true}) {
    const auto b = make_batch<T>(11, 200, true, true, masked, -1.0, 1.0);
    hadw::difficulty_anchor<> anchor;
    hadw::reweight_options o;
    o.range = {-1.0, 1.0};
    o.mask = b.mask;
    o.lambda_scale = 1.4;
    std::vector<T> got(b.rewards.size());
    const auto z = hadw::singleton_rule::zero;
    hadw::estimate_and_reweight(hadw::grpo{.singleton = z}, b.layout,
                                std::span<const T>(b.rewards), std::span<T>(got), anchor, o);
    CHECK(same_bits(got, one_at_a_time<T>(hadw::grpo{.singleton = z}, b, 0.5, 1.4, o.range)));
    hadw::difficulty_anchor<> anchor2;
    hadw::estimate_and_reweight(hadw::rloo{.singleton = z}, b.layout,
                                std::span<const T>(b.rewards), std::span<T>(got), anchor2, o);
    CHECK(same_bits(got, one_at_a_time<T>(hadw::rloo{.singleton = z}, b, 0.5, 1.4, o.range)));
  }
}

TEST_CASE("the step diagnostics match a direct computation", "[fused][cpu]") {
  const auto b = make_batch<double>(3, 300, true, true, true);
  hadw::difficulty_anchor<> anchor;
  hadw::reweight_options o;
  o.mask = b.mask;
  std::vector<double> before(b.rewards.size()), after(b.rewards.size());
  hadw::estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, b.layout,
                 std::span<const double>(b.rewards), std::span<double>(before),
                 {.mask = b.mask});
  after = before;
  const auto st = hadw::reweight(hadw::grouped(std::span<double>(after), b.layout),
                                 hadw::grouped(std::span<const double>(b.rewards), b.layout),
                                 anchor, o);
  long double s_phi = 0, s_a = 0, s_b = 0, correct = 0, n = 0, s_r = 0;
  double phi_min = INFINITY, phi_max = -INFINITY;
  for (std::size_t i = 0; i < b.rewards.size(); ++i) {
    if (!b.mask[i]) continue;
    ++n;
    s_r += b.rewards[i];
    correct += b.rewards[i] >= 0.5;
    s_b += before[i];
    s_a += after[i];
    if (before[i] != 0.0) {
      const double f = after[i] / before[i];
      s_phi += f;
      phi_min = std::min(phi_min, f);
      phi_max = std::max(phi_max, f);
    } else {
      s_phi += 1.5 * std::exp(0.0);  // Phi = lambda when the advantage is 0 (D = 0)
      phi_min = std::min(phi_min, 1.5);
      phi_max = std::max(phi_max, 1.5);
    }
  }
  CHECK(st.total == static_cast<std::int64_t>(n));
  CHECK(st.correct == static_cast<std::int64_t>(correct));
  CHECK(st.batch_accuracy == Approx(static_cast<double>(s_r / n)).epsilon(1e-12));
  CHECK(st.phi_mean == Approx(static_cast<double>(s_phi / n)).epsilon(1e-12));
  CHECK(st.phi_min == Approx(phi_min).epsilon(1e-12));
  CHECK(st.phi_max == Approx(phi_max).epsilon(1e-12));
  CHECK(st.adv_mean_before == Approx(static_cast<double>(s_b / n)).margin(1e-12));
  CHECK(st.adv_mean_after == Approx(static_cast<double>(s_a / n)).margin(1e-12));
}

TEST_CASE("fused calls validate everything before writing anything", "[fused][cpu]") {
  auto b = make_batch<float>(4, 40, false, false, false);
  std::vector<float> adv(b.rewards.size(), 42.0f), tok(b.token_mask.size(), 42.0f);
  hadw::difficulty_anchor<> anchor;
  const auto saved = anchor.save();
  auto run = [&](const hadw::reweight_options& o) {
    hadw::estimate_reweight_broadcast(hadw::grpo{}, b.layout, std::span<const float>(b.rewards),
                                      std::span<float>(adv), anchor,
                                      std::span<const std::uint8_t>(b.token_mask), b.L,
                                      std::span<float>(tok), o);
  };
  auto untouched = [&] {
    CHECK(std::all_of(adv.begin(), adv.end(), [](float x) { return x == 42.0f; }));
    CHECK(std::all_of(tok.begin(), tok.end(), [](float x) { return x == 42.0f; }));
    CHECK(anchor.save() == saved);
  };
  SECTION("a NaN reward") {
    b.rewards[37] = NAN;
    CHECK_THROWS_WITH(run({}), Catch::Contains("rewards[37] is NaN"));
    untouched();
  }
  SECTION("a reward outside the range") {
    b.rewards[5] = 2.0f;
    CHECK_THROWS_WITH(run({}), Catch::Contains("rewards[5] = 2 outside reward_range"));
    untouched();
  }
  SECTION("a group left with one valid response") {
    std::vector<std::uint8_t> mask(b.rewards.size(), 1);
    for (std::int64_t j = 1; j < 16; ++j) mask[static_cast<std::size_t>(32 + j)] = 0;  // group 2
    hadw::reweight_options o;
    o.mask = mask;
    CHECK_THROWS_WITH(run(o), Catch::Contains("group 2 (responses [32, 48)) has a single valid"));
    untouched();
  }
  SECTION("token rows longer than L") {
    std::vector<std::int64_t> len(b.rewards.size(), b.L + 1);
    CHECK_THROWS_WITH(hadw::estimate_reweight_broadcast(
                          hadw::grpo{}, b.layout, std::span<const float>(b.rewards),
                          std::span<float>(adv), anchor, std::span<const std::int64_t>(len), b.L,
                          std::span<float>(tok)),
                      Catch::Contains("0 <= lengths[0] <= L required"));
    untouched();
  }
}

TEST_CASE("results do not depend on the OpenMP thread count", "[fused][cpu][openmp]") {
  // Large enough that the kernels take their parallel path (detail::parallel_min_work).
  const std::int64_t groups = (std::int64_t{1} << 20) / 16 + 37;
  auto b = make_batch<float>(9, groups, true, false, true, 0.0, 1.0, 2);
  b.L = 4;
  b.token_mask.assign(b.rewards.size() * 4, 1);
  for (std::size_t i = 0; i < b.token_mask.size(); i += 5) b.token_mask[i] = 0;
  auto run = [&](int threads) {
#if HADW_HAS_OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    hadw::difficulty_anchor<> anchor;
    hadw::reweight_options o;
    o.mask = b.mask;
    std::vector<float> adv(b.rewards.size()), tok(b.token_mask.size());
    const auto st = hadw::estimate_reweight_broadcast(
        hadw::grpo_batch_std{.singleton = hadw::singleton_rule::zero}, b.layout,
        std::span<const float>(b.rewards), std::span<float>(adv), anchor,
        std::span<const std::uint8_t>(b.token_mask), b.L, std::span<float>(tok), o);
    return std::tuple{adv, tok, st, anchor.save()};
  };
  const auto [adv1, tok1, st1, s1] = run(1);
  for (int threads : {2, 3, 4}) {
    INFO(threads << " threads");
    const auto [adv, tok, st, s] = run(threads);
    CHECK(same_bits(adv, adv1));
    CHECK(same_bits(tok, tok1));
    check_same_stats(st, st1);
    CHECK(s == s1);
  }
#if HADW_HAS_OPENMP
  omp_set_num_threads(omp_get_num_procs());
#endif
}

TEMPLATE_TEST_CASE("the dense lockstep path equals the general path bit for bit",
                   "[fused][cpu][lockstep]", float, double) {
  // A uniform layout with no mask goes through the lockstep kernels (several groups per SIMD
  // register); the same batch with an all-ones mask goes through the general one-group walk.
  // Every output and every diagnostic must be the same bits, for group counts that leave a tail
  // of groups outside the lockstep, group sizes 2..17, all-equal groups, and each range.
  using T = TestType;
  const auto z = hadw::singleton_rule::zero;
  for (std::int64_t G : {2, 3, 5, 16, 17}) {
    for (std::int64_t groups : {1, 4, 7, 150}) {
      auto b = make_batch<T>(static_cast<std::uint64_t>(G * 1000 + groups), groups, false, false,
                             false, -1.0, 1.0);
      // make_batch's uniform groups have 16 responses: re-cut the rewards into groups of G.
      b.rewards.resize(static_cast<std::size_t>(G * groups), T(0.5));
      b.layout = hadw::group_layout::uniform(groups, G);
      const std::vector<std::uint8_t> ones(b.rewards.size(), 1);
      INFO("G " << G << " groups " << groups);
      auto both = [&](const auto& est, hadw::reweight_options o) {
        std::vector<T> dense(b.rewards.size(), T(-3)), general(b.rewards.size(), T(-5));
        hadw::difficulty_anchor<> a1, a2;
        o.mask = {};
        const auto s1 = hadw::estimate_and_reweight(est, b.layout, std::span<const T>(b.rewards),
                                                    std::span<T>(dense), a1, o);
        o.mask = ones;
        const auto s2 = hadw::estimate_and_reweight(est, b.layout, std::span<const T>(b.rewards),
                                                    std::span<T>(general), a2, o);
        CHECK(same_bits(dense, general));
        check_same_stats(s1, s2);
        CHECK(a1.save() == a2.save());
        // estimate alone
        hadw::estimate(est, b.layout, std::span<const T>(b.rewards), std::span<T>(dense));
        hadw::estimate(est, b.layout, std::span<const T>(b.rewards), std::span<T>(general),
                       {.mask = ones});
        CHECK(same_bits(dense, general));
      };
      hadw::reweight_options o;
      o.range = {-1.0, 1.0};
      both(hadw::grpo{.singleton = z}, o);
      both(hadw::grpo{.eps = 1e-3, .unbiased = false, .singleton = z}, o);
      both(hadw::grpo{.eps = 1e-2, .eps_at = hadw::eps_placement::add_to_var, .singleton = z}, o);
      both(hadw::rloo{.singleton = z}, o);
      both(hadw::grpo_leave_one_out{.singleton = z}, o);
      both(hadw::dr_grpo{.singleton = z}, o);
      both(hadw::grpo_batch_std{.singleton = z}, o);
      both(hadw::gpg{.singleton = z}, o);
      both(hadw::grpo_passk{.singleton = z}, o);
      // The default [0, 1] range (the unit-range scan): rewards mapped onto it.
      for (auto& r : b.rewards) r = static_cast<T>((static_cast<double>(r) + 1.0) / 2.0);
      o.range = {};
      o.timing = hadw::anchor_timing::posterior;
      both(hadw::grpo{.singleton = z}, o);
      both(hadw::grpo{.eps = 0.0, .singleton = z}, o);
      o.warmup_steps = 1;
      both(hadw::grpo{.singleton = z}, o);
      // And against the shared formulas applied one response at a time.
      std::vector<T> got(b.rewards.size());
      hadw::difficulty_anchor<> anchor;
      hadw::reweight_options p;
      p.lambda_scale = 1.4;
      hadw::estimate_and_reweight(hadw::grpo{.singleton = z}, b.layout,
                                  std::span<const T>(b.rewards), std::span<T>(got), anchor, p);
      CHECK(same_bits(got, one_at_a_time<T>(hadw::grpo{.singleton = z}, b, 0.5, 1.4, {})));
    }
  }
}

TEST_CASE("the dense lockstep scan names the first bad reward", "[fused][cpu][lockstep]") {
  // The lockstep scan checks each group through its extremes and its sum; the failure it
  // reports must still be the first one a sequential walk meets.
  const auto layout = hadw::group_layout::uniform(12, 4);
  std::vector<float> r(48, 0.0f), adv(48, 7.0f);
  for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<float>(i % 3) / 2.0f;
  hadw::difficulty_anchor<> anchor;
  auto run = [&] {
    hadw::estimate_and_reweight(hadw::grpo{}, layout, std::span<const float>(r),
                                std::span<float>(adv), anchor);
  };
  SECTION("NaN in a lane of the second pack") {
    r[29] = NAN;
    r[41] = 3.0f;
    CHECK_THROWS_WITH(run(), Catch::Contains("rewards[29] is NaN"));
  }
  SECTION("out of range in the last lane") {
    r[47] = -0.5f;
    CHECK_THROWS_WITH(run(), Catch::Contains("rewards[47] = -0.5 outside reward_range"));
  }
  SECTION("infinite reward, estimate alone") {
    r[6] = INFINITY;
    CHECK_THROWS_WITH(hadw::estimate(hadw::grpo{}, layout, std::span<const float>(r),
                                     std::span<float>(adv)),
                      Catch::Contains("rewards[6] is inf"));
  }
  CHECK(std::all_of(adv.begin(), adv.end(), [](float x) { return x == 7.0f; }));
}
