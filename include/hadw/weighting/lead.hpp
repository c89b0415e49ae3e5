// GRPO-LEAD's difficulty-aware reweighting as a hadw::weigh policy: w(rho) for a positive
// advantage, w(1 - rho) otherwise, rho = the fraction of the group's valid rewards > 0 (formula:
// weighting/difficulty.hpp lead_curve, lead_weight; docs/math.md "Difficulty weightings").
#pragma once

#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/weighting/difficulty.hpp>
#include <hadw/weighting/policy.hpp>

#include <cmath>
#include <cstdint>

namespace hadw {

struct lead {
  lead_curve curve{};  ///< A = 0.4, B = 1.5, x0 = 0.75, k = 10: the source's defaults

  void validate(const group_layout&, std::int64_t) const {
    // Positive, bounded weights: an advantage times w stays finite and keeps its sign.
    detail::require(std::isfinite(curve.low) && curve.low > 0.0 && curve.low <= 1e6,
                    "lead.curve.low in (0, 1e6] required, got ", curve.low);
    detail::require(std::isfinite(curve.high) && curve.high > 0.0 && curve.high <= 1e6,
                    "lead.curve.high in (0, 1e6] required, got ", curve.high);
    detail::require(std::isfinite(curve.x0), "lead.curve.x0 finite required, got ", curve.x0);
    detail::require(std::isfinite(curve.k), "lead.curve.k finite required, got ", curve.k);
  }
  template <class Batch>
  [[nodiscard]] const lead& prepare(const Batch&) const {
    return *this;
  }
  [[nodiscard]] double operator()(const group_point& g, double a, std::int64_t) const {
    const double rho = static_cast<double>(g.positive) / static_cast<double>(g.count);
    return lead_weight(curve, rho, a);
  }
};

}  // namespace hadw
