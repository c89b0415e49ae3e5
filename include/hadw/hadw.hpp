// hadw umbrella header: everything that needs no third-party library, in pipeline order:
// rewards -> group statistics -> advantages -> HA-DW weights (the anchor, the step) -> tokens.
//
// Left out (opt-in): hadw/backend/cuda.cuh (HADW_ENABLE_CUDA), hadw/interop/eigen.hpp,
// hadw/interop/xtensor.hpp, hadw/interop/mpi.hpp.
#pragma once

#include <hadw/config.hpp>
#include <hadw/error.hpp>
#include <hadw/fwd.hpp>
#include <hadw/layout.hpp>
// group statistics
#include <hadw/stats/readers.hpp>
#include <hadw/stats/group.hpp>
#include <hadw/stats/order.hpp>
#include <hadw/stats/batch.hpp>
#include <hadw/stats/summary.hpp>
#include <hadw/concepts.hpp>
// advantages
#include <hadw/estimators.hpp>
// HA-DW weights
#include <hadw/weighting/difficulty.hpp>
#include <hadw/weighting/phi.hpp>
#include <hadw/anchor.hpp>
#include <hadw/step/observation.hpp>
#include <hadw/step/options.hpp>
#include <hadw/step/diagnostics.hpp>
#include <hadw/step/checks.hpp>
#include <hadw/step/step.hpp>
// entry points (validate, then dispatch on the backend tag)
#include <hadw/backend/tags.hpp>
#include <hadw/backend/cpu.hpp>
#include <hadw/api/estimate.hpp>
#include <hadw/api/reweight.hpp>
#include <hadw/api/tokens.hpp>
#include <hadw/api/token_scans.hpp>
#include <hadw/api/fused.hpp>
// The field's difficulty weightings (hadw::weigh) and SPO's per-prompt tracker.
#include <hadw/weighting/focal.hpp>
#include <hadw/weighting/lead.hpp>
#include <hadw/weighting/question.hpp>
#include <hadw/weighting/static_difficulty.hpp>
#include <hadw/weighting/length.hpp>
#include <hadw/weighting/prompt_phi.hpp>
#include <hadw/anchor/prompt_tracker.hpp>
#include <hadw/api/weigh.hpp>
#include <hadw/api/spo.hpp>
#include <hadw/api/multi_reward.hpp>
#include <hadw/api/remax.hpp>
// built on the above
#include <hadw/objectives.hpp>
#include <hadw/theory.hpp>
