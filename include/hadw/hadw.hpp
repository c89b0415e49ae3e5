// hadw umbrella header: everything that needs no third-party library.
//
// Left out (opt-in): hadw/backend/cuda.cuh (HADW_ENABLE_CUDA), hadw/interop/eigen.hpp,
// hadw/interop/xtensor.hpp, hadw/interop/mpi.hpp.
#pragma once

#include <hadw/config.hpp>
#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/stats.hpp>
#include <hadw/batch_stats.hpp>
#include <hadw/concepts.hpp>
#include <hadw/estimators.hpp>
#include <hadw/estimate.hpp>
#include <hadw/compat.hpp>
#include <hadw/tokens.hpp>
#include <hadw/weighting.hpp>
#include <hadw/beliefs.hpp>
#include <hadw/anchor.hpp>
#include <hadw/step/observation.hpp>
#include <hadw/step/options.hpp>
#include <hadw/step/diagnostics.hpp>
#include <hadw/step/step.hpp>
#include <hadw/reweight.hpp>
#include <hadw/fused.hpp>
#include <hadw/objectives.hpp>
#include <hadw/theory.hpp>
