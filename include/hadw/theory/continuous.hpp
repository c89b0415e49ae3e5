// Theorem 4: the same bias for continuous rewards in [0, 1], by numerical integration and by a
// seeded Monte-Carlo estimator that must agree with it.
//
// Rewards r_1..r_G i.i.d. with density f, CDF F, mean p. A group updates when some pair differs by
// more than sigma: S_sigma = {max r - min r > sigma}. Let u be the minimum, u+ = min(1, u + sigma),
// q(u) = F(u+) - F(u) and h(u) = ∫_u^{u+} x f(x) dx = q(u) m(u). Any of the G rewards may be the
// minimum and the other G-1 then lie in [u, u+], so
//   P(not S_sigma)      = G ∫_0^1 f(u) q(u)^(G-1) du,
//   E[p̂ 1{not S_sigma}] = ∫_0^1 f(u) (u q(u)^(G-1) + (G-1) h(u) q(u)^(G-2)) du
// (the G choices of the minimum cancel the 1/G of the mean; writing (G-1) m q^(G-1) as
// (G-1) h q^(G-2) avoids dividing by q where it vanishes), and
//   E[p̂ | S_sigma] = (p - E[p̂ 1{not S_sigma}]) / (1 - P(not S_sigma)).
// Sign convention: bias = A - E[Â | S_sigma] = E[p̂ | S_sigma] - p, the same as bias(p, G) for
// binary rewards (positive: advantages underestimated). The paper writes E[Â - A | S_sigma], its
// negative.
#pragma once

#include <hadw/error.hpp>
#include <hadw/theory/binary.hpp>
#include <hadw/theory/distributions.hpp>
#include <hadw/theory/quadrature.hpp>
#include <hadw/theory/random.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace hadw::theory {

/// Theorem 4's quantities for one reward law, group size and sigma.
struct continuous_bias_result {
  double mean = 0.0;                    ///< p = E[r]
  double degenerate_probability = 0.0;  ///< P(not S_sigma)
  double expected_baseline = 0.0;       ///< E[p̂ | S_sigma]
  double bias = 0.0;                    ///< A - E[Â | S_sigma] = E[p̂ | S_sigma] - p
  double error = 0.0;                   ///< the integrator's error bound on the two integrals
};

namespace detail {

inline void check_sigma(double sigma) {
  hadw::detail::require(sigma > 0.0 && sigma < 1.0,
                        "sigma in (0, 1) required (the update threshold of S_sigma), got ", sigma);
}

/// ∫_a^b g(u) du with u = a + (b-a) t^4 (left) or u = b - (b-a) t^4 (right): the Jacobian
/// 4 (b-a) t^3 absorbs an endpoint singularity like Beta's u^(alpha-1) for alpha >= 1/4 and
/// leaves a milder one for smaller alpha, which the adaptive bisection then resolves.
template <class F>
[[nodiscard]] quadrature_result integrate_endpoint_graded(const F& g, double a, double b, bool left,
                                                          const quadrature_options& opt) {
  const double width = b - a;
  auto mapped = [&](double t) {
    const double t2 = t * t;
    const double u = left ? a + width * t2 * t2 : b - width * t2 * t2;
    return g(u) * 4.0 * width * t2 * t;
  };
  return integrate(mapped, 0.0, 1.0, opt);
}

}  // namespace detail

/// Theorem 4 by adaptive Gauss-Kronrod quadrature. The integrand changes formula at u = 1-sigma
/// (where u+ reaches 1) and, for a law that declares `breakpoints()` (points where its density is
/// not smooth), at each such b and b - sigma: the integral is split there, because a kink that
/// falls between the nodes of a piece is invisible to the error estimate. The outer pieces are
/// graded toward 0 and 1, where a density may be singular.
template <reward_distribution D>
[[nodiscard]] continuous_bias_result continuous_bias(const D& dist, int G, double sigma,
                                                     const quadrature_options& opt = {1e-15, 1e-12,
                                                                                      4000}) {
  detail::check_group_size(G);
  detail::check_sigma(sigma);
  auto parts = [&](double u, bool baseline) {
    const double f = dist.pdf(u);
    if (f == 0.0) return 0.0;
    const double hi = std::min(1.0, u + sigma);
    const double q = std::max(0.0, dist.cdf(hi) - dist.cdf(u));
    const double qg2 = std::pow(q, G - 2);
    if (!baseline) return G * f * qg2 * q;
    return f * (u * qg2 * q + (G - 1) * dist.partial_mean(u, hi) * qg2);
  };
  std::vector<double> cuts{0.0, 1.0 - sigma, 1.0};
  if constexpr (requires { dist.breakpoints(); }) {
    for (double b : dist.breakpoints())
      for (double x : {b, b - sigma})
        if (x > 0.0 && x < 1.0) cuts.push_back(x);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  auto both = [&](bool baseline) {
    auto g = [&](double u) { return parts(u, baseline); };
    quadrature_result sum;
    const std::size_t last = cuts.size() - 2;
    for (std::size_t i = 0; i <= last; ++i) {
      const quadrature_result r = i == 0 || i == last ? detail::integrate_endpoint_graded(
                                                            g, cuts[i], cuts[i + 1], i == 0, opt)
                                                      : integrate(g, cuts[i], cuts[i + 1], opt);
      sum.value += r.value;
      sum.error += r.error;
      sum.intervals += r.intervals;
    }
    return sum;
  };
  const quadrature_result degenerate = both(false);
  const quadrature_result baseline_mass = both(true);
  continuous_bias_result out;
  out.mean = dist.mean();
  out.degenerate_probability = degenerate.value;
  const double update = 1.0 - degenerate.value;
  hadw::detail::require(update > 0.0, "P(S_sigma) > 0 required, got ", update,
                        " (sigma too large for this reward law)");
  out.expected_baseline = (out.mean - baseline_mass.value) / update;
  out.bias = out.expected_baseline - out.mean;
  out.error = degenerate.error + baseline_mass.error;
  return out;
}

/// A Monte-Carlo estimate and its standard error.
struct mc_estimate {
  double value = 0.0;
  double standard_error = 0.0;
};

/// Monte-Carlo counterparts of continuous_bias_result.
struct continuous_bias_mc {
  mc_estimate degenerate_probability;  ///< fraction of groups with max - min <= sigma
  mc_estimate expected_baseline;       ///< mean of p̂ over the updating groups
  mc_estimate bias;                    ///< expected_baseline - p (p = dist.mean(), known)
  std::int64_t groups = 0;
  std::int64_t updating_groups = 0;
};

/// Draws `groups` groups of G rewards from `dist` with a random_source seeded by `seed` and
/// estimates Theorem 4's quantities: deterministic given the seed. Standard errors are the
/// binomial one for P(not S_sigma) and the sample standard deviation of p̂ over updating groups
/// divided by sqrt(their number) for E[p̂ | S_sigma] (conditioning on that number).
template <reward_distribution D>
[[nodiscard]] continuous_bias_mc monte_carlo_continuous_bias(const D& dist, int G, double sigma,
                                                             std::int64_t groups,
                                                             std::uint64_t seed) {
  detail::check_group_size(G);
  detail::check_sigma(sigma);
  hadw::detail::require(groups >= 2, "groups >= 2 required, got ", groups);
  random_source rng(seed);
  std::int64_t updating = 0;
  double mean = 0.0, m2 = 0.0;  // Welford over p̂ of updating groups
  for (std::int64_t n = 0; n < groups; ++n) {
    double lo = 1.0, hi = 0.0, sum = 0.0;
    for (int i = 0; i < G; ++i) {
      const double r = dist.sample(rng);
      lo = std::min(lo, r);
      hi = std::max(hi, r);
      sum += r;
    }
    if (hi - lo > sigma) {
      const double p_hat = sum / G;
      ++updating;
      const double delta = p_hat - mean;
      mean += delta / static_cast<double>(updating);
      m2 += delta * (p_hat - mean);
    }
  }
  continuous_bias_mc out;
  out.groups = groups;
  out.updating_groups = updating;
  const double frac = 1.0 - static_cast<double>(updating) / static_cast<double>(groups);
  out.degenerate_probability = {frac, std::sqrt(frac * (1.0 - frac) / static_cast<double>(groups))};
  const double se =
      updating >= 2
          ? std::sqrt(m2 / static_cast<double>(updating - 1) / static_cast<double>(updating))
          : INFINITY;
  out.expected_baseline = {updating ? mean : NAN, se};
  out.bias = {updating ? mean - dist.mean() : NAN, se};
  return out;
}

}  // namespace hadw::theory
