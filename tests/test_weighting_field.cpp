// hadw::weigh and the field's difficulty weightings (weighting/{focal,lead,question,
// static_difficulty,length,prompt_phi}.hpp) against naive loops written here from the sources'
// code: ragged layouts, ids in any order, masks, float and double, degenerate groups, bad input
// refused by name with nothing written.
#include <hadw/api/weigh.hpp>
#include <hadw/weighting/focal.hpp>
#include <hadw/weighting/lead.hpp>
#include <hadw/weighting/length.hpp>
#include <hadw/weighting/prompt_phi.hpp>
#include <hadw/weighting/question.hpp>
#include <hadw/weighting/static_difficulty.hpp>

#include "support/error_of.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using test_support::error_of;

namespace {

/// A random batch: ragged groups (sizes 1-7), rewards 0/1 or in [0, 1], a mask, lengths.
struct batch {
  std::vector<std::int64_t> offsets{0};
  std::vector<double> rewards, advantages;
  std::vector<std::uint8_t> mask;
  std::vector<std::int64_t> lengths;
  std::vector<double> difficulty, priors;
  std::vector<std::int64_t> group_of;
};

batch make_batch(std::uint32_t seed, bool binary, bool with_mask) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> size(1, 7), coin(0, 1), len(1, 500);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> z;
  batch b;
  const int groups = 12;
  for (int k = 0; k < groups; ++k) {
    const int g = size(gen);
    // Some all-equal groups so the degenerate path is walked.
    const bool flat = k % 5 == 0;
    const double fixed = binary ? static_cast<double>(coin(gen)) : u(gen);
    for (int i = 0; i < g; ++i) {
      // Representable in float, so the float runs read the rewards the reference reads.
      const double r = flat ? fixed : (binary ? static_cast<double>(coin(gen)) : u(gen));
      b.rewards.push_back(static_cast<float>(r));
      b.advantages.push_back(z(gen));
      b.mask.push_back(with_mask ? static_cast<std::uint8_t>(u(gen) < 0.8) : 1);
      b.lengths.push_back(len(gen));
      b.group_of.push_back(k);
    }
    b.offsets.push_back(b.offsets.back() + g);
    b.difficulty.push_back(-0.2 + 1.4 * u(gen));  // some outside [0, 1]: clamped
    b.priors.push_back(u(gen));
  }
  b.mask[0] = 1;  // at least one valid response
  return b;
}

/// The naive per-group view the references start from.
struct naive_group {
  std::int64_t count = 0, positive = 0;
  double mean = 0.0;
  bool degenerate = false;
};

std::vector<naive_group> naive_groups(const batch& b) {
  std::vector<naive_group> out(b.offsets.size() - 1);
  for (std::size_t k = 0; k + 1 < b.offsets.size(); ++k) {
    double sum = 0.0, lo = INFINITY, hi = -INFINITY;
    for (auto i = b.offsets[k]; i < b.offsets[k + 1]; ++i) {
      if (!b.mask[i]) continue;
      ++out[k].count;
      out[k].positive += b.rewards[i] > 0.0;
      sum += b.rewards[i];
      lo = std::min(lo, b.rewards[i]);
      hi = std::max(hi, b.rewards[i]);
    }
    out[k].mean = out[k].count ? sum / static_cast<double>(out[k].count) : 0.0;
    out[k].degenerate = out[k].count > 0 && lo == hi;
  }
  return out;
}

/// Runs weigh on a float or double copy; compares with want[i] = a_i * w_i (valid) or a_i.
template <class T, class P>
void check_against(const batch& b, const P& policy, const std::vector<double>& w) {
  const auto layout = hadw::group_layout::from_offsets(b.offsets);
  std::vector<T> r(b.rewards.begin(), b.rewards.end()), a(b.advantages.begin(), b.advantages.end());
  const auto before = a;
  hadw::weigh_options opt;
  opt.mask = b.mask;
  const auto st = hadw::weigh(hadw::grouped(std::span<T>(a), layout),
                              hadw::grouped(std::span<const T>(r), layout), policy, opt);
  double lo = INFINITY, hi = -INFINITY, sum = 0.0;
  std::int64_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!b.mask[i]) {
      CHECK(std::memcmp(&a[i], &before[i], sizeof(T)) == 0);  // untouched
      continue;
    }
    const double want = static_cast<double>(before[i]) * w[i];
    if constexpr (std::is_same_v<T, double>)
      CHECK(a[i] == Approx(want).epsilon(1e-12).margin(1e-300));
    else
      CHECK(a[i] == Approx(static_cast<float>(want)).epsilon(1e-6).margin(1e-30));
    lo = std::min(lo, w[i]);
    hi = std::max(hi, w[i]);
    sum += w[i];
    ++n;
  }
  CHECK(st.total == n);
  CHECK(st.weight_min == Approx(lo).epsilon(1e-12));
  CHECK(st.weight_max == Approx(hi).epsilon(1e-12));
  CHECK(st.weight_mean == Approx(sum / static_cast<double>(n)).epsilon(1e-12));
}

}  // namespace

TEMPLATE_TEST_CASE("F-GRPO's focal weight is (1 - p_hat)^gamma per group", "[weigh][focal]", float,
                   double) {
  for (std::uint32_t seed : {1u, 2u, 3u}) {
    const batch b = make_batch(seed, seed != 2, seed != 3);
    const auto g = naive_groups(b);
    for (double gamma : {0.5, 1.0, 2.0}) {
      std::vector<double> w(b.rewards.size());
      for (std::size_t i = 0; i < w.size(); ++i)
        w[i] = std::pow(1.0 - g[b.group_of[i]].mean, gamma);
      check_against<TestType>(b, hadw::focal{.gamma = gamma}, w);
    }
  }
}

TEST_CASE("focal with gamma 0 is GRPO: the advantages are unchanged bit for bit",
          "[weigh][focal]") {
  batch b = make_batch(7, true, true);
  const auto layout = hadw::group_layout::from_offsets(b.offsets);
  auto a = b.advantages;
  hadw::weigh_options opt;
  opt.mask = b.mask;
  hadw::weigh(hadw::grouped(std::span<double>(a), layout),
              hadw::grouped(std::span<const double>(b.rewards), layout), hadw::focal{.gamma = 0.0},
              opt);
  CHECK(std::memcmp(a.data(), b.advantages.data(), a.size() * sizeof(double)) == 0);
}

TEMPLATE_TEST_CASE(
    "GRPO-LEAD weighs w(rho) for A > 0 and w(1 - rho) otherwise, rho = share of r > 0",
    "[weigh][lead]", float, double) {
  for (std::uint32_t seed : {4u, 5u}) {
    const batch b = make_batch(seed, seed == 4, true);
    const auto g = naive_groups(b);
    std::vector<double> w(b.rewards.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
      const auto& gi = g[b.group_of[i]];
      const double rho = static_cast<double>(gi.positive) / static_cast<double>(gi.count);
      const double x = static_cast<TestType>(b.advantages[i]) > 0 ? rho : 1.0 - rho;
      w[i] = 0.4 + (1.5 - 0.4) / (1.0 + std::exp(10.0 * (x - 0.75)));  // logistic_reweight
    }
    check_against<TestType>(b, hadw::lead{}, w);
  }
}

TEMPLATE_TEST_CASE(
    "DGPO's question weights are N_valid softmax(-mean / T) over non-degenerate groups",
    "[weigh][dgpo]", float, double) {
  for (std::uint32_t seed : {6u, 7u}) {
    const batch b = make_batch(seed, seed == 6, true);
    const auto g = naive_groups(b);
    for (double T : {2.0, 0.5}) {
      double z = 0.0;
      int nd = 0;
      for (const auto& gi : g)
        if (gi.count > 0 && !gi.degenerate) z += std::exp(-gi.mean / T), ++nd;
      std::vector<double> w(b.rewards.size());
      for (std::size_t i = 0; i < w.size(); ++i) {
        const auto& gi = g[b.group_of[i]];
        w[i] = gi.degenerate ? 1.0 : nd * std::exp(-gi.mean / T) / z;
      }
      check_against<TestType>(b, hadw::question_weights{.temperature = T}, w);
    }
  }
}

TEST_CASE("DGPO's question weights: a batch of degenerate groups keeps weight 1", "[weigh][dgpo]") {
  const std::vector<double> r{1, 1, 0, 0, 0};
  std::vector<double> a{0.0, 0.0, 0.0, 0.0, 0.0};
  const auto layout = hadw::group_layout::from_offsets(std::vector<std::int64_t>{0, 2, 4, 5});
  const auto st =
      hadw::weigh(hadw::grouped(std::span<double>(a), layout),
                  hadw::grouped(std::span<const double>(r), layout), hadw::question_weights{});
  CHECK(st.weight_min == 1.0);
  CHECK(st.weight_max == 1.0);
  CHECK(st.degenerate == 3);
}

TEMPLATE_TEST_CASE("ROLL's static weight 0.5 + 1.5 clamp(d) is rescaled to mean 1 as ROLL does",
                   "[weigh][roll]", float, double) {
  const batch b = make_batch(8, true, true);
  std::vector<double> raw(b.rewards.size()), w(b.rewards.size());
  double sum = 0.0;
  int n = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double d = std::clamp(b.difficulty[b.group_of[i]], 0.0, 1.0);
    raw[i] = 0.5 + 1.5 * d;
    if (b.mask[i]) sum += raw[i], ++n;
  }
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = raw[i] * (n / (sum + 1e-8));
  check_against<TestType>(b, hadw::static_difficulty{.difficulty = b.difficulty}, w);
  check_against<TestType>(
      b, hadw::static_difficulty{.difficulty = b.difficulty, .renormalise = false}, raw);
}

TEMPLATE_TEST_CASE("Delta-L's length weight (L / mean L)^-alpha is renormalised to mean 1",
                   "[weigh][delta_l]", float, double) {
  const batch b = make_batch(9, false, true);
  for (double alpha : {1.0, 0.75, 0.0}) {
    double total = 0.0;
    int n = 0;
    for (std::size_t i = 0; i < b.lengths.size(); ++i)
      if (b.mask[i]) total += static_cast<double>(b.lengths[i]), ++n;
    const double mean = total / n;
    std::vector<double> raw(b.lengths.size()), w(b.lengths.size());
    double rsum = 0.0;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      raw[i] = 1.0 / std::pow(static_cast<double>(b.lengths[i]) / mean, alpha);
      if (b.mask[i]) rsum += raw[i];
    }
    for (std::size_t i = 0; i < raw.size(); ++i) w[i] = raw[i] / (rsum / n);
    check_against<TestType>(b, hadw::length_weights{.lengths = b.lengths, .alpha = alpha}, w);
  }
}

TEMPLATE_TEST_CASE("HA-DW with per-prompt priors: Phi = lambda exp(D M) with C = the group's prior",
                   "[weigh][prompt_phi]", float, double) {
  const batch b = make_batch(10, true, true);
  const auto g = naive_groups(b);
  std::vector<double> w(b.rewards.size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double diff = g[b.group_of[i]].mean - b.priors[b.group_of[i]];
    const double a = static_cast<TestType>(b.advantages[i]);
    const double sa = a > 0 ? 1.0 : (a < 0 ? -1.0 : 0.0),
                 sd = diff > 0 ? 1.0 : (diff < 0 ? -1.0 : 0.0);
    w[i] = 1.3 * std::exp(-sa * sd * std::fabs(diff));
  }
  check_against<TestType>(b, hadw::prompt_phi{.priors = b.priors, .lambda_scale = 1.3}, w);
}

TEST_CASE("weigh follows a from_ids layout (responses in any order)", "[weigh][layout]") {
  // Two prompts interleaved: ids 7, 3, 7, 3, 7; rewards 1, 0, 0, 1, 1.
  const std::vector<std::int64_t> ids{7, 3, 7, 3, 7};
  const auto layout = hadw::group_layout::from_ids(std::span<const std::int64_t>(ids));
  const std::vector<double> r{1, 0, 0, 1, 1};
  std::vector<double> a{1.0, -1.0, -1.0, 1.0, 1.0};
  hadw::weigh(hadw::grouped(std::span<double>(a), layout),
              hadw::grouped(std::span<const double>(r), layout), hadw::focal{.gamma = 1.0});
  // Prompt 7: p_hat 2/3, w 1/3; prompt 3: p_hat 1/2, w 1/2.
  CHECK(a[0] == Approx(1.0 / 3));
  CHECK(a[2] == Approx(-1.0 / 3));
  CHECK(a[1] == Approx(-0.5));
  CHECK(a[3] == Approx(0.5));
}

TEST_CASE("weigh refuses bad input by name and writes nothing", "[weigh][errors]") {
  const batch b = make_batch(11, true, false);
  const auto layout = hadw::group_layout::from_offsets(b.offsets);
  auto a = b.advantages;
  auto r = b.rewards;
  const auto run = [&](const auto& policy, const hadw::weigh_options& o = {}) {
    return error_of([&] {
      hadw::weigh(hadw::grouped(std::span<double>(a), layout),
                  hadw::grouped(std::span<const double>(r), layout), policy, o);
    });
  };
  CHECK_THAT(run(hadw::focal{.gamma = -1.0}), Catch::Contains("focal.gamma"));
  CHECK_THAT(run(hadw::lead{.curve = {.low = 0.0}}), Catch::Contains("lead.curve.low"));
  CHECK_THAT(run(hadw::question_weights{.temperature = 0.0}),
             Catch::Contains("question_weights.temperature"));
  const std::vector<double> short_d(3, 0.5);
  CHECK_THAT(run(hadw::static_difficulty{.difficulty = short_d}),
             Catch::Contains("static_difficulty.difficulty.size()"));
  auto nan_d = b.difficulty;
  nan_d[2] = NAN;
  CHECK_THAT(run(hadw::static_difficulty{.difficulty = nan_d}),
             Catch::Contains("static_difficulty.difficulty[2]"));
  const std::vector<std::int64_t> short_l(2, 5);
  CHECK_THAT(run(hadw::length_weights{.lengths = short_l}),
             Catch::Contains("length_weights.lengths.size()"));
  auto zero_l = b.lengths;
  zero_l[4] = 0;
  CHECK_THAT(run(hadw::length_weights{.lengths = zero_l}),
             Catch::Contains("length_weights.lengths[4] > 0"));
  CHECK_THAT(run(hadw::length_weights{.lengths = b.lengths, .alpha = 2.0}),
             Catch::Contains("length_weights.alpha"));
  auto bad_p = b.priors;
  bad_p[1] = 1.5;
  CHECK_THAT(run(hadw::prompt_phi{.priors = bad_p}), Catch::Contains("prompt_phi.priors[1]"));
  r[3] = 2.0;  // outside the default [0, 1]
  CHECK_THAT(run(hadw::focal{}), Catch::Contains("rewards[3]"));
  r[3] = NAN;
  CHECK_THAT(run(hadw::focal{}), Catch::Contains("rewards[3]"));
  r = b.rewards;
  a[5] = INFINITY;
  CHECK_THAT(run(hadw::focal{}), Catch::Contains("advantages[5]"));
  a[5] = b.advantages[5];
  const std::vector<std::uint8_t> none(r.size(), 0);
  hadw::weigh_options o;
  o.mask = none;
  CHECK_THAT(run(hadw::focal{}, o), Catch::Contains("no valid response"));
  // Nothing was written by any refused call.
  CHECK(std::memcmp(a.data(), b.advantages.data(), a.size() * sizeof(double)) == 0);
  // A length of 0 on a masked response is never read.
  auto masked = b.lengths;
  masked[4] = 0;
  std::vector<std::uint8_t> m(r.size(), 1);
  m[4] = 0;
  o.mask = m;
  CHECK(run(hadw::length_weights{.lengths = masked}, o).empty());
}
