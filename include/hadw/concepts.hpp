// The policy concepts of hadw. Each shipped model is checked against its concept with a
// static_assert next to its definition.
#pragma once

#include <hadw/batch_stats.hpp>
#include <hadw/state.hpp>
#include <hadw/stats.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <string_view>

namespace hadw {

/// A baseline policy: the deviation r_i - b_i of one response from its baseline.
///   b.deviation(group, batch, r, pos) -> double    pos is the response's position in its group
///   b.validate() -> void                           throws hadw::error on bad options
/// It may declare `static constexpr bool needs_batch_stats = true` when it reads `batch`.
template <class B>
concept baseline_policy = requires(const B& b, const group_stats& g, const batch_stats& s,
                                   double r, std::int64_t pos) {
  { b.deviation(g, s, r, pos) } -> std::same_as<double>;
  { b.validate() } -> std::same_as<void>;
};

/// A scale policy: the divisor s of a group's deviations.
///   s.scale(group, batch) -> double (> 0 wherever a deviation is non-zero)
///   s.validate() -> void
template <class S>
concept scale_policy = requires(const S& s, const group_stats& g, const batch_stats& b) {
  { s.scale(g, b) } -> std::same_as<double>;
  { s.validate() } -> std::same_as<void>;
};

/// Whether a policy reads batch statistics (costs one extra pass over the rewards).
template <class P>
inline constexpr bool needs_batch_stats_v = requires { requires P::needs_batch_stats; };

/// Whether a policy reads group_stats::argmax / second_max (Pass@k): the kernels skip tracking
/// them for the others. Declared as `static constexpr bool needs_extrema = true`.
template <class P>
inline constexpr bool needs_extrema_v = requires { requires P::needs_extrema; };

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
///   B::load_state(state_reader&) -> B              public hadw/state.hpp (load validates)
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
