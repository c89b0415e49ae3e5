// Group-relative advantage estimators as baseline x scale policies (DESIGN.md §1.1):
// A_{k,i} = (r_{k,i} - b_{k,i}) / s_k.
#pragma once

#include <hadw/concepts.hpp>
#include <hadw/stats/summary.hpp>
#include <hadw/error.hpp>

#include <cmath>
#include <cstdint>

namespace hadw {

/// Where eps enters a standard-deviation scale.
enum class eps_placement : std::uint8_t {
  add_to_std,  ///< s = std + eps        (verl, TRL, OpenRLHF)
  add_to_var,  ///< s = sqrt(var + eps)  (verl's masked_whiten)
};

/// What a group with a single valid response yields (it has no group-relative signal).
enum class singleton_rule : std::uint8_t {
  reject,      ///< hadw::error naming the group (default: usually a data bug upstream)
  zero,        ///< advantage 0
  raw_reward,  ///< verl: baseline 0, std 1, so A = r (or r / (1 + eps) under a std scale)
};

/// The group's statistics with the size-1 rule applied: verl's raw_reward makes a lone response's
/// baseline 0 and std 1 (group_stats::make_raw_singleton).
[[nodiscard]] HADW_HOST_DEVICE inline group_stats apply_singleton_rule(group_stats g,
                                                                       singleton_rule rule) {
  if (g.count == 1 && rule == singleton_rule::raw_reward) g.make_raw_singleton();
  return g;
}

/// Whether the size-1 rule zeroes the whole group: its advantage is 0 and it enters no batch
/// statistic.
[[nodiscard]] HADW_HOST_DEVICE inline bool zeroed_by_rule(const group_stats& g,
                                                          singleton_rule rule) {
  return g.count == 1 && rule == singleton_rule::zero;
}

/// One group's share of the batch statistics (positions [begin, end) of a response reader, its
/// statistics `raw`): its raw moments, and its centred deviations weighted by length when
/// `weighted`. The CPU pass and the CUDA scan both call it; groups merge in group order.
template <class Reader>
HADW_HOST_DEVICE void accumulate_batch(batch_stats& b, const Reader& in, std::int64_t begin,
                                       std::int64_t end, const group_stats& raw,
                                       singleton_rule rule, bool weighted) {
  if (zeroed_by_rule(raw, rule)) return;
  b.merge_raw(raw);
  const group_stats g = apply_singleton_rule(raw, rule);
  for (std::int64_t j = begin; j < end; ++j) {
    const std::int64_t i = in.index(j);
    if (!in.valid(i)) continue;
    const double r = in.reward(i);
    const double w = weighted ? in.weight(i) : 1.0;
    const double c = g.centred(r);
    b.nonzero += r != 0.0;
    b.centred_weight += w;
    b.centred_sum += w * c;
    b.centred_sq += w * c * c;
  }
}

namespace detail {
/// eps is off (0) or at least 1e-12. A smaller positive eps only acts where the spread is ~0 (a
/// batch whose weights are all 0, a zero-dof variance) and there it divides a non-zero deviation
/// by ~eps, giving advantages past float range, or past max_abs_advantage so that reweight would
/// reject estimate's own output (found by fuzzing). Every peer's eps is >= 1e-9.
inline void check_eps(double eps) {
  require(std::isfinite(eps) && (eps == 0.0 || eps >= 1e-12),
          "eps >= 0 (finite; 0 or >= 1e-12) required, got ", eps);
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Baselines and scales: each written once for every value type (see baseline_policy).

/// b = the group mean. GRPO, Dr.GRPO, GPG.
struct mean_baseline {
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const batch_stats&, typename G::value_type r,
                                  std::int64_t) const {
    return g.centred(r);
  }
  void validate() const {}
};

/// b = the mean of the *other* responses (RLOO): r - (S - r)/(n-1) = n/(n-1) (r - mean).
struct leave_one_out_baseline {
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const batch_stats&, typename G::value_type r,
                                  std::int64_t) const {
    if (g.count < 2) return r - g.mean;  // size-1 rule already applied to g
    const double n = static_cast<double>(g.count);
    return n / (n - 1.0) * (r - g.mean);
  }
  void validate() const {}
};

/// b = sum(len_i r_i) / sum(len_i), the length-weighted group mean (verl's OPO). Needs lengths.
struct length_weighted_baseline {
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const batch_stats&, typename G::value_type r,
                                  std::int64_t) const {
    return r - g.weighted_mean;
  }
  void validate() const {}
};

/// b = the group mean plus the batch mean of the centred rewards: together with a centred
/// batch-std scale this whitens (r - mean_k) over the batch (REINFORCE++-baseline).
struct batch_centred_baseline {
  static constexpr bool needs_batch_stats = true;
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const batch_stats& b, typename G::value_type r,
                                  std::int64_t) const {
    return g.centred(r) - b.centred_mean();
  }
  void validate() const {}
};

/// Pass@k (verl's grpo_passk): only the group's best response learns, against the second best;
/// every other response gets deviation 0.
struct pass_k_baseline {
  static constexpr bool needs_extrema = true;
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const batch_stats&, typename G::value_type r,
                                  std::int64_t pos) const {
    return pos == g.argmax ? r - g.second_max : typename G::value_type{};
  }
  void validate() const {}
};

/// s = 1.
struct unit_scale {
  template <class G>
  HADW_HOST_DEVICE auto scale(const G&, const batch_stats&) const {
    return splat<typename G::value_type>(1.0);
  }
  void validate() const {}
};

/// s = the group's std (+ eps, per `eps_at`); s = 1 when `normalise` is false (verl's
/// norm_adv_by_std_in_grpo=False).
struct group_std_scale {
  double eps = 1e-6;
  bool unbiased = true;
  eps_placement eps_at = eps_placement::add_to_std;
  bool normalise = true;
  template <class G>
  HADW_HOST_DEVICE auto scale(const G& g, const batch_stats&) const {
    using V = typename G::value_type;
    if (!normalise) return splat<V>(1.0);
    if (eps_at == eps_placement::add_to_var && !g.singleton_as_raw)
      return lane_sqrt(g.variance(unbiased) + eps);
    return g.stddev(unbiased) + eps;
  }
  void validate() const { detail::check_eps(eps); }
};

/// s = the batch's std (+ eps) of the raw or the group-centred rewards.
struct batch_std_scale {
  static constexpr bool needs_batch_stats = true;
  double eps = 1e-4;
  bool unbiased = true;
  eps_placement eps_at = eps_placement::add_to_std;
  batch_source source = batch_source::raw;
  template <class G>
  HADW_HOST_DEVICE auto scale(const G&, const batch_stats& b) const {
    const double var = b.variance(source, unbiased);
    return splat<typename G::value_type>(
        eps_at == eps_placement::add_to_var ? std::sqrt(var + eps) : std::sqrt(var) + eps);
  }
  void validate() const { detail::check_eps(eps); }
};

/// GPG's batch factor: A = alpha (r - b) / f_norm with alpha = N / max(1, #non-zero rewards),
/// so s = f_norm * max(1, nonzero) / N.
struct gpg_scale {
  static constexpr bool needs_batch_stats = true;
  double f_norm = 1.0;
  template <class G>
  HADW_HOST_DEVICE auto scale(const G&, const batch_stats& b) const {
    const double nonzero = b.nonzero > 0 ? static_cast<double>(b.nonzero) : 1.0;
    return splat<typename G::value_type>(f_norm * nonzero / static_cast<double>(b.count));
  }
  /// f_norm >= 1e-6: a smaller divisor multiplies advantages past float range (A grows as N / f_norm).
  void validate() const {
    detail::require(std::isfinite(f_norm) && f_norm >= 1e-6,
                    "f_norm >= 1e-6 (finite) required, got ", f_norm);
  }
};

static_assert(baseline_policy<mean_baseline> && baseline_policy<leave_one_out_baseline> &&
              baseline_policy<length_weighted_baseline> &&
              baseline_policy<batch_centred_baseline> && baseline_policy<pass_k_baseline>);
static_assert(scale_policy<unit_scale> && scale_policy<group_std_scale> &&
              scale_policy<batch_std_scale> && scale_policy<gpg_scale>);

// ---------------------------------------------------------------------------------------------
// The composition

/// An estimator: a baseline, a scale, and the rules every estimator shares.
template <baseline_policy Baseline, scale_policy Scale>
struct estimator {
  Baseline baseline{};
  Scale scale{};
  singleton_rule singleton = singleton_rule::reject;
  bool needs_lengths = false;  ///< lengths are required (OPO)
  bool uses_lengths = false;   ///< lengths, when given, weight the batch statistics (REINFORCE++)

  static constexpr bool needs_batch_stats =
      needs_batch_stats_v<Baseline> || needs_batch_stats_v<Scale>;
  static constexpr bool needs_extrema = needs_extrema_v<Baseline> || needs_extrema_v<Scale>;
  static constexpr bool needs_median = needs_median_v<Baseline> || needs_median_v<Scale>;
  static constexpr bool scalar_only = scalar_only_v<Baseline> || scalar_only_v<Scale>;

  void validate() const {
    baseline.validate();
    scale.validate();
  }
  /// The group's summary as each policy declared it (the kernels computed what either declared).
  [[nodiscard]] HADW_HOST_DEVICE static auto baseline_view(const group_stats& g) {
    return summary_of<needs_extrema_v<Baseline>, needs_median_v<Baseline>>(g);
  }
  [[nodiscard]] HADW_HOST_DEVICE static auto scale_view(const group_stats& g) {
    return summary_of<needs_extrema_v<Scale>, needs_median_v<Scale>>(g);
  }
  /// The group's scale (group-invariant: the kernels evaluate it once per group).
  [[nodiscard]] HADW_HOST_DEVICE double group_scale(const group_stats& g,
                                                    const batch_stats& b) const {
    return scale.scale(scale_view(g), b);
  }
  /// The advantage of one response. Exactly 0 when its deviation is 0 (all-equal groups).
  ///
  /// Also 0 when the scale is 0 although the deviation is not: with eps = 0 that happens only
  /// when the squared deviations underflow double (rewards differing by less than ~1e-154), a
  /// spread no verifier resolves; dividing would turn finite rewards into +-Inf.
  HADW_HOST_DEVICE double advantage(const group_stats& g, const batch_stats& b, double r,
                                    std::int64_t pos) const {
    const double d = baseline.deviation(baseline_view(g), b, r, pos);
    if (d == 0.0) return 0.0;
    const double s = group_scale(g, b);
    return s > 0.0 ? d / s : 0.0;
  }
  [[nodiscard]] constexpr const estimator& policies() const { return *this; }
};

/// Anything hadw::estimate accepts: an estimator<> or a named preset that maps to one.
template <class E>
concept estimator_like = requires(const E& e) {
  e.policies().validate();
  { e.policies().singleton } -> std::convertible_to<singleton_rule>;
};

// ---------------------------------------------------------------------------------------------
// Named estimators: aggregates with designated-initialiser options, each a composition.
// Defaults follow verl (the most used peer); hadw::compat pins each peer's conventions.

/// GRPO: (r - mean) / (std + eps). verl `grpo`, TRL scale_rewards="group", OpenRLHF group_norm.
struct grpo {
  double eps = 1e-6;
  bool unbiased = true;
  eps_placement eps_at = eps_placement::add_to_std;
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<mean_baseline, group_std_scale>{
        {}, {.eps = eps, .unbiased = unbiased, .eps_at = eps_at}, singleton};
  }
};

/// Dr.GRPO: r - mean (no std normalisation). verl norm_adv_by_std_in_grpo=False, TRL "none".
struct dr_grpo {
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<mean_baseline, unit_scale>{{}, {}, singleton};
  }
};

/// GRPO with the batch's std: (r - mean_k) / (std_batch + eps). `centred` = false takes the std of
/// the raw rewards (TRL scale_rewards="batch"); true the std of r - mean_k.
struct grpo_batch_std {
  double eps = 1e-4;
  bool unbiased = true;
  bool centred = false;
  eps_placement eps_at = eps_placement::add_to_std;
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<mean_baseline, batch_std_scale>{
        {},
        {.eps = eps,
         .unbiased = unbiased,
         .eps_at = eps_at,
         .source = centred ? batch_source::centred : batch_source::raw},
        singleton};
  }
};

/// RLOO: r - mean of the other responses. verl `rloo`, OpenRLHF `rloo`.
struct rloo {
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<leave_one_out_baseline, unit_scale>{{}, {}, singleton};
  }
};

/// REINFORCE++-baseline: r - mean_k, then whitened over the batch: (c - mean_c) / sqrt(var_c + eps).
/// With per-response lengths the whitening weighs each response by its token count, which is
/// what verl's masked_whiten over [bs, L] computes.
struct reinforce_pp_baseline {
  double eps = 1e-8;
  bool unbiased = true;
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<batch_centred_baseline, batch_std_scale>{
        {},
        {.eps = eps,
         .unbiased = unbiased,
         .eps_at = eps_placement::add_to_var,
         .source = batch_source::centred},
        singleton,
        false,
        true};
  }
};

/// OPO: r - length-weighted group mean (verl `opo`). Requires lengths.
struct opo {
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<length_weighted_baseline, unit_scale>{{}, {}, singleton, true};
  }
};

/// GPG: alpha (r - mean) / f_norm, alpha = N / #non-zero rewards (verl `gpg`).
struct gpg {
  double f_norm = 1.0;
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<mean_baseline, gpg_scale>{{}, {.f_norm = f_norm}, singleton};
  }
};

/// Pass@k GRPO (verl `grpo_passk`): the best response gets (r_max - r_second) / (std + eps),
/// all others 0; `normalise` = false drops the std.
struct grpo_passk {
  double eps = 1e-6;
  bool unbiased = true;
  bool normalise = true;
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<pass_k_baseline, group_std_scale>{
        {}, {.eps = eps, .unbiased = unbiased, .normalise = normalise}, singleton};
  }
};

static_assert(estimator_like<grpo> && estimator_like<dr_grpo> && estimator_like<grpo_batch_std> &&
              estimator_like<rloo> && estimator_like<reinforce_pp_baseline> &&
              estimator_like<opo> && estimator_like<gpg> && estimator_like<grpo_passk>);

}  // namespace hadw
