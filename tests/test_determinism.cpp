// Determinism: a 100-step training simulation gives the same bits on every run, with any thread
// count, and when resumed from a checkpoint (STYLE.md §8, DESIGN.md §1.1 "results must not depend
// on thread count", anchor.hpp "a run resumed from a checkpoint produces exactly the weights of an
// uninterrupted run").
//
// Each step is sized so that the CPU kernels take their parallel path when OpenMP is enabled
// (responses + tokens >= detail::parallel_min_work, several blocks of detail::block_groups
// groups), with ragged groups in shuffled order, masks, unscorable rewards, estimators with
// batch-level reductions, and the data-parallel observe(correct, total) path. Runs advance in
// lockstep and are compared after every step: every advantage, every token advantage, every
// step_stats field and the anchor's saved bytes, bit for bit.
#include <hadw/hadw.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

#if HADW_HAS_OPENMP
#include <omp.h>
#endif

namespace {

constexpr int steps = 100;
constexpr std::int64_t groups = 256;  // 4 blocks of 64 groups
constexpr std::int64_t L = 512;       // tokens per row: ~2300 rows x 513 > 2^20 work items

/// One step's data, a pure function of the step index (so a resumed run regenerates it).
struct step_data {
  std::vector<std::int64_t> ids;  // shuffled prompt ids, ragged group sizes 4..13
  std::vector<float> rewards;
  std::vector<std::uint8_t> mask;
  std::vector<std::int64_t> lengths;
  std::vector<std::uint8_t> token_mask;
};

step_data make_step(int t) {
  std::mt19937_64 rng(0x5eed0000u + static_cast<unsigned>(t));
  step_data d;
  // The model gets better over the run: success probability drifts from 0.2 to 0.7.
  const double p = 0.2 + 0.5 * t / steps;
  for (std::int64_t k = 0; k < groups; ++k) {
    const auto size = 4 + static_cast<std::int64_t>(rng() % 10);
    const double pk = std::min(1.0, std::max(0.0, p + (static_cast<double>(rng() % 1000) / 1000.0 - 0.5) * 0.6));
    for (std::int64_t i = 0; i < size; ++i) {
      d.ids.push_back(k);
      float r = (static_cast<double>(rng() % 1000000) / 1e6) < pk ? 1.0f : 0.0f;
      if (rng() % 8 == 0) r = 0.5f;            // partial credit
      if (rng() % 97 == 0) r = NAN;            // the verifier could not score it
      d.rewards.push_back(r);
      d.mask.push_back(rng() % 50 == 0 ? 0 : 1);  // a few responses dropped by the trainer
      d.lengths.push_back(1 + static_cast<std::int64_t>(rng() % L));
    }
  }
  // Shuffle responses (ids, rewards, ... together) so that from_ids builds a permutation.
  for (std::size_t i = d.ids.size() - 1; i > 0; --i) {
    const std::size_t j = rng() % (i + 1);
    std::swap(d.ids[i], d.ids[j]);
    std::swap(d.rewards[i], d.rewards[j]);
    std::swap(d.mask[i], d.mask[j]);
    std::swap(d.lengths[i], d.lengths[j]);
  }
  d.token_mask.resize(d.ids.size() * static_cast<std::size_t>(L));
  for (std::size_t i = 0; i < d.ids.size(); ++i)
    for (std::int64_t s = 0; s < L; ++s)
      d.token_mask[i * L + static_cast<std::size_t>(s)] = s < d.lengths[i] ? 1 : 0;
  return d;
}

/// A trainer's state and its last step's outputs.
template <class Belief>
struct run {
  hadw::difficulty_anchor<Belief> anchor;
  hadw::anchor_timing timing = hadw::anchor_timing::prior;
  std::vector<float> adv;
  std::vector<float> tokens;
  hadw::step_stats stats;

  explicit run(hadw::difficulty_anchor<Belief> a = {},
               hadw::anchor_timing tm = hadw::anchor_timing::prior)
      : anchor(std::move(a)), timing(tm) {}

  void step(int t, const step_data& d) {
    const auto layout = hadw::group_layout::from_ids(d.ids);
    const std::span<const float> r(d.rewards);
    adv.assign(d.rewards.size(), 0.0f);
    tokens.assign(d.token_mask.size(), 0.0f);
    hadw::reweight_options o;
    o.lambda_scale = 1.4;
    o.timing = timing;
    o.mask = d.mask;
    o.nan = hadw::nan_policy::unscorable;
    // Every estimator family in turn, singletons (after masking) allowed by the rule.
    const auto fused = [&](const auto& est) {
      return hadw::estimate_reweight_broadcast(est, layout, r, std::span<float>(adv), anchor,
                                               std::span<const std::uint8_t>(d.token_mask), L,
                                               std::span<float>(tokens), o,
                                               std::span<const std::int64_t>(d.lengths));
    };
    const auto zero = hadw::singleton_rule::zero;
    if (t % 7 == 3) {
      // Data-parallel path: weight with the shared prior, observe the (all-reduced) counts.
      o.update_anchor = false;
      o.observation = hadw::observation_kind::success_rate;
      stats = fused(hadw::grpo{.singleton = zero});
      anchor.observe(stats.correct, stats.total);
      return;
    }
    switch (t % 4) {
      case 0: stats = fused(hadw::grpo{.singleton = zero}); break;
      case 1: stats = fused(hadw::reinforce_pp_baseline{.singleton = zero}); break;
      case 2: stats = fused(hadw::grpo_batch_std{.centred = true, .singleton = zero}); break;
      default: stats = fused(hadw::rloo{.singleton = zero}); break;
    }
  }
};

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}
bool same_bits(const hadw::step_stats& a, const hadw::step_stats& b) {
  std::vector<double> va, vb;
  a.for_each([&](auto, double v) { va.push_back(v); });
  b.for_each([&](auto, double v) { vb.push_back(v); });
  return same_bits(va, vb);
}

template <class Belief>
void require_same(const run<Belief>& a, const run<Belief>& b, int t) {
  INFO("step " << t);
  REQUIRE(same_bits(a.adv, b.adv));
  REQUIRE(same_bits(a.tokens, b.tokens));
  REQUIRE(same_bits(a.stats, b.stats));
  REQUIRE(a.anchor.save() == b.anchor.save());
}

/// Sets the OpenMP team size for the next kernels (no-op without OpenMP).
void use_threads(int n) {
#if HADW_HAS_OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}

}  // namespace

TEST_CASE("The 100-step simulation is bit-identical run to run and with 1, 2 and 3 threads",
          "[determinism][threads]") {
#if HADW_HAS_OPENMP
  const int restore = omp_get_max_threads();
  INFO("OpenMP enabled; max threads before the test: " << restore);
#else
  WARN("built without OpenMP (HADW_ENABLE_OPENMP off): the thread count cannot vary here; the "
       "sanitizer stage builds this test with OpenMP");
#endif
  run<hadw::kalman_belief> once, twice, two_threads, three_threads;
  for (int t = 0; t < steps; ++t) {
    const step_data d = make_step(t);
    // Each step is big enough for the CPU kernels' parallel path (several blocks of groups).
    REQUIRE(static_cast<std::int64_t>(d.ids.size()) * (1 + L) >= hadw::detail::parallel_min_work);
    REQUIRE(groups > 2 * hadw::detail::block_groups);
    use_threads(1);
    once.step(t, d);
    twice.step(t, d);
    use_threads(2);
#if HADW_HAS_OPENMP
    REQUIRE(omp_get_max_threads() == 2);
#endif
    two_threads.step(t, d);
    use_threads(3);
    three_threads.step(t, d);
    require_same(once, twice, t);
    require_same(once, two_threads, t);
    require_same(once, three_threads, t);
  }
  // The run did something: the anchor moved and HA-DW weighted.
  CHECK(once.anchor.step() == steps);
  CHECK(once.anchor.prior() != 0.5);
  CHECK(once.stats.phi_min < once.stats.phi_max);
#if HADW_HAS_OPENMP
  use_threads(restore);
#endif
}

TEMPLATE_TEST_CASE("A run saved at step 50 and resumed from the bytes equals the uninterrupted run",
                   "[determinism][resume]", hadw::kalman_belief, hadw::window_mean_belief,
                   hadw::fixed_belief) {
  // The authors' mode for the window mean (posterior timing); the paper's for the others.
  const auto timing = std::is_same_v<TestType, hadw::window_mean_belief>
                          ? hadw::anchor_timing::posterior
                          : hadw::anchor_timing::prior;
  run<TestType> uninterrupted({}, timing);
  std::optional<run<TestType>> resumed;
  std::vector<std::uint8_t> checkpoint;
  {
    run<TestType> first_half({}, timing);
    for (int t = 0; t < 50; ++t) {
      const step_data d = make_step(t);
      uninterrupted.step(t, d);
      first_half.step(t, d);
      require_same(uninterrupted, first_half, t);
    }
    checkpoint = first_half.anchor.save();
  }  // the first process is gone; only the bytes survive
  resumed.emplace(hadw::difficulty_anchor<TestType>::load(checkpoint), timing);
  REQUIRE(resumed->anchor == uninterrupted.anchor);
  for (int t = 50; t < steps; ++t) {
    const step_data d = make_step(t);
    uninterrupted.step(t, d);
    resumed->step(t, d);
    require_same(uninterrupted, *resumed, t);
  }
  CHECK(resumed->anchor.step() == steps);
}
