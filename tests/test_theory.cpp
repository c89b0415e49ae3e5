// Tests of hadw/theory.hpp. Every closed form is checked against a reference written here
// independently: brute-force enumeration of all 2^G reward vectors of a group, integrals done by
// hand, symmetries, and Monte Carlo. No expected value below was produced by the code under test.
#include <hadw/theory.hpp>

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

namespace th = hadw::theory;

namespace {

// ---- brute force over the 2^G outcomes of a group --------------------------------------------

/// Calls visit(prob, k, first) for every reward vector of G Bernoulli(p) rewards: its probability,
/// its number k of correct responses and the reward of response 0.
template <class Visit>
void enumerate_group(int G, double p, Visit visit) {
  for (std::uint32_t mask = 0; mask < (1u << G); ++mask) {
    const int k = std::popcount(mask);
    double prob = 1.0;
    for (int i = 0; i < G; ++i) prob *= (mask >> i & 1u) ? p : 1.0 - p;
    visit(prob, k, static_cast<int>(mask & 1u));
  }
}

struct enumerated {
  double p_s = 0.0;     // P(S)
  double e_phat = 0.0;  // E[p̂ | S]
};

enumerated enumerate_s(int G, double p) {
  enumerated e;
  double mass = 0.0;
  enumerate_group(G, p, [&](double prob, int k, int) {
    if (k == 0 || k == G) return;
    e.p_s += prob;
    mass += prob * k / G;
  });
  e.e_phat = mass / e.p_s;
  return e;
}

/// P(event(k) | S) by enumeration.
template <class Event>
double conditional_probability(int G, double p, Event event) {
  double in = 0.0, s = 0.0;
  enumerate_group(G, p, [&](double prob, int k, int) {
    if (k == 0 || k == G) return;
    s += prob;
    if (event(k)) in += prob;
  });
  return in / s;
}

/// Phi of eq. 16 written out again: lambda * exp(-sgn(adv) * sgn(d) * |d|), d = p̂ - C.
double phi_ref(double adv, double p_hat, double prior, double lambda) {
  const double d = p_hat - prior;
  const double sa = adv > 0 ? 1.0 : (adv < 0 ? -1.0 : 0.0);
  const double sd = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
  return lambda * std::exp(-sa * sd * std::fabs(d));
}

const std::vector<double> probabilities{0.01, 0.05, 0.13, 0.25, 0.37, 0.49,
                                        0.51, 0.63, 0.75, 0.87, 0.95, 0.99};

}  // namespace

// ---- quadrature ---------------------------------------------------------------------------------

TEST_CASE("The Gauss-Kronrod rule integrates polynomials up to degree 22 exactly",
          "[theory][quadrature]") {
  for (int n = 0; n <= 22; ++n) {
    const auto piece = th::detail::gk15([n](double x) { return std::pow(x, n); }, 0.0, 1.0);
    CHECK(piece.value == Approx(1.0 / (n + 1)).epsilon(1e-14));
  }
  // The embedded 7-point Gauss rule is exact to degree 13: its error estimate vanishes there.
  const auto low = th::detail::gk15([](double x) { return std::pow(x, 13); }, 0.0, 1.0);
  CHECK(low.error <= 1e-15);
}

TEST_CASE("Adaptive integration meets its tolerance on smooth, kinked and singular integrands",
          "[theory][quadrature]") {
  const auto s = th::integrate([](double x) { return std::sin(x); }, 0.0, std::numbers::pi);
  CHECK(s.value == Approx(2.0).epsilon(1e-13));
  const auto k =
      th::integrate_piecewise([](double x) { return std::fabs(x - 0.3); }, {0.0, 0.3, 1.0});
  CHECK(k.value == Approx(0.5 * 0.09 + 0.5 * 0.49).epsilon(1e-13));
  const auto sing = th::integrate([](double x) { return 1.0 / std::sqrt(x); }, 0.0, 1.0);
  CHECK(sing.value == Approx(2.0).epsilon(1e-9));
  CHECK(th::integrate([](double) { return 1.0; }, 0.5, 0.5).value == 0.0);
  CHECK_THROWS_AS(th::integrate([](double x) { return x; }, 1.0, 0.0), hadw::error);
}

// ---- Lemma 2, Theorem 1 -------------------------------------------------------------------------

TEST_CASE("P(S), E[p̂|S] and the bias match enumeration of all 2^G outcomes", "[theory][lemma2]") {
  for (int G = 2; G <= 12; ++G)
    for (double p : probabilities) {
      INFO("G = " << G << ", p = " << p);
      const enumerated e = enumerate_s(G, p);
      CHECK(th::non_degenerate_probability(p, G) == Approx(e.p_s).epsilon(1e-12));
      CHECK(th::expected_baseline(p, G) == Approx(e.e_phat).epsilon(1e-12));
      CHECK(th::bias(p, G) == Approx(e.e_phat - p).epsilon(1e-10).margin(1e-14));
      // Lemma 2 as the paper prints it.
      const double q = 1.0 - p;
      const double lemma2 = (p * std::pow(q, G) + std::pow(p, G + 1) - std::pow(p, G)) /
                            (1.0 - std::pow(q, G) - std::pow(p, G));
      CHECK(th::bias(p, G) == Approx(lemma2).epsilon(1e-10).margin(1e-14));
    }
}

TEST_CASE("Theorem 1: the advantage is underestimated below p = 1/2 and overestimated above",
          "[theory][theorem1]") {
  for (int G : {2, 3, 4, 5, 8, 16, 64, 256})
    for (double p : {1e-9, 0.001, 0.1, 0.3, 0.45, 0.499, 0.501, 0.55, 0.7, 0.9, 0.999}) {
      INFO("G = " << G << ", p = " << p);
      if (p < 0.5) CHECK(th::bias(p, G) > 0.0);
      if (p > 0.5) CHECK(th::bias(p, G) < 0.0);
      CHECK(th::bias(1.0 - p, G) == Approx(-th::bias(p, G)).epsilon(1e-9).margin(1e-15));
    }
  for (int G = 2; G <= 64; ++G) CHECK(th::bias(0.5, G) == 0.0);
}

TEST_CASE("E[p̂|S] keeps its accuracy as p -> 0, where it tends to 1/G", "[theory][lemma2]") {
  // Series: E[p̂|S] = (1/G)(1 + (G-1)p/2 + O(p^2)).
  CHECK(th::expected_baseline(1e-10, 2) == 0.5);  // G = 2: p̂ = 1/2 on S, whatever p
  for (int G : {3, 8, 64}) {
    const double p = 1e-10;
    CHECK(th::expected_baseline(p, G) == Approx((1.0 + (G - 1) * p / 2) / G).epsilon(1e-13));
    CHECK(th::expected_baseline(1.0 - p, G) == Approx(1.0 - 1.0 / G).epsilon(1e-9));
  }
}

TEST_CASE("The bias of a correct response's advantage matches enumeration given r_i = 1",
          "[theory][lemma2]") {
  for (int G = 2; G <= 12; ++G)
    for (double p : probabilities) {
      INFO("G = " << G << ", p = " << p);
      double s = 0.0, adv = 0.0;
      enumerate_group(G, p, [&](double prob, int k, int first) {
        if (first != 1 || k == G) return;  // response 0 correct, group non-degenerate
        s += prob;
        adv += prob * (1.0 - static_cast<double>(k) / G);
      });
      CHECK(th::correct_response_bias(p, G) == Approx((1.0 - p) - adv / s).epsilon(1e-11));
      if (p < 0.5) CHECK(th::correct_response_bias(p, G) > 0.0);
    }
}

// ---- Theorem 2 ----------------------------------------------------------------------------------

TEST_CASE("Theorem 2's tail probabilities match enumeration", "[theory][theorem2]") {
  for (int G = 2; G <= 12; ++G)
    for (double p : probabilities)
      for (double eps : {0.003, 0.04, 0.11, 0.26}) {
        INFO("G = " << G << ", p = " << p << ", eps = " << eps);
        const double under = conditional_probability(
            G, p, [&](int k) { return static_cast<double>(k) / G - p > eps; });
        const double over = conditional_probability(
            G, p, [&](int k) { return p - static_cast<double>(k) / G > eps; });
        CHECK(th::underestimation_tail(p, G, eps) == Approx(under).epsilon(1e-12).margin(1e-15));
        CHECK(th::overestimation_tail(p, G, eps) == Approx(over).epsilon(1e-12).margin(1e-15));
      }
}

TEST_CASE("The eps -> 0 probabilities match enumeration and are certain beyond 1/G",
          "[theory][theorem2]") {
  for (int G = 2; G <= 12; ++G)
    for (double p : probabilities) {
      INFO("G = " << G << ", p = " << p);
      const double under = conditional_probability(G, p, [&](int k) { return k > G * p; });
      const double over = conditional_probability(G, p, [&](int k) { return k < G * p; });
      CHECK(th::underestimation_probability_at(p, G) == Approx(under).epsilon(1e-12).margin(1e-15));
      CHECK(th::overestimation_probability_at(p, G) == Approx(over).epsilon(1e-12).margin(1e-15));
      if (p < 1.0 / G) CHECK(th::underestimation_probability_at(p, G) == 1.0);
      if (p > (G - 1.0) / G) CHECK(th::overestimation_probability_at(p, G) == 1.0);
    }
}

// ---- the tables ---------------------------------------------------------------------------------

TEST_CASE("Table entries equal integrals done by hand for G = 2, 3, 4", "[theory][tables]") {
  // G = 2: p̂ = 1/2 on S, so P(p̂ > p | S) = 1{p < 1/2}.
  CHECK(th::underestimation_probability(2, 0.0, 0.5) == Approx(1.0).epsilon(1e-14));
  CHECK(th::underestimation_probability(2, 0.25, 0.75) == Approx(0.5).epsilon(1e-13));
  // G = 3: 1 on p < 1/3; P(R = 2 | S) = 3p^2(1-p) / (3p(1-p)) = p on (1/3, 2/3); 0 above.
  CHECK(th::underestimation_probability(3, 0.0, 0.5) ==
        Approx((1.0 / 3 + (0.125 - 1.0 / 18)) / 0.5).epsilon(1e-13));
  CHECK(th::underestimation_probability(3, 0.4, 0.6) == Approx(0.5).epsilon(1e-13));
  // G = 4: P(S) = 2p(1-p)(2 - p + p^2); on (1/4, 1/2) the ratio is p(3-p)/(p^2-p+2)
  //   = -1 + (2p+2)/(p^2-p+2), whose antiderivative is -p + ln(p^2-p+2) + (6/√7) atan((2p-1)/√7).
  const double s7 = std::sqrt(7.0);
  auto anti = [&](double p) {
    return -p + std::log(p * p - p + 2) + 6 / s7 * std::atan((2 * p - 1) / s7);
  };
  CHECK(th::underestimation_probability(4, 0.0, 0.5) ==
        Approx((0.25 + anti(0.5) - anti(0.25)) / 0.5).epsilon(1e-12));
  CHECK(th::underestimation_probability(4, 0.3, 0.45) ==
        Approx((anti(0.45) - anti(0.3)) / 0.15).epsilon(1e-12));
}

TEST_CASE("Table entries agree with a fine midpoint rule over the enumerated integrand",
          "[theory][tables]") {
  for (int G : {5, 6, 7, 8})
    for (auto [a, b] : {std::pair{0.0, 0.5}, std::pair{0.0, 0.25}, std::pair{0.1, 0.9}}) {
      // Midpoint rule with P(p̂ > p | S) from the binomial pmf written directly; its O(h) error
      // at the jumps k/G bounds the tolerance.
      std::vector<double> choose(G + 1, 1.0);  // Pascal's rule
      for (int k = 1; k <= G; ++k) choose[k] = choose[k - 1] * (G - k + 1) / k;
      const int n = 200000;
      double sum = 0.0;
      for (int j = 0; j < n; ++j) {
        const double p = a + (b - a) * (j + 0.5) / n;
        double num = 0.0, den = 0.0;
        for (int k = 1; k < G; ++k) {
          const double w = choose[k] * std::pow(p, k) * std::pow(1 - p, G - k);
          den += w;
          if (k > G * p) num += w;
        }
        sum += num / den;
      }
      INFO("G = " << G << ", (" << a << ", " << b << ")");
      CHECK(th::underestimation_probability(G, a, b) == Approx(sum / n).margin(2e-5));
    }
}

TEST_CASE("Tables are symmetric: over (0,1) both directions are 1/2, easy mirrors hard",
          "[theory][tables]") {
  for (int G : {2, 3, 5, 8, 13, 32}) {
    INFO("G = " << G);
    CHECK(th::underestimation_probability(G, 0.0, 1.0) == Approx(0.5).epsilon(1e-12));
    CHECK(th::overestimation_probability(G, 0.0, 1.0) == Approx(0.5).epsilon(1e-12));
    CHECK(th::overestimation_probability(G, 0.6, 0.95) ==
          Approx(th::underestimation_probability(G, 0.05, 0.4)).epsilon(1e-12));
  }
}

TEST_CASE("The paper's corollaries hold", "[theory][tables][corollary]") {
  for (int G = 2; G <= 8; ++G) {
    INFO("G = " << G);
    CHECK(th::underestimation_probability(G, 0.0, 0.5) > 0.63);
    CHECK(th::underestimation_probability(G, 0.0, 0.25) > 0.78);
    CHECK(th::underestimation_probability(G, 0.0, 0.125) == Approx(1.0).epsilon(1e-14));
    CHECK(th::underestimation_probability(G, 0.0, 1.0 / G) == Approx(1.0).epsilon(1e-14));
    CHECK(th::overestimation_probability(G, 0.5, 1.0) > 0.63);
    CHECK(th::overestimation_probability(G, 0.75, 1.0) > 0.78);
    CHECK(th::overestimation_probability(G, 0.875, 1.0) == Approx(1.0).epsilon(1e-14));
    CHECK(th::overestimation_probability(G, (G - 1.0) / G, 1.0) == Approx(1.0).epsilon(1e-14));
  }
  for (int G = 6; G <= 128; ++G) {
    INFO("G = " << G);
    CHECK(th::underestimation_probability(G, 0.0, 2.0 / G) > 0.78);
  }
}

// ---- Theorem 3 ----------------------------------------------------------------------------------

TEST_CASE("Theorem 3: every lambda in the feasible interval moves E[Â Phi|S] toward A",
          "[theory][theorem3]") {
  int nonempty = 0;
  for (int G = 2; G <= 10; ++G)
    for (double p : probabilities)
      for (double prior : {0.0, 0.2, 0.5, 0.8, 1.0})
        for (bool correct : {true, false}) {
          INFO("G = " << G << ", p = " << p << ", C = " << prior << ", correct = " << correct);
          const double r = correct ? 1.0 : 0.0, A = r - p;
          // Enumeration in the paper's convention: r fixed, p̂ = k/G over the group's outcomes.
          auto expect = [&](double lambda, bool weighted) {
            double s = 0.0, m = 0.0;
            enumerate_group(G, p, [&](double prob, int k, int) {
              if (k == 0 || k == G) return;
              const double p_hat = static_cast<double>(k) / G, adv = r - p_hat;
              s += prob;
              m += prob * adv * (weighted ? phi_ref(adv, p_hat, prior, lambda) : 1.0);
            });
            return m / s;
          };
          const double unweighted = std::fabs(expect(1.0, false) - A);
          CHECK(th::expected_advantage(p, G, correct) == Approx(expect(1.0, false)).epsilon(1e-12));
          CHECK(th::expected_weighted_advantage(p, G, correct, prior, 1.3) ==
                Approx(expect(1.3, true)).epsilon(1e-12));
          const th::lambda_interval iv = th::feasible_lambda(p, G, correct, prior);
          REQUIRE(!iv.empty());
          ++nonempty;
          for (double t : {0.001, 0.25, 0.5, 0.75, 0.999}) {
            const double lambda = iv.low + t * (iv.high - iv.low);
            CHECK(std::fabs(expect(lambda, true) - A) < unweighted);
          }
          CHECK(std::fabs(expect(iv.high * 1.001, true) - A) >= unweighted);
          if (iv.low > 0.0) CHECK(std::fabs(expect(iv.low * 0.999, true) - A) >= unweighted);
          const double star = th::unbiased_lambda(p, G, correct, prior);
          CHECK(iv.contains(star));
          CHECK(expect(star, true) == Approx(A).epsilon(1e-10));
        }
  CHECK(nonempty > 0);
}

TEST_CASE("Theorem 3: nothing to correct at p = 1/2, and the joint interval is an intersection",
          "[theory][theorem3]") {
  for (int G : {2, 4, 8}) CHECK(th::feasible_lambda(0.5, G, true, 0.5).empty());
  const auto c = th::feasible_lambda(0.1, 8, true, 0.5),
             w = th::feasible_lambda(0.1, 8, false, 0.5);
  const auto both = th::feasible_lambda(0.1, 8, 0.5);
  CHECK(both.low == std::max(c.low, w.low));
  CHECK(both.high == std::min(c.high, w.high));
}

// ---- Theorem 4 ----------------------------------------------------------------------------------

TEST_CASE("Theorem 4 matches closed forms for uniform and symmetric rewards",
          "[theory][theorem4]") {
  // Uniform rewards: P(range <= sigma) = G sigma^(G-1) - (G-1) sigma^G; by symmetry E[p̂|S] = 1/2.
  for (int G : {2, 3, 8})
    for (double sigma : {0.05, 0.3, 0.7}) {
      const auto u = th::continuous_bias(th::beta_distribution(1.0, 1.0), G, sigma);
      CHECK(u.degenerate_probability ==
            Approx(G * std::pow(sigma, G - 1) - (G - 1) * std::pow(sigma, G)).epsilon(1e-11));
      CHECK(u.bias == Approx(0.0).margin(1e-12));
      CHECK(th::continuous_bias(th::beta_distribution(2.5, 2.5), G, sigma).bias ==
            Approx(0.0).margin(1e-12));
      CHECK(th::continuous_bias(th::truncated_normal(0.5, 0.3), G, sigma).bias ==
            Approx(0.0).margin(1e-12));
    }
}

TEST_CASE("Distributions: cdf, density and partial mean are consistent", "[theory][theorem4]") {
  const th::beta_distribution b(2.0, 3.0);  // F(x) = 6x^2 - 8x^3 + 3x^4 for Beta(2,3)
  for (double x : {0.1, 0.4, 0.8})
    CHECK(b.cdf(x) == Approx(6 * x * x - 8 * x * x * x + 3 * x * x * x * x).epsilon(1e-13));
  CHECK(b.partial_mean(0.0, 1.0) == Approx(0.4).epsilon(1e-13));
  for (double mu : {-0.4, 0.3, 1.6}) {
    const th::truncated_normal t(mu, 0.35);
    const double mass = th::integrate([&](double x) { return t.pdf(x); }, 0.0, 1.0).value;
    const double mean = th::integrate([&](double x) { return x * t.pdf(x); }, 0.0, 1.0).value;
    const double part = th::integrate([&](double x) { return x * t.pdf(x); }, 0.2, 0.7).value;
    CHECK(mass == Approx(1.0).epsilon(1e-12));
    CHECK(t.mean() == Approx(mean).epsilon(1e-12));
    CHECK(t.partial_mean(0.2, 0.7) == Approx(part).epsilon(1e-12));
    CHECK(t.cdf(0.6) ==
          Approx(th::integrate([&](double x) { return t.pdf(x); }, 0.0, 0.6).value).epsilon(1e-12));
  }
}

namespace {
th::beta_distribution make(th::beta_distribution*, int i) {
  const double params[][2] = {{2.0, 5.0}, {0.5, 0.5}, {5.0, 1.5}, {0.3, 2.0}};
  return {params[i][0], params[i][1]};
}
th::truncated_normal make(th::truncated_normal*, int i) {
  const double params[][2] = {{0.3, 0.2}, {0.8, 0.5}, {1.3, 0.3}, {-0.2, 0.25}};
  return {params[i][0], params[i][1]};
}
}  // namespace

TEMPLATE_TEST_CASE("Theorem 4's integral agrees with seeded Monte Carlo within its standard error",
                   "[theory][theorem4][montecarlo]", th::beta_distribution, th::truncated_normal) {
  for (int i = 0; i < 4; ++i)
    for (int G : {2, 4, 8})
      for (double sigma : {0.1, 0.3, 0.6}) {
        const TestType dist = make(static_cast<TestType*>(nullptr), i);
        const auto exact = th::continuous_bias(dist, G, sigma);
        const auto mc =
            th::monte_carlo_continuous_bias(dist, G, sigma, 20000, 1234u + 17u * i + 5u * G);
        INFO("law " << i << ", G = " << G << ", sigma = " << sigma);
        CHECK(exact.error < 1e-9);
        // + 3/n: the binomial standard error is 0 when no degenerate group was drawn (rule of
        // three).
        CHECK(std::fabs(mc.degenerate_probability.value - exact.degenerate_probability) <=
              4.5 * mc.degenerate_probability.standard_error + 3.0 / mc.groups);
        CHECK(std::fabs(mc.expected_baseline.value - exact.expected_baseline) <=
              4.5 * mc.expected_baseline.standard_error);
        CHECK(std::fabs(mc.bias.value - exact.bias) <= 4.5 * mc.bias.standard_error);
      }
}

TEST_CASE("Monte Carlo is deterministic given its seed", "[theory][montecarlo]") {
  const th::beta_distribution b(2.0, 5.0);
  const auto x = th::monte_carlo_continuous_bias(b, 8, 0.3, 5000, 42);
  const auto y = th::monte_carlo_continuous_bias(b, 8, 0.3, 5000, 42);
  const auto z = th::monte_carlo_continuous_bias(b, 8, 0.3, 5000, 43);
  CHECK(x.expected_baseline.value == y.expected_baseline.value);
  CHECK(x.updating_groups == y.updating_groups);
  CHECK(x.expected_baseline.value != z.expected_baseline.value);
}

TEST_CASE("Theorem 4: the bias grows as p moves away from 1/2 and vanishes as sigma -> 0",
          "[theory][theorem4]") {
  double previous = 0.0;
  for (double p : {0.5, 0.4, 0.3, 0.2, 0.1}) {  // Beta with mean p and concentration 4
    const double b = th::continuous_bias(th::beta_distribution(4 * p, 4 * (1 - p)), 8, 0.3).bias;
    const double mirrored =
        th::continuous_bias(th::beta_distribution(4 * (1 - p), 4 * p), 8, 0.3).bias;
    CHECK(mirrored == Approx(-b).margin(1e-12));
    if (p < 0.5) CHECK(b > previous);
    previous = b;
  }
  double last = 1.0;
  for (double sigma : {0.3, 0.1, 0.03, 0.01}) {
    const auto r = th::continuous_bias(th::beta_distribution(2.0, 5.0), 8, sigma);
    CHECK(r.degenerate_probability < last);
    CHECK(std::fabs(r.bias) <=
          r.degenerate_probability);  // |E[p̂ 1{not S}] - p P(not S)| <= P(not S)
    last = r.degenerate_probability;
  }
  CHECK(last < 1e-10);
}

namespace {
/// Rewards near-Bernoulli(p): with probability 1-p uniform on [0, delta], else on [1-delta, 1].
struct two_cluster {
  double p, delta;
  double pdf(double x) const {
    if (x < 0 || x > 1) return 0.0;
    return (x <= delta ? (1 - p) : 0.0) / delta + (x >= 1 - delta ? p : 0.0) / delta;
  }
  double cdf(double x) const {
    const double lo = std::clamp(x, 0.0, delta) / delta;
    const double hi = std::clamp(x - (1 - delta), 0.0, delta) / delta;
    return (1 - p) * lo + p * hi;
  }
  double partial_mean(double a, double b) const {
    auto seg = [](double a, double b, double lo, double hi) {
      a = std::max(a, lo);
      b = std::min(b, hi);
      return b > a ? 0.5 * (b * b - a * a) / (hi - lo) : 0.0;
    };
    return (1 - p) * seg(a, b, 0.0, delta) + p * seg(a, b, 1 - delta, 1.0);
  }
  double mean() const { return (1 - p) * delta / 2 + p * (1 - delta / 2); }
  std::vector<double> breakpoints() const { return {delta, 1 - delta}; }
  double sample(th::random_source& rng) const {
    const double u = rng.uniform() * delta;
    return rng.uniform() < p ? 1.0 - u : u;
  }
};
static_assert(th::reward_distribution<two_cluster>);
}  // namespace

TEST_CASE("Theorem 4 reduces to Lemma 2 as the rewards collapse onto {0, 1}",
          "[theory][theorem4]") {
  for (int G : {2, 4, 8})
    for (double p : {0.1, 0.3, 0.7}) {
      INFO("G = " << G << ", p = " << p);
      // delta <= sigma < 1 - 2 delta: a group fails to update iff all its rewards share a cluster.
      const two_cluster d{p, 0.05};
      const auto r = th::continuous_bias(d, G, 0.5);
      const double none = std::pow(1 - p, G), all = std::pow(p, G);
      CHECK(r.degenerate_probability == Approx(none + all).epsilon(1e-10));
      const double mass = none * d.delta / 2 + all * (1 - d.delta / 2);
      CHECK(r.expected_baseline == Approx((d.mean() - mass) / (1 - none - all)).epsilon(1e-10));
      // and in the limit delta -> 0 the binary closed form
      const auto limit = th::continuous_bias(two_cluster{p, 1e-7}, G, 0.5);
      CHECK(limit.expected_baseline == Approx(th::expected_baseline(p, G)).epsilon(1e-6));
      CHECK(limit.bias == Approx(th::bias(p, G)).epsilon(1e-5));
      const auto mc = th::monte_carlo_continuous_bias(d, G, 0.5, 20000, 7);
      CHECK(std::fabs(mc.expected_baseline.value - r.expected_baseline) <=
            4.5 * mc.expected_baseline.standard_error);
    }
}

// ---- arguments ----------------------------------------------------------------------------------

TEST_CASE("Bad arguments throw hadw::error naming the argument", "[theory][errors]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(th::expected_baseline(0.3, 1), Contains("G >= 2"));
  CHECK_THROWS_WITH(th::bias(0.0, 8), Contains("p in (0, 1)"));
  CHECK_THROWS_WITH(th::bias(1.0, 8), Contains("p in (0, 1)"));
  CHECK_THROWS_WITH(th::bias(std::nan(""), 8), Contains("p in (0, 1)"));
  CHECK_THROWS_WITH(th::non_degenerate_probability(0.5, 0), Contains("G >= 2"));
  CHECK_THROWS_WITH(th::underestimation_tail(0.2, 8, 0.0), Contains("eps > 0"));
  CHECK_THROWS_WITH(th::overestimation_tail(0.8, 8, -1.0), Contains("eps > 0"));
  CHECK_THROWS_WITH(th::underestimation_probability(8, 0.5, 0.5), Contains("a < b"));
  CHECK_THROWS_WITH(th::underestimation_probability(8, -0.1, 0.5), Contains("0 <= a"));
  CHECK_THROWS_WITH(th::overestimation_probability(8, 0.5, 1.2), Contains("b <= 1"));
  CHECK_THROWS_WITH(th::underestimation_probability(1, 0.0, 0.5), Contains("G >= 2"));
  CHECK_THROWS_WITH(th::feasible_lambda(0.2, 8, true, 1.5), Contains("prior in [0, 1]"));
  CHECK_THROWS_WITH(th::expected_weighted_advantage(0.2, 8, true, 0.5, 0.0),
                    Contains("lambda_scale > 0"));
  CHECK_THROWS_WITH(th::continuous_bias(th::beta_distribution(2, 2), 8, 0.0),
                    Contains("sigma in (0, 1)"));
  CHECK_THROWS_WITH(th::continuous_bias(th::beta_distribution(2, 2), 1, 0.3), Contains("G >= 2"));
  CHECK_THROWS_WITH(th::beta_distribution(0.0, 1.0), Contains("alpha > 0"));
  CHECK_THROWS_WITH(th::beta_distribution(1.0, -1.0), Contains("beta > 0"));
  CHECK_THROWS_WITH(th::truncated_normal(0.5, 0.0), Contains("xi > 0"));
  CHECK_THROWS_WITH(th::truncated_normal(40.0, 0.1), Contains("P(0 <= N(mu, xi^2) <= 1) > 0"));
  CHECK_THROWS_WITH(th::monte_carlo_continuous_bias(th::beta_distribution(2, 2), 8, 0.3, 1, 0),
                    Contains("groups >= 2"));
  CHECK_THROWS_AS(th::bias(0.0, 8), hadw::error);
}
