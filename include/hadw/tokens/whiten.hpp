// verl's masked_whiten over the valid tokens of a [B, L] batch (verl/utils/torch_functional.py,
// 0.9.1), shared by the token-level estimators and their backends:
//   mean = S / (n + 1e-8),  var = Q / (n + 1e-8) * n / (n - 1),  x -> (x - mean) / sqrt(var + 1e-8)
// with S = sum of the valid x, Q = sum of the valid (x - mean)^2 (two passes, as verl), n the
// valid tokens (n >= 2: verl raises on 0 and 1). The 1e-8 in masked_mean's denominators is kept:
// it moves the result by ~1e-8 / n relative, visible against verl in double.
//
// Why not stats/batch.hpp's batch_stats: it merges response-level *centred* moments in one pass
// (sum w c^2 - W mu^2), accurate only because group-centred values have a tiny mean; GAE's
// advantages and REINFORCE++'s returns are not centred, so that form would cancel.
//
// Numeric contract: each row's partial sums are taken in column order, in double, over the values
// as stored in the output type; rows merge in fixed blocks of detail::block_groups rows, then the
// blocks in order (fold_rows), on one thread or many, on the CPU or from the CUDA kernels' rows.
#pragma once

#include <hadw/config.hpp>
#include <hadw/detail/blocks.hpp>
#include <hadw/tokens/scan.hpp>

#include <cmath>
#include <cstdint>

namespace hadw::detail {

/// verl's masked_whiten eps, and masked_mean's.
inline constexpr double token_whiten_eps = 1e-8;

/// A sum over valid tokens and how many there were; merged in row order.
struct masked_sum {
  double sum = 0.0;
  std::int64_t count = 0;
  HADW_HOST_DEVICE void merge(const masked_sum& o) {
    sum += o.sum;
    count += o.count;
  }
};

/// Pass 1 over one row: sum of the valid x.
template <class M, class U>
[[nodiscard]] HADW_HOST_DEVICE masked_sum row_sum(const U* x, const M* mask, std::int64_t L) {
  masked_sum s;
  for (std::int64_t t = 0; t < L; ++t)
    if (token_valid(mask, t)) {
      s.sum += static_cast<double>(x[t]);
      ++s.count;
    }
  return s;
}

/// Pass 2 over one row: sum of the valid (x - mean)^2.
template <class M, class U>
[[nodiscard]] HADW_HOST_DEVICE masked_sum row_square_sum(const U* x, const M* mask, std::int64_t L,
                                                         double mean) {
  masked_sum s;
  for (std::int64_t t = 0; t < L; ++t)
    if (token_valid(mask, t)) {
      const double c = static_cast<double>(x[t]) - mean;
      s.sum += c * c;
      ++s.count;
    }
  return s;
}

/// The affine map masked_whiten applies, from the two passes' totals.
struct token_whitening {
  double mean = 0.0;
  double inv_std = 1.0;

  [[nodiscard]] HADW_HOST_DEVICE static double mean_of(const masked_sum& s) {
    return s.sum / (static_cast<double>(s.count) + token_whiten_eps);
  }
  /// From the squares' total (count >= 2, checked before anything is written).
  [[nodiscard]] HADW_HOST_DEVICE static token_whitening make(double mean, const masked_sum& sq) {
    const double n = static_cast<double>(sq.count);
    const double var = sq.sum / (n + token_whiten_eps) * (n / (n - 1.0));
    return {mean, 1.0 / std::sqrt(var + token_whiten_eps)};
  }
  [[nodiscard]] HADW_HOST_DEVICE double operator()(double x) const { return (x - mean) * inv_std; }
};

/// One token whitened: masked tokens become 0 when `zero_masked` (REINFORCE++'s
/// `* response_mask`), or are whitened like the others (GAE: verl does not mask them).
template <class U>
[[nodiscard]] HADW_HOST_DEVICE U whiten_token(U x, bool valid, const token_whitening& w,
                                              bool zero_masked) {
  return zero_masked && !valid ? U{} : static_cast<U>(w(static_cast<double>(x)));
}

/// Applies `w` to row x in place (whiten_token on each token).
template <class M, class U>
HADW_HOST_DEVICE void whiten_row(U* x, const M* mask, std::int64_t L, const token_whitening& w,
                                 bool zero_masked) {
  for (std::int64_t t = 0; t < L; ++t)
    x[t] = whiten_token(x[t], token_valid(mask, t), w, zero_masked);
}

/// The total of row_fn(row) over rows [0, B) in the fixed association of reduce_blocks (blocks of
/// block_groups rows): the CPU backend folds its rows with it, the CUDA backend folds the rows'
/// partials it copied back, so both give the same bits.
template <class Partial, class RowFn>
[[nodiscard]] Partial fold_rows(std::int64_t B, bool parallel, RowFn&& row_fn) {
  return reduce_blocks<Partial>(B, parallel, [&](std::int64_t r0, std::int64_t r1, Partial& p) {
    for (std::int64_t r = r0; r < r1; ++r) p.merge(row_fn(r));
  });
}

}  // namespace hadw::detail
