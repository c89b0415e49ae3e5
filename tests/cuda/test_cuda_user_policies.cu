// The user-written policies of tests/support/user_policies.hpp (midrange baseline, max-min scale,
// median baseline) under backend::cuda, compared with the CPU backend: the same policy code runs
// in the kernels (HADW_HOST_DEVICE), the median from the shared order statistic.
#include "../support/user_policies.hpp"
#include "device_support.cuh"

using namespace hadw_test;

namespace {
template <class E>
void compare_user(const E& est, const hadw::group_layout& layout, const std::vector<float>& r,
                  const std::string& what) {
  const auto n = static_cast<std::size_t>(layout.num_responses());
  std::vector<float> cpu(n, -7.0f);
  hadw::estimate(est, layout, std::span<const float>(r), std::span<float>(cpu));
  device_vector<float> d_r(r), d_a(n, -7.0f);
  const hadw::device_group_layout d_layout(layout);
  hadw::estimate(hadw::backend::cuda{}, est, d_layout, d_r.cspan(), d_a.span());
  require_close(cpu, d_a.host(), what);
}
}  // namespace

TEST_CASE("user policies run in the CUDA kernels as on the CPU", "[cuda][user]") {
  const auto layout = hadw::group_layout::from_offsets({0, 4, 9, 17, 25, 41, 48});
  std::vector<float> r(48);
  for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<float>((i * 7919u) % 11u) / 10.0f;
  compare_user(test_support::midrange_estimator{}, layout, r, "midrange / max-min");
  compare_user(test_support::median_unit_estimator{}, layout, r, "median");
  compare_user(test_support::median_estimator{}, layout, r, "median / std");
}
