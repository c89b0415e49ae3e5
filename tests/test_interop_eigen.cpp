// hadw/interop/eigen.hpp: Eigen containers go straight into hadw::estimate and hadw::reweight,
// zero-copy, with the same results as the span API on the same data.
#include <hadw/hadw.hpp>
#include <hadw/interop/eigen.hpp>

#include "support/error_of.hpp"

#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace {

template <class T>
using row_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Binary rewards, B prompts x G responses, each prompt with its own success rate.
template <class T>
row_matrix<T> random_rewards(Eigen::Index B, Eigen::Index G, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  row_matrix<T> r(B, G);
  for (Eigen::Index k = 0; k < B; ++k) {
    const double p = unit(gen);
    for (Eigen::Index i = 0; i < G; ++i) r(k, i) = unit(gen) < p ? T(1) : T(0);
  }
  return r;
}

/// The span API on a flat copy of the same data: what the interop overloads must reproduce.
template <class E, class T>
std::vector<T> span_estimate(const E& est, const row_matrix<T>& r) {
  const std::vector<T> flat(r.data(), r.data() + r.size());
  std::vector<T> adv(flat.size());
  hadw::estimate(est, hadw::group_layout::uniform(r.rows(), r.cols()), std::span<const T>(flat),
                 std::span<T>(adv));
  return adv;
}

template <class T, class M>
std::vector<T> to_vector(const M& m) {
  std::vector<T> v;
  for (Eigen::Index k = 0; k < m.rows(); ++k)
    for (Eigen::Index i = 0; i < m.cols(); ++i) v.push_back(m(k, i));
  return v;
}

using test_support::error_of;

}  // namespace

TEMPLATE_TEST_CASE("estimate on a row-major Eigen matrix equals the span API", "[interop][eigen]",
                   float, double) {
  const auto r = random_rewards<TestType>(16, 8, 7);
  row_matrix<TestType> adv(16, 8);
  SECTION("grpo") {
    hadw::estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, r, adv);
    CHECK(to_vector<TestType>(adv) ==
          span_estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, r));
  }
  SECTION("rloo") {
    hadw::estimate(hadw::rloo{}, r, adv);
    CHECK(to_vector<TestType>(adv) == span_estimate(hadw::rloo{}, r));
  }
  SECTION("reinforce_pp_baseline (batch statistics)") {
    hadw::estimate(hadw::reinforce_pp_baseline{}, r, adv);
    CHECK(to_vector<TestType>(adv) == span_estimate(hadw::reinforce_pp_baseline{}, r));
  }
}

TEST_CASE("Rows of the matrix are the groups", "[interop][eigen]") {
  // Dr.GRPO: A = r - row mean, written out by hand.
  row_matrix<double> r(2, 4), adv(2, 4);
  r << 1, 0, 0, 0,  //
      1, 1, 1, 0;
  hadw::estimate(hadw::dr_grpo{}, r, adv);
  row_matrix<double> expected(2, 4);
  expected << 0.75, -0.25, -0.25, -0.25,  //
      0.25, 0.25, 0.25, -0.75;
  CHECK(adv == expected);
}

TEST_CASE("Maps over caller memory are written in place", "[interop][eigen]") {
  std::vector<float> rewards{1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0};
  std::vector<float> adv(rewards.size(), -7.0f);
  const Eigen::Map<const row_matrix<float>> r(rewards.data(), 3, 4);
  Eigen::Map<row_matrix<float>> a(adv.data(), 3, 4);
  REQUIRE(hadw::as_span(a).data() == adv.data());  // zero-copy: the view is the caller's memory
  REQUIRE(hadw::as_span(r).data() == rewards.data());
  hadw::estimate(hadw::grpo{}, r, a);

  std::vector<float> expected(rewards.size());
  hadw::estimate(hadw::grpo{}, hadw::group_layout::uniform(3, 4),
                 std::span<const float>(rewards), std::span<float>(expected));
  CHECK(adv == expected);
}

TEST_CASE("Fixed-size matrices, arrays and Refs are accepted", "[interop][eigen]") {
  const auto dyn = random_rewards<double>(4, 8, 11);
  const auto expected = span_estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, dyn);
  const hadw::grpo est{.singleton = hadw::singleton_rule::zero};

  Eigen::Matrix<double, 4, 8, Eigen::RowMajor> fixed_r = dyn, fixed_a;
  hadw::estimate(est, fixed_r, fixed_a);
  CHECK(to_vector<double>(fixed_a) == expected);

  Eigen::Array<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> arr_r = dyn.array(),
                                                                          arr_a(4, 8);
  hadw::estimate(est, arr_r, arr_a);
  CHECK(to_vector<double>(arr_a) == expected);

  row_matrix<double> out(4, 8);
  Eigen::Ref<const row_matrix<double>> ref_r(dyn);
  Eigen::Ref<row_matrix<double>> ref_a(out);
  hadw::estimate(est, ref_r, ref_a);
  CHECK(to_vector<double>(out) == expected);
}

TEST_CASE("A block of whole rows is a contiguous batch", "[interop][eigen]") {
  const auto r = random_rewards<float>(8, 6, 3);
  row_matrix<float> adv = row_matrix<float>::Constant(8, 6, 42.0f);
  // Rows 2..4 only: a temporary Block as the output.
  hadw::estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, r.middleRows(2, 3),
                 adv.middleRows(2, 3));
  const row_matrix<float> sub = r.middleRows(2, 3);
  CHECK(to_vector<float>(adv.middleRows(2, 3)) ==
        span_estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, sub));
  CHECK((adv.topRows(2).array() == 42.0f).all());     // untouched outside the block
  CHECK((adv.bottomRows(3).array() == 42.0f).all());
}

TEST_CASE("Column-major G x B storage is accepted through transpose()", "[interop][eigen]") {
  const auto r = random_rewards<double>(5, 4, 5);            // B x G, row-major
  Eigen::MatrixXd r_cm = r.transpose();                      // G x B, column-major: same bytes
  Eigen::MatrixXd adv_cm(4, 5);
  hadw::estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, r_cm.transpose(),
                 adv_cm.transpose());
  const row_matrix<double> adv = adv_cm.transpose();
  CHECK(to_vector<double>(adv) ==
        span_estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, r));
}

TEMPLATE_TEST_CASE("reweight on Eigen matrices equals the span API, anchor included",
                   "[interop][eigen]", float, double) {
  hadw::difficulty_anchor<> via_eigen, via_span;
  hadw::reweight_options opt;
  opt.lambda_scale = 1.3;
  for (std::uint32_t step = 0; step < 4; ++step) {
    const auto r = random_rewards<TestType>(12, 8, 100 + step);
    row_matrix<TestType> adv(12, 8);
    hadw::estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, r, adv);

    std::vector<TestType> flat_r = to_vector<TestType>(r), flat_a = to_vector<TestType>(adv);
    const auto layout = hadw::group_layout::uniform(12, 8);
    const auto st_span = hadw::reweight(hadw::grouped(std::span<TestType>(flat_a), layout),
                                        hadw::grouped(std::span<const TestType>(flat_r), layout),
                                        via_span, opt);
    const auto st_eigen = hadw::reweight(adv, r, via_eigen, opt);

    CHECK(to_vector<TestType>(adv) == flat_a);
    CHECK(st_eigen.prior == st_span.prior);
    CHECK(st_eigen.posterior == st_span.posterior);
    CHECK(st_eigen.phi_mean == st_span.phi_mean);
    CHECK(st_eigen.correct == st_span.correct);
    CHECK(st_eigen.total == 96);
    CHECK(via_eigen == via_span);  // bit-identical anchor state
  }
}

TEST_CASE("Options spans are read in row-major order", "[interop][eigen]") {
  row_matrix<float> r(2, 3), adv(2, 3);
  r << 1, 0, 5,  //
      0, 1, 1;
  // Mask out the 5 (row 0, col 2): row 0 is then {1, 0}.
  const std::vector<std::uint8_t> mask{1, 1, 0, 1, 1, 1};
  hadw::estimate(hadw::dr_grpo{}, r, adv, {.mask = mask});
  row_matrix<float> expected(2, 3);
  expected << 0.5f, -0.5f, 0.0f,  //
      -2.0f / 3.0f, 1.0f / 3.0f, 1.0f / 3.0f;
  CHECK(adv.isApprox(expected));
  CHECK(adv(0, 2) == 0.0f);
}

TEST_CASE("Runtime shape problems throw hadw::error naming the argument", "[interop][eigen]") {
  row_matrix<float> r = row_matrix<float>::Zero(4, 8), adv(4, 8), small(4, 4);
  hadw::difficulty_anchor<> anchor;

  CHECK_THAT(error_of([&] { hadw::estimate(hadw::grpo{}, r, small); }),
             Catch::Contains("advantages shape == rewards shape required, got {4, 4} vs {4, 8}"));
  CHECK_THAT(error_of([&] { hadw::reweight(small, r, anchor); }),
             Catch::Contains("advantages shape == rewards shape"));

  row_matrix<float> empty(0, 8), empty_adv(0, 8);
  CHECK_THAT(error_of([&] { hadw::estimate(hadw::grpo{}, empty, empty_adv); }),
             Catch::Contains("rewards: shape {B, G} with B >= 1 and G >= 1 required, got {0, 8}"));

  // The left 4 columns of a row-major 4 x 8 matrix: rows padded by 4 -> not contiguous.
  CHECK_THAT(error_of([&] { hadw::estimate(hadw::grpo{}, r.leftCols(4), small); }),
             Catch::Contains("rewards: contiguous rows required (outerStride() == cols()), got "
                             "outerStride() = 8 vs cols() = 4"));
  CHECK_THAT(error_of([&] { hadw::reweight(adv.leftCols(4), small, anchor); }),
             Catch::Contains("advantages: contiguous rows required"));
  CHECK(anchor.step() == 0);  // nothing observed on error

  // Errors of the span API come through unchanged (NaN reward named by its flat index).
  r(1, 2) = NAN;
  CHECK_THAT(error_of([&] { hadw::estimate(hadw::grpo{}, r, adv); }),
             Catch::Contains("rewards[10] is NaN"));
}

TEST_CASE("A single-row block or row vector is one group", "[interop][eigen]") {
  Eigen::Matrix<float, 1, Eigen::Dynamic> r(4), adv(4);  // row vector: row-major by definition
  r << 1, 0, 0, 1;
  hadw::estimate(hadw::dr_grpo{}, r, adv);
  CHECK(adv(0) == 0.5f);
  CHECK(adv(1) == -0.5f);
  // as_span works on any vector, of either storage order (used with a layout of your own).
  Eigen::VectorXf col(6);
  col << 1, 0, 1, 1, 1, 1;
  Eigen::VectorXf out(6);
  hadw::estimate(hadw::dr_grpo{}, hadw::group_layout::uniform(2, 3), hadw::as_span(col),
                 hadw::as_span(out));
  CHECK(out(0) == Approx(1.0 / 3.0));
  CHECK(out(5) == 0.0f);
}
