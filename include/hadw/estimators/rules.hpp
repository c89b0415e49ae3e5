// The rules every estimator shares: where eps enters, what a size-1 group yields, and one
// group's share of the batch statistics (written once for the CPU pass and the CUDA scan).
#pragma once

#include <hadw/config.hpp>
#include <hadw/error.hpp>
#include <hadw/stats/batch.hpp>
#include <hadw/stats/group.hpp>

#include <cmath>
#include <cstdint>

namespace hadw {

/// Where eps enters a standard-deviation scale.
enum class eps_placement : std::uint8_t {
  add_to_std,  ///< s = std + eps        (verl, TRL, OpenRLHF)
  add_to_var,  ///< s = sqrt(var + eps)  (verl's masked_whiten)
  floor_var,   ///< s = sqrt(max(var, eps)) (OpenRLHF's var.clamp(min=eps).rsqrt()); batch scales
};

/// What a group with a single valid response yields (it has no group-relative signal).
enum class singleton_rule : std::uint8_t {
  reject,      ///< hadw::error naming the group (default: usually a data bug upstream)
  zero,        ///< advantage 0
  raw_reward,  ///< verl: baseline 0, std 1, so A = r (or r / (1 + eps) under a std scale)
  keep,        ///< a group of one like any other: its mean is its reward, so A = 0, and it still
               ///< counts in the batch statistics (TRL scale_rewards="batch")
};

/// The group's statistics with the size-1 rule applied: verl's raw_reward makes a lone response's
/// baseline 0 and std 1 (group_stats::make_raw_singleton).
[[nodiscard]] HADW_HOST_DEVICE inline group_stats apply_singleton_rule(group_stats g,
                                                                       singleton_rule rule) {
  if (g.count == 1 && rule == singleton_rule::raw_reward) g.make_raw_singleton();
  return g;
}

/// Whether the size-1 rule zeroes the whole group: its advantage is 0 and it enters no batch
/// statistic.
[[nodiscard]] HADW_HOST_DEVICE inline bool zeroed_by_rule(const group_stats& g,
                                                          singleton_rule rule) {
  return g.count == 1 && rule == singleton_rule::zero;
}

/// One group's share of the batch statistics (positions [begin, end) of a response reader, its
/// statistics `raw`): its raw moments, and its centred deviations weighted by length when
/// `weighted`. The CPU pass and the CUDA scan both call it; groups merge in group order.
template <class Reader>
HADW_HOST_DEVICE void accumulate_batch(batch_stats& b, const Reader& in, std::int64_t begin,
                                       std::int64_t end, const group_stats& raw,
                                       singleton_rule rule, bool weighted) {
  if (zeroed_by_rule(raw, rule)) return;
  b.merge_raw(raw);
  const group_stats g = apply_singleton_rule(raw, rule);
  for (std::int64_t j = begin; j < end; ++j) {
    const std::int64_t i = in.index(j);
    if (!in.valid(i)) continue;
    const double r = in.reward(i);
    const double w = weighted ? in.weight(i) : 1.0;
    const double c = g.centred(r);
    b.nonzero += r != 0.0;
    b.centred_weight += w;
    b.centred_sum += w * c;
    b.centred_sq += w * c * c;
  }
}

namespace detail {
/// eps is off (0) or at least 1e-12. A smaller positive eps only acts where the spread is ~0 (a
/// batch whose weights are all 0, a zero-dof variance) and there it divides a non-zero deviation
/// by ~eps, giving advantages past float range, or past max_abs_advantage so that reweight would
/// reject estimate's own output (found by fuzzing). Every peer's eps is >= 1e-9.
inline void check_eps(double eps) {
  require(std::isfinite(eps) && (eps == 0.0 || eps >= 1e-12),
          "eps >= 0 (finite; 0 or >= 1e-12) required, got ", eps);
}
}  // namespace detail

}  // namespace hadw
