// hadw/interop/xtensor.hpp: xtensor containers go straight into hadw::estimate and
// hadw::reweight, zero-copy, with the same results as the span API on the same data.
#include <hadw/hadw.hpp>
#include <hadw/interop/xtensor.hpp>

#include "support/error_of.hpp"

#include <catch2/catch.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xfixed.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace {

/// Binary rewards, B prompts x G responses, each prompt with its own success rate.
template <class T>
xt::xtensor<T, 2> random_rewards(std::size_t B, std::size_t G, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  xt::xtensor<T, 2> r({B, G});
  for (std::size_t k = 0; k < B; ++k) {
    const double p = unit(gen);
    for (std::size_t i = 0; i < G; ++i) r(k, i) = unit(gen) < p ? T(1) : T(0);
  }
  return r;
}

/// Element (k, i) in row-major order, read through operator() (not through data()).
template <class T, class E>
std::vector<T> to_vector(const E& e) {
  std::vector<T> v;
  for (std::size_t k = 0; k < e.shape()[0]; ++k)
    for (std::size_t i = 0; i < e.shape()[1]; ++i) v.push_back(static_cast<T>(e(k, i)));
  return v;
}

/// The span API on a flat copy of the same data.
template <class E, class T>
std::vector<T> span_estimate(const E& est, const xt::xtensor<T, 2>& r) {
  const std::vector<T> flat = to_vector<T>(r);
  std::vector<T> adv(flat.size());
  hadw::estimate(est,
                 hadw::group_layout::uniform(static_cast<std::int64_t>(r.shape()[0]),
                                             static_cast<std::int64_t>(r.shape()[1])),
                 std::span<const T>(flat), std::span<T>(adv));
  return adv;
}

using test_support::error_of;

constexpr hadw::grpo grpo0{.singleton = hadw::singleton_rule::zero};

}  // namespace

TEMPLATE_TEST_CASE("estimate on an xt::xtensor equals the span API", "[interop][xtensor]", float,
                   double) {
  const auto r = random_rewards<TestType>(16, 8, 7);
  xt::xtensor<TestType, 2> adv({16, 8});
  SECTION("grpo") {
    hadw::estimate(grpo0, r, adv);
    CHECK(to_vector<TestType>(adv) == span_estimate(grpo0, r));
  }
  SECTION("rloo") {
    hadw::estimate(hadw::rloo{}, r, adv);
    CHECK(to_vector<TestType>(adv) == span_estimate(hadw::rloo{}, r));
  }
  SECTION("grpo_batch_std (batch statistics)") {
    hadw::estimate(hadw::grpo_batch_std{}, r, adv);
    CHECK(to_vector<TestType>(adv) == span_estimate(hadw::grpo_batch_std{}, r));
  }
}

TEST_CASE("Rows of the xtensor are the groups", "[interop][xtensor]") {
  const xt::xtensor<double, 2> r = {{1, 0, 0, 0}, {1, 1, 1, 0}};
  xt::xtensor<double, 2> adv({2, 4});
  hadw::estimate(hadw::dr_grpo{}, r, adv);
  CHECK(to_vector<double>(adv) ==
        std::vector<double>{0.75, -0.25, -0.25, -0.25, 0.25, 0.25, 0.25, -0.75});
}

TEST_CASE("xarray, xtensor_fixed and adaptors are accepted; adaptors write in place",
          "[interop][xtensor]") {
  const auto r = random_rewards<float>(4, 8, 11);
  const auto expected = span_estimate(grpo0, r);

  const xt::xarray<float> ar = r;
  xt::xarray<float> aa = xt::zeros<float>({4, 8});
  hadw::estimate(grpo0, ar, aa);
  CHECK(to_vector<float>(aa) == expected);

  xt::xtensor_fixed<float, xt::xshape<4, 8>> fr = r, fa;
  hadw::estimate(grpo0, fr, fa);
  CHECK(to_vector<float>(fa) == expected);

  std::vector<float> buffer(32, -1.0f);
  auto adapted = xt::adapt(buffer.data(), buffer.size(), xt::no_ownership(),
                           std::vector<std::size_t>{4, 8});
  REQUIRE(hadw::as_span(adapted).data() == buffer.data());  // zero-copy
  hadw::estimate(grpo0, r, adapted);
  CHECK(buffer == expected);
}

TEST_CASE("A view of whole rows is a contiguous batch", "[interop][xtensor]") {
  const auto r = random_rewards<double>(8, 6, 3);
  xt::xtensor<double, 2> adv = xt::zeros<double>({8, 6}) + 42.0;
  hadw::estimate(grpo0, xt::view(r, xt::range(2, 5), xt::all()),
                 xt::view(adv, xt::range(2, 5), xt::all()));
  const xt::xtensor<double, 2> sub = xt::view(r, xt::range(2, 5), xt::all());
  const xt::xtensor<double, 2> got = xt::view(adv, xt::range(2, 5), xt::all());
  CHECK(to_vector<double>(got) == span_estimate(grpo0, sub));
  CHECK(adv(1, 5) == 42.0);  // untouched outside the view
  CHECK(adv(5, 0) == 42.0);
}

TEMPLATE_TEST_CASE("reweight on xtensor equals the span API, anchor included",
                   "[interop][xtensor]", float, double) {
  hadw::difficulty_anchor<hadw::window_mean_belief> via_xt, via_span;
  hadw::reweight_options opt;
  opt.timing = hadw::anchor_timing::posterior;
  for (std::uint32_t step = 0; step < 4; ++step) {
    const auto r = random_rewards<TestType>(12, 8, 200 + step);
    xt::xtensor<TestType, 2> adv({12, 8});
    hadw::estimate(grpo0, r, adv);

    std::vector<TestType> flat_r = to_vector<TestType>(r), flat_a = to_vector<TestType>(adv);
    const auto layout = hadw::group_layout::uniform(12, 8);
    const auto st_span = hadw::reweight(hadw::grouped(std::span<TestType>(flat_a), layout),
                                        hadw::grouped(std::span<const TestType>(flat_r), layout),
                                        via_span, opt);
    const auto st_xt = hadw::reweight(adv, r, via_xt, opt);

    CHECK(to_vector<TestType>(adv) == flat_a);
    CHECK(st_xt.weighting_belief == st_span.weighting_belief);
    CHECK(st_xt.phi_max == st_span.phi_max);
    CHECK(st_xt.batch_accuracy == st_span.batch_accuracy);
    CHECK(via_xt == via_span);
  }
}

TEST_CASE("Runtime layout problems throw hadw::error naming the argument", "[interop][xtensor]") {
  xt::xtensor<float, 2> r = xt::zeros<float>({4, 8}), adv({4, 8}), small({4, 4});
  hadw::difficulty_anchor<> anchor;

  CHECK_THAT(error_of([&] { hadw::estimate(hadw::grpo{}, r, small); }),
             Catch::Contains("advantages shape == rewards shape required, got {4, 4} vs {4, 8}"));

  // Columns 0..3 of every row: strides {8, 1} but shape {4, 4} -> rows are not contiguous.
  CHECK_THAT(error_of([&] {
               hadw::estimate(hadw::grpo{}, xt::view(r, xt::all(), xt::range(0, 4)), small);
             }),
             Catch::Contains("rewards: row-major contiguous storage required (strides {cols, 1}), "
                             "got shape {4, 4} with strides {8, 1}"));

  // A dynamic-layout xarray laid out column-major at run time.
  xt::xarray<float, xt::layout_type::dynamic> cm(std::vector<std::size_t>{4, 8},
                                                  xt::layout_type::column_major);
  CHECK_THAT(error_of([&] { hadw::reweight(adv, cm, anchor); }),
             Catch::Contains("rewards: row-major contiguous storage required"));

  xt::xarray<float> three_d = xt::zeros<float>({2, 2, 2});
  CHECK_THAT(error_of([&] { (void)hadw::as_span(three_d, "rewards"); }),
             Catch::Contains("rewards: 1-D or 2-D {B, G} required, got 3 dimensions"));

  // 1-D data has no groups without a layout...
  xt::xtensor<float, 1> flat = xt::zeros<float>({8}), flat_adv = xt::zeros<float>({8});
  CHECK_THAT(error_of([&] { hadw::estimate(hadw::grpo{}, flat, flat_adv); }),
             Catch::Contains("rewards: a 2-D {B, G} container required"));
  CHECK(anchor.step() == 0);
  // ...but as_span hands it to the span API with one.
  flat = {1, 0, 0, 1, 1, 1, 1, 0};
  hadw::estimate(hadw::dr_grpo{}, hadw::group_layout::uniform(2, 4), hadw::as_span(flat),
                 hadw::as_span(flat_adv));
  CHECK(flat_adv(0) == 0.5f);
  CHECK(flat_adv(7) == -0.75f);
}
