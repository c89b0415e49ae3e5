// The HA-DW step (paper §3, eq. 7-16), written once for every backend: pick the belief the
// weights are made with (C_t^- or, with anchor_timing::posterior, C_t^+), decide the warm-up,
// let the backend weigh its groups, observe y_t, commit the anchor, fill step_stats. The CPU
// kernels, the CUDA kernels and MPI differ only in the backend object handed in: how they
// observe a batch and how they walk its groups.
#pragma once

#include <hadw/anchor/anchor.hpp>
#include <hadw/step/diagnostics.hpp>
#include <hadw/step/observation.hpp>
#include <hadw/step/options.hpp>
#include <hadw/weighting/phi.hpp>

#include <optional>
#include <type_traits>
#include <utility>

namespace hadw::detail {

/// The weighting stage a backend runs: the belief C the weights are made with, eq. 16's
/// lambda_scale, the reward range p̂ is normalised with (reward_range, or the backends'
/// compile-time unit range), and whether the anchor is warming up (Phi = 1).
template <class Range = reward_range>
struct weighting {
  double belief = 0.5;
  double lambda_scale = 1.5;
  Range range{};
  bool warming_up = false;
};

/// What a backend gives the step. Required:
///   be.observe() -> observation          the batch's observation, every check passed (throws
///                                         hadw::error otherwise, before anything is written)
///   be.weigh(weighting<>) -> step_totals  weighs every group, writes, returns the diagnostics
/// Optional:
///   be.weigh_then_observe(weighting<>) -> std::pair<step_totals, observation>
///       prior timing only: both from one round trip (CUDA queues both passes, then copies once)
///   be.anchor_input(observation) -> double
///       the y_t the anchor observes when it is not this observation's (MPI: the global batch's)
template <class Backend>
concept step_backend = requires(Backend& be, const weighting<>& w) {
  { be.observe() } -> std::same_as<observation>;
  { be.weigh(w) } -> std::same_as<step_totals>;
};

template <class Backend>
[[nodiscard]] double anchor_input(Backend& be, const observation& o, observation_kind kind) {
  if constexpr (requires { be.anchor_input(o); }) return be.anchor_input(o);
  else return o.accuracy(kind);
}

/// One HA-DW step. `anchor` is untouched until the backend has written (strong exception
/// guarantee of the checks, which run in observe()); it then observes y_t unless
/// options.update_anchor is false.
template <class Belief, step_backend Backend>
step_stats hadw_step(difficulty_anchor<Belief>& anchor, const reweight_options& options,
                     std::int64_t num_groups, Backend&& be) {
  step_stats st;
  st.prior = anchor.prior();
  st.num_groups = num_groups;
  weighting<> w{anchor.prior(), options.lambda_scale, options.range,
                anchor.step() < options.warmup_steps};

  // The anchor after observing y_t, built on a copy so that `anchor` stays untouched until the
  // weights are written; only when something reads it (a weight-only step with the prior, a
  // trainer that all-reduces the counts itself, skips the copy of a history).
  const bool observes = options.update_anchor || options.timing == anchor_timing::posterior;
  std::optional<difficulty_anchor<Belief>> observed;
  observation obs;
  const auto take = [&](const observation& o) {
    obs = o;
    if (!observes) return;
    observed.emplace(anchor);
    observed->observe(anchor_input(be, o, options.observation));
  };
  step_totals totals;
  if (options.timing == anchor_timing::prior) {
    if constexpr (requires { be.weigh_then_observe(w); }) {
      auto [t, o] = be.weigh_then_observe(w);
      totals = t;
      take(o);
    } else {
      take(be.observe());
      totals = be.weigh(w);
    }
  } else {
    take(be.observe());
    w.belief = observed->prior();
    totals = be.weigh(w);
  }

  st.weighting_belief = w.belief;
  st.batch_accuracy = obs.accuracy(options.observation);
  st.correct = obs.correct;
  st.total = obs.total;
  st.degenerate_fraction = obs.total > 0 ? static_cast<double>(obs.degenerate) /
                                               static_cast<double>(num_groups)
                                         : NAN;
  totals.report(st);
  if (options.update_anchor) anchor = std::move(*observed);
  st.posterior = anchor.prior();
  st.eta = anchor.eta();
  st.step = anchor.step();
  return st;
}

/// A backend whose observation is known before the step (the CPU scan, run by the entry point
/// before it dispatches) and whose groups are weighed by `weigh`.
template <class Weigh>
struct observed_backend {
  observation seen;
  Weigh weigh_groups;
  [[nodiscard]] observation observe() const { return seen; }
  [[nodiscard]] step_totals weigh(const weighting<>& w) { return weigh_groups(w); }
};
template <class Weigh>
observed_backend(observation, Weigh) -> observed_backend<Weigh>;

}  // namespace hadw::detail
