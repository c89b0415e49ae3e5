// hadw._core's token-level estimators (hadw.gae, hadw.reinforce_pp, hadw.optimal_token_baseline
// in hadw/token_scans.py): [B, L] float arrays and a bool/uint8 mask, viewed without a copy
// (arrays.hpp), outputs written in place with the GIL released; hadw::error -> hadw.Error.
#include "arrays.hpp"

#include <hadw/api/token_scans.hpp>
#include <hadw/layout.hpp>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>

namespace nb = nanobind;
using namespace nb::literals;

namespace hadw::python {
namespace {

/// A [B, L] array like `ref` (the rewards): C-contiguous, CPU, the same shape; floats of the
/// rewards' dtype, or the mask's bool/uint8.
template <class A>
void check_tokens(const A& a, const char* name, const in_array& ref, bool is_mask) {
  check_layout(a, name, 2);
  if (is_mask)
    check_dtype(a, name, element::mask);
  else
    check_same_dtype(a, name, ref, "rewards");
  check_extent(a, name, 0, ref.shape(0), "rewards.shape[0]");
  check_extent(a, name, 1, ref.shape(1), "rewards.shape[1]");
}

void check_rewards(const in_array& rewards) {
  check_layout(rewards, "rewards", 2);
  check_float(rewards, "rewards");
}

template <class T>
void gae_typed(const in_array& r, const in_array& v, const in_array& m, std::int64_t L,
               const out_array& a, const out_array& g, const gae_options& o) {
  const auto rs = view<T>(r), vs = view<T>(v);
  const auto ms = view<std::uint8_t>(m);
  const auto as = view<T>(a), gs = view<T>(g);
  nb::gil_scoped_release release;
  hadw::gae(rs, vs, ms, L, as, gs, o);
}

void gae_into(const in_array& rewards, const in_array& values, const in_array& mask,
              const out_array& advantages, const out_array& returns, double gamma, double lam,
              bool whiten) {
  check_rewards(rewards);
  check_tokens(values, "values", rewards, false);
  check_tokens(mask, "mask", rewards, true);
  check_tokens(advantages, "advantages", rewards, false);
  check_tokens(returns, "returns", rewards, false);
  const auto L = std::max<std::int64_t>(1, static_cast<std::int64_t>(rewards.shape(1)));
  const gae_options o{.gamma = gamma, .lambda = lam, .whiten = whiten};
  if (has(rewards, element::f32))
    gae_typed<float>(rewards, values, mask, L, advantages, returns, o);
  else
    gae_typed<double>(rewards, values, mask, L, advantages, returns, o);
}

template <class T>
void reinforce_pp_typed(const in_array& r, const in_array& m, std::int64_t L, const out_array& a,
                        const out_array& g, const reinforce_pp_options& o) {
  const auto rs = view<T>(r);
  const auto ms = view<std::uint8_t>(m);
  const auto as = view<T>(a), gs = view<T>(g);
  nb::gil_scoped_release release;
  hadw::reinforce_pp(rs, ms, L, as, gs, o);
}

void reinforce_pp_into(const in_array& rewards, const in_array& mask, const out_array& advantages,
                       const out_array& returns, double gamma) {
  check_rewards(rewards);
  check_tokens(mask, "mask", rewards, true);
  check_tokens(advantages, "advantages", rewards, false);
  check_tokens(returns, "returns", rewards, false);
  const auto L = std::max<std::int64_t>(1, static_cast<std::int64_t>(rewards.shape(1)));
  const reinforce_pp_options o{.gamma = gamma};
  if (has(rewards, element::f32))
    reinforce_pp_typed<float>(rewards, mask, L, advantages, returns, o);
  else
    reinforce_pp_typed<double>(rewards, mask, L, advantages, returns, o);
}

template <class T>
void otb_typed(const group_layout& layout, const in_array& r, const in_array& m, const in_array& lp,
               const in_array& sp, const in_array* rho, std::int64_t L, const out_array& a,
               const out_array& g, const otb_options& o) {
  const auto rs = view<T>(r), lps = view<T>(lp), sps = view<T>(sp);
  const auto rhos = rho ? view<T>(*rho) : std::span<const T>{};
  const auto ms = view<std::uint8_t>(m);
  const auto as = view<T>(a), gs = view<T>(g);
  nb::gil_scoped_release release;
  hadw::optimal_token_baseline(layout, rs, ms, lps, sps, rhos, L, as, gs, o);
}

void otb_into(const group_layout& layout, const in_array& rewards, const in_array& mask,
              const in_array& old_log_probs, const in_array& sum_pi_squared,
              std::optional<in_array> is_weights, const out_array& advantages,
              const out_array& returns, bool handle_zero_tail, double eps) {
  check_rewards(rewards);
  check_tokens(mask, "mask", rewards, true);
  check_tokens(old_log_probs, "old_log_probs", rewards, false);
  check_tokens(sum_pi_squared, "sum_pi_squared", rewards, false);
  if (is_weights) check_tokens(*is_weights, "is_weights", rewards, false);
  check_tokens(advantages, "advantages", rewards, false);
  check_tokens(returns, "returns", rewards, false);
  const auto L = std::max<std::int64_t>(1, static_cast<std::int64_t>(rewards.shape(1)));
  const otb_options o{.handle_zero_tail = handle_zero_tail, .eps = eps};
  const in_array* rho = is_weights ? &*is_weights : nullptr;
  if (has(rewards, element::f32))
    otb_typed<float>(layout, rewards, mask, old_log_probs, sum_pi_squared, rho, L, advantages,
                     returns, o);
  else
    otb_typed<double>(layout, rewards, mask, old_log_probs, sum_pi_squared, rho, L, advantages,
                      returns, o);
}

}  // namespace

void bind_token_scans(nb::module_& m) {
  m.def("gae_into", &gae_into, "rewards"_a, "values"_a, "mask"_a, "advantages"_a, "returns"_a,
        "gamma"_a, "lam"_a, "whiten"_a,
        "verl's GAE on [B, L] rows into advantages and returns (no copy, GIL released).");
  m.def("reinforce_pp_into", &reinforce_pp_into, "rewards"_a, "mask"_a, "advantages"_a, "returns"_a,
        "gamma"_a, "verl's REINFORCE++ on [B, L] rows into advantages and returns.");
  m.def("optimal_token_baseline_into", &otb_into, "layout"_a, "rewards"_a, "mask"_a,
        "old_log_probs"_a, "sum_pi_squared"_a, "is_weights"_a.none(), "advantages"_a, "returns"_a,
        "handle_zero_tail"_a, "eps"_a,
        "verl's optimal token baseline on [B, L] rows into advantages and returns.");
}

}  // namespace hadw::python
