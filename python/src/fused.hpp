// The fused step as Python calls it: estimate -> HA-DW reweight (-> token broadcast) in one C++
// call (hadw/api/fused.hpp), validated before anything is written. The typed work is instantiated in
// fused_f32.cpp and fused_f64.cpp, so the two halves compile in parallel.
#pragma once

#include "options.hpp"

#include <hadw/api/fused.hpp>

#include <cstdint>
#include <span>

namespace hadw::python {

/// An estimator and HA-DW options, parsed and validated once (hadw.Step): per call only the
/// arrays change. options.mask stays empty here; each call sets its own.
struct py_step {
  any_estimator estimator;
  reweight_options options;
};

/// One call's arrays, checked by the caller (module.cpp) and typed by run_fused<T>.
struct fused_call {
  const py_step* step = nullptr;
  const group_layout* layout = nullptr;
  anchor_variant* anchor = nullptr;
  const void* rewards = nullptr;
  void* advantages = nullptr;
  std::size_t n = 0;
  std::span<const std::uint8_t> mask;      ///< per response, or empty
  std::span<const std::int64_t> lengths;   ///< per response (OPO, REINFORCE++), or empty
  bool token_stage = false;                ///< whether to write tokens (their pointer may be
                                           ///< null: torch gives an empty tensor none)
  void* tokens = nullptr;                  ///< [n, L] token output
  std::int64_t L = 0;
  const std::uint8_t* token_mask = nullptr;     ///< [n, L], or
  const std::int64_t* token_lengths = nullptr;  ///< [n]
};

/// hadw::estimate_and_reweight / estimate_reweight_broadcast on rewards, advantages and tokens of
/// type T.
template <class T>
step_stats run_fused(const fused_call& c);

extern template step_stats run_fused<float>(const fused_call&);
extern template step_stats run_fused<double>(const fused_call&);

}  // namespace hadw::python
