// Execution backends: tag types passed first, as an execution policy is. Every entry point
// (estimate, reweight, the fused calls, broadcast_to_tokens) validates the shapes, then runs
// backend::traits<Tag>::entry. A backend is a tag plus a traits specialisation.
#pragma once

#include <type_traits>

namespace hadw::backend {

/// The default backend: the calling thread (OpenMP across groups/rows when HADW_ENABLE_OPENMP).
/// Its traits are in hadw/backend/cpu/entry.hpp; `cuda{stream}`'s in hadw/backend/cuda.cuh.
struct cpu {};

/// What an entry point reads of a backend:
///   host_memory          whether spans point to host memory (host-side reads of inputs allowed)
///   name                 for messages
///   layout               the group layout type its calls take
///   grouped<T>           the grouped span type reweight takes
///   entry                the static functions the entry points dispatch to
///   token_scans          those of the token-level estimators (api/token_scans.hpp)
template <class Backend>
struct traits;

/// A backend tag with traits.
template <class B>
concept backend_tag = requires {
  traits<std::remove_cvref_t<B>>::host_memory;
  typename traits<std::remove_cvref_t<B>>::entry;
};

}  // namespace hadw::backend
