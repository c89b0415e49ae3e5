// Tests of hadw/objectives/clip.hpp and hadw/objectives/ratio.hpp: the per-token clipped
// surrogate, its clip boundaries, dual-clip, and the importance ratios.
#include <hadw/objectives/clip.hpp>
#include <hadw/objectives/ratio.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// verl's compute_policy_loss_vanilla written out for one token, as an independent reference.
double naive_token_loss(double ratio, double adv, double lo_eps, double hi_eps, double c) {
  const double pg1 = -adv * ratio;
  const double pg2 = -adv * std::min(std::max(ratio, 1.0 - lo_eps), 1.0 + hi_eps);
  const double clip1 = std::max(pg1, pg2);
  if (c > 0.0 && adv < 0.0) return std::min(-adv * c, clip1);
  return clip1;
}

}  // namespace

TEST_CASE("clip_range bounds are 1 - low and 1 + high", "[objectives][clip]") {
  const hadw::clip_range dapo{.low = 0.2, .high = 0.28};
  CHECK(dapo.lower_bound() == 1.0 - 0.2);
  CHECK(dapo.upper_bound() == 1.0 + 0.28);
  const hadw::clip_range grpo{};
  CHECK(grpo.low == 0.2);
  CHECK(grpo.high == 0.2);
}

TEST_CASE("a positive advantage is clipped exactly when the ratio crosses 1 + eps_high",
          "[objectives][clip][boundary]") {
  const hadw::clip_range clip{.low = 0.2, .high = 0.28};
  const double A = 1.5;
  const double hi = clip.upper_bound();

  // On the bound: not counted (strict >, as verl); the branches of torch.maximum tie and split
  // the gradient, and torch.clamp passes none on its bound: -A/2 + 0.
  const auto at = hadw::clipped_surrogate(hi, A, clip);
  CHECK_FALSE(at.clipped);
  CHECK(at.loss == -A * hi);
  CHECK(at.dloss_dratio == -A / 2);

  const auto below = hadw::clipped_surrogate(std::nextafter(hi, 0.0), A, clip);
  CHECK_FALSE(below.clipped);
  CHECK(below.dloss_dratio == -A);

  const auto above = hadw::clipped_surrogate(std::nextafter(hi, inf), A, clip);
  CHECK(above.clipped);
  CHECK(above.loss == -A * hi);
  CHECK(above.dloss_dratio == 0.0);

  // Below 1 - eps_low a positive advantage is not clipped: the pessimistic max keeps -A r.
  const auto low = hadw::clipped_surrogate(0.5, A, clip);
  CHECK_FALSE(low.clipped);
  CHECK(low.loss == -A * 0.5);
  CHECK(low.dloss_dratio == -A);
}

TEST_CASE("a negative advantage is clipped exactly when the ratio crosses 1 - eps_low",
          "[objectives][clip][boundary]") {
  const hadw::clip_range clip{.low = 0.2, .high = 0.28};
  const double A = -0.75;
  const double lo = clip.lower_bound();

  const auto at = hadw::clipped_surrogate(lo, A, clip);
  CHECK_FALSE(at.clipped);
  CHECK(at.loss == -A * lo);
  CHECK(at.dloss_dratio == -A / 2);  // the tie, with no gradient through the clamp on its bound

  const auto above = hadw::clipped_surrogate(std::nextafter(lo, inf), A, clip);
  CHECK_FALSE(above.clipped);
  CHECK(above.dloss_dratio == -A);

  const auto below = hadw::clipped_surrogate(std::nextafter(lo, 0.0), A, clip);
  CHECK(below.clipped);
  CHECK(below.loss == -A * lo);
  CHECK(below.dloss_dratio == 0.0);

  // Above 1 + eps_high a negative advantage is not clipped (without dual-clip).
  const auto high = hadw::clipped_surrogate(2.0, A, clip);
  CHECK_FALSE(high.clipped);
  CHECK(high.loss == -A * 2.0);
  CHECK(high.dloss_dratio == -A);
}

TEST_CASE("GRPO's symmetric clip and DAPO's clip-higher agree up to 1 + 0.2 and part after it",
          "[objectives][clip]") {
  const hadw::clip_range grpo{.low = 0.2, .high = 0.2};
  const hadw::clip_range dapo{.low = 0.2, .high = 0.28};
  for (double A : {1.0, -1.0})
    for (double r : {0.5, 0.7, 0.8, 0.85, 1.0, 1.1, 1.19}) {
      const auto g = hadw::clipped_surrogate(r, A, grpo), d = hadw::clipped_surrogate(r, A, dapo);
      CHECK(g.loss == d.loss);
      CHECK(g.dloss_dratio == d.dloss_dratio);
      CHECK(g.clipped == d.clipped);
    }
  // 1.2 is GRPO's bound (half the gradient, either sign of A) and inside DAPO's range.
  CHECK(hadw::clipped_surrogate(1.2, 1.0, grpo).dloss_dratio == -0.5);
  CHECK(hadw::clipped_surrogate(1.2, -1.0, grpo).dloss_dratio == 0.5);
  CHECK(hadw::clipped_surrogate(1.2, 1.0, dapo).dloss_dratio == -1.0);
  // Between 1.2 and 1.28 a positive advantage still learns under DAPO only.
  CHECK(hadw::clipped_surrogate(1.25, 1.0, grpo).clipped);
  CHECK(hadw::clipped_surrogate(1.25, 1.0, grpo).dloss_dratio == 0.0);
  CHECK_FALSE(hadw::clipped_surrogate(1.25, 1.0, dapo).clipped);
  CHECK(hadw::clipped_surrogate(1.25, 1.0, dapo).dloss_dratio == -1.0);
  // Above, both are clipped, each at its own bound.
  CHECK(hadw::clipped_surrogate(1.5, 1.0, grpo).loss == -(1.0 + 0.2));
  CHECK(hadw::clipped_surrogate(1.5, 1.0, dapo).loss == -(1.0 + 0.28));
}

TEST_CASE("a negative advantage exactly on the upper bound also gets half the gradient",
          "[objectives][clip][boundary]") {
  // torch.maximum ties whenever clamp(r) == r, and the clamp passes nothing on its bound: verl's
  // gradient is -A/2 there whatever the sign of A, although A < 0 is never clipped above.
  const hadw::clip_range clip{.low = 0.2, .high = 0.28};
  const auto s = hadw::clipped_surrogate(clip.upper_bound(), -2.0, clip);
  CHECK_FALSE(s.clipped);
  CHECK(s.loss == 2.0 * clip.upper_bound());
  CHECK(s.dloss_dratio == 1.0);
  const auto t = hadw::clipped_surrogate(clip.lower_bound(), 2.0, clip);
  CHECK(t.dloss_dratio == -1.0);
}

TEST_CASE("in float precision a ratio that rounds onto a bound is on the bound",
          "[objectives][clip][boundary][precision]") {
  // A float32 batch: torch compares the float32 ratio with float32(1 + high). A double ratio a
  // little off 1.2 that rounds to 1.2f is on the bound there: half the gradient, not clipped.
  const hadw::clip_range clip{};
  const double hi_f = static_cast<float>(clip.upper_bound());
  for (double r : {std::nextafter(hi_f, 0.0), std::nextafter(hi_f, 2.0), clip.upper_bound()}) {
    REQUIRE(static_cast<float>(r) == static_cast<float>(clip.upper_bound()));
    const auto f = hadw::clipped_surrogate<float>(r, 1.0, clip);
    CHECK_FALSE(f.clipped);
    CHECK(f.dloss_dratio == -0.5);
    CHECK(f.loss == std::max(-r, -clip.upper_bound()));  // the value is verl's in float64
  }
  // In double the same ratios are inside, outside and on the bound.
  CHECK(hadw::clipped_surrogate(clip.upper_bound() - 1e-12, 1.0, clip).dloss_dratio == -1.0);
  CHECK(hadw::clipped_surrogate(clip.upper_bound() + 1e-12, 1.0, clip).dloss_dratio == 0.0);
  // The lower bound, A < 0.
  const double lo = clip.lower_bound();
  const auto f = hadw::clipped_surrogate<float>(lo + 1e-12, -1.0, clip);
  CHECK(f.dloss_dratio == 0.5);
  CHECK(hadw::clipped_surrogate<float>(lo - 1e-6, -1.0, clip).dloss_dratio == 0.0);
  CHECK(hadw::clipped_surrogate<float>(lo - 1e-6, -1.0, clip).clipped);
}

TEST_CASE("dual-clip bounds the loss of negative advantages at -A c", "[objectives][clip][dual]") {
  const hadw::clip_range clip{};
  const double c = 3.0, A = -2.0;

  const auto over = hadw::clipped_surrogate(3.5, A, clip, c);
  CHECK(over.dual_clipped);
  CHECK(over.loss == -A * c);
  CHECK(over.dloss_dratio == 0.0);

  const auto under = hadw::clipped_surrogate(2.5, A, clip, c);
  CHECK_FALSE(under.dual_clipped);
  CHECK(under.loss == -A * 2.5);
  CHECK(under.dloss_dratio == -A);

  // The tie r == c: torch.min splits the gradient evenly between the branches.
  const auto tie = hadw::clipped_surrogate(c, A, clip, c);
  CHECK_FALSE(tie.dual_clipped);
  CHECK(tie.loss == -A * c);
  CHECK(tie.dloss_dratio == -A / 2);

  // Positive advantages never see the dual bound.
  const auto pos = hadw::clipped_surrogate(3.5, 2.0, clip, c);
  CHECK_FALSE(pos.dual_clipped);
  CHECK(pos.clipped);
  CHECK(pos.loss == -2.0 * clip.upper_bound());

  // Off (c == 0): the loss grows without bound.
  CHECK(hadw::clipped_surrogate(10.0, A, clip, 0.0).loss == -A * 10.0);
}

TEST_CASE("the clipped surrogate matches verl's formulas on random ratios and advantages",
          "[objectives][clip][reference]") {
  std::mt19937_64 rng(20260108);
  std::uniform_real_distribution<double> ratio(0.3, 4.0), adv(-3.0, 3.0);
  for (double c : {0.0, 3.0}) {
    for (int k = 0; k < 2000; ++k) {
      const double r = ratio(rng), a = adv(rng);
      const hadw::clip_range clip{.low = 0.2, .high = 0.28};
      const auto s = hadw::clipped_surrogate(r, a, clip, c);
      CHECK(s.loss == naive_token_loss(r, a, 0.2, 0.28, c));
      // Derivative against a central difference of the reference (away from the kinks).
      const double h = 1e-7;
      const bool near_kink = std::fabs(r - 0.8) < 1e-5 || std::fabs(r - 1.28) < 1e-5 ||
                             (c > 0 && std::fabs(r - c) < 1e-5);
      if (!near_kink) {
        const double fd =
            (naive_token_loss(r + h, a, 0.2, 0.28, c) - naive_token_loss(r - h, a, 0.2, 0.28, c)) /
            (2 * h);
        CHECK(s.dloss_dratio == Approx(fd).margin(1e-7));
      }
    }
  }
}

TEST_CASE("a zero advantage gives zero loss and zero gradient", "[objectives][clip]") {
  for (double r : {0.1, 1.0, 5.0}) {
    const auto s = hadw::clipped_surrogate(r, 0.0, hadw::clip_range{}, 3.0);
    CHECK(s.loss == 0.0);
    CHECK(s.dloss_dratio == 0.0);
    CHECK_FALSE(s.clipped);
    CHECK_FALSE(s.dual_clipped);
  }
}

TEST_CASE("clip options are validated with messages naming the field",
          "[objectives][clip][errors]") {
  CHECK_THROWS_WITH((hadw::clip_range{.low = -0.1, .high = 0.2}.validate()),
                    Catch::Contains("clip.low"));
  CHECK_THROWS_WITH((hadw::clip_range{.low = 0.2, .high = -1e-3}.validate()),
                    Catch::Contains("clip.high"));
  CHECK_THROWS_WITH((hadw::clip_range{.low = NAN, .high = 0.2}.validate()),
                    Catch::Contains("clip.low"));
  CHECK_THROWS_AS((hadw::clip_range{.low = 1.5, .high = 0.2}.validate()), hadw::error);
  CHECK_NOTHROW((hadw::clip_range{.low = 3e-4, .high = 4e-4}.validate()));
  CHECK_THROWS_WITH(hadw::validate_dual_clip(0.5), Catch::Contains("dual_clip_c"));
  CHECK_THROWS_WITH(hadw::validate_dual_clip(1.0), Catch::Contains("dual_clip_c"));
  CHECK_NOTHROW(hadw::validate_dual_clip(0.0));
  CHECK_NOTHROW(hadw::validate_dual_clip(3.0));
}

TEST_CASE("the token ratio is exp of the log-ratio, clamped to +-20 with no gradient outside",
          "[objectives][ratio]") {
  const auto r = hadw::token_ratio(-1.0, -1.25);
  CHECK(r.ratio == std::exp(0.25));
  CHECK(r.dratio_dlogp == r.ratio);
  CHECK(r.log_ratio == 0.25);

  const auto big = hadw::token_ratio(0.0, -25.0);
  CHECK(big.ratio == std::exp(20.0));
  CHECK(big.dratio_dlogp == 0.0);
  const auto small = hadw::token_ratio(-25.0, 0.0);
  CHECK(small.ratio == std::exp(-20.0));
  CHECK(small.dratio_dlogp == 0.0);
  // On a bound torch.clamp passes no gradient (verl: d loss / d logp = 0 at log-ratio +-20).
  const auto edge = hadw::token_ratio(0.0, -20.0);
  CHECK(edge.ratio == std::exp(20.0));
  CHECK(edge.dratio_dlogp == 0.0);
  CHECK(hadw::token_ratio(-20.0, 0.0).dratio_dlogp == 0.0);
  const auto inside = hadw::token_ratio(std::nextafter(20.0, 0.0), 0.0);
  CHECK(inside.dratio_dlogp == inside.ratio);
}

TEST_CASE("in float precision a log-ratio that rounds onto +-20 is on the clamp's bound",
          "[objectives][ratio][precision]") {
  // 20 - 2^-30 is below 20 in double but rounds to 20.0f: a float32 tensor holds 20 exactly.
  const double d = 20.0 - std::ldexp(1.0, -30);
  REQUIRE(static_cast<float>(d) == 20.0f);
  const auto as_double = hadw::token_ratio<double>(d, 0.0);
  const auto as_float = hadw::token_ratio<float>(d, 0.0);
  CHECK(as_double.dratio_dlogp == as_double.ratio);
  CHECK(as_float.dratio_dlogp == 0.0);
  CHECK(as_float.ratio == as_double.ratio);  // the value stays in double
  CHECK(hadw::token_ratio<float>(-d, 0.0).dratio_dlogp == 0.0);
}

TEST_CASE("the sequence ratio is exp of the mean log-ratio, clamped at 10 from above",
          "[objectives][ratio][gspo]") {
  const auto s = hadw::sequence_ratio(3e-4);
  CHECK(s.ratio == std::exp(3e-4));
  CHECK(s.dratio_dlogp == s.ratio);
  const auto big = hadw::sequence_ratio(12.0);
  CHECK(big.ratio == std::exp(10.0));
  CHECK(big.dratio_dlogp == 0.0);
  // No lower clamp (verl clamps log s_i with max=10 only).
  CHECK(hadw::sequence_ratio(-30.0).ratio == std::exp(-30.0));
  CHECK(hadw::sequence_ratio(-30.0).dratio_dlogp == std::exp(-30.0));
  // Exactly on the bound: torch.clamp(max=10) passes no gradient.
  const auto at = hadw::sequence_ratio(10.0);
  CHECK(at.ratio == std::exp(10.0));
  CHECK(at.dratio_dlogp == 0.0);
  const double below = std::nextafter(10.0, 0.0);
  CHECK(hadw::sequence_ratio(below).dratio_dlogp == std::exp(below));
  CHECK(hadw::sequence_ratio<float>(below).dratio_dlogp == 0.0);  // 10.0f in float
}
