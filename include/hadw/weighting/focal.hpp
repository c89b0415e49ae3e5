// F-GRPO's focal weighting as a hadw::weigh policy: w = (1 - p̂)^gamma per group (formula:
// weighting/difficulty.hpp focal_weight; docs/math.md "Difficulty weightings").
#pragma once

#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/weighting/difficulty.hpp>
#include <hadw/weighting/policy.hpp>

#include <cmath>
#include <cstdint>

namespace hadw {

struct focal {
  /// The focusing exponent; 0 is GRPO. The paper sweeps small values (0.5-2).
  double gamma = 1.0;

  void validate(const group_layout&, std::int64_t) const {
    // (1 - p̂) is in [0, 1], so any gamma in [0, 1e3] keeps w in [0, 1].
    detail::require(std::isfinite(gamma) && gamma >= 0.0 && gamma <= 1e3,
                    "focal.gamma in [0, 1e3] required, got ", gamma);
  }
  template <class Batch>
  [[nodiscard]] const focal& prepare(const Batch&) const {
    return *this;
  }
  [[nodiscard]] double operator()(const group_point& g, double, std::int64_t) const {
    return focal_weight(g.p_hat, gamma);
  }
};

}  // namespace hadw
