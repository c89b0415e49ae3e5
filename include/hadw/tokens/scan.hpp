// The per-row reverse scans of the token-level estimators (verl's GAE and REINFORCE++), written
// once as HADW_HOST_DEVICE functions: the CPU loops over rows and the CUDA kernels (one thread per
// row) call the same code. Rows are [L] slices of row-major [B, L] arrays; a token whose mask is
// 0 (prompt padding, tool observations) is skipped *inside* the scan, as verl 0.9.1 does: the
// running values are carried across it unchanged. Equations and sources: docs/math.md,
// "Token-level estimators".
#pragma once

#include <hadw/config.hpp>
#include <hadw/error.hpp>

#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace hadw {

/// hadw::gae's options: verl's algorithm.gamma and algorithm.lam (both in [0, 1]).
struct gae_options {
  double gamma = 1.0;
  double lambda = 1.0;
  bool whiten = true;  ///< verl whitens the advantages over the valid tokens (masked_whiten)
};

/// hadw::reinforce_pp's options: verl's algorithm.gamma (in [0, 1]).
struct reinforce_pp_options {
  double gamma = 1.0;
};

}  // namespace hadw

namespace hadw::detail {

/// Whether token t of a row is valid (uint8 or bool masks; any non-zero byte is valid).
template <class M>
[[nodiscard]] HADW_HOST_DEVICE inline bool token_valid(const M* mask, std::int64_t t) {
  return mask[t] != M{};
}

/// Generalised advantage estimation (Schulman et al. 2016, eq. 16) over one row, as verl's
/// compute_gae_advantage_return (core_algos.py, 0.9.1):
///   delta_t = r_t + gamma V_next - V_t,   A_t = delta_t + gamma lambda A_next,
/// where V_next and A_next are those of the next *valid* token (0 past the end). A masked token
/// changes neither and gets the carried A (verl: `lastgaelam_ * m + (1 - m) * lastgaelam`).
/// returns_t = A_t + V_t on every token (before any whitening), as verl's `advantages + values`.
/// Accumulates in double, in verl's order of operations. Reads r_t and V_t before writing token t,
/// so an output may be exactly an input (in place).
template <class T, class M, class U>
HADW_HOST_DEVICE void gae_row(const T* rewards, const T* values, const M* mask, std::int64_t L,
                              double gamma, double lambda, U* advantages, U* returns) {
  const double gl = gamma * lambda;  // verl: gamma * lam * lastgaelam, left to right
  double next_value = 0.0, last = 0.0;
  for (std::int64_t t = L - 1; t >= 0; --t) {
    const double r = static_cast<double>(rewards[t]), v = static_cast<double>(values[t]);
    if (token_valid(mask, t)) {
      const double delta = r + gamma * next_value - v;
      last = delta + gl * last;
      next_value = v;
    }
    advantages[t] = static_cast<U>(last);
    returns[t] = static_cast<U>(last + v);
  }
}

/// REINFORCE++'s discounted token returns over one row, as verl's
/// compute_reinforce_plus_plus_outcome_advantage: G_t = r_t + gamma G_next on valid tokens, with
/// G_next the return of the next valid token (masked tokens carry it through unchanged, "so
/// rewards propagate past observation spans"); a masked token's return is 0.
template <class T, class M, class U>
HADW_HOST_DEVICE void discounted_return_row(const T* rewards, const M* mask, std::int64_t L,
                                            double gamma, U* returns) {
  double running = 0.0;
  for (std::int64_t t = L - 1; t >= 0; --t) {
    const double g = static_cast<double>(rewards[t]) + gamma * running;
    if (token_valid(mask, t)) {
      running = g;
      returns[t] = static_cast<U>(g);
    } else {
      returns[t] = U{};
    }
  }
}

/// What the checking pass finds in one row (or a run of rows, merged in row order): the valid
/// tokens, and the first non-finite input (which array, where, what).
struct token_row_check {
  std::int64_t valid = 0;
  std::int64_t bad_row = -1, bad_col = -1;
  int bad_input = 0;  ///< index into the call's list of input names
  double bad_value = 0.0;

  HADW_HOST_DEVICE void merge(const token_row_check& o) {
    valid += o.valid;
    if (bad_row < 0 && o.bad_row >= 0) {
      bad_row = o.bad_row;
      bad_col = o.bad_col;
      bad_input = o.bad_input;
      bad_value = o.bad_value;
    }
  }
};

/// Counts row `row`'s valid tokens (once: call with count_valid on the first input only) and
/// records the first non-finite element of `x` (input number `input`). Every element is read,
/// masked or not: verl multiplies masked tokens by 0, and a NaN there poisons its scan.
template <class T, class M>
HADW_HOST_DEVICE void check_row(token_row_check& c, const T* x, const M* mask, std::int64_t L,
                                std::int64_t row, int input, bool count_valid) {
  for (std::int64_t t = 0; t < L; ++t) {
    if (count_valid && token_valid(mask, t)) ++c.valid;
    const double v = static_cast<double>(x[t]);
    if (!(v - v == 0.0) && c.bad_row < 0) {  // NaN or +-Inf (isfinite, also on the device)
      c.bad_row = row;
      c.bad_col = t;
      c.bad_input = input;
      c.bad_value = v;
    }
  }
}

/// Throws the checking pass's first failure: a non-finite input (named from `inputs`, indexed
/// [row, column]) or fewer than `min_valid` valid tokens (whitening needs 2, as verl's masked_var).
inline void require_token_rows(const token_row_check& c, std::initializer_list<const char*> inputs,
                               std::int64_t min_valid) {
  if (c.bad_row >= 0) [[unlikely]]
    throw error(concat(inputs.begin()[c.bad_input], "[", c.bad_row, ", ", c.bad_col,
                       "] finite required, got ", c.bad_value));
  require(c.valid >= min_valid, "mask: at least ", min_valid,
          " valid tokens required to whiten over the batch (verl's masked_var raises on 0 or "
          "1), got ",
          c.valid);
}

/// gamma and lambda are probabilities of continuing: finite and in [0, 1].
inline void require_discount(double x, const char* name) {
  require(x >= 0.0 && x <= 1.0, name, " in [0, 1] required, got ", x);
}

}  // namespace hadw::detail
