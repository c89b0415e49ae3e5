// Tests of hadw/theory/weighted.hpp: the weighted conditional bias A - E[w Â | r, S]. References
// written here independently: brute-force enumeration of all 2^G reward vectors of a group (the
// response under study is response 0), Lemma 2's closed forms from binary.hpp, and values derived
// by hand. The weight callables are shared with the code under test on purpose (what is tested
// is the expectation, not the weighting formulas, which test_weighting checks); where a test
// needs a weight's value it writes the formula out again.
#include <hadw/theory.hpp>

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace th = hadw::theory;

namespace {

using weight_fn = std::function<double(double, double)>;

/// E[w Â | r, S] by enumerating every reward vector. own_reward: response 0 has reward r and is in
/// the group; paper: every vector in S counts and Â = r - k/G with r held fixed.
double brute_force(int G, double p, bool correct, const weight_fn& w, th::conditioning c) {
  const int r = correct ? 1 : 0;
  double mass = 0.0, sum = 0.0;
  for (std::uint32_t mask = 0; mask < (1u << G); ++mask) {
    const int k = std::popcount(mask);
    if (k == 0 || k == G) continue;
    if (c == th::conditioning::own_reward && static_cast<int>(mask & 1u) != r) continue;
    double prob = 1.0;
    for (int i = 0; i < G; ++i) prob *= (mask >> i & 1u) ? p : 1.0 - p;
    const double p_hat = static_cast<double>(k) / G;
    mass += prob;
    sum += prob * w(p_hat, r - p_hat) * (r - p_hat);
  }
  return sum / mass;
}

struct named_weight {
  std::string name;
  weight_fn w;
};

/// Every published weighting at success probability p, and a user's callable.
std::vector<named_weight> weightings(double p, int G) {
  return {{"GRPO", th::unit_weight{}},
          {"F-GRPO gamma 1", th::focal{1.0}},
          {"F-GRPO gamma 2", th::focal{2.0}},
          {"GRPO-LEAD", th::lead{}},
          {"ROLL d = 1-p", th::roll_static{1.0 - p}},
          {"DGPO batch at p", th::dgpo_batch_at(p, G)},
          {"DGPO uniform batch", th::dgpo_uniform_batch(G)},
          {"HA-DW C = p, lambda 1", th::ha_dw{p, 1.0}},
          {"HA-DW C = p, lambda 1.5", th::ha_dw{p, 1.5}},
          {"HA-DW C = .5, lambda 1.5", th::ha_dw{0.5, 1.5}},
          {"user", [](double p_hat, double adv) { return 1.0 + p_hat * p_hat - 0.3 * adv; }}};
}

const std::vector<double> probabilities{0.01, 0.1, 0.25, 0.37, 0.5, 0.63, 0.75, 0.9, 0.99};

}  // namespace

TEST_CASE("The weighted expectation equals brute force over all 2^G outcomes, G = 4 and 8",
          "[theory][weighted]") {
  for (int G : {4, 8})
    for (double p : probabilities)
      for (const auto& [name, w] : weightings(p, G))
        for (bool correct : {true, false})
          for (auto c : {th::conditioning::own_reward, th::conditioning::paper}) {
            INFO(name << ", G = " << G << ", p = " << p << ", correct = " << correct
                      << ", paper = " << (c == th::conditioning::paper));
            const double ref = brute_force(G, p, correct, w, c);
            CHECK(th::expected_weighted_advantage(p, G, correct, w, c) ==
                  Approx(ref).epsilon(1e-12).margin(1e-15));
            const double A = (correct ? 1.0 : 0.0) - p;
            CHECK(th::weighted_bias(p, G, correct, w, c) ==
                  Approx(A - ref).epsilon(1e-10).margin(1e-14));
            CHECK(th::credit_ratio(p, G, correct, w, c) == Approx(ref / A).epsilon(1e-12));
          }
}

TEST_CASE("With unit weight the bias is Lemma 2's, and the exact one of binary.hpp",
          "[theory][weighted]") {
  for (int G : {2, 3, 4, 8, 16, 64})
    for (double p : probabilities) {
      INFO("G = " << G << ", p = " << p);
      const th::unit_weight one;
      CHECK(th::weighted_bias(p, G, true, one) ==
            Approx(th::correct_response_bias(p, G)).epsilon(1e-12).margin(1e-15));
      // A wrong response is the mirror of a correct one at 1 - p; written out:
      // E[p̂ | r = 0, S] = (G-1) p / (G (1 - (1-p)^(G-1))).
      const double wrong = (G - 1) * p / (G * (1.0 - std::pow(1.0 - p, G - 1))) - p;
      CHECK(th::weighted_bias(p, G, false, one) == Approx(wrong).epsilon(1e-10).margin(1e-14));
      CHECK(th::weighted_bias(p, G, false, one) ==
            Approx(-th::correct_response_bias(1.0 - p, G)).epsilon(1e-10).margin(1e-14));
      for (bool correct : {true, false})
        CHECK(th::weighted_bias(p, G, correct, one, th::conditioning::paper) ==
              Approx(th::bias(p, G)).epsilon(1e-10).margin(1e-14));
    }
}

TEST_CASE("F-GRPO with gamma = 0 is GRPO, exactly", "[theory][weighted]") {
  for (int G : {4, 8, 16})
    for (double p : probabilities)
      for (bool correct : {true, false})
        CHECK(th::expected_weighted_advantage(p, G, correct, th::focal{0.0}) ==
              th::expected_weighted_advantage(p, G, correct, th::unit_weight{}));
}

TEST_CASE("Weights symmetric under success <-> failure mirror the bias: LEAD and HA-DW; F-GRPO not",
          "[theory][weighted]") {
  // Under p -> 1-p a correct response becomes a wrong one with p̂ -> 1-p̂ and Â -> -Â. LEAD's
  // w(1 - rho) for negative advantages and HA-DW's Phi (with C -> 1-C) are invariant, so
  // bias_correct(p) = -bias_wrong(1-p). F-GRPO's (1-p̂)^gamma is not.
  for (int G : {4, 8, 16})
    for (double p : probabilities) {
      INFO("G = " << G << ", p = " << p);
      CHECK(th::weighted_bias(p, G, true, th::lead{}) ==
            Approx(-th::weighted_bias(1.0 - p, G, false, th::lead{})).epsilon(1e-10).margin(1e-13));
      CHECK(th::weighted_bias(p, G, true, th::ha_dw{p, 1.5}) ==
            Approx(-th::weighted_bias(1.0 - p, G, false, th::ha_dw{1.0 - p, 1.5}))
                .epsilon(1e-10)
                .margin(1e-13));
      CHECK(th::weighted_bias(p, G, true, th::ha_dw{0.3, 1.0}) ==
            Approx(-th::weighted_bias(1.0 - p, G, false, th::ha_dw{0.7, 1.0}))
                .epsilon(1e-10)
                .margin(1e-13));
    }
  const double a = th::weighted_bias(0.2, 8, true, th::focal{1.0});
  const double b = -th::weighted_bias(0.8, 8, false, th::focal{1.0});
  CHECK(std::fabs(a - b) > 0.1);
}

TEST_CASE("HA-DW with a perfectly tracking anchor C = p matches a hand derivation at G = 4",
          "[theory][weighted]") {
  // G = 4, p = 1/4, lambda = 1.5. Correct response: R' ~ Bin(3, 1/4) (27, 27, 9 over 64 for
  // R' = 0, 1, 2; S excludes R' = 3), p̂ = (1+R')/4, Â = 1 - p̂ > 0, p̂ - C = R'/4 >= 0, so
  // Phi = 1.5 exp(-R'/4) and E = 1.5 (27 (3/4) + 27 e^(-1/4) (1/2) + 9 e^(-1/2) (1/4)) / 63.
  const double correct =
      1.5 * (27 * 0.75 + 27 * std::exp(-0.25) * 0.5 + 9 * std::exp(-0.5) * 0.25) / 63.0;
  CHECK(th::expected_weighted_advantage(0.25, 4, true, th::ha_dw{0.25, 1.5}) ==
        Approx(correct).epsilon(1e-14));
  // Wrong response: k = R' in 1..3 (27, 9, 1 over 64; S excludes R' = 0), Â = -k/4,
  // p̂ - C = (k-1)/4 >= 0, D = +1, Phi = 1.5 exp((k-1)/4):
  // E = -1.5 (27 (1/4) + 9 (2/4) e^(1/4) + 1 (3/4) e^(1/2)) / 37.
  const double wrong = -1.5 * (27 * 0.25 + 9 * 0.5 * std::exp(0.25) + 0.75 * std::exp(0.5)) / 37.0;
  CHECK(th::expected_weighted_advantage(0.25, 4, false, th::ha_dw{0.25, 1.5}) ==
        Approx(wrong).epsilon(1e-14));
  // p = 1/2, C = 1/2, lambda = 1, correct: R' ~ Bin(3, 1/2) (1, 3, 3 over 8 for R' = 0, 1, 2),
  // p̂ - C = (R'-1)/4: Phi = e^(1/4), 1, e^(-1/4), Â = 3/4, 1/2, 1/4; mass 7/8.
  const double half = (0.75 * std::exp(0.25) + 3 * 0.5 + 3 * 0.25 * std::exp(-0.25)) / 7.0;
  CHECK(th::expected_weighted_advantage(0.5, 4, true, th::ha_dw{0.5, 1.0}) ==
        Approx(half).epsilon(1e-14));
}

TEST_CASE("In the paper's conditioning HA-DW's expectation is Theorem 3's", "[theory][weighted]") {
  for (int G : {4, 8, 16})
    for (double p : probabilities)
      for (double prior : {0.3, 0.5, 0.7})
        for (bool correct : {true, false})
          CHECK(th::expected_weighted_advantage(p, G, correct, th::ha_dw{prior, 1.5},
                                                th::conditioning::paper) ==
                Approx(th::expected_weighted_advantage(p, G, correct, prior, 1.5)).epsilon(1e-13));
}

TEST_CASE("A weight of p alone (ROLL) only rescales: the credit ratio is multiplied by w(p)",
          "[theory][weighted]") {
  for (int G : {4, 8, 16})
    for (double p : probabilities)
      for (bool correct : {true, false}) {
        const double w = 0.5 + 1.5 * (1.0 - p);  // ROLL's weight at d = 1 - p, written out
        CHECK(th::credit_ratio(p, G, correct, th::roll_static{1.0 - p}) ==
              Approx(w * th::credit_ratio(p, G, correct, th::unit_weight{})).epsilon(1e-13));
      }
}

TEST_CASE("A weight shared by the whole group leaves GRPO's tilt exactly; LEAD and HA-DW change it",
          "[theory][weighted]") {
  for (int G : {4, 8, 16})
    for (double p : probabilities) {
      INFO("G = " << G << ", p = " << p);
      // Tilt from brute force with a weight of p̂ alone (a user's), and written out.
      const weight_fn per_group = [](double p_hat, double) { return 0.2 + std::sin(3 * p_hat); };
      const double closed = (1.0 - std::pow(1.0 - p, G - 1)) / (1.0 - std::pow(p, G - 1));
      CHECK(th::group_weight_tilt(p, G) == Approx(closed).epsilon(1e-12));
      if (G <= 8) {
        const double tilt =
            (brute_force(G, p, true, per_group, th::conditioning::own_reward) / (1.0 - p)) /
            (brute_force(G, p, false, per_group, th::conditioning::own_reward) / -p);
        CHECK(tilt == Approx(closed).epsilon(1e-11));
      }
      for (const auto& [name, w] : weightings(p, G)) {
        INFO(name);
        const double tilt = th::credit_tilt(p, G, w);
        if (name.starts_with("GRPO-LEAD") || name.starts_with("HA-DW") || name == "user") {
          if (p == 0.5 || name == "user") continue;
          // Sign-aware weights move the tilt: with C = .5 or LEAD, up on hard prompts (correct
          // answers gain on wrong ones) and down on easy ones; with C = p the other way.
          const bool toward = name.starts_with("GRPO-LEAD") || name.find("C = .5") != name.npos;
          CHECK(((tilt > closed) == (p < 0.5)) == toward);
        } else {
          CHECK(tilt == Approx(closed).epsilon(1e-11));
        }
      }
    }
}

TEST_CASE("What docs/theory.md says of the tilt: where LEAD and HA-DW correct, overshoot, worsen",
          "[theory][weighted]") {
  // |log tilt| against GRPO's |log tilt| (0 = credited in proportion).
  auto off = [](double tilt) { return std::fabs(std::log(tilt)); };
  const std::vector<weight_fn> correcting{th::lead{}, th::ha_dw{0.5, 1.0}, th::ha_dw{0.5, 1.5}};
  for (double p : {0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95}) {
    INFO("p = " << p);
    for (const auto& w : correcting) {  // G = 4: closer to 1 everywhere
      CHECK(off(th::credit_tilt(p, 4, w)) < off(th::group_weight_tilt(p, 4)));
      if (p <= 0.2 || p >= 0.8)  // G = 8: closer where GRPO's tilt is far from 1
        CHECK(off(th::credit_tilt(p, 8, w)) < off(th::group_weight_tilt(p, 8)));
      if (p >= 0.3 && p <= 0.7)  // G = 8 and 16: past 1 and farther than GRPO at mid p
        for (int G : {8, 16})
          CHECK(off(th::credit_tilt(p, G, w)) > off(th::group_weight_tilt(p, G)));
    }
    for (int G : {4, 8, 16})  // a per-prompt anchor that tracks p perfectly: farther everywhere
      CHECK(off(th::credit_tilt(p, G, th::ha_dw{p, 1.0})) > off(th::group_weight_tilt(p, G)));
  }
}

TEST_CASE("DGPO's normalisers are the batch means of exp(-p̂/T) they stand for",
          "[theory][weighted]") {
  for (int G : {4, 8, 16}) {
    // A batch at p: E[exp(-p̂/2) | S] by brute force (paper law, any r: only p̂ matters).
    for (double p : {0.1, 0.5, 0.9}) {
      double mass = 0.0, sum = 0.0;
      for (std::uint32_t mask = 0; mask < (1u << G); ++mask) {
        const int k = std::popcount(mask);
        if (k == 0 || k == G) continue;
        double prob = 1.0;
        for (int i = 0; i < G; ++i) prob *= (mask >> i & 1u) ? p : 1.0 - p;
        mass += prob;
        sum += prob * std::exp(-static_cast<double>(k) / G / 2.0);
      }
      CHECK(th::dgpo_batch_at(p, G).normaliser == Approx(sum / mass).epsilon(1e-12));
    }
    // A batch with p ~ U(0, 1): integral of E[e 1{S}] over integral of P(S), by the midpoint rule.
    const int n = 20000;
    double num = 0.0, den = 0.0;
    for (int i = 0; i < n; ++i) {
      const double p = (i + 0.5) / n;
      for (int k = 1; k <= G - 1; ++k) {
        const double pmf =
            std::exp(std::lgamma(G + 1.0) - std::lgamma(k + 1.0) - std::lgamma(G - k + 1.0)) *
            std::pow(p, k) * std::pow(1.0 - p, G - k);
        num += pmf * std::exp(-static_cast<double>(k) / G / 2.0);
        den += pmf;
      }
    }
    CHECK(th::dgpo_uniform_batch(G).normaliser == Approx(num / den).epsilon(1e-8));
  }
}

TEST_CASE("Bad arguments are named errors", "[theory][weighted][errors]") {
  const th::unit_weight one;
  CHECK_THROWS_WITH(th::weighted_bias(0.5, 1, true, one), Catch::Contains("G >= 2 required"));
  CHECK_THROWS_WITH(th::weighted_bias(0.0, 8, true, one), Catch::Contains("p in (0, 1) required"));
  CHECK_THROWS_WITH(th::credit_ratio(1.0, 8, false, one), Catch::Contains("p in (0, 1) required"));
  CHECK_THROWS_WITH(th::expected_weighted_advantage(std::nan(""), 8, true, one),
                    Catch::Contains("p in (0, 1) required"));
  CHECK_THROWS_WITH(
      th::expected_weighted_advantage(0.3, 8, true, [](double, double) { return INFINITY; }),
      Catch::Contains("weight(p_hat, advantage) finite required"));
  CHECK_THROWS_WITH(th::dgpo_batch_at(0.3, 8, 0.0), Catch::Contains("temperature > 0"));
  CHECK_THROWS_WITH(th::dgpo_uniform_batch(1), Catch::Contains("G >= 2 required"));
}
