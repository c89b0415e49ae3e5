// Delta-L normalisation (He et al. 2025, arXiv 2509.07558) as a hadw::weigh policy: per-response
// w_i = (L_i / mean L)^(-alpha), divided by the batch mean of these weights, means over the valid
// responses (formula: weighting/difficulty.hpp length_weight; docs/math.md).
#pragma once

#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/weighting/difficulty.hpp>
#include <hadw/weighting/policy.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace hadw {

struct length_weights {
  std::span<const std::int64_t> lengths{};  ///< token count per response (caller order)
  /// 1: the minimum-variance estimator; the paper's runs use 1 (Countdown) and 0.75 (Math).
  double alpha = 1.0;

  struct bound {
    std::span<const std::int64_t> lengths;
    double alpha, mean_length, scale;
    [[nodiscard]] double operator()(const group_point&, double, std::int64_t i) const {
      return scale * length_weight(static_cast<double>(lengths[static_cast<std::size_t>(i)]),
                                   mean_length, alpha);
    }
  };

  void validate(const group_layout& layout, std::int64_t) const {
    detail::require_size(lengths.size(), static_cast<std::size_t>(layout.num_responses()),
                         "length_weights.lengths", "layout.num_responses()");
    // [0, 1] is the paper's range; it also bounds every weight by the batch size.
    detail::require(std::isfinite(alpha) && alpha >= 0.0 && alpha <= 1.0,
                    "length_weights.alpha in [0, 1] required, got ", alpha);
  }
  /// Refuses a valid response of length <= 0 (its weight would be infinite).
  template <class Batch>
  [[nodiscard]] bound prepare(const Batch& b) const {
    double total = 0.0;
    std::int64_t n = 0;
    for (std::int64_t k = 0; k < b.num_groups(); ++k)
      b.for_each_valid(k, [&](std::int64_t i) {
        const std::int64_t L = lengths[static_cast<std::size_t>(i)];
        detail::require(L > 0, "length_weights.lengths[", i,
                        "] > 0 required for a valid response, got ", L);
        total += static_cast<double>(L);
        ++n;
      });
    const double mean = total / static_cast<double>(n);
    double sum = 0.0;
    for (std::int64_t k = 0; k < b.num_groups(); ++k)
      b.for_each_valid(k, [&](std::int64_t i) {
        sum +=
            length_weight(static_cast<double>(lengths[static_cast<std::size_t>(i)]), mean, alpha);
      });
    return {lengths, alpha, mean, static_cast<double>(n) / sum};
  }
};

}  // namespace hadw
