// run_fused's definition, included by fused_f32.cpp and fused_f64.cpp only.
#pragma once

#include "fused.hpp"

#include <variant>

namespace hadw::python {

template <class T>
step_stats run_fused(const fused_call& c) {
  reweight_options opt = c.step->options;
  opt.mask = c.mask;
  const std::span<const T> rewards(static_cast<const T*>(c.rewards), c.n);
  const std::span<T> adv(static_cast<T*>(c.advantages), c.n);
  const std::size_t tokens = c.n * static_cast<std::size_t>(c.L);
  return std::visit(
      [&](const auto& est, auto& anchor) -> step_stats {
        if (!c.token_stage)
          return estimate_and_reweight(est, *c.layout, rewards, adv, anchor, opt, c.lengths);
        const std::span<T> out(static_cast<T*>(c.tokens), tokens);
        if (c.token_mask != nullptr)
          return estimate_reweight_broadcast(est, *c.layout, rewards, adv, anchor,
                                             std::span<const std::uint8_t>(c.token_mask, tokens),
                                             c.L, out, opt, c.lengths);
        return estimate_reweight_broadcast(est, *c.layout, rewards, adv, anchor,
                                           std::span<const std::int64_t>(c.token_lengths, c.n),
                                           c.L, out, opt, c.lengths);
      },
      c.step->estimator.value, *c.anchor);
}

}  // namespace hadw::python
