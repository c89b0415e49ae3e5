// ROLL's static difficulty weight as a hadw::weigh policy: a per-group label d (the dataset's
// difficulty), w = 0.5 + 1.5 clamp(d, 0, 1), rescaled to mean 1 over the batch's valid responses
// as ROLL does (formula: weighting/difficulty.hpp static_difficulty_weight; docs/math.md).
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

struct static_difficulty {
  std::span<const double> difficulty{};  ///< one label per group (layout.num_groups())
  /// ROLL's w * N / (sum w + 1e-8) over the batch; false: the raw weights in [0.5, 2].
  bool renormalise = true;

  struct bound {
    std::span<const double> difficulty;
    double scale;
    [[nodiscard]] double operator()(const group_point& g, double, std::int64_t) const {
      return scale * static_difficulty_weight(difficulty[static_cast<std::size_t>(g.group)]);
    }
  };

  void validate(const group_layout& layout, std::int64_t) const {
    detail::require_size(difficulty.size(), static_cast<std::size_t>(layout.num_groups()),
                         "static_difficulty.difficulty", "layout.num_groups()");
    for (std::size_t k = 0; k < difficulty.size(); ++k)
      detail::require(std::isfinite(difficulty[k]), "static_difficulty.difficulty[", k,
                      "] finite required, got ", difficulty[k]);
  }
  template <class Batch>
  [[nodiscard]] bound prepare(const Batch& b) const {
    if (!renormalise) return {difficulty, 1.0};
    double sum = 0.0;
    std::int64_t n = 0;
    for (std::int64_t k = 0; k < b.num_groups(); ++k) {
      const double w = static_difficulty_weight(difficulty[static_cast<std::size_t>(k)]);
      b.for_each_valid(k, [&](std::int64_t) {
        sum += w;
        ++n;
      });
    }
    // ROLL's eps, kept so the weights are the source's to rounding.
    return {difficulty, static_cast<double>(n) / (sum + 1e-8)};
  }
};

}  // namespace hadw
