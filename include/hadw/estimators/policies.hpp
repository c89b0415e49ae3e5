// The shipped baseline and scale policies (DESIGN.md §1.1): A = (r - b) / s. Each is written once
// for every value type (see baseline_policy in hadw/concepts.hpp).
#pragma once

#include <hadw/concepts.hpp>
#include <hadw/error.hpp>
#include <hadw/estimators/rules.hpp>
#include <hadw/stats/batch.hpp>
#include <hadw/stats/summary.hpp>

#include <cmath>
#include <cstdint>

namespace hadw {

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

}  // namespace hadw
