#include <hadw/stats/batch.hpp>
#include <hadw/stats/group.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

namespace {
hadw::group_stats stats_of(const std::vector<double>& r, const std::uint8_t* mask = nullptr) {
  hadw::response_view<double> in{r.data(), mask, nullptr, nullptr, true};
  return hadw::compute_group_stats(in, 0, static_cast<std::int64_t>(r.size()));
}
}  // namespace

TEST_CASE("group statistics match textbook formulas", "[stats]") {
  const std::vector<double> r{3, 1, 4, 1, 5};
  const auto g = stats_of(r);
  CHECK(g.count == 5);
  CHECK(g.mean == Approx(14.0 / 5));
  double m2 = 0;
  for (double x : r) m2 += (x - 2.8) * (x - 2.8);
  CHECK(g.m2 == Approx(m2));
  CHECK(g.variance(true) == Approx(m2 / 4));
  CHECK(g.variance(false) == Approx(m2 / 5));
  CHECK(g.min == 1);
  CHECK(g.max == 5);
  CHECK(g.argmax == 4);
  CHECK(g.second_max == 4);
  CHECK_FALSE(g.degenerate());
}

TEST_CASE("ties: argmax is the first maximum and second_max equals it", "[stats]") {
  const auto g = stats_of({0, 1, 0, 1});
  CHECK(g.argmax == 1);
  CHECK(g.second_max == 1);
}

TEST_CASE("all-equal groups are degenerate with exact mean and zero spread", "[stats]") {
  const auto g = stats_of({0.1, 0.1, 0.1});
  CHECK(g.degenerate());
  CHECK(g.mean == 0.1);
  CHECK(g.m2 == 0.0);
  CHECK(g.centred(0.1) == 0.0);
}

TEST_CASE("masked and NaN responses are skipped", "[stats]") {
  const std::vector<double> r{1, NAN, 0, 7};
  const std::uint8_t mask[] = {1, 1, 1, 0};
  const auto g = stats_of(r, mask);
  CHECK(g.count == 2);
  CHECK(g.mean == 0.5);
  const auto none = stats_of({NAN, NAN});
  CHECK(none.count == 0);
}

TEST_CASE("two-pass variance stays accurate with a large offset", "[stats]") {
  // Naive sum-of-squares loses every digit here; two-pass keeps them.
  std::vector<double> r;
  for (int i = 0; i < 16; ++i) r.push_back(1e9 + (i % 2));
  CHECK(stats_of(r).variance(false) == Approx(0.25).epsilon(1e-12));
}

TEST_CASE("batch statistics merged group by group equal the whole-batch moments", "[stats]") {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> n(2.0, 3.0);
  std::vector<double> all;
  hadw::batch_stats b;
  for (int k = 0; k < 20; ++k) {
    std::vector<double> grp(static_cast<std::size_t>(2 + k % 5));
    for (auto& x : grp) x = n(rng);
    b.merge_raw(stats_of(grp));
    all.insert(all.end(), grp.begin(), grp.end());
  }
  double mean = 0;
  for (double x : all) mean += x;
  mean /= static_cast<double>(all.size());
  double m2 = 0;
  for (double x : all) m2 += (x - mean) * (x - mean);
  CHECK(b.count == static_cast<std::int64_t>(all.size()));
  CHECK(b.mean == Approx(mean).epsilon(1e-13));
  CHECK(b.variance(hadw::batch_source::raw, true) ==
        Approx(m2 / static_cast<double>(all.size() - 1)).epsilon(1e-12));
}
