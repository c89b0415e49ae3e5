// HA-DW with a per-prompt anchor as a hadw::weigh policy: Phi = lambda_scale * exp(D * M) of
// eq. 13-16 with C = the prompt's own prior (e.g. prompt_tracker::priors, SPO's Beta mean)
// instead of the batch-wide anchor. No peer has it. Formula: weighting/phi.hpp phi().
#pragma once

#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/weighting/phi.hpp>
#include <hadw/weighting/policy.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace hadw {

struct prompt_phi {
  std::span<const double> priors{};  ///< C per group (layout.num_groups()), each in [0, 1]
  double lambda_scale = 1.5;         ///< as reweight_options::lambda_scale

  void validate(const group_layout& layout, std::int64_t) const {
    detail::require(lambda_scale > 0.0 && lambda_scale <= max_lambda_scale,
                    "prompt_phi.lambda_scale in (0, 1e6] required, got ", lambda_scale);
    detail::require_size(priors.size(), static_cast<std::size_t>(layout.num_groups()),
                         "prompt_phi.priors", "layout.num_groups()");
    for (std::size_t k = 0; k < priors.size(); ++k)
      detail::require(std::isfinite(priors[k]) && priors[k] >= 0.0 && priors[k] <= 1.0,
                      "prompt_phi.priors[", k, "] in [0, 1] required, got ", priors[k]);
  }
  template <class Batch>
  [[nodiscard]] const prompt_phi& prepare(const Batch&) const {
    return *this;
  }
  [[nodiscard]] double operator()(const group_point& g, double a, std::int64_t) const {
    return phi(a, history_difficulty(g.p_hat, priors[static_cast<std::size_t>(g.group)]),
               lambda_scale);
  }
};

}  // namespace hadw
