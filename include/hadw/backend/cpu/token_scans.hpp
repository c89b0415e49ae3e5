// The CPU backend's token-level estimators (GAE, REINFORCE++, ReMax, the optimal token
// baseline): what hadw::gae / reinforce_pp / remax_tokens / optimal_token_baseline run under
// backend::cpu once the shapes are checked. A read-only checking pass first (nothing is written
// on error), then the per-row scans of tokens/scan.hpp (remax.hpp, otb.hpp) and the two-pass
// whitening of tokens/whiten.hpp. Rows are independent: OpenMP runs them in fixed blocks
// (HADW_ENABLE_OPENMP), so any thread count gives the same bits.
#pragma once

#include <hadw/backend/cpu/readers.hpp>
#include <hadw/backend/tags.hpp>
#include <hadw/layout.hpp>
#include <hadw/tokens/otb.hpp>
#include <hadw/tokens/remax.hpp>
#include <hadw/tokens/scan.hpp>
#include <hadw/tokens/whiten.hpp>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <span>
#include <vector>

namespace hadw::detail::cpu {

/// Whitens rows [0, B) of x in place, given pass 1's total (tokens/whiten.hpp).
template <class M, class U>
void whiten_rows(const M* mask, std::int64_t B, std::int64_t L, U* x, const masked_sum& total,
                 bool zero_masked, bool parallel) {
  const double mean = token_whitening::mean_of(total);
  const auto sq = fold_rows<masked_sum>(B, parallel, [&](std::int64_t r) {
    return row_square_sum(x + r * L, mask + r * L, L, mean);
  });
  const token_whitening w = token_whitening::make(mean, sq);
  for_chunks(B, 64, parallel, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) whiten_row(x + r * L, mask + r * L, L, w, zero_masked);
  });
}

struct token_scan_entry {
  template <class T, class M>
  static void gae(backend::cpu, std::span<const T> rewards, std::span<const T> values,
                  std::span<const M> mask, std::int64_t L, std::span<T> advantages,
                  std::span<T> returns, const gae_options& o) {
    const std::int64_t B = static_cast<std::int64_t>(rewards.size()) / L;
    const bool parallel = worth_parallel(B, B * L);
    const T *r = rewards.data(), *v = values.data();
    const M* m = mask.data();
    const auto check = fold_rows<token_row_check>(B, parallel, [&](std::int64_t i) {
      token_row_check c;
      check_row(c, r + i * L, m + i * L, L, i, 0, true);
      check_row(c, v + i * L, m + i * L, L, i, 1, false);
      return c;
    });
    require_token_rows(check, {"rewards", "values"}, o.whiten ? 2 : 0);
    T *a = advantages.data(), *g = returns.data();
    const auto total = fold_rows<masked_sum>(B, parallel, [&](std::int64_t i) {
      gae_row(r + i * L, v + i * L, m + i * L, L, o.gamma, o.lambda, a + i * L, g + i * L);
      return o.whiten ? row_sum(a + i * L, m + i * L, L) : masked_sum{};
    });
    if (o.whiten) whiten_rows(m, B, L, a, total, false, parallel);
  }

  template <class T, class M>
  static void reinforce_pp(backend::cpu, std::span<const T> rewards, std::span<const M> mask,
                           std::int64_t L, std::span<T> advantages, std::span<T> returns,
                           const reinforce_pp_options& o) {
    const std::int64_t B = static_cast<std::int64_t>(rewards.size()) / L;
    const bool parallel = worth_parallel(B, B * L);
    const T* r = rewards.data();
    const M* m = mask.data();
    const auto check = fold_rows<token_row_check>(B, parallel, [&](std::int64_t i) {
      token_row_check c;
      check_row(c, r + i * L, m + i * L, L, i, 0, true);
      return c;
    });
    require_token_rows(check, {"rewards"}, 2);
    T *a = advantages.data(), *g = returns.data();
    const auto total = fold_rows<masked_sum>(B, parallel, [&](std::int64_t i) {
      discounted_return_row(r + i * L, m + i * L, L, o.gamma, g + i * L);
      std::copy(g + i * L, g + (i + 1) * L, a + i * L);
      return row_sum(a + i * L, m + i * L, L);
    });
    whiten_rows(m, B, L, a, total, true, parallel);
  }

  /// One thread (the scan is memory-bound and short): the finite checks in the order
  /// token_rewards, baselines, mask (float masks only), then remax_row per row.
  template <class T, class M, class U>
  static void remax_tokens(backend::cpu, std::span<const T> token_rewards, std::span<const M> mask,
                           std::int64_t L, std::span<const T> baselines, std::span<U> advantages,
                           std::span<U> returns) {
    require_finite_values(token_rewards, "token_rewards");
    require_finite_values(baselines, "baselines");
    if constexpr (std::floating_point<M>) require_finite_values(mask, "mask");
    const auto B = static_cast<std::int64_t>(baselines.size());
    for (std::int64_t i = 0; i < B; ++i)
      remax_row(token_rewards.data() + i * L, mask.data() + i * L, L,
                static_cast<double>(baselines[static_cast<std::size_t>(i)]),
                advantages.data() + i * L, returns.data() + i * L);
  }

  /// One thread: the groups' columns are short sums over a handful of responses; a scratch of
  /// one double per response of the largest group is the call's only allocation.
  template <class T, class M>
  static void optimal_token_baseline(backend::cpu, const group_layout& layout,
                                     std::span<const T> rewards, std::span<const M> mask,
                                     std::span<const T> old_log_probs,
                                     std::span<const T> sum_pi_squared,
                                     std::span<const T> is_weights, std::int64_t L,
                                     std::span<T> advantages, std::span<T> returns,
                                     const otb_options& o) {
    const std::int64_t B = static_cast<std::int64_t>(rewards.size()) / L;
    const M* m = mask.data();
    const T *r = rewards.data(), *lp = old_log_probs.data(), *sp = sum_pi_squared.data();
    const T* rho = is_weights.empty() ? nullptr : is_weights.data();
    const auto check = fold_rows<token_row_check>(B, false, [&](std::int64_t i) {
      token_row_check c;
      check_row(c, r + i * L, m + i * L, L, i, 0, true);
      check_row(c, lp + i * L, m + i * L, L, i, 1, false);
      check_row(c, sp + i * L, m + i * L, L, i, 2, false);
      if (rho) check_row(c, rho + i * L, m + i * L, L, i, 3, false);
      return c;
    });
    require_token_rows(check, {"rewards", "old_log_probs", "sum_pi_squared", "is_weights"}, 0);

    T *a = advantages.data(), *g = returns.data();
    for (std::int64_t i = 0; i < B; ++i) otb_return_row(r + i * L, m + i * L, L, g + i * L);
    std::int64_t largest = 0;
    for (std::int64_t k = 0; k < layout.num_groups(); ++k)
      largest = std::max(largest, layout.size(k));
    std::vector<double> W(static_cast<std::size_t>(largest));
    for (std::int64_t k = 0; k < layout.num_groups(); ++k) {
      const std::int64_t j0 = layout.begin(k), n = layout.size(k);
      const auto row = [&](std::int64_t member) { return layout.index(j0 + member); };
      otb_zero_tail tail{};
      if (o.handle_zero_tail) {
        otb_zero_tail_finder finder;
        for (std::int64_t member = 0; member < n; ++member) {
          std::int64_t len = 0;
          for (std::int64_t t = 0; t < L; ++t) len += token_valid(m + row(member) * L, t);
          finder.add(len);
        }
        tail = finder.result();
      }
      std::fill(W.begin(), W.end(), 0.0);
      for (std::int64_t t = 0; t < L; ++t) {
        double num = 0.0, den = 0.0;
        for (std::int64_t member = 0; member < n; ++member) {
          const std::int64_t e = row(member) * L + t;
          if (!token_valid(m, e)) continue;
          W[member] += otb_token_weight(static_cast<double>(lp[e]), static_cast<double>(sp[e]),
                                        rho ? static_cast<double>(rho[e]) : 1.0);
          num += static_cast<double>(g[e]) * W[member];
          den += W[member];
        }
        const double b = otb_baseline(num, den, n, o.eps);
        for (std::int64_t member = 0; member < n; ++member) {
          const std::int64_t e = row(member) * L + t;
          const double base = tail.zeroes(member, t) ? 0.0 : b;
          a[e] = token_valid(m, e) ? static_cast<T>(static_cast<double>(g[e]) - base) : T{};
        }
      }
    }
  }
};

}  // namespace hadw::detail::cpu
