// Theorem 3: for which lambda_scale does HA-DW's weight Phi (eq. 16) move the expected advantage of
// a non-degenerate group toward the true advantage?
//
// Reading (the paper states Theorem 3 only through constants c_low, c_high of its Lemma 1; hadw
// defines them exactly as follows). Take one response with reward r in {0, 1} of a prompt with
// success probability p, a group of G, and the anchor's prior C in [0, 1]. On S the group has
// k = G p̂ correct responses, 1 <= k <= G-1, with weights w_k = C(G,k) p^k (1-p)^(G-k) / P(S)
// (the paper's convention: r is held fixed and p̂ follows R/G given S). Then
//   Â_k = r - k/G,   D_k M_k = -sgn(Â_k) sgn(k/G - C) |k/G - C| = -sgn(Â_k) (k/G - C),
//   E[Â Phi | S] = lambda * K,   K = sum_k w_k (r - k/G) exp(-sgn(r - k/G) (k/G - C)).
// For r = 1, K = E[(1 - p̂) e^(C - p̂) | S] > 0; for r = 0, K = -E[p̂ e^(p̂ - C) | S] < 0: K never
// vanishes, because Â has the sign of r - p̂ = r - k/G, the same for every k in S.
// With A = r - p and beta = |E[Â|S] - A| = |bias(p, G)|, the requirement
//   |E[Â Phi | S] - A| < |E[Â | S] - A|   <=>   A - beta < lambda K < A + beta
// is an open interval in lambda:
//   c_low = max(0, min((A - beta)/K, (A + beta)/K)),  c_high = max((A - beta)/K, (A + beta)/K),
// centred on lambda* = A/K, the one lambda that makes E[Â Phi | S] = A exactly. It is empty at
// p = 1/2 (beta = 0: nothing to correct). The interval depends on r: feasible_lambda(p, G, C)
// intersects the intervals of a correct and a wrong response.
#pragma once

#include <hadw/error.hpp>
#include <hadw/theory/binary.hpp>
#include <hadw/weighting/phi.hpp>

#include <algorithm>
#include <cmath>

namespace hadw::theory {

/// An open interval (low, high) of lambda_scale values; empty when low >= high.
struct lambda_interval {
  double low = 0.0;
  double high = 0.0;
  [[nodiscard]] bool empty() const { return !(low < high); }
  [[nodiscard]] bool contains(double lambda) const { return low < lambda && lambda < high; }
};

namespace detail {

inline void check_prior(double prior) {
  hadw::detail::require(prior >= 0.0 && prior <= 1.0,
                        "prior in [0, 1] required (the anchor's belief C), got ", prior);
}
inline void check_lambda(double lambda) {
  hadw::detail::require(std::isfinite(lambda) && lambda > 0.0,
                        "lambda_scale > 0 (finite) required, got ", lambda);
}

/// sum_k w_k (r - k/G) * phi(r - k/G, k/G - C, lambda): Phi from hadw/weighting/phi.hpp itself, so the
/// theory checks the very function reweight() applies.
[[nodiscard]] inline double weighted_advantage_sum(double p, int G, bool correct, double prior,
                                                   double lambda) {
  const double r = correct ? 1.0 : 0.0;
  double s = 0.0;
  for (int k = 1; k <= G - 1; ++k) {
    const double p_hat = static_cast<double>(k) / G;
    const double adv = r - p_hat;
    s += binomial_pmf(G, k, p) * adv * phi(adv, history_difficulty(p_hat, prior), lambda);
  }
  return s / non_degenerate_probability(p, G);
}

}  // namespace detail

/// The paper's E[Â | S] for a response with reward r = `correct`: r - E[p̂ | S].
[[nodiscard]] inline double expected_advantage(double p, int G, bool correct) {
  return (correct ? 1.0 : 0.0) - expected_baseline(p, G);
}

/// E[Â Phi | S] for a response with reward r = `correct`, anchor prior C and lambda_scale (eq. 16,
/// Theorem 3), summed exactly over the G-1 non-degenerate outcomes.
[[nodiscard]] inline double expected_weighted_advantage(double p, int G, bool correct, double prior,
                                                        double lambda_scale) {
  detail::check_probability(p);
  detail::check_group_size(G);
  detail::check_prior(prior);
  detail::check_lambda(lambda_scale);
  return detail::weighted_advantage_sum(p, G, correct, prior, lambda_scale);
}

/// lambda* = A / K: the lambda_scale at which E[Â Phi | S] equals A = r - p exactly.
[[nodiscard]] inline double unbiased_lambda(double p, int G, bool correct, double prior) {
  const double K = expected_weighted_advantage(p, G, correct, prior, 1.0);
  return ((correct ? 1.0 : 0.0) - p) / K;
}

/// Theorem 3's feasible interval (c_low, c_high) for one response (see the header comment): every
/// lambda_scale inside gives |E[Â Phi | S] - A| < |E[Â | S] - A|.
[[nodiscard]] inline lambda_interval feasible_lambda(double p, int G, bool correct, double prior) {
  const double K = expected_weighted_advantage(p, G, correct, prior, 1.0);
  const double A = (correct ? 1.0 : 0.0) - p;
  const double beta = std::fabs(bias(p, G));
  const double x = (A - beta) / K, y = (A + beta) / K;
  return {std::max(0.0, std::min(x, y)), std::max(x, y)};
}

/// The lambda_scale values that move both a correct and a wrong response toward their true
/// advantage (the intersection of the two intervals; may be empty).
[[nodiscard]] inline lambda_interval feasible_lambda(double p, int G, double prior) {
  const lambda_interval c = feasible_lambda(p, G, true, prior);
  const lambda_interval w = feasible_lambda(p, G, false, prior);
  return {std::max(c.low, w.low), std::min(c.high, w.high)};
}

}  // namespace hadw::theory
