// Adaptive Gauss-Kronrod quadrature for hadw::theory: the integrals of Theorem 2's tables and of
// Theorem 4 are computed with error control, never on a fixed grid.
#pragma once

#include <hadw/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace hadw::theory {

/// An integral and the bound on its error the integrator certifies (the sum over sub-intervals of
/// |K15 - G7|, a pessimistic estimate: the returned K15 value is usually far more accurate).
struct quadrature_result {
  double value = 0.0;
  double error = 0.0;
  std::size_t intervals = 0;  ///< sub-intervals used
};

/// Tolerances of the adaptive integrator: it stops once error <= max(absolute, relative*|value|)
/// or after max_intervals sub-intervals (then `error` says how far it got).
struct quadrature_options {
  double absolute = 1e-14;
  double relative = 1e-12;
  std::size_t max_intervals = 4000;
};

namespace detail {

// 15-point Kronrod extension of the 7-point Gauss-Legendre rule (QUADPACK's qk15 constants):
// abscissae on [0,1) of [-1,1] in decreasing order; the Gauss nodes are the odd-indexed ones.
inline constexpr double gk15_x[8] = {
    0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
    0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
    0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
    0.207784955007898467600689403773245, 0.000000000000000000000000000000000};
inline constexpr double gk15_wk[8] = {
    0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
    0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
    0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
    0.204432940075298892414161999234649, 0.209482141084727828012999174891714};
inline constexpr double gk15_wg[4] = {  // Gauss weights at gk15_x[1], [3], [5], [7]
    0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
    0.381830050505118944950369775488975, 0.417959183673469387755102040816327};

struct gk_piece {
  double a, b, value, error;
};

/// One K15/G7 pair on [a, b]. Never evaluates f at a or b, so integrable endpoint singularities
/// are allowed.
template <class F>
[[nodiscard]] gk_piece gk15(const F& f, double a, double b) {
  const double centre = 0.5 * (a + b);
  const double half = 0.5 * (b - a);
  const double fc = f(centre);
  double kronrod = fc * gk15_wk[7];
  double gauss = fc * gk15_wg[3];
  for (int j = 0; j < 7; ++j) {
    const double dx = half * gk15_x[j];
    const double sum = f(centre - dx) + f(centre + dx);
    kronrod += gk15_wk[j] * sum;
    if (j % 2 == 1) gauss += gk15_wg[j / 2] * sum;
  }
  return {a, b, kronrod * half, std::fabs((kronrod - gauss) * half)};
}

}  // namespace detail

/// Integral of f over [a, b] (a <= b) by globally adaptive Gauss-Kronrod (G7/K15): the piece with
/// the largest error estimate is bisected until the tolerance of `opt` is met. Deterministic: the
/// same f, interval and options give the same bits.
template <class F>
[[nodiscard]] quadrature_result integrate(const F& f, double a, double b,
                                          const quadrature_options& opt = {}) {
  hadw::detail::require(std::isfinite(a) && std::isfinite(b) && a <= b,
                        "integrate: finite a <= b required, got [", a, ", ", b, "]");
  quadrature_result out;
  if (a == b) return out;
  std::vector<detail::gk_piece> pieces{detail::gk15(f, a, b)};
  auto total = [&](double detail::gk_piece::*m) {
    double s = 0.0;
    for (const auto& p : pieces) s += p.*m;
    return s;
  };
  while (true) {
    const double value = total(&detail::gk_piece::value);
    const double error = total(&detail::gk_piece::error);
    if (error <= std::max(opt.absolute, opt.relative * std::fabs(value)) ||
        pieces.size() >= opt.max_intervals) {
      out = {value, error, pieces.size()};
      return out;
    }
    const auto worst = std::max_element(
        pieces.begin(), pieces.end(),
        [](const detail::gk_piece& x, const detail::gk_piece& y) { return x.error < y.error; });
    const double lo = worst->a, hi = worst->b, mid = 0.5 * (lo + hi);
    if (!(mid > lo && mid < hi)) {  // cannot split further in double precision
      out = {value, error, pieces.size()};
      return out;
    }
    *worst = detail::gk15(f, lo, mid);
    pieces.push_back(detail::gk15(f, mid, hi));
  }
}

/// Sum of integrals over consecutive pieces [x_0, x_1], [x_1, x_2], ... of sorted breakpoints:
/// for integrands that are smooth between known breakpoints (kinks, jumps, change of formula).
template <class F>
[[nodiscard]] quadrature_result integrate_piecewise(const F& f, std::vector<double> breakpoints,
                                                    const quadrature_options& opt = {}) {
  std::sort(breakpoints.begin(), breakpoints.end());
  breakpoints.erase(std::unique(breakpoints.begin(), breakpoints.end()), breakpoints.end());
  quadrature_result out;
  for (std::size_t i = 0; i + 1 < breakpoints.size(); ++i) {
    const quadrature_result r = integrate(f, breakpoints[i], breakpoints[i + 1], opt);
    out.value += r.value;
    out.error += r.error;
    out.intervals += r.intervals;
  }
  return out;
}

}  // namespace hadw::theory
