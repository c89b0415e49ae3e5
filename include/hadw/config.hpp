// hadw — History-Aware Adaptive Difficulty Weighting for group-relative RL advantages.
// Version, portability macros and feature switches shared by every header.
#pragma once

#define HADW_VERSION_MAJOR 0
#define HADW_VERSION_MINOR 1
#define HADW_VERSION_PATCH 0

// One formula serves the CPU loops and the CUDA kernels: per-element math is written as
// HADW_HOST_DEVICE functions and never duplicated per backend.
#if defined(__CUDACC__)
#define HADW_HOST_DEVICE __host__ __device__
#else
#define HADW_HOST_DEVICE
#endif

// Hot-loop invariants (checked only in debug builds; argument checks always throw hadw::error).
#if defined(NDEBUG)
#define HADW_ASSERT(cond) ((void)0)
#else
#include <cassert>
#define HADW_ASSERT(cond) assert(cond)
#endif

#if defined(HADW_ENABLE_OPENMP) && defined(_OPENMP)
#define HADW_HAS_OPENMP 1
#else
#define HADW_HAS_OPENMP 0
#endif
