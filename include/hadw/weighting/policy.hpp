// The weighting-policy concept behind hadw::weigh (api/weigh.hpp): what a difficulty weighting
// (F-GRPO, GRPO-LEAD, DGPO's question weights, ROLL, Delta-L, HA-DW with per-prompt priors) sees
// of a batch, and what it must provide. The formulas live in weighting/difficulty.hpp and
// weighting/phi.hpp; each policy header only binds them to a batch.
#pragma once

#include <hadw/layout.hpp>
#include <hadw/stats/group.hpp>
#include <hadw/stats/readers.hpp>
#include <hadw/weighting/phi.hpp>

#include <concepts>
#include <cstdint>

namespace hadw {

/// What a weighting sees of one group: the valid responses' statistics (masked and unscorable
/// responses are left out, as everywhere in hadw).
struct group_point {
  std::int64_t group = 0;
  std::int64_t count = 0;     ///< valid responses
  std::int64_t positive = 0;  ///< valid rewards > 0 (GRPO-LEAD's "correct", its ρ numerator)
  double mean = 0.0;          ///< mean valid reward, raw (DGPO's mean_q)
  double p_hat = 0.0;         ///< mean normalised by the reward range (HA-DW's and F-GRPO's p̂)
  bool degenerate = false;    ///< valid rewards all equal (a size-1 group too)
};

namespace detail {

/// The batch as weigh() and the policies' prepare() read it: one layout, one reward reader,
/// the reward range. group(k) is the one definition of a group_point (stats/group.hpp's pass).
template <class View>
struct weigh_batch {
  const group_layout& layout;
  const View& rewards;
  reward_range range;

  [[nodiscard]] std::int64_t num_groups() const { return layout.num_groups(); }
  [[nodiscard]] group_point group(std::int64_t k) const {
    const group_stats g = compute_group_stats<false>(rewards, layout.begin(k), layout.end(k));
    group_point p{k, g.count, 0, g.mean, range.normalise(g.mean), g.degenerate()};
    for_each_valid(k, [&](std::int64_t i) { p.positive += rewards.reward(i) > 0.0; });
    return p;
  }
  /// f(i) for the caller index i of every valid response of group k, in group order.
  template <class F>
  void for_each_valid(std::int64_t k, F&& f) const {
    for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j) {
      const std::int64_t i = rewards.index(j);
      if (rewards.valid(i)) f(i);
    }
  }
};

}  // namespace detail

/// A weighting policy P (shipped: focal, lead, question_weights, static_difficulty,
/// length_weights, prompt_phi):
///   p.validate(layout, n)        throws hadw::error naming the field that is wrong (sizes of the
///                                per-group / per-response inputs, parameter ranges)
///   p.prepare(batch) -> bound    the batch passes the policy needs (DGPO's softmax sum, Delta-L's
///                                mean length); may throw on data it reads; writes nothing
///   bound(point, a, i) -> double the weight of valid response i (advantage a) of that group
template <class P>
concept weighting_policy = requires(const P& p, const group_layout& l, std::int64_t n,
                                    const detail::weigh_batch<response_view<double>>& b,
                                    const group_point& g) {
  p.validate(l, n);
  { p.prepare(b)(g, 0.0, n) } -> std::convertible_to<double>;
};

}  // namespace hadw
