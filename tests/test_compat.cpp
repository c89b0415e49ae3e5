// hadw::compat presets: the size-1 and unscorable-response conventions of each peer, as hand
// values worked out from the peers' code (the full random cross-checks against the installed
// verl and TRL packages are python/tests/test_peer_*.py).
#include <hadw/estimators/compat.hpp>
#include <hadw/api/estimate.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
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
  SECTION("scale_rewards=batch: TRL counts the lone 0.7 in the batch std; the preset rejects") {
    // TRL: stdev{0.7, 1, 0} (ddof 1) = 0.51316014..., A = +-0.5 / (0.51316014 + 1e-4).
    // singleton_rule::zero would drop 0.7 from the batch statistics, so rejecting is the honest
    // preset here.
    CHECK_THROWS_WITH(run(hadw::compat::trl::grpo_batch, layout, r, un),
                      Catch::Contains("single valid response"));
    const std::vector<double> ok{NAN, 0.7, 0.3, 1.0, 0.0};  // group 0 keeps two scorable
    const auto a = run(hadw::compat::trl::grpo_batch,
                       hadw::group_layout::from_offsets(std::vector<std::int64_t>{0, 3, 5}), ok,
                       un);
    // stdev{0.7, 0.3, 1, 0} (ddof 1) = 0.43969686527576396
    CHECK(a[0] == 0.0);
    CHECK(a[1] == Approx(0.2 / (0.43969686527576396 + 1e-4)).epsilon(1e-12));
    CHECK(a[3] == Approx(0.5 / (0.43969686527576396 + 1e-4)).epsilon(1e-12));
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
