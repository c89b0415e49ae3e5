// The named estimators: aggregates with designated-initialiser options, each a composition of
// policies. Defaults follow verl (the most used peer); hadw/estimators/compat.hpp pins each peer.
#pragma once

#include <hadw/estimators/estimator.hpp>
#include <hadw/estimators/policies.hpp>
#include <hadw/estimators/rules.hpp>
#include <hadw/estimators/sequence.hpp>

namespace hadw {

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

/// GRPO against the other responses (NeMo-RL's GRPO, use_leave_one_out_baseline +
/// normalize_rewards): (r - mean_others) / (std_others + eps), undivided where std_others = 0
/// (leave_one_out_std_baseline). `normalise` = false is RLOO.
struct grpo_leave_one_out {
  double eps = 1e-6;
  bool normalise = true;
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<leave_one_out_std_baseline, unit_scale>{
        {.eps = eps, .normalise = normalise}, {}, singleton};
  }
};

/// REINFORCE++-baseline: r - mean_k, then whitened over the batch: (c - mean_c) / sqrt(var_c + eps).
/// With per-response lengths the whitening weighs each response by its token count, which is
/// what verl's masked_whiten over [bs, L] computes.
struct reinforce_pp_baseline {
  double eps = 1e-8;
  bool unbiased = true;
  eps_placement eps_at = eps_placement::add_to_var;  ///< floor_var: OpenRLHF's clamp
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<batch_centred_baseline, batch_std_scale>{
        {},
        {.eps = eps,
         .unbiased = unbiased,
         .eps_at = eps_at,
         .source = batch_source::centred,
         .raw_singleton_unit_std = false},
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

/// The authors' HA-DW advantage, exactly as their released code computes it
/// (history_weighted_baseline): their Phi times (r - mean) / (std + eps), with `history_mean` H
/// the mean of the last batches' mean rewards (the caller's, e.g. a window_mean_belief anchor's
/// belief in reward units, docs/integrating.md); `normalise` = false is Dr.GRPO with no weight.
/// Size-1 groups as theirs (verl's rule: mean 0, std 1). For new work prefer an estimator and
/// hadw::reweight: see docs/math.md for where the two differ.
struct ha_dw_authors {
  double history_mean = 0.0;
  double lambda_scale = 1.5;
  double eps = 1e-6;
  bool normalise = true;
  singleton_rule singleton = singleton_rule::raw_reward;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<history_weighted_baseline, group_std_scale>{
        {.history_mean = history_mean, .lambda_scale = lambda_scale, .weigh = normalise},
        {.eps = eps, .unbiased = true, .normalise = normalise},
        singleton};
  }
};

/// MaxRL: (r - mean) / (mean + eps), 0 where the group mean is <= 0 (mean_scale). eps = 0 is
/// prime-rl's max_rl (its default group singleton: keep, a lone response gets 0); SkyRL's
/// `maxrl` is eps = 1e-6 with singleton_rule::raw_reward (a lone response keeps r), and has no
/// mean <= 0 guard (it differs only for negative rewards).
struct maxrl {
  double eps = 0.0;
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<mean_baseline, mean_scale>{{}, {.eps = eps}, singleton};
  }
};

/// DGPO's advantage (MathForge, ICLR 2026): n (r - mean) / (sum |r - mean| + eps) (mad_scale).
/// Its question weights (DQW) are a weighting, not part of the advantage.
struct dgpo {
  double eps = 1e-4;
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<mean_baseline, mad_scale>{{}, {.eps = eps}, singleton};
  }
};

/// KRPO: a Kalman filter over the group's rewards in order, A_i = (r_i - x_i) / (sqrt(P_i) + eps)
/// (kalman_baseline; order-dependent, all-equal groups do not get 0).
struct krpo {
  double process_var = 1e-5;
  double measurement_var = 1e-2;
  double initial_mean = 0.0;
  double initial_var = 1.0;
  double eps = 1e-8;
  singleton_rule singleton = singleton_rule::reject;
  [[nodiscard]] constexpr auto policies() const {
    return estimator<kalman_baseline, unit_scale>{{.process_var = process_var,
                                                   .measurement_var = measurement_var,
                                                   .initial_mean = initial_mean,
                                                   .initial_var = initial_var,
                                                   .eps = eps},
                                                  {},
                                                  singleton};
  }
};

static_assert(estimator_like<maxrl> && estimator_like<dgpo> && estimator_like<krpo>);

static_assert(estimator_like<grpo> && estimator_like<dr_grpo> && estimator_like<grpo_batch_std> &&
              estimator_like<rloo> && estimator_like<grpo_leave_one_out> &&
              estimator_like<reinforce_pp_baseline> &&
              estimator_like<opo> && estimator_like<gpg> && estimator_like<grpo_passk> &&
              estimator_like<ha_dw_authors>);

}  // namespace hadw
