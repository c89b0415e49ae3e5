// The bridge every interop header plugs into: a foreign 2-D container -> a row-major, contiguous
// view of its own storage (no copy), and hadw::estimate / hadw::reweight for such containers.
//
// This header knows no third-party library. hadw/interop/eigen.hpp and hadw/interop/xtensor.hpp
// each specialise hadw::matrix_adaptor for their types; everything below is written once.
#pragma once

#include <hadw/anchor/anchor.hpp>
#include <hadw/error.hpp>
#include <hadw/api/estimate.hpp>
#include <hadw/estimators/named.hpp>
#include <hadw/layout.hpp>
#include <hadw/api/reweight.hpp>

#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

namespace hadw {

/// A zero-copy, row-major, contiguous view of a B x G batch: row k is prompt k's group.
/// `values` aliases the container's storage; values[k * cols + i] is element (k, i).
template <class T>
struct matrix_view {
  std::span<T> values;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  int rank = 2;  ///< 1 for a 1-D container (viewed as 1 x N), 2 otherwise
};

/// Customisation point: specialised (by constrained partial specialisation) for the container
/// families an interop header supports. A specialisation provides
///   using value_type = ...;                                element type, without const
///   template <class Self> static matrix_view<E> view(Self& m, const char* name);
/// where Self is M or const M and E is the element type as reachable through Self (const for
/// read-only storage). view() rejects at compile time what can never be viewed (column-major
/// storage, lazy expressions) and throws hadw::error, naming `name`, for what is only known at
/// run time (padded rows, a runtime layout that is not row-major, rank > 2).
template <class M>
struct matrix_adaptor;

/// A container some included interop header knows how to view.
template <class M>
concept matrix_like = requires { typename matrix_adaptor<std::remove_cvref_t<M>>::value_type; };

/// The row-major view of `m` (see matrix_adaptor). Const containers give const views.
template <matrix_like M>
[[nodiscard]] auto as_matrix(M& m, const char* name = "matrix") {
  return matrix_adaptor<std::remove_cv_t<M>>::view(m, name);
}

/// The flat row-major storage of `m` as a span: the bridge to every span entry point
/// (ragged layouts, broadcast_to_tokens, estimate_and_reweight). No copy.
template <matrix_like M>
[[nodiscard]] auto as_span(M& m, const char* name = "matrix") {
  return as_matrix(m, name).values;
}

namespace detail {

template <class T>
void require_batch_shape(const matrix_view<T>& v, const char* name) {
  require(v.rank == 2, name, ": a 2-D {B, G} container required (rows are the groups), got a 1-D one;"
          " for flat data pass as_span(", name, ") with a group_layout");
  require(v.rows >= 1 && v.cols >= 1, name, ": shape {B, G} with B >= 1 and G >= 1 required, got {",
          v.rows, ", ", v.cols, "}");
}

template <class A, class R>
void require_same_shape(const matrix_view<A>& a, const matrix_view<R>& r, const char* a_name,
                        const char* r_name) {
  require(a.rows == r.rows && a.cols == r.cols, a_name, " shape == ", r_name,
          " shape required, got {", a.rows, ", ", a.cols, "} vs {", r.rows, ", ", r.cols, "}");
}

template <class T>
inline constexpr bool writable_v = !std::is_const_v<T>;

}  // namespace detail

/// hadw::estimate on a B x G batch held in a matrix-like container: row k is prompt k's group
/// (group_layout::uniform(B, G)). `advantages` is written in place, through the container's own
/// storage; it may be a temporary view (an Eigen block, an xtensor view). `options` spans are in
/// row-major order (size B * G). Builds the B + 1 offsets of a uniform layout per call; a hot
/// loop that wants no allocation builds the layout once and calls
/// estimate(est, layout, as_span(rewards), as_span(advantages)).
template <estimator_like E, matrix_like R, matrix_like A>
void estimate(const E& estimator, const R& rewards, A&& advantages,
              const estimate_options& options = {}) {
  auto adv = as_matrix(advantages, "advantages");
  static_assert(detail::writable_v<typename decltype(adv.values)::element_type>,
                "hadw::estimate: advantages must be writable (a non-const container or view)");
  const auto rew = as_matrix(rewards, "rewards");
  detail::require_batch_shape(rew, "rewards");
  detail::require_same_shape(adv, rew, "advantages", "rewards");
  const auto layout = group_layout::uniform(rew.rows, rew.cols);
  estimate(estimator, layout, rew.values, adv.values, options);
}

/// hadw::reweight on a B x G batch held in matrix-like containers (row k = prompt k's group):
/// multiplies `advantages` in place by Phi and updates the anchor, exactly as the span overload.
template <matrix_like A, matrix_like R, class Belief>
step_stats reweight(A&& advantages, const R& rewards, difficulty_anchor<Belief>& anchor,
                    const reweight_options& options = {}) {
  auto adv = as_matrix(advantages, "advantages");
  static_assert(detail::writable_v<typename decltype(adv.values)::element_type>,
                "hadw::reweight: advantages must be writable (a non-const container or view)");
  const auto rew = as_matrix(rewards, "rewards");
  detail::require_batch_shape(rew, "rewards");
  detail::require_same_shape(adv, rew, "advantages", "rewards");
  const auto layout = group_layout::uniform(rew.rows, rew.cols);
  return reweight(grouped(adv.values, layout), grouped(rew.values, layout), anchor, options);
}

}  // namespace hadw
