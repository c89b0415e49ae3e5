// hadw::estimate under backend::cuda: the CPU backend's cases re-run on the device and compared
// with the CPU results (every estimator, uniform / ragged / permuted / oversized groups, masks,
// lengths, NaN policies, size-1 rules), closed forms, errors, determinism.
#include "device_support.cuh"

#include <tuple>

using namespace hadw_test;

namespace {

/// Every named estimator (and the peer presets whose conventions differ), each with `rule` for
/// size-1 groups.
auto estimators(hadw::singleton_rule rule) {
  auto with = [rule](auto e) {
    e.singleton = rule;
    return e;
  };
  return std::tuple{
      with(hadw::grpo{}),
      with(hadw::grpo{.eps = 1e-4, .unbiased = false, .eps_at = hadw::eps_placement::add_to_var}),
      with(hadw::dr_grpo{}),
      with(hadw::grpo_batch_std{}),
      with(hadw::grpo_batch_std{.centred = true}),
      with(hadw::rloo{}),
      with(hadw::grpo_leave_one_out{}),
      with(hadw::reinforce_pp_baseline{}),
      with(hadw::opo{}),
      with(hadw::gpg{.f_norm = 2.0}),
      with(hadw::grpo_passk{}),
      with(hadw::maxrl{}),
      with(hadw::dgpo{}),
      with(hadw::krpo{}),
      hadw::compat::verl::grpo};
}

struct inputs {
  std::vector<std::uint8_t> mask;
  std::vector<std::int64_t> lengths;
  hadw::nan_policy nan = hadw::nan_policy::reject;
};

template <class T, class E>
void compare(const E& est, const hadw::group_layout& layout, const std::vector<T>& rewards,
             const inputs& in, const std::string& what) {
  const auto n = static_cast<std::size_t>(layout.num_responses());
  std::vector<std::int64_t> lengths = in.lengths;
  if (est.policies().needs_lengths && lengths.empty())
    lengths = make_lengths(layout.num_responses(), 3);
  std::vector<T> cpu(n, T(-7));
  hadw::estimate(est, layout, std::span<const T>(rewards), std::span<T>(cpu),
                 {.mask = in.mask, .lengths = lengths, .nan = in.nan});

  device_vector<T> d_r(rewards), d_a(n, T(-7));
  device_vector<std::uint8_t> d_m(in.mask);
  device_vector<std::int64_t> d_l(lengths);
  const hadw::device_group_layout d_layout(layout);
  hadw::estimate(hadw::backend::cuda{}, est, d_layout, d_r.cspan(), d_a.span(),
                 {.mask = d_m.cspan(), .lengths = d_l.cspan(), .nan = in.nan});
  require_close(cpu, d_a.host(), what);
}

}  // namespace

TEMPLATE_TEST_CASE("every estimator matches the CPU backend on every layout", "[cuda][estimate]",
                   float, double) {
  using T = TestType;
  for (const auto& [name, layout] : test_layouts()) {
    const std::int64_t n = layout.num_responses();
    const auto binary = make_rewards<T>(n, 11);
    const auto continuous = make_rewards<T>(n, 12, false);
    std::apply(
        [&](const auto&... est) {
          (compare(est, layout, binary, {}, name + ", binary"), ...);
          (compare(est, layout, continuous, {}, name + ", continuous"), ...);
          (compare(est, layout, continuous, {.lengths = make_lengths(n, 5)}, name + ", lengths"),
           ...);
        },
        estimators(hadw::singleton_rule::reject));
    for (auto rule : {hadw::singleton_rule::zero, hadw::singleton_rule::raw_reward}) {
      auto with_nan = continuous;
      for (std::size_t i = 3; i < with_nan.size(); i += 17)
        with_nan[i] = std::numeric_limits<T>::quiet_NaN();
      std::apply(
          [&](const auto&... est) {
            (compare(est, layout, binary, {.mask = make_mask(n, 21)}, name + ", mask"), ...);
            (compare(est, layout, with_nan,
                     {.mask = make_mask(n, 22), .nan = hadw::nan_policy::unscorable},
                     name + ", NaN unscorable"),
             ...);
          },
          estimators(rule));
    }
  }
}

TEST_CASE("device GRPO reproduces the closed form", "[cuda][estimate]") {
  // Group {1,0,0,0}: mean 1/4, unbiased std 1/2; group {1,1,1,1}: all equal, advantage 0.
  const auto layout = hadw::group_layout::uniform(2, 4);
  device_vector<double> r(std::vector<double>{1, 0, 0, 0, 1, 1, 1, 1}), a(8);
  const hadw::device_group_layout d_layout(layout);
  hadw::estimate(hadw::backend::cuda{}, hadw::grpo{.eps = 1e-6}, d_layout, r.cspan(), a.span());
  const auto h = a.host();
  CHECK(h[0] == Approx(0.75 / (0.5 + 1e-6)).epsilon(1e-15));
  for (int i = 1; i < 4; ++i) CHECK(h[i] == Approx(-0.25 / (0.5 + 1e-6)).epsilon(1e-15));
  for (int i = 4; i < 8; ++i) CHECK(h[i] == 0.0);
  // RLOO: r - mean of the others = 4/3 (r - mean).
  hadw::estimate(hadw::backend::cuda{}, hadw::rloo{}, d_layout, r.cspan(), a.span());
  CHECK(a.host()[0] == Approx(1.0).epsilon(1e-15));
  CHECK(a.host()[1] == Approx(-1.0 / 3.0).epsilon(1e-15));
}

TEST_CASE("device estimate is bit-identical run to run", "[cuda][estimate][determinism]") {
  const auto layout = hadw::group_layout::uniform(4096, 16);
  const auto rewards = make_rewards<float>(layout.num_responses(), 5, false);
  device_vector<float> r(rewards), a1(rewards.size()), a2(rewards.size());
  device_vector<std::int64_t> l(make_lengths(layout.num_responses(), 6));
  const hadw::device_group_layout d_layout(layout);
  hadw::estimate(hadw::backend::cuda{}, hadw::reinforce_pp_baseline{}, d_layout, r.cspan(),
                 a1.span(), {.lengths = l.cspan()});
  hadw::estimate(hadw::backend::cuda{}, hadw::reinforce_pp_baseline{}, d_layout, r.cspan(),
                 a2.span(), {.lengths = l.cspan()});
  const auto h1 = a1.host(), h2 = a2.host();
  REQUIRE(std::memcmp(h1.data(), h2.data(), h1.size() * sizeof(float)) == 0);
}

TEST_CASE("device estimate throws the CPU backend's errors and writes nothing",
          "[cuda][estimate][errors]") {
  const auto layout = hadw::group_layout::from_offsets(std::vector<std::int64_t>{0, 4, 8, 12});
  const hadw::device_group_layout d_layout(layout);
  auto rewards = make_rewards<float>(12, 1);
  const auto check = [&](const std::vector<float>& r, const auto& est, const inputs& in) {
    std::vector<float> cpu(12);
    const std::string expected = error_of([&] {
      hadw::estimate(est, layout, std::span<const float>(r), std::span<float>(cpu),
                     {.mask = in.mask, .lengths = in.lengths, .nan = in.nan});
    });
    REQUIRE_FALSE(expected.empty());
    device_vector<float> d_r(r), d_a(12, -7.0f);
    device_vector<std::uint8_t> d_m(in.mask);
    device_vector<std::int64_t> d_l(in.lengths);
    const std::string got = error_of([&] {
      hadw::estimate(hadw::backend::cuda{}, est, d_layout, d_r.cspan(), d_a.span(),
                     {.mask = d_m.cspan(), .lengths = d_l.cspan(), .nan = in.nan});
    });
    CHECK(got == expected);
    for (float v : d_a.host()) REQUIRE(v == -7.0f);  // strong guarantee: nothing written
  };
  SECTION("NaN reward under nan_policy::reject") {
    auto r = rewards;
    r[6] = NAN;
    check(r, hadw::grpo{}, {});
  }
  SECTION("Inf reward even under nan_policy::unscorable") {
    auto r = rewards;
    r[9] = INFINITY;
    check(r, hadw::grpo_batch_std{}, {.nan = hadw::nan_policy::unscorable});
  }
  SECTION("a group left with one valid response under singleton_rule::reject") {
    check(rewards, hadw::rloo{}, {.mask = {1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1}});
  }
  SECTION("negative lengths") {
    std::vector<std::int64_t> l(12, 5);
    l[10] = -1;
    check(rewards, hadw::opo{}, {.lengths = l});
  }
}

TEST_CASE("device estimate rejects bad arguments before any launch", "[cuda][estimate][errors]") {
  const auto layout = hadw::group_layout::uniform(4, 4);
  const hadw::device_group_layout d_layout(layout);
  device_vector<float> r(16), a(16), small(15);
  std::vector<float> host(16);
  CHECK_THROWS_WITH(
      hadw::estimate(hadw::backend::cuda{}, hadw::grpo{}, d_layout, r.cspan(), small.span()),
      Catch::Contains("advantages.size() == rewards.size() required, got 15 vs 16"));
  CHECK_THROWS_WITH(hadw::estimate(hadw::backend::cuda{}, hadw::grpo{}, d_layout,
                                   std::span<const float>(host), a.span()),
                    Catch::Contains("rewards must point to device memory"));
  CHECK_THROWS_WITH(
      hadw::estimate(hadw::backend::cuda{}, hadw::opo{}, d_layout, r.cspan(), a.span()),
      Catch::Contains("lengths required"));
  CHECK_THROWS_AS(
      hadw::estimate(hadw::backend::cuda{}, hadw::grpo{.eps = -1.0}, d_layout, r.cspan(), a.span()),
      hadw::error);
}
