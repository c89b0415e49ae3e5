// Binary-reward theory (paper §2 and §4): how biased the group baseline is, as closed forms.
//
// Setting: G >= 2 responses, rewards i.i.d. Bernoulli(p), R = sum of rewards ~ Binomial(G, p),
// group baseline p̂ = R/G (eq. 2), Â = r - p̂ and A = r - p. Only non-degenerate groups,
// S = {1 <= R <= G-1}, carry a gradient, so every expectation here is conditioned on S.
//
// Conventions (the paper's): "E[Â|S]" holds the response's own reward r fixed and averages p̂ over
// the law of R/G given S, so A - E[Â|S] = E[p̂|S] - p whatever r is. The exact expectation for a
// response known to be correct, where p̂ also contains that response, is correct_response_bias().
#pragma once

#include <hadw/error.hpp>
#include <hadw/theory/quadrature.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

namespace hadw::theory {

namespace detail {

inline void check_group_size(int G) {
  hadw::detail::require(G >= 2, "G >= 2 required (a group of one has no group baseline), got ", G);
}
inline void check_probability(double p) {
  hadw::detail::require(p > 0.0 && p < 1.0, "p in (0, 1) required (the success probability), got ",
                        p);
}

/// C(G,k) p^k (1-p)^(G-k) in log space: accurate to a few ulps times G for any G.
[[nodiscard]] inline double binomial_pmf(int G, int k, double p) {
  const double log_choose = std::lgamma(G + 1.0) - std::lgamma(k + 1.0) - std::lgamma(G - k + 1.0);
  return std::exp(log_choose + k * std::log(p) + (G - k) * std::log1p(-p));
}

/// sum_{k=lo}^{hi} C(G,k) p^k (1-p)^(G-k), clamped to 1 <= k <= G-1 (the event S).
[[nodiscard]] inline double binomial_mass_in_s(int G, int lo, int hi, double p) {
  lo = lo < 1 ? 1 : lo;
  hi = hi > G - 1 ? G - 1 : hi;
  double s = 0.0;
  for (int k = lo; k <= hi; ++k) s += binomial_pmf(G, k, p);
  return s;
}

/// P(S) for p <= 1/2, without the cancellation of 1 - (1-p)^G for small p.
[[nodiscard]] inline double non_degenerate_low(double p, int G) {
  return -std::expm1(G * std::log1p(-p)) - std::pow(p, G);
}

}  // namespace detail

/// P(S) = 1 - (1-p)^G - p^G: the probability that a group of G carries a gradient.
[[nodiscard]] inline double non_degenerate_probability(double p, int G) {
  detail::check_probability(p);
  detail::check_group_size(G);
  return detail::non_degenerate_low(p <= 0.5 ? p : 1.0 - p, G);  // symmetric in p <-> 1-p
}

/// Lemma 2: E[p̂ | S] = (p - p^G) / (1 - (1-p)^G - p^G). Computed for p <= 1/2 and mirrored
/// (E[p̂|S](1-p) = 1 - E[p̂|S](p)), which keeps full relative accuracy as p -> 0, where it tends
/// to 1/G: a non-degenerate group has at least one correct response.
[[nodiscard]] inline double expected_baseline(double p, int G) {
  detail::check_probability(p);
  detail::check_group_size(G);
  const double q = p <= 0.5 ? p : 1.0 - p;
  const double low = (q - std::pow(q, G)) / detail::non_degenerate_low(q, G);
  return p <= 0.5 ? low : 1.0 - low;
}

/// Lemma 2: the bias A - E[Â | S] = E[p̂|S] - p
///   = (p(1-p)^G + p^(G+1) - p^G) / (1 - (1-p)^G - p^G)
///   = p (1-p) ((1-p)^(G-1) - p^(G-1)) / P(S).
/// Theorem 1: > 0 for p < 1/2 (the advantage is underestimated on hard prompts), < 0 for p > 1/2
/// (overestimated on easy ones), 0 at p = 1/2. Odd about 1/2: bias(1-p) = -bias(p).
/// Computed from the last form for q = min(p, 1-p), with
/// (1-q)^(G-1) - q^(G-1) = (1-q)^(G-1) * -expm1((G-1) log(q/(1-q))) and q/(1-q) = 1/(1 + (1-2q)/q),
/// so it keeps its relative accuracy near p = 1/2 and for large G, where E[p̂|S] - p would cancel.
/// (For G in the hundreds and p far from 0 and 1 the bias drops below the double range: 0.)
[[nodiscard]] inline double bias(double p, int G) {
  detail::check_probability(p);
  detail::check_group_size(G);
  const double q = p <= 0.5 ? p : 1.0 - p;                    // exact for p >= 1/2 (Sterbenz)
  const double log_ratio = -std::log1p((1.0 - 2.0 * q) / q);  // log(q / (1-q)) <= 0
  const double diff = std::exp((G - 1) * std::log1p(-q)) * -std::expm1((G - 1) * log_ratio);
  const double b = q * (1.0 - q) * diff / detail::non_degenerate_low(q, G);
  return p <= 0.5 ? b : -b;
}

/// Exact bias of the advantage of a response known to be correct: (1 - p) - E[Â_i | r_i = 1, S].
/// Here p̂ = (1 + R')/G with R' ~ Binomial(G-1, p) the other responses, and S requires R' <= G-2:
///   E[p̂ | r_i = 1, S] = (1 + (G-1)(p - p^(G-1)) / (1 - p^(G-1))) / G,
/// which simplifies to
///   (1 - p) - E[Â_i | r_i = 1, S] = ((1-p)/G) (1 - G p^(G-1)) / (1 - p^(G-1)).
/// The factor (1-p)/G is self-inclusion (the response is part of its own baseline); conditioning
/// on S removes only the all-correct groups. Positive iff G p^(G-1) < 1, so for every p < 1/2 and a
/// little beyond. This, not bias(), is what a simulation measures on correct responses.
[[nodiscard]] inline double correct_response_bias(double p, int G) {
  detail::check_probability(p);
  detail::check_group_size(G);
  const double x = std::pow(p, G - 1);
  return (1.0 - p) / G * (1.0 - G * x) / -std::expm1((G - 1) * std::log(p));
}

/// Theorem 2 (hard prompts): P(A - Â > eps | S) = P(p̂ > p + eps | S)
///   = sum_{k = floor(G(p+eps)) + 1}^{G-1} C(G,k) p^k (1-p)^(G-k) / (1 - (1-p)^G - p^G).
/// Defined for any p and eps > 0; the theorem states it for p < 1/2 and eps < E[p̂|S] - p.
[[nodiscard]] inline double underestimation_tail(double p, int G, double eps) {
  detail::check_probability(p);
  detail::check_group_size(G);
  hadw::detail::require(eps > 0.0 && std::isfinite(eps), "eps > 0 required, got ", eps);
  const double k0 = std::floor(G * (p + eps)) + 1.0;
  if (k0 > G - 1) return 0.0;
  return detail::binomial_mass_in_s(G, static_cast<int>(k0), G - 1, p) /
         non_degenerate_probability(p, G);
}

/// Theorem 2 (easy prompts): P(Â - A > eps | S) = P(p̂ < p - eps | S)
///   = sum_{k=1}^{ceil(G(p-eps)) - 1} C(G,k) p^k (1-p)^(G-k) / (1 - (1-p)^G - p^G).
[[nodiscard]] inline double overestimation_tail(double p, int G, double eps) {
  detail::check_probability(p);
  detail::check_group_size(G);
  hadw::detail::require(eps > 0.0 && std::isfinite(eps), "eps > 0 required, got ", eps);
  const double k1 = std::ceil(G * (p - eps)) - 1.0;
  if (k1 < 1) return 0.0;
  return detail::binomial_mass_in_s(G, 1, static_cast<int>(k1), p) /
         non_degenerate_probability(p, G);
}

/// The eps -> 0 limit of underestimation_tail: P(Â < A | S) = P(p̂ > p | S), i.e. k > G p.
/// Exactly 1 for p < 1/G (every non-degenerate group has p̂ >= 1/G > p).
[[nodiscard]] inline double underestimation_probability_at(double p, int G) {
  detail::check_probability(p);
  detail::check_group_size(G);
  const double k0 = std::floor(G * p) + 1.0;
  if (k0 <= 1.0) return 1.0;
  if (k0 > G - 1) return 0.0;
  return detail::binomial_mass_in_s(G, static_cast<int>(k0), G - 1, p) /
         non_degenerate_probability(p, G);
}

/// The eps -> 0 limit of overestimation_tail: P(Â > A | S) = P(p̂ < p | S), i.e. k < G p.
[[nodiscard]] inline double overestimation_probability_at(double p, int G) {
  detail::check_probability(p);
  detail::check_group_size(G);
  const double k1 = std::ceil(G * p) - 1.0;
  if (k1 >= G - 1) return 1.0;
  if (k1 < 1) return 0.0;
  return detail::binomial_mass_in_s(G, 1, static_cast<int>(k1), p) /
         non_degenerate_probability(p, G);
}

namespace detail {

inline void check_interval(double a, double b) {
  hadw::detail::require(std::isfinite(a) && std::isfinite(b) && 0.0 <= a && a < b && b <= 1.0,
                        "interval 0 <= a < b <= 1 required, got a = ", a, ", b = ", b);
}

/// (1/(b-a)) * integral over (a, b) of f(p) dp, where f changes formula only at p = k/G: on each
/// piece between breakpoints it is a ratio of polynomials with no pole in [0,1] (P(S) > 0 there,
/// and its zero at p = 0 is removable), so adaptive Gauss-Kronrod converges to rounding.
template <class F>
[[nodiscard]] double average_over_interval(const F& f, int G, double a, double b) {
  std::vector<double> cuts{a, b};
  for (int k = 1; k < G; ++k) {
    const double x = static_cast<double>(k) / G;
    if (x > a && x < b) cuts.push_back(x);
  }
  return integrate_piecewise(f, cuts, {1e-15, 1e-13, 2000}).value / (b - a);
}

}  // namespace detail

/// The paper's table entry: P(Â < A | S, p ~ Uniform(a, b)) = (1/(b-a)) ∫_a^b P(p̂ > p | S) dp.
/// Corollaries: > 0.63 on (0, .5), > 0.78 on (0, .25) and exactly 1 on (0, 1/G) for 2 <= G <= 8;
/// > 0.78 on (0, 2/G) for G >= 6.
[[nodiscard]] inline double underestimation_probability(int G, double a, double b) {
  detail::check_group_size(G);
  detail::check_interval(a, b);
  return detail::average_over_interval(
      [G](double p) { return underestimation_probability_at(p, G); }, G, a, b);
}

/// The mirror table entry for easy intervals: P(Â > A | S, p ~ Uniform(a, b)). By the symmetry
/// p <-> 1-p it equals underestimation_probability(G, 1-b, 1-a).
[[nodiscard]] inline double overestimation_probability(int G, double a, double b) {
  detail::check_group_size(G);
  detail::check_interval(a, b);
  return detail::average_over_interval(
      [G](double p) { return overestimation_probability_at(p, G); }, G, a, b);
}

}  // namespace hadw::theory
