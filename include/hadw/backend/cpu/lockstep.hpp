// The CPU lockstep: on a uniform dense batch, lanes groups at a time, one group per SIMD lane,
// every stage on packs with each group's own order, so each lane's bits are those of the
// one-group walk (backend/cpu/group.hpp) with independent chains and full registers.
#pragma once

#include <hadw/backend/cpu/group.hpp>
#include <hadw/detail/pack.hpp>
#include <hadw/detail/tile.hpp>
#include <hadw/stats/summary.hpp>
#include <hadw/step/diagnostics.hpp>

#include <cmath>
#include <cstdint>

namespace hadw::detail::cpu {

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
                                   const lane_accumulator* acc, const pack* abs_dev,
                                   std::int64_t G, lockstep_tile& tile) {
  if constexpr (!lanes_available<Est>) {
    return false;
  } else {
    // each pack's groups as the policies see them
    group_summary<pack, false, false, Est::needs_abs_deviation> g[lane_packs];
    pack scale[lane_packs];
    for (int p = 0; p < lane_packs; ++p) {
      if constexpr (Est::needs_abs_deviation) g[p].abs_dev = abs_dev[p];
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
  pack abs_dev[lane_packs] = {};  // group_abs_deviation per lane, in the same order
  if constexpr (step_needs_abs_deviation<Est>()) {
    for (std::int64_t j = 0; j < G; ++j)
      for (int p = 0; p < lane_packs; ++p) abs_dev[p] += absolute(tile.at(j, p) - acc[p].mean);
    for (int p = 0; p < lane_packs; ++p) {
      double lane[pack_width];
      store_pack(lane, abs_dev[p]);
      for (int l = 0; l < pack_width; ++l) raw[p * pack_width + l].abs_dev = lane[l];
    }
  }

  U* const out = adv + k0 * G;
  if constexpr (estimating) {
    if (!lane_advantages<U>(est, batch, acc, abs_dev, G, tile)) {
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

}  // namespace hadw::detail::cpu
