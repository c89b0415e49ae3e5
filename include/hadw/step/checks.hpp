// The error a failed reward check stands for: one message per failure kind, shared by every
// backend (the CUDA backend replays its flagged inputs through the CPU checks to name them).
#pragma once

#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/step/observation.hpp>
#include <hadw/weighting/phi.hpp>

namespace hadw::detail {

/// Throws the hadw::error a failure stands for, naming the offending reward or group.
[[noreturn]] inline void raise(const reward_failure& f, const group_layout& layout,
                               const reward_range& range) {
  using kind = reward_failure::kind;
  switch (f.what) {
    case kind::nan:
      throw error(concat("rewards[", f.where,
                         "] is NaN; finite rewards required (or nan_policy::unscorable to "
                         "exclude it)"));
    case kind::non_finite:
      throw error(concat("rewards[", f.where, "] is ", f.value,
                         "; finite rewards with |reward| <= max_abs_reward (1e15) required"));
    case kind::out_of_range:
      throw error(concat("rewards[", f.where, "] = ", f.value, " outside reward_range [",
                         range.low, ", ", range.high, "]"));
    case kind::singleton:
      throw error(concat("group ", f.where, " (responses [", layout.begin(f.where), ", ",
                         layout.end(f.where),
                         ")) has a single valid response; groups of >= 2 required, or choose "
                         "singleton_rule::zero / ::raw_reward"));
    case kind::none: break;
  }
  throw error("internal: raise() without a failure");
}

}  // namespace hadw::detail
