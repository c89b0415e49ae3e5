// The CPU backend: one pass over the batch that goes rewards -> group statistics -> estimator ->
// HA-DW weight -> token rows, in caller memory, with no allocation per call.
//
// Every public entry point (estimate, reweight, broadcast_to_tokens and the fused ones) runs the
// kernels below with the stages it needs switched on at compile time, so the fused call and the
// chain of separate calls execute the same arithmetic in the same order: bit-identical results.
// The per-element formulas are the shared HADW_HOST_DEVICE functions (compute_group_stats,
// estimator<>::advantage, phi); this file only decides how the data is walked.
//
// Numeric contract of the batch-level sums (y_t, step_stats): each group is summed
// sequentially, the groups of a block (detail::block_groups) in order, the blocks in order. That
// association is fixed by the data alone, so the result is the same for any OpenMP thread count.
#pragma once

#include <hadw/backend/tags.hpp>
#include <hadw/batch_stats.hpp>
#include <hadw/detail/blocks.hpp>
#include <hadw/detail/pack.hpp>
#include <hadw/detail/row_store.hpp>
#include <hadw/detail/tile.hpp>
#include <hadw/step/diagnostics.hpp>
#include <hadw/step/observation.hpp>
#include <hadw/step/step.hpp>
#include <hadw/error.hpp>
#include <hadw/estimators.hpp>
#include <hadw/layout.hpp>
#include <hadw/stats.hpp>
#include <hadw/weighting.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace hadw::detail::cpu {

// ---------------------------------------------------------------------------------------------
// Compile-time views of the runtime options

/// reward_range{0, 1}, the default: there normalise(r) = (r - 0) / (1 - 0) is r exactly for every
/// double, so the kernels use this type and skip a division per reward without changing a bit.
struct unit_range {
  template <class V>  // double, or a pack of groups
  [[nodiscard]] HADW_HOST_DEVICE static constexpr V normalise(V r) {
    return r;
  }
};

[[nodiscard]] constexpr double range_low(const unit_range&) { return 0.0; }
[[nodiscard]] constexpr double range_high(const unit_range&) { return 1.0; }
[[nodiscard]] constexpr double range_low(const reward_range& r) { return r.low; }
[[nodiscard]] constexpr double range_high(const reward_range& r) { return r.high; }

template <class F>
decltype(auto) with_range(const reward_range& range, F&& f) {
  if (range.low == 0.0 && range.high == 1.0) return f(unit_range{});
  return f(range);
}

/// Runs f with a dense_view when the caller gave no mask, lengths, permutation or NaN policy, so
/// that those checks are compiled out of the hot loops; otherwise with the response_view.
template <class T, class F>
decltype(auto) with_reader(const response_view<T>& in, F&& f) {
  if (!in.mask && !in.lengths && !in.permutation && !in.skip_nan) return f(dense_view<T>{in.rewards});
  return f(in);
}

template <class R>
inline constexpr bool is_dense_view = false;
template <class T>
inline constexpr bool is_dense_view<dense_view<T>> = true;

template <class T>
[[nodiscard]] bool masked_out(const response_view<T>& in, std::int64_t i) {
  return in.mask && in.mask[i] == 0;
}
template <class T>
[[nodiscard]] constexpr bool masked_out(const dense_view<T>&, std::int64_t) {
  return false;
}
template <class T>
[[nodiscard]] bool skips_nan(const response_view<T>& in) {
  return in.skip_nan;
}
template <class T>
[[nodiscard]] constexpr bool skips_nan(const dense_view<T>&) {
  return false;
}

/// Parallel only where the work pays for a fork/join.
[[nodiscard]] inline bool worth_parallel(std::int64_t responses, std::int64_t tokens = 0) {
  return responses + tokens >= parallel_min_work;
}

// ---------------------------------------------------------------------------------------------
// Scan: every check on the rewards, and the inputs of y_t, before anything is written

/// Which checks a scan makes: estimate's (finite rewards, the size-1 rule), reweight's (rewards
/// inside the declared range, y_t's counts), or both for the fused step.
struct scan_rules {
  bool estimate = false;
  singleton_rule singleton = singleton_rule::zero;
  bool reweight = false;
  double success_threshold = 0.5;
};

/// One group, any reader: records the first failure of each family of checks, and the group's
/// observation (observe_group) under the reweight rules.
template <class Reader, class Range>
void scan_group(const group_layout& layout, const Reader& in, const Range& range,
                const scan_rules& rules, std::int64_t k, observation& part) {
  using kind = reward_failure::kind;
  std::int64_t valid = 0;
  for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j) {
    const std::int64_t i = in.index(j);
    if (masked_out(in, i)) continue;
    const double r = in.reward(i);
    if (std::isnan(r)) [[unlikely]] {
      if (!skips_nan(in)) {
        part.estimate_failure.keep_first({kind::nan, i, r});
        part.reweight_failure.keep_first({kind::nan, i, r});
      }
      continue;
    }
    if (rules.estimate && !reward_in_domain(r)) [[unlikely]]
      part.estimate_failure.keep_first({kind::non_finite, i, r});
    if (rules.reweight && !(r >= range_low(range) && r <= range_high(range))) [[unlikely]]
      part.reweight_failure.keep_first({kind::out_of_range, i, r});
    ++valid;
  }
  if (rules.estimate && valid == 1 && rules.singleton == singleton_rule::reject) [[unlikely]]
    part.estimate_failure.keep_first({kind::singleton, k, 0.0});
  if (rules.reweight)
    part.merge(observe_group(in, layout.begin(k), layout.end(k), range, rules.success_threshold));
}

// The dense lockstep (detail/tile.hpp): on a uniform layout, `lanes` groups at a time, one
// group per SIMD lane. Each group's sums are a chain of dependent additions in a fixed order
// (the numeric contract); one group at a time, the core waits out the adder's latency on every
// response and uses one SIMD lane. In lockstep every group keeps its own order, so the bits
// are those of the one-group walk, with independent chains and full SIMD registers.
/// nvcc rejects vector types in HADW_HOST_DEVICE functions (group_accumulator<pack>), so a
/// translation unit compiled by it walks one group at a time: the same bits, more slowly.
#if defined(__CUDACC__)
inline constexpr bool lockstep_enabled = false;
#else
inline constexpr bool lockstep_enabled = true;
#endif

/// What the dense scan keeps of one group (V = double) or of pack_width groups (V = pack): y_t's
/// sums in the order of scan_group's, and the extremes, from which every check follows without
/// a comparison per reward: all rewards lie in an interval iff the minimum and the maximum do,
/// and a NaN reward makes the sum NaN (an infinite one is an extreme).
template <class V>
struct dense_scan_lane {
  V sum{}, correct{}, lo = V{} + INFINITY, hi = V{} - INFINITY;

  template <class Range>
  void add(V r, const Range& range, const scan_rules& rules) {
    if (rules.reweight) {
      const V u = range.normalise(r);
      sum += u;
      correct += u >= rules.success_threshold ? V{} + 1.0 : V{};  // exact below 2^53
    } else {
      sum += r;
    }
    lo = r < lo ? r : lo;
    hi = r > hi ? r : hi;
  }
  /// The pack form's lanes as one-group lanes (each member stored once, then read per lane).
  void split(dense_scan_lane<double>* out) const {
    double s[pack_width], c[pack_width], a[pack_width], b[pack_width];
    store_pack(s, sum);
    store_pack(c, correct);
    store_pack(a, lo);
    store_pack(b, hi);
    for (int l = 0; l < pack_width; ++l) out[l] = {s[l], c[l], a[l], b[l]};
  }
  /// Adds the group k of a one-group lane to `part`; a group with anything wrong in it is
  /// handed to scan_group, which names the failure.
  template <class T, class Range>
  void settle(const group_layout& layout, const dense_view<T>& in, const Range& range,
              const scan_rules& rules, std::int64_t k, observation& part) const {
    const std::int64_t size = layout.end(k) - layout.begin(k);
    const double s = sum, low = lo, high = hi;
    bool ok = !std::isnan(s);
    if (rules.reweight) ok = ok && low >= range_low(range) && high <= range_high(range);
    if (rules.estimate) ok = ok && reward_in_domain(low) && reward_in_domain(high);
    const bool singleton_rejected =
        rules.estimate && size == 1 && rules.singleton == singleton_rule::reject;
    if (!ok || singleton_rejected) [[unlikely]]
      return scan_group(layout, response_view<T>{in.rewards}, range, rules, k, part);
    if (rules.reweight)  // observe_group's fields, summed in its order
      part.merge({static_cast<std::int64_t>(correct), size, low == high, s, {}, {}});
  }
};

/// One group of a dense_view: the same sums in the same order without a branch per reward.
template <class T, class Range>
void scan_group(const group_layout& layout, const dense_view<T>& in, const Range& range,
                const scan_rules& rules, std::int64_t k, observation& part) {
  dense_scan_lane<double> lane;
  for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j)
    lane.add(in.reward(j), range, rules);
  lane.settle(layout, in, range, rules, k, part);
}

/// Groups [k0, k0 + lanes) of a uniform layout (size G) in lockstep; settled in group order.
template <class T>
void scan_lanes(const group_layout& layout, const dense_view<T>& in, const unit_range& range,
                const scan_rules& rules, std::int64_t k0, std::int64_t G, observation& part) {
  lockstep_tile tile;
  tile.load(in.rewards + k0 * G, G);
  dense_scan_lane<pack> lane[lane_packs];
  for (std::int64_t j = 0; j < G; ++j)
    for (int p = 0; p < lane_packs; ++p) lane[p].add(tile.at(j, p), range, rules);
  for (int p = 0; p < lane_packs; ++p) {
    dense_scan_lane<double> one[pack_width];
    lane[p].split(one);
    for (int l = 0; l < pack_width; ++l)
      one[l].settle(layout, in, range, rules, k0 + p * pack_width + l, part);
  }
}

template <class Reader, class Range>
void scan_block(const group_layout& layout, const Reader& in, const Range& range,
                const scan_rules& rules, std::int64_t g0, std::int64_t g1, observation& part) {
  std::int64_t k = g0;
  if constexpr (lockstep_enabled && is_dense_view<Reader> && std::is_same_v<Range, unit_range>)
    if (layout.is_uniform() && lockstep_fits(layout.uniform_size()))
      for (; k + lanes <= g1; k += lanes)
        scan_lanes(layout, in, range, rules, k, layout.uniform_size(), part);
  for (; k < g1; ++k) scan_group(layout, in, range, rules, k, part);
}

/// Scans the rewards under `rules`. Reads only; never throws (failures are in the result).
template <class T>
[[nodiscard]] observation scan(const group_layout& layout, const response_view<T>& view,
                                const reward_range& range, const scan_rules& rules) {
  const bool parallel = worth_parallel(layout.num_responses());
  return with_reader(view, [&](const auto& in) {
    return with_range(range, [&](const auto& rg) {
      return reduce_blocks<observation>(
          layout.num_groups(), parallel, [&](std::int64_t g0, std::int64_t g1, observation& p) {
            scan_block(layout, in, rg, rules, g0, g1, p);
          });
    });
  });
}

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

/// No token stage.
struct no_rows {
  static constexpr bool active = false;
  bool stream = false;
  template <class U>
  void operator()(std::int64_t, U) const {}
};

/// Token rows under a per-token mask [N, L].
template <class M, class V>
struct mask_rows {
  static constexpr bool active = true;
  const M* mask;
  V* out;
  std::size_t L;
  bool stream;
  template <class U>
  void operator()(std::int64_t i, U a) const {
    const std::size_t row = static_cast<std::size_t>(i) * L;
    select_row(out + row, mask + row, static_cast<V>(a), L, stream);
  }
};

/// Right-padded token rows of per-row lengths (validated to lie in [0, L]).
template <class I, class V>
struct length_rows {
  static constexpr bool active = true;
  const I* lengths;
  V* out;
  std::size_t L;
  bool stream;
  template <class U>
  void operator()(std::int64_t i, U a) const {
    fill_row(out + static_cast<std::size_t>(i) * L, static_cast<V>(a),
             static_cast<std::size_t>(lengths[i]), L, stream);
  }
};

/// Whether token rows are written with streaming stores: outputs past the cache
/// (streaming_store_min_bytes), where a plain store would first read each line it writes (the
/// write-allocate read) only to overwrite it. Measured at 2^26-2^27 float tokens: on AMD EPYC
/// Zen 4 (KVM), mask rows 108% of a memset plus the mask read streaming vs 78% plain, length
/// rows 74% streaming vs 88% plain; on an AMD EPYC without AVX-512 (KVM, 2 cores), length rows
/// 11.9 ms streaming vs 34.5 ms plain (bench/python/bench_python.py). Streaming for both: the
/// second machine's 2.9x outweighs the first one's 16%.
template <class V>
[[nodiscard]] bool stream_tokens(std::int64_t tokens) {
  return static_cast<std::size_t>(tokens) * sizeof(V) >= streaming_store_min_bytes;
}

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
  /// `bg`: the baseline's summary of g (Est::baseline_view), formed once per group.
  template <class Summary>
  [[nodiscard]] double operator()(const Est& est, const group_stats& g, const Summary& bg,
                                  const batch_stats& b, double r, std::int64_t pos) const {
    return hoisted ? of_deviation(est.baseline.deviation(bg, b, r, pos))
                   : est.advantage(g, b, r, pos);
  }
  /// d == 0 ? 0 : d / s, of a double or per lane of a pack (GCC does not vectorise the scalar
  /// loop: -ftrapping-math keeps the division behind the d == 0 branch).
  template <class V>
  [[nodiscard]] V of_deviation(V d) const {
    const V q = d / s;
    return d == 0.0 ? V{} : q;
  }
};

/// detail::step_totals for pack_width groups stepped in lockstep, one group per SIMD lane.
template <class V>
struct step_sums {
  V phi_sum{};
  V phi_min = V{} + INFINITY;
  V phi_max = V{} - INFINITY;
  V before_sum{}, before_sq{}, after_sum{}, after_sq{};

  /// One response: its Phi f and its advantage before (x) and after (y).
  void add(V f, V x, V y) { add_response(*this, f, x, y); }
};

/// The diagnostics of one group, or of many merged in group order (shared with CUDA).
using step_partial = step_totals;

/// Merges the sums of pack_width groups stepped in lockstep (n responses each) into `part`,
/// lane by lane in group order. Each member is stored once and read back per lane (no lane
/// extraction per field).
inline void merge_lanes(const step_sums<pack>& s, std::int64_t n, step_partial& part) {
  double f_sum[pack_width], f_min[pack_width], f_max[pack_width], b_sum[pack_width],
      b_sq[pack_width], a_sum[pack_width], a_sq[pack_width];
  store_pack(f_sum, s.phi_sum);
  store_pack(f_min, s.phi_min);
  store_pack(f_max, s.phi_max);
  store_pack(b_sum, s.before_sum);
  store_pack(b_sq, s.before_sq);
  store_pack(a_sum, s.after_sum);
  store_pack(a_sq, s.after_sq);
  for (int l = 0; l < pack_width; ++l) {
    step_partial p;
    p.n = n;
    p.phi_sum = f_sum[l];
    p.phi_min = f_min[l];
    p.phi_max = f_max[l];
    p.before_sum = b_sum[l];
    p.before_sq = b_sq[l];
    p.after_sum = a_sum[l];
    p.after_sq = a_sq[l];
    part.merge(p);
  }
}

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

/// The estimator stage of one group (its statistics `raw`): the advantages, written at their
/// caller indices. Each is rounded to U, exactly as estimate() stores it.
template <class Est, class Reader, class U>
void write_advantages(const Est& est, const batch_stats& batch, const Reader& in,
                      const group_stats& raw, std::int64_t begin, std::int64_t end, U* adv) {
  const group_stats g = apply_singleton_rule(raw, est.singleton);
  const bool zero_all = zeroed_by_rule(g, est.singleton);
  const group_advantage<Est> advantage(est, g, batch);
  const auto bg = Est::baseline_view(g);
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
      return;
    }
  }
  for (std::int64_t j = begin; j < end; ++j) {
    const std::int64_t i = in.index(j);
    adv[i] = (zero_all || !in.valid(i))
                 ? U(0)
                 : static_cast<U>(advantage(est, g, bg, batch, in.reward(i), j - begin));
  }
}

/// The weighting stage of one response (caller index i): its advantage, as stored, times the
/// Phi of its sign, rounded to U and stored, then its token row.
template <bool Weighting, class Reader, class U, class Rows>
void weigh_response(const group_phi<>& ph, const Reader& in, std::int64_t i, U* adv,
                    const Rows& rows, step_partial& local) {
  U a = adv[i];
  if constexpr (Weighting) {
    if (in.valid(i)) {
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
      compute_group_stats<step_needs_extrema<Est>(), step_needs_median<Est>()>(in, begin, end);
  if constexpr (estimating) write_advantages(est, batch, in, raw, begin, end, adv);
  if constexpr (weighting_on || Rows::active) {
    group_phi<> ph;
    if constexpr (weighting_on)
      if (raw.count > 0) ph = memo(w, raw.mean);
    step_partial local;
    for (std::int64_t j = begin; j < end; ++j)
      weigh_response<weighting_on>(ph, in, in.index(j), adv, rows, local);
    if constexpr (weighting_on) part.merge(local);
  }
}

/// Whether the lockstep steps an estimator's policies a pack of groups at a time: unless a
/// policy declared `scalar_only` or reads extrema or the median (which the lockstep does not
/// compute), its member templates are instantiated for group_summary<pack>. Otherwise the
/// advantages are written one group at a time, with the same result ([lockstep] tests hold the
/// two to the same bits).
template <class Est>
inline constexpr bool lanes_available = !Est::needs_extrema && !Est::needs_median &&
                                        !Est::scalar_only;

/// The accumulators of the lockstep's statistics passes (dense_view: every weight is 1).
using lane_accumulator = group_accumulator<false, pack, false>;

/// The estimator stage of a lockstep step: each cell of `tile` (rewards) becomes its advantage
/// rounded to U, as write_advantages computes it, from each pack's means and m2 in `acc` (and
/// `raw`, the same statistics per group). False, with the tile untouched, where a lane needs the
/// general formula (a scale that is 0 or not finite) or the baseline has no lane form.
template <class U, class Est>
[[nodiscard]] bool lane_advantages(const Est& est, const batch_stats& batch,
                                   const lane_accumulator* acc, std::int64_t G,
                                   lockstep_tile& tile) {
  if constexpr (!lanes_available<Est>) {
    return false;
  } else {
    group_summary<pack> g[lane_packs];  // each pack's groups as the policies see them
    pack scale[lane_packs];
    for (int p = 0; p < lane_packs; ++p) {
      g[p].count = G;
      g[p].mean = g[p].weighted_mean = acc[p].mean;
      g[p].m2 = acc[p].m2;
      g[p].min = acc[p].min;
      g[p].max = acc[p].max;
      g[p].weight_sum = splat<pack>(static_cast<double>(G));
      scale[p] = est.scale.scale(g[p], batch);
      if (!all_lanes((scale[p] > 0.0) & (scale[p] < INFINITY)))  // group_advantage::hoisted
        return false;
    }
    for (std::int64_t j = 0; j < G; ++j)
      for (int p = 0; p < lane_packs; ++p) {
        const pack d = est.baseline.deviation(g[p], batch, tile.at(j, p), j);
        const pack q = d / scale[p];  // group_advantage::of_deviation, per lane
        tile.at(j, p) = rounded_to<U>(d == 0.0 ? pack{} : q);
      }
    return true;
  }
}

/// step_group for groups [k0, k0 + lanes) of a uniform layout (size G, lockstep_fits) of a
/// dense_view, every stage stepped in lockstep, one group per pack lane: each group's sums in
/// its own order, so bit-identical to step_group on each group in turn. The rewards are read
/// into a transposed tile once; each stage rewrites it in place (advantage, then weighted
/// advantage), and it is stored back transposed.
template <class Est, class W, class T, class U>
void step_lanes(const Est est, const batch_stats batch, const W w, const dense_view<T> in,
                std::int64_t k0, std::int64_t G, U* adv, phi_memo& memo, step_partial& part) {
  constexpr bool estimating = !std::is_same_v<Est, no_estimator>;
  constexpr bool weighting_on = !std::is_same_v<W, no_weighting>;
  lockstep_tile tile;
  tile.load(in.rewards + k0 * G, G);

  lane_accumulator acc[lane_packs];
  for (std::int64_t j = 0; j < G; ++j)
    for (int p = 0; p < lane_packs; ++p) acc[p].add(tile.at(j, p), pack{}, j);
  for (int p = 0; p < lane_packs; ++p) acc[p].mean = acc[p].means();
  for (std::int64_t j = 0; j < G; ++j)  // pass 2 in every lane; m2 kept where it is needed
    for (int p = 0; p < lane_packs; ++p) acc[p].add_square(tile.at(j, p));
  group_stats raw[lanes];
  for (int p = 0; p < lane_packs; ++p) acc[p].split(raw + p * pack_width);

  U* const out = adv + k0 * G;
  if constexpr (estimating) {
    if (!lane_advantages<U>(est, batch, acc, G, tile)) {
      for (std::int64_t l = 0; l < lanes; ++l)
        write_advantages(est, batch, in, raw[l], (k0 + l) * G, (k0 + l + 1) * G, adv);
      if constexpr (!weighting_on) return;
      tile.load(out, G);
    }
  } else {
    tile.load(out, G);  // reweight(): the advantages as the caller stored them
  }

  if constexpr (weighting_on) {
    double neg[lanes], zero[lanes], pos[lanes];  // gathered as scalars, loaded as packs once
    for (std::int64_t l = 0; l < lanes; ++l) {
      const group_phi<> one = memo(w, raw[l].mean);
      neg[l] = one.neg;
      zero[l] = one.zero;
      pos[l] = one.pos;
    }
    group_phi<pack> ph[lane_packs];
    for (int p = 0; p < lane_packs; ++p)
      ph[p] = {load_pack(neg + p * pack_width), load_pack(zero + p * pack_width),
               load_pack(pos + p * pack_width)};
    step_sums<pack> sums[lane_packs];
    for (std::int64_t j = 0; j < G; ++j)
      for (int p = 0; p < lane_packs; ++p) {  // weigh_response, a pack of groups at a time
        const pack x = tile.at(j, p);
        const pack f = ph[p](x);
        const pack y = rounded_to<U>(x * f);
        sums[p].add(f, x, y);
        tile.at(j, p) = y;
      }
    for (int p = 0; p < lane_packs; ++p) merge_lanes(sums[p], G, part);
  }
  tile.store(out, G);
}

/// Runs the step over every group in fixed blocks (in parallel when worth it). Without token
/// rows, a uniform layout read densely goes through step_lanes.
template <class Est, class W, class Reader, class U, class Rows>
[[nodiscard]] step_partial run_step(const group_layout& layout, const Est& est,
                                    const batch_stats& batch, const W& w, const Reader& in,
                                    U* adv, const Rows& rows, std::int64_t tokens) {
  constexpr bool lockstep =
      lockstep_enabled && is_dense_view<Reader> && !Rows::active && !step_needs_extrema<Est>() &&
      !step_needs_median<Est>();  // the lockstep computes neither
  const bool parallel = worth_parallel(layout.num_responses(), tokens);
  return reduce_blocks<step_partial>(
      layout.num_groups(), parallel, [&](std::int64_t g0, std::int64_t g1, step_partial& part) {
        phi_memo memo;
        std::int64_t k = g0;
        if constexpr (lockstep)
          if (layout.is_uniform() && lockstep_fits(layout.uniform_size()))
            for (; k + lanes <= g1; k += lanes)
              step_lanes(est, batch, w, in, k, layout.uniform_size(), adv, memo, part);
        for (; k < g1; ++k)
          step_group(est, batch, w, in, layout.begin(k), layout.end(k), adv, rows, memo, part);
        if (rows.stream) streaming_fence();
      });
}

/// Token rows alone (hadw::broadcast_to_tokens): rows in chunks, no reduction.
template <class T, class Rows>
void run_rows(const T* adv, std::int64_t n, std::int64_t tokens, const Rows& rows) {
  for_chunks(n, 64, worth_parallel(n, tokens), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t i = r0; i < r1; ++i) rows(i, adv[i]);
    if (rows.stream) streaming_fence();
  });
}

}  // namespace hadw::detail::cpu
