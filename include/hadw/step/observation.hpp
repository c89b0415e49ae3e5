// The observation of one step: what HA-DW learns from a batch (y_t's counts and sums, eq. 7) and
// what its checks found. A mergeable value: the CPU scan (per group, per block of groups), the
// CUDA scan (per block, then the grid), MPI's all-reduce and torch.distributed's all-reduce
// (python/hadw/distributed.py) all produce observations and merge them with merge().
#pragma once

#include <hadw/config.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace hadw {

/// What y_t (eq. 7) is.
enum class observation_kind : std::uint8_t {
  mean_reward,   ///< the batch mean of the normalised reward (= accuracy for 0/1 rewards)
  success_rate,  ///< correct / total, "correct" = normalised reward >= success_threshold
};

/// The first thing wrong with a batch's rewards, in the order a sequential walk over the groups
/// meets it (so the message does not depend on how the walk was split).
struct reward_failure {
  enum class kind : std::uint8_t { none, nan, non_finite, out_of_range, singleton };
  kind what = kind::none;
  std::int64_t where = 0;  ///< caller index of the reward, or the group
  double value = 0.0;

  [[nodiscard]] HADW_HOST_DEVICE bool failed() const { return what != kind::none; }
  /// Merge in walk order: the earlier slice's failure wins.
  HADW_HOST_DEVICE void keep_first(const reward_failure& later) {
    if (what == kind::none) *this = later;
  }
};

/// y_t's inputs over some groups, and the first failure of each family of checks.
struct observation {
  std::int64_t correct = 0;     ///< valid responses with normalised reward >= success_threshold
  std::int64_t total = 0;       ///< valid responses
  std::int64_t degenerate = 0;  ///< groups whose valid rewards are all equal
  double reward_sum = 0.0;      ///< sum of the normalised rewards, group by group in group order
  reward_failure estimate_failure;  ///< estimate's checks: finite rewards, the size-1 rule
  reward_failure reweight_failure;  ///< reweight's checks: NaN, rewards inside reward_range

  /// Appends the observation of the groups that follow this one's. Exact in the counts; the
  /// sum's association is fixed by the callers' order (the numeric contract of the backends).
  HADW_HOST_DEVICE void merge(const observation& later) {
    correct += later.correct;
    total += later.total;
    degenerate += later.degenerate;
    reward_sum += later.reward_sum;
    estimate_failure.keep_first(later.estimate_failure);
    reweight_failure.keep_first(later.reweight_failure);
  }

  /// Eq. 7: y_t of these responses (NaN when there is none).
  [[nodiscard]] double accuracy(observation_kind kind) const {
    if (total == 0) return NAN;
    return kind == observation_kind::mean_reward
               ? std::clamp(reward_sum / static_cast<double>(total), 0.0, 1.0)
               : static_cast<double>(correct) / static_cast<double>(total);
  }
};
static_assert(std::is_trivially_copyable_v<observation> && sizeof(observation) % 8 == 0);

/// One group's observation (group-order positions [begin, end) of a response reader): its valid
/// responses' normalised rewards summed in group order, those >= success_threshold counted, and
/// whether its valid rewards are all equal. The one definition of y_t's per-group sums (the CPU
/// scan and the CUDA scan call it; the CPU's SIMD scan is held to its bits by the tests).
template <class Reader, class Range>
[[nodiscard]] HADW_HOST_DEVICE observation observe_group(const Reader& in, std::int64_t begin,
                                                         std::int64_t end, const Range& range,
                                                         double success_threshold) {
  observation o;
  double lo = INFINITY, hi = -INFINITY;
  for (std::int64_t j = begin; j < end; ++j) {
    const std::int64_t i = in.index(j);
    if (!in.valid(i)) continue;
    const double r = in.reward(i);
    const double u = range.normalise(r);
    o.reward_sum += u;
    o.correct += u >= success_threshold;
    ++o.total;
    lo = r < lo ? r : lo;
    hi = r > hi ? r : hi;
  }
  o.degenerate = lo == hi;
  return o;
}

}  // namespace hadw
