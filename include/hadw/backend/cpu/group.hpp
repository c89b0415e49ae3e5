// One group at a time through every active stage of a CPU step: statistics -> advantages ->
// HA-DW weights -> token rows. The per-element formulas are the shared ones (compute_group_stats,
// the policies, phi); this file only decides how a group is walked.
#pragma once

#include <hadw/backend/cpu/readers.hpp>
#include <hadw/detail/pack.hpp>
#include <hadw/estimators/rules.hpp>
#include <hadw/stats/batch.hpp>
#include <hadw/stats/group.hpp>
#include <hadw/step/diagnostics.hpp>
#include <hadw/step/step.hpp>
#include <hadw/weighting/phi.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace hadw::detail::cpu {

// ---------------------------------------------------------------------------------------------
// The step: estimator -> HA-DW weight -> token rows, one group at a time

/// No estimator stage: the advantages are read from the caller's buffer (hadw::reweight).
struct no_estimator {};
/// No weighting stage (hadw::estimate).
struct no_weighting {};

/// Phi of one group for each sign of the advantage. Eq. 14-16 read Â only through sgn(Â), so
/// three evaluations of the shared phi() give every response's weight bit for bit, and the
/// exponential is paid per group instead of per response.
template <class V = double>  // double, or a pack with one group per lane
struct group_phi {
  V neg = V{} + 1.0, zero = V{} + 1.0, pos = V{} + 1.0;
  [[nodiscard]] V operator()(V a) const { return a > 0.0 ? pos : (a < 0.0 ? neg : zero); }
};

template <class Range>
[[nodiscard]] group_phi<> make_group_phi(const weighting<Range>& w, double group_mean) {
  if (w.warming_up) return {};
  const double difficulty = history_difficulty(w.range.normalise(group_mean), w.belief);
  return {phi(-1.0, difficulty, w.lambda_scale), phi(0.0, difficulty, w.lambda_scale),
          phi(1.0, difficulty, w.lambda_scale)};
}

/// make_group_phi remembered by group mean, for one kernel call (one weighting stage) and one
/// block of groups. Phi depends on a group only through its mean reward, and a batch has few
/// distinct means (G + 1 with 0/1 rewards), so most groups reuse the exp() calls of an earlier
/// one: a cache, not an approximation (the same input, so the same bits).
struct phi_memo {
  static constexpr int slots = 32;
  bool used[slots] = {};
  std::uint64_t key[slots];
  group_phi<> value[slots];

  template <class Range>
  [[nodiscard]] group_phi<> operator()(const weighting<Range>& w, double group_mean) {
    const auto bits = std::bit_cast<std::uint64_t>(group_mean);
    const auto slot = static_cast<int>((bits * 0x9E3779B97F4A7C15ull) >> 59);  // Fibonacci hash
    if (!used[slot] || key[slot] != bits) {
      value[slot] = make_group_phi(w, group_mean);
      key[slot] = bits;
      used[slot] = true;
    }
    return value[slot];
  }
};

/// estimator<>::advantage with the group-invariant scale s_k evaluated once per group.
///
/// advantage() is d == 0 ? 0 : d / s with d = baseline.deviation(...) and s = scale.scale(g, b);
/// s depends on the group only, but an optimiser may not hoist it (it hides a sqrt and a
/// division behind branches), which costs two divisions and a square root per response. Where
/// s is positive and finite the hoisted form below is that expression exactly; anywhere else
/// (s = 0 with eps = 0, NaN) the group falls back to calling advantage() per response, so the
/// shared formula keeps the last word on the edge cases.
template <class Est>
struct group_advantage {
  double s = 1.0;
  bool hoisted = false;
  group_advantage(const Est& est, const group_stats& g, const batch_stats& b)
      : s(est.group_scale(g, b)), hoisted(s > 0.0 && s < INFINITY) {}
  /// `bg`: the baseline's summary of g (Est::baseline_view), formed once per group. `where`:
  /// the position, or a sequential baseline's state (estimator<>::advantage).
  template <class Summary, class Where>
  [[nodiscard]] double operator()(const Est& est, const group_stats& g, const Summary& bg,
                                  const batch_stats& b, double r, const Where& where) const {
    return hoisted ? of_deviation(est.baseline.deviation(bg, b, r, where))
                   : est.advantage(g, b, r, where);
  }
  /// d == 0 ? 0 : d / s, of a double or per lane of a pack (GCC does not vectorise the scalar
  /// loop: -ftrapping-math keeps the division behind the d == 0 branch).
  template <class V>
  [[nodiscard]] V of_deviation(V d) const {
    const V q = d / s;
    return d == 0.0 ? V{} : q;
  }
};

/// The diagnostics of one group, or of many merged in group order (shared with CUDA).
using step_partial = step_totals;

/// Whether the step's group statistics must track argmax / second_max (Pass@k), or the median.
template <class Est>
[[nodiscard]] constexpr bool step_needs_extrema() {
  if constexpr (std::is_same_v<Est, no_estimator>) return false;
  else return Est::needs_extrema;
}
template <class Est>
[[nodiscard]] constexpr bool step_needs_median() {
  if constexpr (std::is_same_v<Est, no_estimator>) return false;
  else return Est::needs_median;
}
template <class Est>
[[nodiscard]] constexpr bool step_needs_abs_deviation() {
  if constexpr (std::is_same_v<Est, no_estimator>) return false;
  else return Est::needs_abs_deviation;
}

/// What follows a stored advantage in the step: nothing (estimate(), the lockstep's fallback).
struct no_next_stage {
  void operator()(std::int64_t, bool) const {}
};

/// write_advantages for a baseline that reads only the response's position.
template <class Est, class Reader, class U, class Summary, class Next>
void write_positional(const Est& est, const batch_stats& batch, const Reader& in,
                      const group_stats& g, bool zero_all, const group_advantage<Est>& advantage,
                      const Summary& bg, std::int64_t begin, std::int64_t end, U* adv,
                      const Next& next) {
  if constexpr (is_dense_view<Reader>) {
    if (advantage.hoisted && !zero_all) {  // branch-free; the division a pack at a time
      const auto deviation = [&](std::int64_t j) {
        return est.baseline.deviation(bg, batch, in.reward(j), j - begin);
      };
      std::int64_t j = begin;
      for (; j + pack_width <= end; j += pack_width) {
        const pack d = [&]<std::size_t... L>(std::index_sequence<L...>) {
          return pack{deviation(j + static_cast<std::int64_t>(L))...};
        }(std::make_index_sequence<pack_width>{});
        store_pack(adv + j, advantage.of_deviation(d));
      }
      for (; j < end; ++j) adv[j] = static_cast<U>(advantage.of_deviation(deviation(j)));
      for (j = begin; j < end; ++j) next(j, true);  // a dense view: every response valid
      return;
    }
  }
  for (std::int64_t j = begin; j < end; ++j) {
    const std::int64_t i = in.index(j);
    const bool valid = in.valid(i);
    adv[i] = (zero_all || !valid)
                 ? U(0)
                 : static_cast<U>(advantage(est, g, bg, batch, in.reward(i), j - begin));
    next(i, valid);
  }
}

/// The estimator stage of one group (its statistics `raw`): the advantages, written at their
/// caller indices. Each is rounded to U, exactly as estimate() stores it. Then next(i, valid)
/// for each response in group order, its validity read before its advantage was stored: in
/// place (advantages = rewards) the store overwrites the reward that said whether it was valid
/// (a NaN under nan_policy::unscorable).
template <class Est, class Reader, class U, class Next = no_next_stage>
void write_advantages(const Est& est, const batch_stats& batch, const Reader& in,
                      const group_stats& raw, std::int64_t begin, std::int64_t end, U* adv,
                      const Next& next = {}) {
  const group_stats g = apply_singleton_rule(raw, est.singleton);
  const bool zero_all = zeroed_by_rule(g, est.singleton);
  const group_advantage<Est> advantage(est, g, batch);
  const auto bg = Est::baseline_view(g);
  if constexpr (Est::sequential) {  // one pass in group order, the state carried along
    auto state = est.baseline.start();
    for (std::int64_t j = begin; j < end; ++j) {
      const std::int64_t i = in.index(j);
      const bool valid = in.valid(i);
      if (valid) est.baseline.step(state, in.reward(i));
      adv[i] = (zero_all || !valid)
                   ? U(0)
                   : static_cast<U>(advantage(est, g, bg, batch, in.reward(i), state));
      next(i, valid);
    }
  } else {
    write_positional(est, batch, in, g, zero_all, advantage, bg, begin, end, adv, next);
  }
}

/// The weighting stage of one response (caller index i, valid or not): its advantage, as
/// stored, times the Phi of its sign, rounded to U and stored, then its token row.
template <bool Weighting, class U, class Rows>
void weigh_response(const group_phi<>& ph, bool valid, std::int64_t i, U* adv, const Rows& rows,
                    step_partial& local) {
  U a = adv[i];
  if constexpr (Weighting) {
    if (valid) {
      const auto x = static_cast<double>(a);
      const double f = ph(x);
      a = static_cast<U>(x * f);
      local.add(f, x, static_cast<double>(a));
      adv[i] = a;
    }
  }
  rows(i, a);
}

/// One group through every active stage: statistics -> advantages -> weights -> token rows.
/// Each response's advantage is rounded to U before it is weighted, exactly as when estimate()
/// writes it and reweight() reads it back. The diagnostics are summed per group, then merged
/// into `part` in group order.
///
/// The estimator, batch statistics and reader are taken by value: as locals they cannot alias
/// the output, so the compiler hoists the group-invariant part of the advantage (the scale:
/// sqrt, eps) out of the response loop instead of recomputing it per response.
template <class Est, class W, class Reader, class U, class Rows>
void step_group(const Est est, const batch_stats batch, const W w, const Reader in,
                std::int64_t begin, std::int64_t end, U* adv, const Rows& rows,
                phi_memo& memo, step_partial& part) {
  constexpr bool estimating = !std::is_same_v<Est, no_estimator>;
  constexpr bool weighting_on = !std::is_same_v<W, no_weighting>;
  const group_stats raw =
      compute_group_stats<step_needs_extrema<Est>(), step_needs_median<Est>(),
                          step_needs_abs_deviation<Est>()>(in, begin, end);
  if constexpr (!weighting_on && !Rows::active) {
    if constexpr (estimating) write_advantages(est, batch, in, raw, begin, end, adv);
  } else {
    group_phi<> ph;
    if constexpr (weighting_on)
      if (raw.count > 0) ph = memo(w, raw.mean);
    step_partial local;
    const auto weigh = [&](std::int64_t i, bool valid) {
      weigh_response<weighting_on>(ph, valid, i, adv, rows, local);
    };
    if constexpr (estimating) {
      write_advantages(est, batch, in, raw, begin, end, adv, weigh);
    } else {  // reweight(): each response's validity read before its advantage is written
      for (std::int64_t j = begin; j < end; ++j) {
        const std::int64_t i = in.index(j);
        weigh(i, in.valid(i));
      }
    }
    if constexpr (weighting_on) part.merge(local);
  }
}

}  // namespace hadw::detail::cpu
