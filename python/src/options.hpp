// The run-time face of hadw's compile-time choices: an estimator chosen by name (with a peer
// preset and named overrides), a difficulty anchor whose belief is chosen by name, and the string
// spellings of the option enums. Python picks at run time; the C++ kernels stay templates, so
// each choice is dispatched once per call through std::visit, never per element.
#pragma once

#include <hadw/hadw.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace hadw::python {

using estimator_variant =
    std::variant<grpo, dr_grpo, grpo_batch_std, rloo, grpo_leave_one_out, reinforce_pp_baseline,
                 opo, gpg, grpo_passk, ha_dw_authors, maxrl, dgpo, krpo>;

/// Named options a caller may override on top of the name's defaults or the peer preset. Only
/// the options the chosen estimator has may be given (hadw::error otherwise).
struct estimator_overrides {
  std::optional<double> eps;
  std::optional<bool> unbiased;
  std::optional<std::string> singleton;
  std::optional<std::string> eps_at;
  std::optional<bool> centred;
  std::optional<bool> normalise;
  std::optional<double> f_norm;
  std::optional<double> history_mean;
  std::optional<double> lambda_scale;
  std::optional<double> process_var;      ///< krpo
  std::optional<double> measurement_var;  ///< krpo
  std::optional<double> initial_mean;     ///< krpo
  std::optional<double> initial_var;      ///< krpo
};

[[nodiscard]] inline singleton_rule parse_singleton(std::string_view s) {
  if (s == "reject") return singleton_rule::reject;
  if (s == "zero") return singleton_rule::zero;
  if (s == "raw_reward") return singleton_rule::raw_reward;
  if (s == "keep") return singleton_rule::keep;
  throw error(detail::concat("singleton: 'reject', 'zero', 'raw_reward' or 'keep' required, got '",
                             s, "'"));
}
[[nodiscard]] inline const char* name_of(singleton_rule r) {
  switch (r) {
    case singleton_rule::reject: return "reject";
    case singleton_rule::zero: return "zero";
    case singleton_rule::raw_reward: return "raw_reward";
    case singleton_rule::keep: return "keep";
  }
  return "?";
}
[[nodiscard]] inline eps_placement parse_eps_at(std::string_view s) {
  if (s == "std") return eps_placement::add_to_std;
  if (s == "var") return eps_placement::add_to_var;
  if (s == "floor_var") return eps_placement::floor_var;
  throw error(detail::concat("eps_at: 'std', 'var' or 'floor_var' required, got '", s, "'"));
}
[[nodiscard]] inline const char* name_of(eps_placement e) {
  switch (e) {
    case eps_placement::add_to_std: return "std";
    case eps_placement::add_to_var: return "var";
    case eps_placement::floor_var: return "floor_var";
  }
  return "?";
}
[[nodiscard]] inline nan_policy parse_nan(std::string_view s) {
  if (s == "reject") return nan_policy::reject;
  if (s == "unscorable") return nan_policy::unscorable;
  throw error(detail::concat("nan: 'reject' or 'unscorable' required, got '", s, "'"));
}
[[nodiscard]] inline anchor_timing parse_timing(std::string_view s) {
  if (s == "prior") return anchor_timing::prior;
  if (s == "posterior") return anchor_timing::posterior;
  throw error(detail::concat("timing: 'prior' or 'posterior' required, got '", s, "'"));
}
[[nodiscard]] inline observation_kind parse_observation(std::string_view s) {
  if (s == "mean_reward") return observation_kind::mean_reward;
  if (s == "success_rate") return observation_kind::success_rate;
  throw error(
      detail::concat("observation: 'mean_reward' or 'success_rate' required, got '", s, "'"));
}

/// The estimator `name` with its defaults, or `compat`'s preset for it.
[[nodiscard]] inline estimator_variant preset(std::string_view name, std::string_view compat) {
  if (compat.empty()) {
    if (name == "grpo") return grpo{};
    if (name == "dr_grpo") return dr_grpo{};
    if (name == "grpo_batch_std") return grpo_batch_std{};
    if (name == "rloo") return rloo{};
    if (name == "grpo_leave_one_out") return grpo_leave_one_out{};
    if (name == "reinforce_pp_baseline") return reinforce_pp_baseline{};
    if (name == "opo") return opo{};
    if (name == "gpg") return gpg{};
    if (name == "grpo_passk") return grpo_passk{};
    if (name == "ha_dw_authors") return ha_dw_authors{};
    if (name == "maxrl") return maxrl{};
    if (name == "dgpo") return dgpo{};
    if (name == "krpo") return krpo{};
    throw error(detail::concat(
        "estimator: one of 'grpo', 'dr_grpo', 'grpo_batch_std', 'rloo', 'grpo_leave_one_out', "
        "'reinforce_pp_baseline', 'opo', 'gpg', 'grpo_passk', 'ha_dw_authors', 'maxrl', 'dgpo', "
        "'krpo' required (compat 'verl' adds 'rloo_vectorized'), got '",
        name, "'"));
  }
  if (compat == "verl") {
    if (name == "grpo") return compat::verl::grpo;
    if (name == "dr_grpo") return compat::verl::dr_grpo;
    if (name == "rloo") return compat::verl::rloo;
    if (name == "rloo_vectorized") return compat::verl::rloo_vectorized;
    if (name == "reinforce_pp_baseline") return compat::verl::reinforce_pp_baseline;
    if (name == "opo") return compat::verl::opo;
    if (name == "gpg") return compat::verl::gpg;
    if (name == "grpo_passk") return compat::verl::grpo_passk;
  } else if (compat == "trl") {
    if (name == "grpo") return compat::trl::grpo;
    if (name == "grpo_batch_std") return compat::trl::grpo_batch_std;
    if (name == "dr_grpo") return compat::trl::dr_grpo;
  } else if (compat == "openrlhf") {
    if (name == "grpo") return compat::openrlhf::grpo;
    if (name == "dr_grpo") return compat::openrlhf::dr_grpo;
    if (name == "rloo") return compat::openrlhf::rloo;
    if (name == "reinforce_pp_baseline") return compat::openrlhf::reinforce_baseline;
  } else if (compat == "nemo_rl") {
    if (name == "grpo") return compat::nemo_rl::grpo;  // NeMo-RL's GRPO is leave-one-out
    if (name == "grpo_leave_one_out") return compat::nemo_rl::grpo;
    if (name == "rloo") return compat::nemo_rl::rloo;
  } else if (compat == "slime") {
    if (name == "grpo") return compat::slime::grpo;
    if (name == "dr_grpo") return compat::slime::dr_grpo;
  } else if (compat == "roll") {
    if (name == "grpo") return compat::roll::grpo;
  } else if (compat == "rllm") {
    if (name == "grpo") return compat::rllm::grpo;
    if (name == "dr_grpo") return compat::rllm::dr_grpo;
    if (name == "rloo") return compat::rllm::rloo;
  } else if (compat == "skyrl") {
    if (name == "grpo") return compat::skyrl::grpo;
    if (name == "dr_grpo") return compat::skyrl::dr_grpo;
    if (name == "rloo") return compat::skyrl::rloo;
    if (name == "maxrl") return compat::skyrl::maxrl;
  } else if (compat == "authors") {
    if (name == "ha_dw_authors") return compat::authors::ha_dw;
  } else {
    throw error(detail::concat("compat: 'verl', 'trl', 'openrlhf', 'nemo_rl', 'slime', 'roll', "
                               "'rllm', 'skyrl' or 'authors' required, got '",
                               compat, "'"));
  }
  if (name == "rloo_vectorized")
    throw error("estimator: 'rloo_vectorized' is verl's: compat 'verl' required");
  (void)preset(name, "");  // an unknown name gets the list of names
  throw error(detail::concat("estimator: compat '", compat, "' has no preset for '", name, "'"));
}

namespace detail_opts {
template <class Field, class Value>
void set(Field& field, const std::optional<Value>& v) {
  if (v) field = *v;
}
/// Raises hadw::error naming an option the estimator does not have.
inline void absent(bool given, const char* option, std::string_view name) {
  detail::require(!given, option, ": not an option of estimator '", name, "'");
}
}  // namespace detail_opts

/// Applies the overrides the estimator has; rejects the ones it does not.
inline void apply(estimator_variant& v, std::string_view name, const estimator_overrides& o) {
  std::visit(
      [&](auto& e) {
        using detail_opts::absent;
        if constexpr (requires { e.eps; }) detail_opts::set(e.eps, o.eps);
        else absent(o.eps.has_value(), "eps", name);
        if constexpr (requires { e.unbiased; }) detail_opts::set(e.unbiased, o.unbiased);
        else absent(o.unbiased.has_value(), "unbiased", name);
        if constexpr (requires { e.eps_at; }) {
          if (o.eps_at) e.eps_at = parse_eps_at(*o.eps_at);
        } else {
          absent(o.eps_at.has_value(), "eps_at", name);
        }
        if constexpr (requires { e.centred; }) detail_opts::set(e.centred, o.centred);
        else absent(o.centred.has_value(), "centred", name);
        if constexpr (requires { e.normalise; }) detail_opts::set(e.normalise, o.normalise);
        else absent(o.normalise.has_value(), "normalise", name);
        if constexpr (requires { e.f_norm; }) detail_opts::set(e.f_norm, o.f_norm);
        else absent(o.f_norm.has_value(), "f_norm", name);
        if constexpr (requires { e.history_mean; }) detail_opts::set(e.history_mean, o.history_mean);
        else absent(o.history_mean.has_value(), "history_mean", name);
        if constexpr (requires { e.lambda_scale; }) detail_opts::set(e.lambda_scale, o.lambda_scale);
        else absent(o.lambda_scale.has_value(), "lambda_scale", name);
        if constexpr (requires { e.process_var; }) {
          detail_opts::set(e.process_var, o.process_var);
          detail_opts::set(e.measurement_var, o.measurement_var);
          detail_opts::set(e.initial_mean, o.initial_mean);
          detail_opts::set(e.initial_var, o.initial_var);
        } else {
          absent(o.process_var.has_value(), "process_var", name);
          absent(o.measurement_var.has_value(), "measurement_var", name);
          absent(o.initial_mean.has_value(), "initial_mean", name);
          absent(o.initial_var.has_value(), "initial_var", name);
        }
        if (o.singleton) e.singleton = parse_singleton(*o.singleton);
        e.policies().validate();
      },
      v);
}

/// An estimator chosen at run time.
struct any_estimator {
  std::string name;
  std::string compat;  ///< "" when none
  estimator_variant value;

  any_estimator(std::string n, std::optional<std::string> c, const estimator_overrides& o)
      : name(std::move(n)), compat(c.value_or("")), value(preset(name, compat)) {
    apply(value, name, o);
  }
};

using anchor_variant = std::variant<difficulty_anchor<kalman_belief>,
                                    difficulty_anchor<window_mean_belief>,
                                    difficulty_anchor<fixed_belief>>;

[[nodiscard]] inline const char* belief_name(const anchor_variant& a) {
  switch (a.index()) {
    case 0: return "kalman";
    case 1: return "window_mean";
    default: return "fixed";
  }
}

/// Builds an anchor of the named belief; options it does not have are errors.
struct anchor_settings {
  std::optional<double> eta;
  std::optional<std::int64_t> window;
  std::optional<double> initial_belief;
  std::optional<double> warmup_sigma;
  std::optional<bool> initialise_from_first_observation;
};

[[nodiscard]] inline anchor_variant make_anchor(std::string_view belief, const anchor_settings& s) {
  using detail_opts::absent;
  if (belief == "kalman") {
    kalman_belief::config c;
    detail_opts::set(c.eta, s.eta);
    detail_opts::set(c.window, s.window);
    detail_opts::set(c.initial_belief, s.initial_belief);
    detail_opts::set(c.warmup_sigma, s.warmup_sigma);
    detail_opts::set(c.initialise_from_first_observation, s.initialise_from_first_observation);
    return difficulty_anchor<kalman_belief>(c);
  }
  auto only_window_and_initial = [&](const char* b) {
    detail::require(!s.eta, "eta: not an option of belief '", b, "'");
    detail::require(!s.warmup_sigma, "warmup_sigma: not an option of belief '", b, "'");
    detail::require(!s.initialise_from_first_observation,
                    "initialise_from_first_observation: not an option of belief '", b, "'");
  };
  if (belief == "window_mean") {
    only_window_and_initial("window_mean");
    window_mean_belief::config c;
    detail_opts::set(c.window, s.window);
    detail_opts::set(c.initial_belief, s.initial_belief);
    return difficulty_anchor<window_mean_belief>(c);
  }
  if (belief == "fixed") {
    only_window_and_initial("fixed");
    detail::require(!s.window, "window: not an option of belief 'fixed'");
    fixed_belief::config c;
    detail_opts::set(c.belief, s.initial_belief);  // a fixed belief is its initial one forever
    return difficulty_anchor<fixed_belief>(c);
  }
  throw error(
      detail::concat("belief: 'kalman', 'window_mean' or 'fixed' required, got '", belief, "'"));
}

/// Restores an anchor of whichever belief `bytes` were saved from (byte 6 of the header is the
/// belief kind, anchor.hpp).
[[nodiscard]] inline anchor_variant load_anchor(std::span<const std::uint8_t> bytes) {
  const std::uint8_t kind = bytes.size() > 6 ? bytes[6] : 0;
  if (kind == window_mean_belief::kind) return difficulty_anchor<window_mean_belief>::load(bytes);
  if (kind == fixed_belief::kind) return difficulty_anchor<fixed_belief>::load(bytes);
  return difficulty_anchor<kalman_belief>::load(bytes);  // also reports short / corrupt input
}

}  // namespace hadw::python
