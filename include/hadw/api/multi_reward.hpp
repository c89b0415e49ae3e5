// hadw::estimate_multi: K rewards per response ([N, K], row-major) -> one advantage per response,
// by GDPO's decoupled normalisation (hadw/estimators/multi_reward.hpp). Each stage is a call of
// hadw::estimate, so the statistics, size-1 rules, mask and NaN handling are estimate's own.
#pragma once

#include <hadw/api/estimate.hpp>
#include <hadw/detail/alias.hpp>
#include <hadw/error.hpp>
#include <hadw/estimators/multi_reward.hpp>
#include <hadw/layout.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace hadw {

/// Scratch memory for estimate_multi: two double columns of N and the one-group layout the
/// batch whitening runs over. Reused across calls, it allocates only when N grows (or changes,
/// for the layout): keep one per trainer, not per step.
class multi_reward_workspace {
 public:
  multi_reward_workspace() = default;
  explicit multi_reward_workspace(std::int64_t n) { prepare(n); }

  /// Sizes the buffers for N responses (N >= 1).
  void prepare(std::int64_t n) {
    const auto un = static_cast<std::size_t>(n);
    if (column_.size() < un) {
      column_.resize(un);
      sum_.resize(un);
    }
    if (batch_.num_responses() != n) batch_ = group_layout::uniform(1, n);
  }
  [[nodiscard]] std::span<double> column(std::int64_t n) { return {column_.data(), size(n)}; }
  [[nodiscard]] std::span<double> sum(std::int64_t n) { return {sum_.data(), size(n)}; }
  /// All N responses as one group: the batch-level stage is an estimator over it.
  [[nodiscard]] const group_layout& batch() const { return batch_; }

 private:
  static std::size_t size(std::int64_t n) { return static_cast<std::size_t>(n); }
  std::vector<double> column_, sum_;
  group_layout batch_ = group_layout::uniform(1, 1);
};

namespace detail {
/// Runs `f`, prefixing any hadw::error with which stage of the multi-reward estimate raised it.
template <class F>
void in_stage(F&& f, auto... where) {
  try {
    f();
  } catch (const error& e) {
    throw error(concat(where..., e.what()));
  }
}
}  // namespace detail

/// GDPO: `rewards` holds N x K values row-major (response i's reward k at rewards[i * K + k], N =
/// layout.num_responses(), K = num_rewards); `weights` K finite weights w_k. Writes to
/// `advantages` (N, caller order):
///   A_k = est.per_reward on column k per group;  s = sum_k w_k A_k (in double, k in order);
///   advantages = est.whitening on s with all N responses as one group.
/// options: mask excludes a response from every statistic (advantage 0); lengths weigh the
/// whitening when it uses them (verl's token-count weighting, compat::verl::gdpo); nan_policy::
/// unscorable drops a NaN reward from its column's statistics and the sum (TRL's nansum) and a row
/// of K NaNs from the whitening (advantage 0). Throws hadw::error before writing `advantages` on
/// K < 1, sizes that disagree, non-finite weights, overlapping buffers, or anything estimate()
/// refuses in a column (the message names the column). Allocates nothing once `ws` has seen N.
template <class P, class W, class T, class U>
void estimate_multi(const gdpo<P, W>& est, const group_layout& layout, std::span<const T> rewards,
                    std::int64_t num_rewards, std::span<const double> weights,
                    std::span<U> advantages, multi_reward_workspace& ws,
                    const estimate_options& options = {}) {
  est.validate();
  detail::require(num_rewards >= 1, "num_rewards >= 1 required (K reward columns), got ",
                  num_rewards);
  const auto n = static_cast<std::size_t>(layout.num_responses());
  const auto K = static_cast<std::size_t>(num_rewards);
  detail::require(rewards.size() % K == 0 && rewards.size() / K == n,
                  "rewards.size() == layout.num_responses() * num_rewards required, got ",
                  rewards.size(), " vs ", n, " * ", K);
  detail::require_size(weights.size(), K, "weights", "num_rewards");
  for (std::size_t k = 0; k < K; ++k)
    detail::require(std::isfinite(weights[k]), "weights[", k, "] finite required, got ",
                    weights[k]);
  detail::require_size(advantages.size(), n, "advantages", "layout.num_responses()");
  detail::require(!detail::overlapping(detail::bytes_of(advantages), detail::bytes_of(rewards)),
                  "advantages and rewards must not overlap in memory (rewards are read "
                  "column by column after advantages are written)");

  ws.prepare(layout.num_responses());
  const auto col = ws.column(layout.num_responses()), sum = ws.sum(layout.num_responses());
  for (std::size_t k = 0; k < K; ++k) {
    for (std::size_t i = 0; i < n; ++i) col[i] = static_cast<double>(rewards[i * K + k]);
    detail::in_stage([&] { estimate(est.per_reward, layout, col, col, options); },
                     "rewards column ", k, ": ");
    const double w = weights[k];
    for (std::size_t i = 0; i < n; ++i) sum[i] = k == 0 ? w * col[i] : sum[i] + w * col[i];
  }
  // A row with no scorable reward is unscorable as a whole (TRL's unscorable_mask): NaN, so that
  // the whitening leaves it out under the same nan_policy.
  if (options.nan == nan_policy::unscorable)
    for (std::size_t i = 0; i < n; ++i) {
      bool none = true;
      for (std::size_t k = 0; k < K && none; ++k)
        none = std::isnan(static_cast<double>(rewards[i * K + k]));
      if (none) sum[i] = std::nan("");
    }
  detail::in_stage(
      [&] {
        estimate(est.whitening, ws.batch(), std::span<const double>(sum), advantages, options);
      },
      "the weighted sum's batch whitening: ");
}

/// estimate_multi with a workspace of its own (allocates 2 N doubles per call).
template <class P, class W, class T, class U>
void estimate_multi(const gdpo<P, W>& est, const group_layout& layout, std::span<const T> rewards,
                    std::int64_t num_rewards, std::span<const double> weights,
                    std::span<U> advantages, const estimate_options& options = {}) {
  multi_reward_workspace ws;
  estimate_multi(est, layout, rewards, num_rewards, weights, advantages, ws, options);
}

}  // namespace hadw
