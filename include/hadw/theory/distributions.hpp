// Reward distributions on [0, 1] for Theorem 4 (continuous rewards): Beta(alpha, beta)
// (Corollary 4) and a Normal(mu, xi^2) truncated to [0, 1] (Corollary 5).
#pragma once

#include <hadw/error.hpp>
#include <hadw/theory/random.hpp>

#include <cmath>
#include <concepts>
#include <numbers>

namespace hadw::theory {

/// What Theorem 4 needs of a reward law on [0, 1] with a density.
///
/// | expression              | meaning                                           |
/// |-------------------------|---------------------------------------------------|
/// | `d.pdf(x)`              | density f(x), x in (0, 1)                         |
/// | `d.cdf(x)`              | F(x), x in [0, 1]                                 |
/// | `d.partial_mean(lo, hi)`| integral of x f(x) over [lo, hi]                  |
/// | `d.mean()`              | p = E[r]                                          |
/// | `d.sample(rng)`         | one draw, rng a hadw::theory::random_source       |
///
/// Optional: `d.breakpoints()`, a range of points in (0, 1) where the density is not smooth
/// (continuous_bias splits its integrals there).
template <class D>
concept reward_distribution = requires(const D& d, double x, random_source& rng) {
  { d.pdf(x) } -> std::convertible_to<double>;
  { d.cdf(x) } -> std::convertible_to<double>;
  { d.partial_mean(x, x) } -> std::convertible_to<double>;
  { d.mean() } -> std::convertible_to<double>;
  { d.sample(rng) } -> std::convertible_to<double>;
};

namespace detail {

/// Regularised incomplete beta I_x(a, b) by its continued fraction (DLMF 8.17.22), evaluated with
/// the modified Lentz method; the symmetry I_x(a,b) = 1 - I_{1-x}(b,a) keeps the fraction in its
/// fast-converging region x < (a+1)/(a+b+2). Relative accuracy ~1e-15.
[[nodiscard]] inline double incomplete_beta(double x, double a, double b) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  if (x > (a + 1.0) / (a + b + 2.0)) return 1.0 - incomplete_beta(1.0 - x, b, a);
  const double log_front = a * std::log(x) + b * std::log1p(-x) - std::lgamma(a) - std::lgamma(b) +
                           std::lgamma(a + b) - std::log(a);
  constexpr double tiny = 1e-300, tol = 1e-16;
  double f = 1.0, c = 1.0, d = 0.0;
  for (int i = 0; i <= 20000; ++i) {
    const int m = i / 2;
    double num;
    if (i == 0)
      num = 1.0;
    else if (i % 2 == 0)
      num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
    else
      num = -((a + m) * (a + b + m) * x) / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
    d = 1.0 + num * d;
    d = std::fabs(d) < tiny ? tiny : d;
    c = 1.0 + num / c;
    c = std::fabs(c) < tiny ? tiny : c;
    d = 1.0 / d;
    const double delta = c * d;
    f *= delta;
    if (std::fabs(1.0 - delta) < tol) break;
  }
  return std::exp(log_front) * (f - 1.0);
}

[[nodiscard]] inline double normal_cdf(double z) {
  return 0.5 * std::erfc(-z / std::numbers::sqrt2);
}
[[nodiscard]] inline double normal_sf(double z) {
  return 0.5 * std::erfc(z / std::numbers::sqrt2);
}
[[nodiscard]] inline double normal_pdf(double z) {
  return std::exp(-0.5 * z * z) / std::sqrt(2.0 * std::numbers::pi);
}

}  // namespace detail

/// Beta(alpha, beta) rewards (Corollary 4); mean alpha / (alpha + beta).
struct beta_distribution {
  double alpha;
  double beta;

  beta_distribution(double alpha_, double beta_) : alpha(alpha_), beta(beta_) {
    hadw::detail::require(std::isfinite(alpha) && alpha > 0.0, "alpha > 0 required, got ", alpha);
    hadw::detail::require(std::isfinite(beta) && beta > 0.0, "beta > 0 required, got ", beta);
    log_norm_ = std::lgamma(alpha) + std::lgamma(beta) - std::lgamma(alpha + beta);
  }
  [[nodiscard]] double mean() const { return alpha / (alpha + beta); }
  [[nodiscard]] double pdf(double x) const {
    if (x <= 0.0 || x >= 1.0) return 0.0;
    return std::exp((alpha - 1.0) * std::log(x) + (beta - 1.0) * std::log1p(-x) - log_norm_);
  }
  [[nodiscard]] double cdf(double x) const { return detail::incomplete_beta(x, alpha, beta); }
  /// ∫_lo^hi x f(x) dx = mean * (I_hi(alpha+1, beta) - I_lo(alpha+1, beta)).
  [[nodiscard]] double partial_mean(double lo, double hi) const {
    return mean() * (detail::incomplete_beta(hi, alpha + 1.0, beta) -
                     detail::incomplete_beta(lo, alpha + 1.0, beta));
  }
  /// X / (X + Y) with X ~ Gamma(alpha), Y ~ Gamma(beta), formed from their logs.
  [[nodiscard]] double sample(random_source& rng) const {
    const double lx = rng.log_gamma_variate(alpha), ly = rng.log_gamma_variate(beta);
    return 1.0 / (1.0 + std::exp(ly - lx));
  }

 private:
  double log_norm_ = 0.0;
};

/// Normal(mu, xi^2) conditioned on [0, 1] (Corollary 5). mu may lie outside [0, 1]; the
/// normaliser Z = P(0 <= N <= 1) must be representable (> 1e-300).
struct truncated_normal {
  double mu;
  double xi;

  truncated_normal(double mu_, double xi_) : mu(mu_), xi(xi_) {
    hadw::detail::require(std::isfinite(mu), "mu finite required, got ", mu);
    hadw::detail::require(std::isfinite(xi) && xi > 0.0, "xi > 0 required, got ", xi);
    z0_ = -mu / xi;
    z1_ = (1.0 - mu) / xi;
    upper_ = z0_ > 0.0;  // all mass in the upper tail: difference survival functions instead
    norm_ = upper_ ? detail::normal_sf(z0_) - detail::normal_sf(z1_)
                   : detail::normal_cdf(z1_) - detail::normal_cdf(z0_);
    hadw::detail::require(norm_ > 1e-300,
                          "truncated_normal: P(0 <= N(mu, xi^2) <= 1) > 0 required, got ", norm_,
                          " for mu = ", mu, ", xi = ", xi);
  }
  [[nodiscard]] double pdf(double x) const {
    if (x < 0.0 || x > 1.0) return 0.0;
    return detail::normal_pdf((x - mu) / xi) / (xi * norm_);
  }
  [[nodiscard]] double cdf(double x) const {
    if (x <= 0.0) return 0.0;
    if (x >= 1.0) return 1.0;
    const double z = (x - mu) / xi;
    return upper_ ? (detail::normal_sf(z0_) - detail::normal_sf(z)) / norm_
                  : (detail::normal_cdf(z) - detail::normal_cdf(z0_)) / norm_;
  }
  /// ∫_lo^hi x f(x) dx = mu (F(hi) - F(lo)) + xi (phi(z_lo) - phi(z_hi)) / Z.
  [[nodiscard]] double partial_mean(double lo, double hi) const {
    lo = lo < 0.0 ? 0.0 : lo;
    hi = hi > 1.0 ? 1.0 : hi;
    if (hi <= lo) return 0.0;
    return mu * (cdf(hi) - cdf(lo)) +
           xi * (detail::normal_pdf((lo - mu) / xi) - detail::normal_pdf((hi - mu) / xi)) / norm_;
  }
  [[nodiscard]] double mean() const { return partial_mean(0.0, 1.0); }
  /// Rejection from the untruncated normal while it accepts >= 1 in 4; otherwise inversion of the
  /// cdf by Newton's method safeguarded by bisection (monotone cdf; to ~1e-15).
  [[nodiscard]] double sample(random_source& rng) const {
    if (norm_ >= 0.25) {
      while (true) {
        const double x = mu + xi * rng.normal();
        if (x >= 0.0 && x <= 1.0) return x;
      }
    }
    const double u = rng.uniform();
    double lo = 0.0, hi = 1.0, x = 0.5;
    for (int i = 0; i < 200; ++i) {
      const double g = cdf(x) - u;
      (g < 0.0 ? lo : hi) = x;
      const double f = pdf(x);
      double next = f > 0.0 ? x - g / f : 0.5 * (lo + hi);
      if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
      if (std::fabs(next - x) <= 1e-15 || hi - lo <= 1e-15) return next;
      x = next;
    }
    return x;
  }

 private:
  double z0_ = 0.0, z1_ = 0.0, norm_ = 1.0;
  bool upper_ = false;
};

static_assert(reward_distribution<beta_distribution>);
static_assert(reward_distribution<truncated_normal>);

}  // namespace hadw::theory
