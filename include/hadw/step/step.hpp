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

#include <cmath>
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
/// options.update_anchor is false. y_t is checked as anchor.observe() checks it before the
/// weights are written, and C_t^+ for anchor_timing::posterior is the anchor's prior_after(y_t):
/// no copy of the anchor (whose history would allocate on every step).
template <class Belief, step_backend Backend>
step_stats hadw_step(difficulty_anchor<Belief>& anchor, const reweight_options& options,
                     std::int64_t num_groups, Backend&& be) {
  step_stats st;
  st.prior = anchor.prior();
  st.num_groups = num_groups;
  weighting<> w{anchor.prior(), options.lambda_scale, options.range,
                anchor.step() < options.warmup_steps};

  const bool posterior = options.timing == anchor_timing::posterior;
  const bool observes = options.update_anchor || posterior;
  observation obs;
  double y = NAN;  // what the anchor observes, when it does
  const auto take = [&](const observation& o) {
    obs = o;
    if (!observes) return;
    y = anchor_input(be, o, options.observation);
    anchor.check_observation(y);
  };
  step_totals totals;
  if (!posterior) {
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
    w.belief = anchor.prior_after(y);
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
  if (options.update_anchor) anchor.observe(y);
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
