// Execution backends: tag types passed first, as an execution policy is.
#pragma once

#include <type_traits>

namespace hadw::backend {

/// The default backend: the calling thread (OpenMP across groups/rows when HADW_ENABLE_OPENMP).
struct cpu {};

/// What an entry point needs to know of a backend. Specialised per backend; `cuda` is declared
/// in hadw/backend/cuda.cuh (HADW_ENABLE_CUDA).
template <class Backend>
struct traits;

template <>
struct traits<cpu> {
  static constexpr bool host_memory = true;  ///< spans point to host memory
  static constexpr const char* name = "cpu";
};

/// A backend tag with traits.
template <class B>
concept backend_tag = requires { traits<std::remove_cvref_t<B>>::host_memory; };

static_assert(backend_tag<cpu>);

}  // namespace hadw::backend
