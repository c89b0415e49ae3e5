// xtensor interop (opt-in; needs xtensor 0.24+ on the include path): hadw::estimate,
// hadw::reweight, hadw::as_span and hadw::as_matrix accept xtensor containers directly, zero-copy.
//
//   xt::xtensor<float, 2> rewards({B, G}), adv({B, G});
//   hadw::estimate(hadw::grpo{}, rewards, adv);       // row k = prompt k's group
//   hadw::reweight(adv, rewards, anchor);
//
// What is accepted: xt::xtensor, xt::xarray, xt::xtensor_fixed, the adaptors of xt::adapt, and
// strided views (xt::view with ranges/all, xt::strided_view) whose elements happen to be
// row-major contiguous, e.g. a range of whole rows. 1-D containers are viewed as 1 x N (as_span;
// estimate/reweight without a layout need a 2-D {B, G} shape).
// What is rejected, and how:
//   * containers declared column-major (xt::layout_type::column_major) -> static_assert;
//   * lazy expressions (a + b, xt::view with keep/drop, ...) that have no storage -> static_assert:
//     evaluate with xt::eval first (hadw never copies behind your back);
//   * a rank known at compile time other than 1 or 2 -> static_assert;
//   * at run time: a dynamic-layout container laid out column-major, a view whose rows are not
//     contiguous (a column range), rank > 2 of an xarray -> hadw::error naming the argument.
//     Handling them would need a gather.
#pragma once

#include <hadw/interop/matrix.hpp>

#include <xtensor/xexpression.hpp>
#include <xtensor/xlayout.hpp>
#include <xtensor/xutils.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <tuple>
#include <type_traits>

namespace hadw {

namespace detail {
/// Any xtensor expression: containers, adaptors, views, lazy functions.
template <class E>
concept xtensor_expression = xt::is_xexpression<E>::value;

/// The rank of E when its shape type fixes it (xt::xtensor<T, N>, fixed shapes), else -1.
template <class E>
constexpr int xtensor_static_rank() {
  using shape = typename E::shape_type;
  if constexpr (requires { std::tuple_size<shape>::value; })
    return static_cast<int>(std::tuple_size<shape>::value);
  else
    return -1;
}
}  // namespace detail

template <detail::xtensor_expression E>
struct matrix_adaptor<E> {
  using value_type = typename E::value_type;

  template <class Self>
  [[nodiscard]] static auto view(Self& e, const char* name) {
    static_assert(xt::has_data_interface<E>::value && xt::has_strides<E>::value,
                  "hadw: this xtensor expression has no storage to view (a lazy expression or a "
                  "non-strided view); evaluate it with xt::eval or assign it to an xt::xtensor "
                  "first (hadw never copies behind your back)");
    static_assert(E::static_layout != xt::layout_type::column_major,
                  "hadw: xtensor input must be row-major (xt::layout_type::row_major, the "
                  "default): in a column-major {B, G} container each group is strided");
    constexpr int static_rank = detail::xtensor_static_rank<E>();
    static_assert(static_rank == -1 || static_rank == 1 || static_rank == 2,
                  "hadw: xtensor input must be 1-D or 2-D ({B, G})");

    const auto& shape = e.shape();
    const auto& strides = e.strides();
    const auto rank = static_cast<int>(e.dimension());
    detail::require(rank == 1 || rank == 2, name, ": 1-D or 2-D {B, G} required, got ", rank,
                    " dimensions");
    const auto rows = rank == 2 ? static_cast<std::int64_t>(shape[0]) : std::int64_t{1};
    const auto cols = static_cast<std::int64_t>(shape[static_cast<std::size_t>(rank - 1)]);
    // xtensor gives extent-1 axes stride 0, so an axis only constrains when it has extent > 1.
    const auto inner = static_cast<std::int64_t>(strides[static_cast<std::size_t>(rank - 1)]);
    const auto outer = rank == 2 ? static_cast<std::int64_t>(strides[0]) : cols;
    detail::require((cols <= 1 || inner == 1) && (rows <= 1 || outer == cols), name,
                    ": row-major contiguous storage required (strides {cols, 1}), got shape {",
                    rows, ", ", cols, "} with strides {", outer, ", ", inner,
                    "}; evaluate it into a row-major xt::xtensor first");
    auto* first = e.data() + e.data_offset();
    using element = std::remove_pointer_t<decltype(first)>;
    return matrix_view<element>{std::span<element>(first, static_cast<std::size_t>(rows * cols)),
                                rows, cols, rank};
  }
};

}  // namespace hadw
