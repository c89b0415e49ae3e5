// GRPO, DAPO and GSPO policy losses (the base objectives of HA-DW, paper eq. 17): the scalar
// loss, d loss / d logp per token into a caller buffer, and the diagnostics a trainer logs.
#pragma once

#include <hadw/error.hpp>
#include <hadw/objectives/aggregation.hpp>
#include <hadw/objectives/clip.hpp>
#include <hadw/objectives/ratio.hpp>
#include <hadw/api/tokens.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>

namespace hadw {

/// One micro-batch of N responses, row-major [N, L] (L = row_length), as a trainer holds it.
///
/// advantages is either per response (size N, broadcast to the row's valid tokens) or per token
/// (size N*L); with L == 1 the two coincide. For HA-DW pass the reweighted advantages
/// Phi * A (hadw::reweight writes them in place): Phi is a constant of the objective (eq. 17).
/// Valid tokens: mask[i*L+t] != 0, or t < lengths[i] (right padding), or every token when both
/// are empty. Values at invalid tokens are never used as numbers, so padding may hold anything.
template <class T, token_mask_element M = std::uint8_t>
struct policy_batch {
  std::span<const T> logp{};        ///< log pi_theta(y_t), N*L: the values the gradient is for
  std::span<const T> old_logp{};    ///< log pi_theta_old(y_t) at sampling time, N*L
  std::span<const T> advantages{};  ///< N or N*L
  std::span<const M> mask{};        ///< N*L, or empty
  std::span<const std::int64_t> lengths{};  ///< N, or empty
  std::int64_t row_length = 0;              ///< L >= 1
};

/// An objective hadw::policy_loss evaluates: which ratio it clips, the clip range, the optional
/// dual-clip constant and the aggregation. The three below are the paper's base algorithms; any
/// struct with these members works.
///   O::level -> ratio_level            o.clip -> clip_range
///   o.dual_clip_c -> double            o.agg -> aggregation
template <class O>
concept policy_objective = requires(const O& o) {
  { O::level } -> std::convertible_to<ratio_level>;
  { o.clip } -> std::convertible_to<clip_range>;
  { o.dual_clip_c } -> std::convertible_to<double>;
  { o.agg } -> std::convertible_to<aggregation>;
};

/// GRPO (DeepSeekMath, arXiv 2402.03300): token ratio, symmetric clip 0.2, per-sequence token
/// mean then mean over sequences. verl's `actor.loss_agg_mode` defaults to token-mean instead,
/// and its vanilla loss always applies dual-clip with clip_ratio_c = 3.0: set agg.mode and
/// dual_clip_c = 3.0 to match a verl run.
struct grpo_objective {
  static constexpr ratio_level level = ratio_level::token;
  clip_range clip{.low = 0.2, .high = 0.2};
  double dual_clip_c = 0.0;  ///< 0: off; else c > 1 bounds the loss of A < 0 tokens at -A c
  aggregation agg{.mode = loss_agg::seq_mean_token_mean};
};

/// DAPO (arXiv 2503.14476): token ratio, clip-higher (0.2, 0.28), token-level loss (token-mean
/// over the whole batch). Dynamic sampling and overlong shaping act on the batch and the rewards
/// before the loss: see objectives/dynamic_sampling.hpp.
struct dapo_objective {
  static constexpr ratio_level level = ratio_level::token;
  clip_range clip{.low = 0.2, .high = 0.28};
  double dual_clip_c = 0.0;
  aggregation agg{.mode = loss_agg::token_mean};
};

/// GSPO (arXiv 2507.18071): sequence ratio s_i = exp(mean_t (logp - old_logp)), clip range
/// (3e-4, 4e-4) as in the GSPO and HA-DW papers, seq-mean-token-mean as in the GSPO paper (verl's
/// compute_policy_loss_gspo aggregates with the caller's loss_agg_mode: its actor passes
/// actor.loss_agg_mode, token-mean by default). The gradient is that of verl's stand-in
/// sg[s_i] exp(logp - sg[logp]); see sequence_ratio() for why it equals the exact gradient of the
/// sequence objective.
struct gspo_objective {
  static constexpr ratio_level level = ratio_level::sequence;
  clip_range clip{.low = 3e-4, .high = 4e-4};
  double dual_clip_c = 0.0;
  aggregation agg{.mode = loss_agg::seq_mean_token_mean};
};

static_assert(policy_objective<grpo_objective>);
static_assert(policy_objective<dapo_objective>);
static_assert(policy_objective<gspo_objective>);

/// The loss and what a trainer logs about it. Fractions and means are over this call's valid
/// tokens (verl's masked_mean), whatever the aggregation mode.
struct policy_loss_result {
  double loss = 0.0;                ///< the aggregated loss (to minimise)
  double clip_fraction = 0.0;       ///< tokens whose clipped branch is active (verl pg_clipfrac)
  double dual_clip_fraction = 0.0;  ///< tokens bounded by dual-clip (verl pg_clipfrac_lower)
  double ratio_mean = NAN;          ///< of the ratio that is clipped: r_{i,t}, or s_i per token
  double ratio_min = NAN;
  double ratio_max = NAN;
  /// k1 estimator of KL(pi_old || pi_theta) from samples of pi_old: mean of (old_logp - logp)
  /// (verl's ppo_kl; the token objectives use the log-ratio clamped to +-20, as verl).
  double approx_kl = 0.0;
  /// k3 estimator of the same KL: mean of clamp((r - 1) - log r, -10, 10), r the token ratio
  /// (log r clamped to +-20). Token by token this is verl's kl_penalty(old_logp, logp,
  /// "low_var_kl"), clamps included (>= 0, lower variance; Schulman, "Approximating KL
  /// divergence", 2020).
  double approx_kl_k3 = 0.0;
  std::int64_t tokens = 0;     ///< valid tokens in this call
  std::int64_t sequences = 0;  ///< rows with at least one valid token

  /// Calls f(key, value) for every field, keys "objective/loss", "objective/clip_fraction", ...
  template <class F>
  void for_each(F&& f) const {
    f(std::string_view("objective/loss"), loss);
    f(std::string_view("objective/clip_fraction"), clip_fraction);
    f(std::string_view("objective/dual_clip_fraction"), dual_clip_fraction);
    f(std::string_view("objective/ratio_mean"), ratio_mean);
    f(std::string_view("objective/ratio_min"), ratio_min);
    f(std::string_view("objective/ratio_max"), ratio_max);
    f(std::string_view("objective/approx_kl"), approx_kl);
    f(std::string_view("objective/approx_kl_k3"), approx_kl_k3);
    f(std::string_view("objective/tokens"), static_cast<double>(tokens));
    f(std::string_view("objective/sequences"), static_cast<double>(sequences));
  }
};

/// verl clamps each token's low_var_kl (k3) to [-10, 10] (core_algos.kl_penalty_forward).
inline constexpr double low_var_kl_bound = 10.0;

namespace detail {

template <class T>
void require_finite_at(std::span<const T> v, std::size_t k, const char* name, const char* what) {
  const double x = static_cast<double>(v[k]);
  require(std::isfinite(x), name, "[", k, "] is ", x, "; finite ", what,
          " required on valid tokens");
}

}  // namespace detail

/// Evaluates the objective on one micro-batch. Writes d loss / d logp[i*L+t] into grad (exactly
/// 0 at invalid tokens) unless grad is empty, and returns the loss and diagnostics.
///
/// Per valid token: the ratio (token, or the row's sequence ratio), the clipped surrogate
/// l = max(-A r, -A clip(r)) (dual-clipped when enabled), then the aggregation. The gradient is
/// d loss/d logp_{i,t} = w_i * dl/dr * dr/dlogp with w_i the row's aggregation weight: the
/// chain rule through exactly the operations verl differentiates, with torch 2.15's rules at the
/// kinks and clamps (no gradient exactly on a clamp bound, ties of max/min split evenly; see
/// clipped_surrogate, token_ratio and sequence_ratio).
///
/// Numeric contract: inputs are read as double and everything accumulates in double, row by
/// row in order; the result is bit-identical across runs. Branch decisions (which side of a
/// clip or clamp bound, ties) are taken on values rounded to T, as torch takes them on a T
/// tensor. Allocates nothing: three passes over
/// the batch (validate and count; for GSPO the row means; the loss and gradient).
/// Throws hadw::error before writing anything on: shapes that disagree, mask and lengths both
/// given, lengths outside [0, L], bad clip/dual-clip/aggregation options, global counts below
/// this call's, and NaN/Inf logp, old_logp or advantages at valid tokens.
template <policy_objective O, class T, class M, class G>
policy_loss_result policy_loss(const O& objective, const policy_batch<T, M>& batch,
                               std::span<G> grad) {
  static_assert(!std::is_const_v<G>, "hadw::policy_loss: grad must be writable (std::span<T>)");
  const clip_range clip = objective.clip;
  const double dual_c = static_cast<double>(objective.dual_clip_c);
  const aggregation agg = objective.agg;
  clip.validate();
  validate_dual_clip(dual_c);
  agg.validate();

  const std::int64_t L = batch.row_length;
  const std::int64_t N = detail::rows_of(batch.logp.size(), L, "logp");
  const auto NL = batch.logp.size();
  detail::require_size(batch.old_logp.size(), NL, "old_logp", "logp.size()");
  const bool per_token_adv = batch.advantages.size() == NL;
  detail::require(per_token_adv || batch.advantages.size() == static_cast<std::size_t>(N),
                  "advantages.size() == N (per response) or N * row_length (per token) required, "
                  "got ",
                  batch.advantages.size(), " with N = ", N, ", row_length = ", L);
  detail::require(grad.empty() || grad.size() == NL,
                  "grad.size() == logp.size() (or empty: no gradient) required, got ", grad.size(),
                  " vs ", NL);
  const auto rows = detail::make_token_rows<M>(batch.mask, batch.lengths, N, L);
  using P = std::conditional_t<std::is_floating_point_v<T>, T, double>;  // decision precision
  const auto adv = [&](std::int64_t i, std::int64_t t) {
    return static_cast<double>(
        batch.advantages[static_cast<std::size_t>(per_token_adv ? i * L + t : i)]);
  };

  // Pass 1: every check, and the counts the aggregation needs, before any output is written.
  policy_loss_result res;
  for (std::int64_t i = 0; i < N; ++i) {
    std::int64_t n = 0;
    for (std::int64_t t = 0; t < L; ++t) {
      if (!rows.valid(i, t)) continue;
      const auto k = static_cast<std::size_t>(i * L + t);
      detail::require_finite_at(batch.logp, k, "logp", "log-probabilities");
      detail::require_finite_at(batch.old_logp, k, "old_logp", "log-probabilities");
      detail::require_finite_at(batch.advantages, per_token_adv ? k : static_cast<std::size_t>(i),
                                "advantages", "advantages");
      ++n;
    }
    res.tokens += n;
    res.sequences += n > 0;
  }
  const aggregation_plan plan = plan_aggregation(agg, res.tokens, res.sequences);

  // Pass 2 (GSPO: the row mean first) and the loss with its gradient.
  double total = 0.0, clipped = 0.0, dual = 0.0, ratio_sum = 0.0, k1 = 0.0, k3 = 0.0;
  double ratio_min = std::numeric_limits<double>::infinity();
  double ratio_max = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < N; ++i) {
    G* g = grad.empty() ? nullptr : grad.data() + i * L;
    const std::int64_t n = rows.count(i);
    if (n == 0) {
      if (g) std::fill(g, g + L, G(0));
      continue;
    }
    const double w = plan.row_weight(n);
    ratio_value seq{};
    if constexpr (O::level == ratio_level::sequence) {
      double sum = 0.0;
      for (std::int64_t t = 0; t < L; ++t)
        if (rows.valid(i, t))
          sum += static_cast<double>(batch.logp[static_cast<std::size_t>(i * L + t)]) -
                 static_cast<double>(batch.old_logp[static_cast<std::size_t>(i * L + t)]);
      seq = sequence_ratio<P>(sum / static_cast<double>(n));
    }
    double row = 0.0;
    for (std::int64_t t = 0; t < L; ++t) {
      if (!rows.valid(i, t)) {
        if (g) g[t] = G(0);
        continue;
      }
      const auto k = static_cast<std::size_t>(i * L + t);
      const double lp = static_cast<double>(batch.logp[k]);
      const double old = static_cast<double>(batch.old_logp[k]);
      const ratio_value tok = token_ratio<P>(lp, old);
      const ratio_value r = O::level == ratio_level::sequence ? seq : tok;
      const surrogate_term s = clipped_surrogate<P>(r.ratio, adv(i, t), clip, dual_c);
      row += s.loss;
      if (g) g[t] = static_cast<G>(w * s.dloss_dratio * r.dratio_dlogp);
      clipped += s.clipped;
      dual += s.dual_clipped;
      ratio_sum += r.ratio;
      ratio_min = std::min(ratio_min, r.ratio);
      ratio_max = std::max(ratio_max, r.ratio);
      k1 += O::level == ratio_level::sequence ? old - lp : -tok.log_ratio;
      k3 += std::clamp((tok.ratio - 1.0) - tok.log_ratio, -low_var_kl_bound, low_var_kl_bound);
    }
    total += plan.per_row_mean ? row / static_cast<double>(n) : row;
  }
  res.loss = plan.scale * total;
  if (res.tokens > 0) {
    const double count = static_cast<double>(res.tokens);
    res.clip_fraction = clipped / count;
    res.dual_clip_fraction = dual / count;
    res.ratio_mean = ratio_sum / count;
    res.ratio_min = ratio_min;
    res.ratio_max = ratio_max;
    res.approx_kl = k1 / count;
    res.approx_kl_k3 = k3 / count;
  }
  return res;
}

/// The loss and diagnostics only (no gradient).
template <policy_objective O, class T, class M>
policy_loss_result policy_loss(const O& objective, const policy_batch<T, M>& batch) {
  return policy_loss(objective, batch, std::span<double>{});
}

}  // namespace hadw
