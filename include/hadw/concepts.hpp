// The policy concepts of hadw. Each shipped model is checked against its concept with a
// static_assert next to its definition.
#pragma once

#include <hadw/stats/batch.hpp>
#include <hadw/anchor/state.hpp>
#include <hadw/stats/group.hpp>
#include <hadw/stats/summary.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

namespace hadw {

/// A standard integer type: what std::in_range and std::cmp_less compare (signed char through
/// long long and their unsigned forms, so std::int8_t and std::uint8_t too), not bool or a
/// character type (char, wchar_t, char8_t, char16_t, char32_t). Offsets and token lengths.
template <class I>
concept standard_integer =
    std::integral<I> && !std::same_as<std::remove_cv_t<I>, bool> &&
    !std::same_as<std::remove_cv_t<I>, char> && !std::same_as<std::remove_cv_t<I>, wchar_t> &&
    !std::same_as<std::remove_cv_t<I>, char8_t> && !std::same_as<std::remove_cv_t<I>, char16_t> &&
    !std::same_as<std::remove_cv_t<I>, char32_t>;

/// An advantage element (estimate's and reweight's output, the token advantages): float or
/// double. An integer would truncate (UB past its range), a narrower float (_Float16, bfloat16)
/// overflows to inf from ordinary rewards; convert such a tensor after the call.
template <class T>
concept advantage_value =
    std::same_as<std::remove_cv_t<T>, float> || std::same_as<std::remove_cv_t<T>, double>;

/// A reward element: float, double, or a standard integer (a verifier's 0/1 or integer score;
/// exact in double up to hadw::max_abs_reward). Not bool or a character type.
template <class T>
concept reward_value = advantage_value<T> || standard_integer<T>;

namespace detail {
/// The element checks of the entry points, as messages for the user.
template <class R>
constexpr void require_reward_value() {
  static_assert(reward_value<R>,
                "hadw: rewards must be float, double or a standard integer type (not bool or a "
                "character type)");
}
template <class A>
constexpr void require_advantage_value() {
  static_assert(advantage_value<A>,
                "hadw: advantages (and token_advantages) must be float or double: an integer "
                "truncates, and _Float16 / bfloat16 overflow to inf; convert after the call");
}
}  // namespace detail

/// What a policy is handed for one group: group_summary with the statistics it declared.
template <class P, class V = double>
using summary_for =
    group_summary<V, needs_extrema_v<P>, needs_median_v<P>, needs_abs_deviation_v<P>>;

/// A baseline policy: the deviation r_i - b_i of one response from its baseline.
///   b.deviation(group, batch, r, pos) -> V     group: summary_for<B, V>; r: V; pos: the
///                                              response's position in its group
///   b.validate() -> void                       throws hadw::error on bad options
/// Written once for every value type V: double (one group: the scalar CPU path and the CUDA
/// kernels, so HADW_HOST_DEVICE) and a SIMD pack of groups (the CPU lockstep, on uniform dense
/// batches). Declarations (static constexpr bool):
///   needs_batch_stats  it reads `batch` (one more pass over the rewards)
///   needs_extrema      it reads group.argmax / group.second_max  (one group at a time)
///   needs_median       it reads group.median                      (one group at a time)
///   needs_abs_deviation it reads group.abs_dev = sum |r - mean|   (scalar, lockstep, CUDA)
///   scalar_only        its member templates accept double only    (one group at a time)
///   sequential         it reads the group's valid rewards in order: in place of `pos` its
///                      deviation takes b.start() advanced by b.step(state, r) over the valid
///                      rewards up to and including r's (KRPO; one group at a time)
/// An undeclared statistic is not a member of its group_summary: reading it does not compile.
template <class B>
concept baseline_policy =
    requires(const B& b, const summary_for<B>& g, const batch_stats& s, double r,
             std::int64_t pos) {
      { b.deviation(g, s, r, pos) } -> std::same_as<double>;
      { b.validate() } -> std::same_as<void>;
    } ||
    (sequential_v<B> && requires(const B& b, const summary_for<B>& g, const batch_stats& s,
                                 double r, typename B::state st) {
      { b.start() } -> std::same_as<typename B::state>;
      b.step(st, r);
      { b.deviation(g, s, r, st) } -> std::same_as<double>;
      { b.validate() } -> std::same_as<void>;
    });

/// A scale policy: the divisor s of a group's deviations.
///   s.scale(group, batch) -> V (> 0 wherever a deviation is non-zero), group: summary_for<S, V>
///   s.validate() -> void
/// The same value types and declarations as baseline_policy.
template <class S>
concept scale_policy = requires(const S& s, const summary_for<S>& g, const batch_stats& b) {
  { s.scale(g, b) } -> std::same_as<double>;
  { s.validate() } -> std::same_as<void>;
};

/// Whether a policy reads batch statistics (costs one extra pass over the rewards).
template <class P>
inline constexpr bool needs_batch_stats_v = requires { requires P::needs_batch_stats; };

/// A belief policy of difficulty_anchor: the model's current success rate and how it learns.
///   typename B::config                             named, defaulted options
///   B{config}; b.prior() -> double in [0,1]        the belief the next step is weighted with
///   b.observe(y)                                   y = batch accuracy in [0,1]
///   b.eta() -> double                              weight the last observation received
///   b.history() -> span<const double>              the window the belief keeps
///   B::kind -> std::uint8_t                        tag in the saved byte format (see below)
///   B::name -> std::string_view                    readable name for messages, e.g.
///                                                  "hadw::kalman_belief" (the type's name)
///   cb.save_state(state_writer&)                   bit-exact state round trip through the
///   B::load_state(state_reader&) -> B              public hadw/anchor/state.hpp (load validates)
/// Optional:
///   cb.posterior(y) -> double                      prior() after observe(y), bit for bit,
///                                                  without observing: anchor_timing::posterior
///                                                  weights with it (else it observes a copy)
///
/// Belief kinds: 0 is invalid (refused at compile time); 1-63 are reserved for hadw's own beliefs
/// (1 kalman_belief, 2 window_mean_belief, 3 fixed_belief); 64-255 are free for user beliefs.
/// Each belief type claims its kind once per process, when the first difficulty_anchor<B> is
/// constructed, loaded or saved: a kind already claimed by another type, or a user type in 1-63,
/// throws hadw::error naming both types, so two beliefs can never read each other's checkpoints.
template <class B>
concept belief_policy = requires(B& b, const B& cb, double y, state_writer& w, state_reader& r) {
  typename B::config;
  { cb.prior() } -> std::same_as<double>;
  { b.observe(y) } -> std::same_as<void>;
  { cb.eta() } -> std::same_as<double>;
  { cb.history() } -> std::convertible_to<std::span<const double>>;
  { B::kind } -> std::convertible_to<std::uint8_t>;
  { B::name } -> std::convertible_to<std::string_view>;
  { cb.save_state(w) } -> std::same_as<void>;
  { B::load_state(r) } -> std::same_as<B>;
};

}  // namespace hadw
