// The seeded random source of hadw::theory's Monte-Carlo estimators and examples: the same seed
// gives the same draws with any standard library (std::mt19937_64's sequence is fixed by the
// standard; the std:: distributions are not, so the conversions are written here).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace hadw::theory {

/// SplitMix64 (Steele, Lea, Flood 2014): a counter-based mixer, used to derive independent seeds
/// and counter-indexed draws (common random numbers across simulated runs).
[[nodiscard]] constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A double in [0, 1) from the top 53 bits of a 64-bit word.
[[nodiscard]] constexpr double unit_double(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

/// Seeded generator with the few conversions the estimators need.
class random_source {
 public:
  explicit random_source(std::uint64_t seed) : engine_(splitmix64(seed)) {}

  /// Uniform on [0, 1).
  double uniform() { return unit_double(engine_()); }
  /// Uniform on (0, 1): safe under log.
  double uniform_open() {
    double u;
    do u = uniform();
    while (u == 0.0);
    return u;
  }
  /// Standard normal (Box-Muller; the second variate is kept for the next call).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double radius = std::sqrt(-2.0 * std::log(uniform_open()));
    const double angle = 2.0 * std::numbers::pi * uniform();
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }
  /// log of a Gamma(shape, 1) variate (Marsaglia & Tsang 2000; shape < 1 by the boost
  /// Gamma(shape+1) * U^(1/shape), kept in log space so tiny shapes do not underflow to 0).
  double log_gamma_variate(double shape) {
    if (shape < 1.0) return log_gamma_variate(shape + 1.0) + std::log(uniform_open()) / shape;
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    while (true) {
      const double x = normal();
      const double t = 1.0 + c * x;
      if (t <= 0.0) continue;
      const double v = t * t * t;
      if (std::log(uniform_open()) < 0.5 * x * x + d - d * v + d * std::log(v))
        return std::log(d) + std::log(v);
    }
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace hadw::theory
