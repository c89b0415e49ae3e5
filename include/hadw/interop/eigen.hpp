// Eigen interop (opt-in; needs Eigen 3.3+ on the include path): hadw::estimate, hadw::reweight,
// hadw::as_span and hadw::as_matrix accept Eigen dense objects directly, zero-copy.
//
//   Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rewards(B, G), adv(B, G);
//   hadw::estimate(hadw::grpo{}, rewards, adv);       // row k = prompt k's group
//   hadw::reweight(adv, rewards, anchor);
//
// What is accepted (compile time unless said otherwise):
//   * row-major matrices and arrays, Maps of them, Refs, row blocks (m.middleRows(a, n)): any
//     object with storage (DirectAccessBit), row-major order and inner stride 1;
//   * vectors of either storage order (their elements are contiguous anyway);
//   * m.transpose() of column-major G x B storage (the transpose of column-major is row-major).
// What is rejected, and how:
//   * column-major matrices            -> static_assert: each group would be strided in memory;
//   * expressions without storage      -> static_assert: evaluate into a Matrix first (a copy hadw
//                                         will not make behind your back);
//   * inner stride not 1 at compile time -> static_assert;
//   * rows that are padded at run time (outerStride() != cols(), e.g. m.leftCols(k) of a
//     row-major matrix) -> hadw::error naming the argument. Handling them would need a gather.
#pragma once

#include <hadw/interop/matrix.hpp>

#include <Eigen/Core>

#include <cstdint>
#include <span>
#include <type_traits>

namespace hadw {

namespace detail {
/// Any Eigen dense object: Matrix, Array, Map, Ref, Block, Transpose, expressions.
template <class M>
concept eigen_dense = std::is_base_of_v<Eigen::DenseBase<M>, M>;
}  // namespace detail

template <detail::eigen_dense M>
struct matrix_adaptor<M> {
  using value_type = typename M::Scalar;

  template <class Self>
  [[nodiscard]] static auto view(Self& m, const char* name) {
    static_assert((M::Flags & Eigen::DirectAccessBit) != 0,
                  "hadw: this Eigen expression has no storage to view; evaluate it into an "
                  "Eigen::Matrix<T, Dynamic, Dynamic, RowMajor> first (hadw never copies "
                  "behind your back)");
    static_assert(M::IsRowMajor || M::IsVectorAtCompileTime,
                  "hadw: Eigen input must be row-major (Eigen::Matrix<T, Dynamic, Dynamic, "
                  "Eigen::RowMajor> or a Map/Ref of one): in a column-major B x G matrix each "
                  "group is strided. Holding G x B column-major storage? pass m.transpose()");
    static_assert(M::InnerStrideAtCompileTime == 1,
                  "hadw: Eigen input must have inner stride 1 known at compile time (use "
                  "Eigen::OuterStride<> rather than Eigen::Stride<Dynamic, Dynamic>)");
    using element = std::remove_pointer_t<decltype(m.data())>;
    const auto rows = static_cast<std::int64_t>(m.rows());
    const auto cols = static_cast<std::int64_t>(m.cols());
    if constexpr (!M::IsVectorAtCompileTime) {
      const auto outer = static_cast<std::int64_t>(m.outerStride());
      detail::require(rows <= 1 || outer == cols, name,
                      ": contiguous rows required (outerStride() == cols()), got outerStride() = ",
                      outer, " vs cols() = ", cols,
                      "; copy the block into a row-major matrix first");
    }
    return matrix_view<element>{std::span<element>(m.data(), static_cast<std::size_t>(rows * cols)),
                                rows, cols, 2};
  }
};

}  // namespace hadw
