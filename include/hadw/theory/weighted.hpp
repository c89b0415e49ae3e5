// The conditional bias of a *weighted* advantage under the paper's Bernoulli model: does a
// difficulty weighting (HA-DW's Phi, F-GRPO, GRPO-LEAD, DGPO, ROLL, or yours) move the expected
// advantage of a non-degenerate group toward the true advantage, or only rescale it?
//
// Model (paper §2): rewards i.i.d. Bernoulli(p), group of G, S = {1 <= R <= G-1}. One response
// with reward r in {0, 1} (`correct`), its true advantage A = r - p, the group baseline
// p̂ = R/G, the advantage Â = r - p̂ (Lemma 2's, not std-normalised: std-normalised advantages
// estimate (r - p)/sigma, whose bias is another question), and a weight w(p̂, Â) that may only
// look at what a trainer sees: p̂ and Â. Anything else (the true p, an anchor's C) is captured
// by the callable. Two conditionings:
//  - conditioning::own_reward (the default, exact): the response is one of the G, so
//    p̂ = (r + R')/G with R' ~ Binomial(G-1, p) the other responses, conditioned on S
//    (R' <= G-2 for r = 1, R' >= 1 for r = 0). With w = 1 the bias is correct_response_bias()
//    for r = 1 and -correct_response_bias(1 - p) for r = 0 (the p <-> 1-p mirror).
//  - conditioning::paper (Lemma 2 and Theorem 3's): r held fixed, p̂ ~ R/G given S with
//    R ~ Binomial(G, p). With w = 1 the bias is bias(p, G) for both r.
// Sign convention, as everywhere in hadw::theory: bias = A - E[w Â | r, S], positive when the
// response is under-credited (the issue writes E[w Â | S] - A, the negative). Both sums are
// exact (G terms, no sampling).
#pragma once

#include <hadw/error.hpp>
#include <hadw/theory/binary.hpp>
#include <hadw/weighting/difficulty.hpp>
#include <hadw/weighting/phi.hpp>

#include <cmath>
#include <concepts>

namespace hadw::theory {

enum class conditioning { own_reward, paper };

/// A per-response weight as a function of the group's success rate p̂ and the response's
/// advantage Â: `double w(double p_hat, double advantage)`.
template <class W>
concept response_weight = requires(const W& w, double p_hat, double advantage) {
  { w(p_hat, advantage) } -> std::convertible_to<double>;
};

/// E[w(p̂, Â) Â | r, S] (see the header comment), summed exactly over the non-degenerate counts.
/// The conditioning mass is the sum of the included terms, so it keeps full relative accuracy for
/// p near 0 or 1 (no 1 - (1-p)^(G-1) cancellation).
template <response_weight W>
[[nodiscard]] double expected_weighted_advantage(double p, int G, bool correct, const W& weight,
                                                 conditioning c = conditioning::own_reward) {
  detail::check_probability(p);
  detail::check_group_size(G);
  const int r = correct ? 1 : 0;
  const bool own = c == conditioning::own_reward;
  double mass = 0.0, sum = 0.0;
  for (int j = 0; j <= (own ? G - 1 : G); ++j) {
    const int k = own ? r + j : j;  // correct responses in the group
    if (k < 1 || k > G - 1) continue;
    const double prob = own ? detail::binomial_pmf(G - 1, j, p) : detail::binomial_pmf(G, j, p);
    const double p_hat = static_cast<double>(k) / G;
    const double adv = r - p_hat;
    const double w = static_cast<double>(weight(p_hat, adv));
    hadw::detail::require(std::isfinite(w), "weight(p_hat, advantage) finite required, got ", w,
                          " at p_hat = ", p_hat, ", advantage = ", adv);
    mass += prob;
    sum += prob * w * adv;
  }
  return sum / mass;
}

/// The weighted bias A - E[w Â | r, S], A = r - p (> 0: under-credited).
template <response_weight W>
[[nodiscard]] double weighted_bias(double p, int G, bool correct, const W& weight,
                                   conditioning c = conditioning::own_reward) {
  return ((correct ? 1.0 : 0.0) - p) - expected_weighted_advantage(p, G, correct, weight, c);
}

/// The credit ratio E[w Â | r, S] / A: 1 is unbiased, < 1 under-credited (or under-penalised for
/// a wrong response), > 1 over-credited. A weighting *corrects* the hard/easy bias where it moves
/// this toward 1 on both sides of p = 1/2; a weight that does not depend on the outcome (a
/// function of p alone) multiplies it and only *rescales*.
template <response_weight W>
[[nodiscard]] double credit_ratio(double p, int G, bool correct, const W& weight,
                                  conditioning c = conditioning::own_reward) {
  return expected_weighted_advantage(p, G, correct, weight, c) / ((correct ? 1.0 : 0.0) - p);
}

/// The tilt credit_ratio(correct) / credit_ratio(wrong) at the same p: scale-free, 1 when a
/// correct and a wrong answer are credited in proportion to their true advantages. GRPO's is
/// below 1 on hard prompts (wrong answers over-penalised relative to correct ones) and above 1 on
/// easy ones; a weight of p alone leaves it exactly as it is, so it separates "corrects the
/// hard/easy bias" (tilt moves toward 1 on both sides of p = 1/2) from "rescales it".
template <response_weight W>
[[nodiscard]] double credit_tilt(double p, int G, const W& weight,
                                 conditioning c = conditioning::own_reward) {
  return credit_ratio(p, G, true, weight, c) / credit_ratio(p, G, false, weight, c);
}

/// The tilt of every weight that is the same for all responses of a group (a function of p̂, p, a
/// label, the batch: F-GRPO, DGPO, ROLL, Delta-L in expectation; GRPO itself):
///   (1 - (1-p)^(G-1)) / (1 - p^(G-1)),
/// whatever the weight. Why: the Â of a group sum to 0, so for a per-group w,
/// E[w Â 1{r=1} | S] = -E[w Â 1{r=0} | S], and the tilt reduces to
/// p P(r=0, S) / ((1-p) P(r=1, S)) with P(r=1, S) = p (1 - p^(G-1)) and
/// P(r=0, S) = (1-p)(1 - (1-p)^(G-1)). Such a weight can only rescale the hard/easy bias; only a
/// weight that looks at the sign of Â (GRPO-LEAD, HA-DW) can change it.
[[nodiscard]] inline double group_weight_tilt(double p, int G) {
  detail::check_probability(p);
  detail::check_group_size(G);
  return -std::expm1((G - 1) * std::log1p(-p)) / -std::expm1((G - 1) * std::log(p));
}

// ---- the published weightings as response_weight callables (formulas: weighting/*.hpp) --------

/// GRPO: w = 1.
struct unit_weight {
  [[nodiscard]] double operator()(double, double) const { return 1.0; }
};

/// F-GRPO: focal_weight(p̂, gamma) = (1 - p̂)^gamma.
struct focal {
  double gamma = 1.0;
  [[nodiscard]] double operator()(double p_hat, double) const { return focal_weight(p_hat, gamma); }
};

/// GRPO-LEAD: lead_weight(curve, rho = p̂, Â).
struct lead {
  lead_curve curve{};
  [[nodiscard]] double operator()(double p_hat, double adv) const {
    return lead_weight(curve, p_hat, adv);
  }
};

/// ROLL's static weight from a per-prompt label d; the theory uses the true difficulty d = 1 - p.
/// It ignores the outcome, so it only rescales.
struct roll_static {
  double difficulty = 0.5;
  [[nodiscard]] double operator()(double, double) const {
    return static_difficulty_weight(difficulty);
  }
};

/// HA-DW: phi(Â, p̂ - C, lambda_scale) (eq. 13-16). C = p is an anchor that tracks perfectly.
struct ha_dw {
  double prior = 0.5;
  double lambda_scale = 1.0;
  [[nodiscard]] double operator()(double p_hat, double adv) const {
    return phi(adv, history_difficulty(p_hat, prior), lambda_scale);
  }
};

/// DGPO's question weight N_valid softmax(-p̂_q / T) = e_q / ((1/N) sum_j e_j), e = exp(-p̂/T),
/// with the batch mean in the denominator replaced by a number (its large-batch limit): the
/// weight depends on the whole batch, which a one-prompt model has not got.
struct dgpo_question {
  double temperature = 2.0;
  double normaliser = 1.0;  // the batch mean of exp(-p̂_j / T) over non-degenerate questions
  [[nodiscard]] double operator()(double p_hat, double) const {
    return question_logit_exp(p_hat, temperature, 0.0) / normaliser;
  }
};

/// DGPO's normaliser for a batch of non-degenerate questions all at success probability p (the
/// N -> infinity limit): E[exp(-p̂/T) | S] with R ~ Binomial(G, p). The weight then has mean 1
/// at every p, and what is left is DGPO's tilt within one difficulty.
[[nodiscard]] inline dgpo_question dgpo_batch_at(double p, int G, double temperature = 2.0) {
  detail::check_probability(p);
  detail::check_group_size(G);
  hadw::detail::require(temperature > 0.0 && std::isfinite(temperature),
                        "temperature > 0 (finite) required, got ", temperature);
  double mass = 0.0, sum = 0.0;
  for (int k = 1; k <= G - 1; ++k) {
    const double prob = detail::binomial_pmf(G, k, p);
    mass += prob;
    sum += prob * question_logit_exp(static_cast<double>(k) / G, temperature, 0.0);
  }
  return {temperature, sum / mass};
}

/// DGPO's normaliser for a batch whose prompts have p ~ Uniform(0, 1) (the N -> infinity limit):
/// each C(G,k) p^k (1-p)^(G-k) integrates to 1/(G+1), so given S, k is uniform on 1..G-1 and the
/// normaliser is the mean of exp(-k/(G T)). One constant for every p: hard prompts get up to
/// e^(1/(2T)) times the weight of easy ones, whatever their outcome.
[[nodiscard]] inline dgpo_question dgpo_uniform_batch(int G, double temperature = 2.0) {
  detail::check_group_size(G);
  hadw::detail::require(temperature > 0.0 && std::isfinite(temperature),
                        "temperature > 0 (finite) required, got ", temperature);
  double sum = 0.0;
  for (int k = 1; k <= G - 1; ++k)
    sum += question_logit_exp(static_cast<double>(k) / G, temperature, 0.0);
  return {temperature, sum / (G - 1)};
}

}  // namespace hadw::theory
