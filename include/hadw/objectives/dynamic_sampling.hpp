// DAPO's batch-side helpers: dynamic sampling (drop groups that carry no gradient) and the soft
// overlong punishment of the reward.
#pragma once

#include <hadw/config.hpp>
#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/stats/group.hpp>

#include <cmath>
#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>

namespace hadw {

/// Whether DAPO's dynamic sampling keeps a group (DAPO, arXiv 2503.14476, "Dynamic Sampling":
/// keep prompts with 0 < #correct < G). A group whose metric values are all equal has zero
/// group-relative advantage everywhere, so it carries no gradient (the paper's event S, PAPER.md)
/// and is dropped; a group of one response is kept, as verl's filter_groups does
/// (`std > 0 or len == 1`).
///
/// "All equal" is decided exactly (min == max), where verl takes np.std(values) > 0: np.std of
/// equal values that are not dyadic can come out as ~1e-17 (three rewards of 0.1: the mean is
/// 0.10000000000000002), which keeps a group verl means to drop. For 0/1 or dyadic rewards the
/// two agree.
[[nodiscard]] HADW_HOST_DEVICE inline bool informative_group(const group_stats& g) {
  return g.count == 1 || (g.count > 1 && g.min != g.max);
}

/// Counts of one dynamic-sampling pass.
struct group_filter_result {
  std::int64_t kept_groups = 0;
  std::int64_t dropped_groups = 0;
  std::int64_t kept_responses = 0;
  std::int64_t dropped_responses = 0;
};

/// Marks which responses (keep, caller order, size layout.num_responses()) and optionally which
/// groups (keep_group, size layout.num_groups(), or empty) survive DAPO's dynamic sampling, with
/// metric = the value verl filters on (`algorithm.filter_groups.metric`: acc, score, or
/// seq_reward). The trainer gathers the kept rows and, as DAPO, samples more prompts until the
/// batch is full. Throws hadw::error, before writing, on sizes that disagree and NaN/Inf metrics.
template <class T>
group_filter_result filter_degenerate_groups(const group_layout& layout, std::span<const T> metric,
                                             std::span<std::uint8_t> keep,
                                             std::span<std::uint8_t> keep_group = {}) {
  const auto n = static_cast<std::size_t>(layout.num_responses());
  detail::require_size(metric.size(), n, "metric", "layout.num_responses()");
  detail::require_size(keep.size(), n, "keep", "layout.num_responses()");
  detail::require(
      keep_group.empty() || keep_group.size() == static_cast<std::size_t>(layout.num_groups()),
      "keep_group.size() == layout.num_groups() (or empty) required, got ", keep_group.size(),
      " vs ", layout.num_groups());
  for (std::size_t i = 0; i < n; ++i)
    detail::require(std::isfinite(static_cast<double>(metric[i])), "metric[", i, "] is ",
                    static_cast<double>(metric[i]), "; finite values required");

  const response_view<T> in{metric.data(), nullptr, nullptr,
                            layout.has_permutation() ? layout.permutation().data() : nullptr,
                            false};
  group_filter_result res;
  for (std::int64_t k = 0; k < layout.num_groups(); ++k) {
    const bool kept = informative_group(compute_group_stats(in, layout.begin(k), layout.end(k)));
    if (!keep_group.empty()) keep_group[static_cast<std::size_t>(k)] = kept ? 1 : 0;
    (kept ? res.kept_groups : res.dropped_groups) += 1;
    (kept ? res.kept_responses : res.dropped_responses) += layout.size(k);
    for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j)
      keep[static_cast<std::size_t>(in.index(j))] = kept ? 1 : 0;
  }
  return res;
}

/// Convenience for non-const spans of metric values.
template <class T>
requires(!std::is_const_v<T>) group_filter_result
    filter_degenerate_groups(const group_layout& layout, std::span<T> metric,
                             std::span<std::uint8_t> keep,
                             std::span<std::uint8_t> keep_group = {}) {
  return filter_degenerate_groups(layout, std::span<const T>(metric), keep, keep_group);
}

/// DAPO's soft overlong punishment (arXiv 2503.14476, "Overlong Reward Shaping"), added to the
/// task reward of a response of |y| tokens, with L_max = max_length and L_cache = buffer:
///
///   R_length(|y|) = 0                                   if |y| <= L_max - L_cache
///                 = ((L_max - L_cache) - |y|) / L_cache * penalty_factor
///                                                       if L_max - L_cache < |y| <= L_max
///                 = -penalty_factor                     if |y| > L_max
///
/// The paper's rule has penalty_factor = 1. verl's DAPO reward manager computes
/// min(-(|y| - (L_max - L_cache)) / L_cache * penalty_factor, 0), which is the same for every
/// |y| <= L_max (its responses are truncated at max_response_length, so it never sees more).
/// Defaults: DAPO's recipe (max_response_length 20480, overlong_buffer.len 4096, factor 1.0).
struct overlong_shaping {
  std::int64_t max_length = 20480;  ///< L_max (verl data.max_response_length)
  std::int64_t buffer = 4096;       ///< L_cache (verl overlong_buffer.len)
  double penalty_factor = 1.0;      ///< verl overlong_buffer.penalty_factor

  void validate() const {
    detail::require(max_length >= 1, "overlong_shaping.max_length >= 1 required, got ", max_length);
    detail::require(buffer >= 1 && buffer <= max_length,
                    "1 <= overlong_shaping.buffer <= max_length required, got buffer = ", buffer,
                    ", max_length = ", max_length);
    detail::require(std::isfinite(penalty_factor) && penalty_factor >= 0.0,
                    "overlong_shaping.penalty_factor >= 0 (finite) required, got ", penalty_factor);
  }

  /// R_length of a response of `length` tokens (<= 0).
  [[nodiscard]] HADW_HOST_DEVICE double penalty(std::int64_t length) const {
    const std::int64_t expected = max_length - buffer;
    if (length <= expected) return 0.0;
    if (length > max_length) return -penalty_factor;
    return -static_cast<double>(length - expected) / static_cast<double>(buffer) * penalty_factor;
  }
};

/// rewards[i] += shaping.penalty(lengths[i]) for every response. Throws hadw::error, before
/// writing, on bad options, sizes that disagree and negative lengths.
template <std::integral I, class R>
void apply_overlong_penalty(const overlong_shaping& shaping, std::span<const I> lengths,
                            std::span<R> rewards) {
  static_assert(!std::is_const_v<R>, "hadw::apply_overlong_penalty: rewards must be writable");
  shaping.validate();
  detail::require_size(rewards.size(), lengths.size(), "rewards", "lengths.size()");
  for (std::size_t i = 0; i < lengths.size(); ++i)
    detail::require(lengths[i] >= 0, "lengths[", i, "] >= 0 required, got ", lengths[i]);
  for (std::size_t i = 0; i < lengths.size(); ++i)
    rewards[i] = static_cast<R>(static_cast<double>(rewards[i]) +
                                shaping.penalty(static_cast<std::int64_t>(lengths[i])));
}

}  // namespace hadw
