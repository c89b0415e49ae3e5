// Loss aggregation: a row-major [N, L] matrix of per-token losses -> one scalar, in the modes
// of verl's agg_loss, with the global counts a data-parallel trainer all-reduces.
#pragma once

#include <hadw/config.hpp>
#include <hadw/error.hpp>
#include <hadw/api/tokens.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>

namespace hadw {

/// How per-token losses l_{i,t} over the valid tokens become one scalar. n_i = valid tokens of
/// row i, T = sum_i n_i, S = rows with n_i > 0 (fully masked rows are not sequences, as verl).
///
/// | mode | loss | used by |
/// |---|---|---|
/// | token_mean | sum_{i,t} l / T | DAPO (token-level loss); verl's default |
/// | token_sum | sum_{i,t} l | |
/// | seq_mean_token_sum | (1/S) sum_i sum_t l | |
/// | seq_mean_token_mean | (1/S) sum_i (1/n_i) sum_t l | original GRPO (DeepSeekMath); GSPO |
/// | seq_mean_token_sum_norm | (1/S) sum_i sum_t l / C | Dr. GRPO (arXiv 2503.20783), C constant |
enum class loss_agg : std::uint8_t {
  token_mean,
  token_sum,
  seq_mean_token_sum,
  seq_mean_token_mean,
  seq_mean_token_sum_norm,
};

/// verl's spelling of a mode ("token-mean", "seq-mean-token-sum-norm", ...).
[[nodiscard]] constexpr std::string_view loss_agg_name(loss_agg mode) {
  switch (mode) {
    case loss_agg::token_mean:
      return "token-mean";
    case loss_agg::token_sum:
      return "token-sum";
    case loss_agg::seq_mean_token_sum:
      return "seq-mean-token-sum";
    case loss_agg::seq_mean_token_mean:
      return "seq-mean-token-mean";
    case loss_agg::seq_mean_token_sum_norm:
      return "seq-mean-token-sum-norm";
  }
  return "unknown";
}

/// The mode named as verl names it (`actor.loss_agg_mode`). Throws hadw::error on any other name.
[[nodiscard]] inline loss_agg parse_loss_agg(std::string_view s) {
  for (auto m : {loss_agg::token_mean, loss_agg::token_sum, loss_agg::seq_mean_token_sum,
                 loss_agg::seq_mean_token_mean, loss_agg::seq_mean_token_sum_norm})
    if (s == loss_agg_name(m)) return m;
  throw error(detail::concat(
      "loss_agg_mode one of token-mean, token-sum, seq-mean-token-sum, seq-mean-token-mean, "
      "seq-mean-token-sum-norm required, got \"",
      s, "\""));
}

/// Aggregation mode and its data-parallel inputs.
///
/// Data-parallel use (each rank holds a slice of the global batch, the gradient all-reduce
/// averages over dp_size ranks): all-reduce the integer counts T and S first, pass them as
/// global_tokens / global_sequences and the rank count as dp_size. Each rank's loss is then
/// dp_size * (its own numerator) / (global denominator), so the average over ranks (what
/// FSDP/DDP's gradient all-reduce computes) is exactly the loss of the whole global batch.
/// This is verl's agg_loss(..., dp_size, batch_num_tokens, global_batch_size). With a summing
/// all-reduce, or with gradient accumulation over micro-batches of one rank, keep dp_size = 1.
///
/// seq_mean_token_sum_norm is Dr. GRPO's (1/G) sum_i sum_t l / C, the constant generation budget C
/// in place of |o_i|: (1/S) sum_i sum_t l / C, exactly verl 0.9.1's agg_loss (its
/// loss_scale_factor is C, the padded length by default) and TRL's "dr_grpo" (S = the batch
/// size, C = max_completion_length).
///
/// seq_mean_token_mean divides each row by n_i, as TRL's "grpo" loss and verl's agg_loss with
/// the bool response_mask verl's actor passes (its n_i + 1e-8 is then a float32 sum, exactly n_i;
/// with a floating-point mask verl's row means are smaller by n_i / (n_i + 1e-8)).
struct aggregation {
  loss_agg mode = loss_agg::token_mean;
  /// C of seq_mean_token_sum_norm (> 0 required there; e.g. the maximum response length, which
  /// verl's loss_scale_factor defaults to). Ignored by the other modes.
  double normaliser = 0.0;
  /// T over the global batch; 0: this call's valid tokens. Must be >= this call's.
  std::int64_t global_tokens = 0;
  /// S over the global batch; 0: this call's non-empty rows. Must be >= this call's.
  std::int64_t global_sequences = 0;
  /// The number of ranks the gradient all-reduce averages over (>= 1).
  std::int64_t dp_size = 1;

  void validate() const {
    detail::require(mode <= loss_agg::seq_mean_token_sum_norm,
                    "aggregation.mode a loss_agg value required, got ", static_cast<int>(mode));
    detail::require(mode != loss_agg::seq_mean_token_sum_norm ||
                        (std::isfinite(normaliser) && normaliser > 0.0),
                    "aggregation.normaliser > 0 (finite) required by seq-mean-token-sum-norm, got ",
                    normaliser);
    detail::require(global_tokens >= 0, "aggregation.global_tokens >= 0 required, got ",
                    global_tokens);
    detail::require(global_sequences >= 0, "aggregation.global_sequences >= 0 required, got ",
                    global_sequences);
    detail::require(dp_size >= 1, "aggregation.dp_size >= 1 required, got ", dp_size);
  }
};

/// The aggregated loss written as scale * sum_i u_i sum_t l_{i,t} with u_i = 1/n_i or 1:
/// d loss / d l_{i,t} = scale * u_i, the weight every valid token of row i gets.
struct aggregation_plan {
  double scale = 0.0;
  bool per_row_mean = false;  ///< u_i = 1/n_i (seq_mean_token_mean)

  [[nodiscard]] double row_weight(std::int64_t n_i) const {
    return per_row_mean ? scale / static_cast<double>(n_i) : scale;
  }
};

/// The plan for a call holding `tokens` valid tokens in `sequences` non-empty rows. An empty
/// denominator (no valid token anywhere) gives scale 0: loss 0 and gradient 0, as TRL (which
/// clamps its denominators at 1). verl 0.9.1 divides 0 by 0 there and returns a NaN loss (with a
/// zero gradient) in every mode but token-sum; hadw keeps the finite 0 so that a micro-batch
/// whose tokens are all masked cannot turn a logged or summed loss into NaN.
[[nodiscard]] inline aggregation_plan plan_aggregation(const aggregation& agg, std::int64_t tokens,
                                                       std::int64_t sequences) {
  agg.validate();
  detail::require(agg.global_tokens == 0 || agg.global_tokens >= tokens,
                  "aggregation.global_tokens >= this call's valid tokens required, got ",
                  agg.global_tokens, " vs ", tokens);
  detail::require(agg.global_sequences == 0 || agg.global_sequences >= sequences,
                  "aggregation.global_sequences >= this call's non-empty rows required, got ",
                  agg.global_sequences, " vs ", sequences);
  const double T = static_cast<double>(agg.global_tokens > 0 ? agg.global_tokens : tokens);
  const double S = static_cast<double>(agg.global_sequences > 0 ? agg.global_sequences : sequences);
  const double dp = static_cast<double>(agg.dp_size);
  aggregation_plan p;
  switch (agg.mode) {
    case loss_agg::token_mean:
      p.scale = T > 0.0 ? dp / T : 0.0;
      break;
    case loss_agg::token_sum:
      p.scale = dp;
      break;
    case loss_agg::seq_mean_token_sum:
      p.scale = S > 0.0 ? dp / S : 0.0;
      break;
    case loss_agg::seq_mean_token_mean:
      p.scale = S > 0.0 ? dp / S : 0.0;
      p.per_row_mean = true;
      break;
    case loss_agg::seq_mean_token_sum_norm:
      p.scale = S > 0.0 ? dp / (S * agg.normaliser) : 0.0;
      break;
  }
  return p;
}

namespace detail {

/// Which tokens of a row-major [N, L] batch are valid: a mask (N*L), right-padded lengths (N),
/// or neither (every token). Plain pointers so that device code can share it.
template <class M>
struct token_rows {
  const M* mask = nullptr;
  const std::int64_t* lengths = nullptr;
  std::int64_t rows = 0;
  std::int64_t L = 0;

  [[nodiscard]] HADW_HOST_DEVICE bool valid(std::int64_t i, std::int64_t t) const {
    if (mask) return mask[i * L + t] != 0;
    if (lengths) return t < lengths[i];
    return true;
  }
  [[nodiscard]] HADW_HOST_DEVICE std::int64_t count(std::int64_t i) const {
    if (lengths) return lengths[i];
    if (!mask) return L;
    std::int64_t n = 0;
    for (std::int64_t t = 0; t < L; ++t) n += mask[i * L + t] != 0;
    return n;
  }
};

/// N from a flat [N, L] size, with the shape checks every objective shares.
inline std::int64_t rows_of(std::size_t flat_size, std::int64_t L, const char* name) {
  require(L >= 1, "row_length (L, tokens per row) >= 1 required, got ", L);
  require(flat_size % static_cast<std::size_t>(L) == 0, name,
          ".size() a multiple of row_length required, got ", flat_size, " with row_length = ", L);
  return static_cast<std::int64_t>(flat_size / static_cast<std::size_t>(L));
}

template <class M>
token_rows<M> make_token_rows(std::span<const M> mask, std::span<const std::int64_t> lengths,
                              std::int64_t rows, std::int64_t L) {
  require(mask.empty() || lengths.empty(), "mask or lengths required, not both (got ", mask.size(),
          " mask entries and ", lengths.size(), " lengths)");
  const auto n = static_cast<std::size_t>(rows * L);
  if (!mask.empty()) require_size(mask.size(), n, "mask", "N * row_length");
  if (!lengths.empty()) {
    require_size(lengths.size(), static_cast<std::size_t>(rows), "lengths", "N (rows)");
    for (std::size_t i = 0; i < lengths.size(); ++i)
      require(lengths[i] >= 0 && lengths[i] <= L, "0 <= lengths[", i,
              "] <= row_length required, got ", lengths[i], " with row_length = ", L);
  }
  return {mask.empty() ? nullptr : mask.data(), lengths.empty() ? nullptr : lengths.data(), rows,
          L};
}

template <class M, class T>
double aggregate(const token_rows<M>& rows, const T* loss, const aggregation& agg) {
  std::int64_t tokens = 0, sequences = 0;
  for (std::int64_t i = 0; i < rows.rows; ++i) {
    const std::int64_t n = rows.count(i);
    tokens += n;
    sequences += n > 0;
    for (std::int64_t t = 0; t < rows.L; ++t)
      if (rows.valid(i, t))
        require(std::isfinite(static_cast<double>(loss[i * rows.L + t])), "loss[", i * rows.L + t,
                "] is ", loss[i * rows.L + t], "; finite losses required on valid tokens");
  }
  const aggregation_plan plan = plan_aggregation(agg, tokens, sequences);
  double total = 0.0;
  for (std::int64_t i = 0; i < rows.rows; ++i) {
    const std::int64_t n = rows.count(i);
    if (n == 0) continue;
    double row = 0.0;
    for (std::int64_t t = 0; t < rows.L; ++t)
      if (rows.valid(i, t)) row += static_cast<double>(loss[i * rows.L + t]);
    total += plan.per_row_mean ? row / static_cast<double>(n) : row;
  }
  return plan.scale * total;
}

}  // namespace detail

/// The aggregated loss of a row-major [N, L] loss matrix whose valid tokens are mask[i*L+t] != 0.
/// Row sums accumulate in double, rows in order: deterministic. Throws hadw::error on shapes that
/// disagree, bad options and non-finite losses on valid tokens (masked entries are never read
/// as numbers, so padding may hold anything).
template <class T, token_mask_element M>
[[nodiscard]] double aggregate_loss(std::span<const T> loss, std::span<const M> mask,
                                    std::int64_t L, const aggregation& agg) {
  const std::int64_t rows = detail::rows_of(loss.size(), L, "loss");
  const auto view = detail::make_token_rows<M>(mask, {}, rows, L);
  return detail::aggregate(view, loss.data(), agg);
}

/// As above with right-padded rows: token t of row i is valid iff t < lengths[i] (0 <= lengths[i]
/// <= L).
template <class T>
[[nodiscard]] double aggregate_loss(std::span<const T> loss, std::span<const std::int64_t> lengths,
                                    std::int64_t L, const aggregation& agg) {
  const std::int64_t rows = detail::rows_of(loss.size(), L, "loss");
  const auto view = detail::make_token_rows<std::uint8_t>({}, lengths, rows, L);
  return detail::aggregate(view, loss.data(), agg);
}

}  // namespace hadw
