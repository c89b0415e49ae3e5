// Tests of hadw/objectives/dynamic_sampling.hpp: DAPO's degenerate-group filter and the soft
// overlong punishment.
#include <hadw/layout.hpp>
#include <hadw/objectives/dynamic_sampling.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace {

// verl's rule, written directly: keep a group iff its values are not all equal, or it has one.
std::vector<std::uint8_t> naive_keep(const std::vector<int>& ids, const std::vector<double>& v) {
  std::vector<std::uint8_t> keep(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    int count = 0;
    bool all_equal = true;
    for (std::size_t j = 0; j < ids.size(); ++j)
      if (ids[j] == ids[i]) {
        ++count;
        all_equal = all_equal && v[j] == v[i];
      }
    keep[i] = (count == 1 || !all_equal) ? 1 : 0;
  }
  return keep;
}

}  // namespace

TEMPLATE_TEST_CASE("groups whose rewards are all equal are dropped, others kept",
                   "[objectives][dynamic_sampling]", float, double) {
  // 4 groups of 4: all wrong, mixed, all right, mixed with a partial reward.
  const std::vector<TestType> r = {0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25};
  const auto layout = hadw::group_layout::uniform(4, 4);
  std::vector<std::uint8_t> keep(16, 9), keep_group(4, 9);
  const auto res = hadw::filter_degenerate_groups(layout, std::span<const TestType>(r),
                                                  std::span<std::uint8_t>(keep),
                                                  std::span<std::uint8_t>(keep_group));
  CHECK(keep_group == std::vector<std::uint8_t>{0, 1, 0, 1});
  CHECK(keep == std::vector<std::uint8_t>{0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1});
  CHECK(res.kept_groups == 2);
  CHECK(res.dropped_groups == 2);
  CHECK(res.kept_responses == 8);
  CHECK(res.dropped_responses == 8);
}

TEST_CASE("a group of one response is kept, as verl's filter_groups does",
          "[objectives][dynamic_sampling]") {
  const std::vector<std::int64_t> offsets = {0, 1, 3, 4};
  const auto layout = hadw::group_layout::from_offsets(offsets);
  const std::vector<double> r = {1.0, 0.0, 0.0, 0.0};
  std::vector<std::uint8_t> keep(4);
  const auto res = hadw::filter_degenerate_groups(layout, std::span<const double>(r),
                                                  std::span<std::uint8_t>(keep));
  CHECK(keep == std::vector<std::uint8_t>{1, 0, 0, 1});
  CHECK(res.kept_groups == 2);
  CHECK(hadw::informative_group(hadw::group_stats{.count = 1, .min = 0.3, .max = 0.3}));
  CHECK_FALSE(hadw::informative_group(hadw::group_stats{.count = 3, .min = 0.3, .max = 0.3}));
  CHECK(hadw::informative_group(hadw::group_stats{.count = 2, .min = 0.0, .max = 1.0}));
}

TEST_CASE("equal non-dyadic rewards are degenerate even where np.std would say 1e-17",
          "[objectives][dynamic_sampling]") {
  const std::vector<double> r = {0.1, 0.1, 0.1};
  const auto layout = hadw::group_layout::uniform(1, 3);
  std::vector<std::uint8_t> keep(3);
  hadw::filter_degenerate_groups(layout, std::span<const double>(r), std::span<std::uint8_t>(keep));
  CHECK(keep == std::vector<std::uint8_t>{0, 0, 0});
}

TEST_CASE("the filter follows group ids in any order and writes in the caller's order",
          "[objectives][dynamic_sampling]") {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> id(0, 9), coin(0, 1);
  std::vector<int> ids(80);
  std::vector<double> v(80);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    ids[i] = id(rng);
    v[i] = ids[i] % 3 == 0 ? 1.0 : coin(rng);  // ids 0, 3, 6, 9: all correct
  }
  const auto layout = hadw::group_layout::from_ids(ids);
  std::vector<std::uint8_t> keep(ids.size());
  hadw::filter_degenerate_groups(layout, std::span<double>(v), std::span<std::uint8_t>(keep));
  CHECK(keep == naive_keep(ids, v));
}

TEST_CASE("the filter rejects bad input naming the argument",
          "[objectives][dynamic_sampling][errors]") {
  const auto layout = hadw::group_layout::uniform(2, 2);
  std::vector<double> r = {0, 1, 1, 1};
  std::vector<std::uint8_t> keep(4), small(3), groups(3);
  CHECK_THROWS_WITH(hadw::filter_degenerate_groups(layout, std::span<const double>(r).first(3),
                                                   std::span<std::uint8_t>(keep)),
                    Catch::Contains("metric.size()"));
  CHECK_THROWS_WITH(hadw::filter_degenerate_groups(layout, std::span<const double>(r),
                                                   std::span<std::uint8_t>(small)),
                    Catch::Contains("keep.size()"));
  CHECK_THROWS_WITH(hadw::filter_degenerate_groups(layout, std::span<const double>(r),
                                                   std::span<std::uint8_t>(keep),
                                                   std::span<std::uint8_t>(groups)),
                    Catch::Contains("keep_group.size()"));
  r[2] = NAN;
  CHECK_THROWS_WITH(hadw::filter_degenerate_groups(layout, std::span<const double>(r),
                                                   std::span<std::uint8_t>(keep)),
                    Catch::Contains("metric[2]"));
}

TEST_CASE("the overlong penalty is 0, then linear over the buffer, then -penalty_factor",
          "[objectives][overlong]") {
  // DAPO's recipe: L_max = 20480, L_cache = 4096, factor 1.
  const hadw::overlong_shaping dapo{};
  CHECK(dapo.penalty(0) == 0.0);
  CHECK(dapo.penalty(16384) == 0.0);  // = L_max - L_cache
  CHECK(dapo.penalty(16385) == Approx(-1.0 / 4096));
  CHECK(dapo.penalty(18432) == Approx(-0.5));
  CHECK(dapo.penalty(20480) == Approx(-1.0));
  CHECK(dapo.penalty(20481) == -1.0);
  CHECK(dapo.penalty(1 << 20) == -1.0);

  const hadw::overlong_shaping small{.max_length = 100, .buffer = 20, .penalty_factor = 0.5};
  CHECK(small.penalty(80) == 0.0);
  CHECK(small.penalty(90) == Approx(-0.25));
  CHECK(small.penalty(100) == Approx(-0.5));
  CHECK(small.penalty(150) == -0.5);
}

TEST_CASE("the overlong penalty equals verl's formula for every length up to the maximum",
          "[objectives][overlong][verl]") {
  const hadw::overlong_shaping s{.max_length = 512, .buffer = 64, .penalty_factor = 1.5};
  for (std::int64_t len = 0; len <= 512; ++len) {
    // verl DAPORewardManager: min(-(len - (max - buffer)) / buffer * factor, 0)
    const double exceed = static_cast<double>(len - (512 - 64));
    const double verl = std::min(-exceed / 64.0 * 1.5, 0.0);
    CHECK(s.penalty(len) == Approx(verl).margin(1e-15));
  }
}

TEST_CASE("apply_overlong_penalty adds the penalty to each reward", "[objectives][overlong]") {
  const hadw::overlong_shaping s{.max_length = 10, .buffer = 4, .penalty_factor = 1.0};
  const std::vector<int> lengths = {3, 6, 8, 10, 12};
  std::vector<float> rewards = {1, 1, 0, 1, 0};
  hadw::apply_overlong_penalty(s, std::span<const int>(lengths), std::span<float>(rewards));
  CHECK(rewards[0] == 1.0f);
  CHECK(rewards[1] == 1.0f);
  CHECK(rewards[2] == Approx(-0.5f));
  CHECK(rewards[3] == Approx(0.0f).margin(1e-7));
  CHECK(rewards[4] == -1.0f);

  std::vector<float> few(2);
  CHECK_THROWS_WITH(
      hadw::apply_overlong_penalty(s, std::span<const int>(lengths), std::span<float>(few)),
      Catch::Contains("rewards.size()"));
  const std::vector<int> negative = {3, -1};
  CHECK_THROWS_WITH(
      hadw::apply_overlong_penalty(s, std::span<const int>(negative), std::span<float>(few)),
      Catch::Contains("lengths[1]"));
  CHECK_THROWS_WITH((hadw::overlong_shaping{.max_length = 10, .buffer = 11}.validate()),
                    Catch::Contains("overlong_shaping.buffer"));
  CHECK_THROWS_WITH((hadw::overlong_shaping{.penalty_factor = -1}.validate()),
                    Catch::Contains("penalty_factor"));
}
