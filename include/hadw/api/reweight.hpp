// hadw::reweight: HA-DW applied to a step's advantages, and the anchor update. Validates the
// options and shapes, then dispatches on the backend tag (backend::cpu when none is given).
#pragma once

#include <hadw/anchor/anchor.hpp>
#include <hadw/backend/cpu/entry.hpp>
#include <hadw/backend/tags.hpp>
#include <hadw/concepts.hpp>
#include <hadw/detail/alias.hpp>
#include <hadw/error.hpp>
#include <hadw/step/diagnostics.hpp>
#include <hadw/step/options.hpp>

#include <concepts>
#include <span>
#include <type_traits>

namespace hadw {

namespace detail {
/// The O(1) checks every backend shares: element types, the options, one (non-null) layout,
/// sizes, advantages either exactly the rewards (in place) or apart.
template <class GA, class GR>
void check_reweight_shapes(const GA& advantages, const GR& rewards, const reweight_options& opt) {
  require_advantage_value<std::remove_cv_t<typename decltype(advantages.values)::element_type>>();
  require_reward_value<std::remove_cv_t<typename decltype(rewards.values)::element_type>>();
  opt.validate();
  require(rewards.layout != nullptr,
          "rewards.layout must not be null (pair values with their layout by hadw::grouped)");
  require(advantages.layout != nullptr,
          "advantages.layout must not be null (pair values with their layout by hadw::grouped)");
  const auto& layout = *rewards.layout;
  bool same = advantages.layout == rewards.layout;
  if constexpr (requires { *advantages.layout == layout; })  // equal host layouts pass too
    same = same || *advantages.layout == layout;
  require(same, "advantages and rewards must share one group layout");
  const auto n = static_cast<std::size_t>(layout.num_responses());
  require_size(rewards.values.size(), n, "rewards", "layout.num_responses()");
  if (!opt.mask.empty()) require_size(opt.mask.size(), n, "mask", "layout.num_responses()");
  require_size(advantages.values.size(), rewards.values.size(), "advantages", "rewards.size()");
  require_in_place_or_disjoint(advantages.values, "advantages", rewards.values, "rewards");
}
}  // namespace detail

/// Multiplies every valid advantage by Phi = lambda_scale * exp(D * M) (eq. 13-16), with
/// p̂_k = the group's mean normalised reward and C = the anchor's prior (or, with
/// anchor_timing::posterior, its belief after observing this batch). Then the anchor observes
/// y_t unless options.update_anchor is false. Works on any estimator's output and layout, on
/// backend `be` (grouped spans of its memory: grouped_span for backend::cpu,
/// device_grouped_span for backend::cuda; the anchor stays on the host).
///
/// Throws hadw::error before touching advantages or anchor on: a null or different layouts,
/// sizes that disagree, advantages that overlap the rewards other than exactly (in place is
/// allowed), NaN rewards (unless nan_policy::unscorable), rewards outside options.range,
/// non-finite advantages of valid responses, bad options, a batch with no valid response.
template <backend::backend_tag B, template <class> class G, class A, class R, class Belief>
  requires std::same_as<G<A>, typename backend::traits<B>::template grouped<A>>
step_stats reweight(B be, G<A> advantages, G<R> rewards, difficulty_anchor<Belief>& anchor,
                    const reweight_options& options = {}) {
  static_assert(!std::is_const_v<A>, "hadw::reweight: advantages must be writable (std::span<T>)");
  detail::check_reweight_shapes(advantages, rewards, options);
  return backend::traits<B>::entry::reweight(be, advantages, rewards, anchor, options);
}

/// reweight on the default backend (backend::cpu).
template <class A, class R, class Belief>
step_stats reweight(grouped_span<A> advantages, grouped_span<R> rewards,
                    difficulty_anchor<Belief>& anchor, const reweight_options& options = {}) {
  return reweight(backend::cpu{}, advantages, rewards, anchor, options);
}

}  // namespace hadw
