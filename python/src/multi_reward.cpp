// Python bindings of the multi-reward estimators (hadw/api/multi_reward.hpp: GDPO) and ReMax
// (hadw/api/remax.hpp). Arrays follow arrays.hpp's conventions: C-contiguous CPU float32/float64,
// outputs of the rewards' dtype, viewed without a copy, checked by name; the kernels run with the
// GIL released.
#include "arrays.hpp"
#include "options.hpp"

#include <hadw/api/multi_reward.hpp>
#include <hadw/api/remax.hpp>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace nb = nanobind;
using namespace nb::literals;

namespace hadw::python {
namespace {

// gdpo<> is also verl's composition (compat::verl::gdpo sets its options).
using gdpo_variant = std::variant<gdpo<grpo, reinforce_pp_baseline>,
                                  gdpo<dr_grpo, reinforce_pp_baseline>, gdpo<grpo, grpo>>;

gdpo_variant gdpo_preset(std::string_view compat, bool normalise) {
  if (compat == "verl") {
    if (normalise) return compat::verl::gdpo;
    return compat::verl::gdpo_dr_grpo;
  }
  detail::require(normalise,
                  "normalise=False: only compat='verl' has it (norm_adv_by_std_in_grpo)");
  if (compat == "trl") return compat::trl::gdpo;
  detail::require(compat.empty(),
                  "compat: '' (hadw's defaults), 'verl' or 'trl' required for gdpo, got '", compat,
                  "'");
  return gdpo<>{};
}

void gdpo_into(const std::string& compat, bool normalise, const group_layout& layout,
               const in_array& rewards, const in_array& weights, const out_array& out,
               std::optional<in_array> mask, std::optional<in_array> lengths,
               const std::string& nan) {
  check_layout(rewards, "rewards", 2);
  check_float(rewards, "rewards");
  check_layout(weights, "weights", 1);
  check_dtype(weights, "weights", element::f64);
  check_extent(weights, "weights", 0, rewards.shape(1), "rewards.shape[1]");
  check_layout(out, "out", 1);
  check_same_dtype(out, "out", rewards, "rewards");
  check_extent(out, "out", 0, rewards.shape(0), "rewards.shape[0]");
  detail::require(static_cast<std::int64_t>(rewards.shape(0)) == layout.num_responses(),
                  "rewards.shape[0] == layout.num_responses required, got ", rewards.shape(0),
                  " vs ", layout.num_responses());
  detail::require(rewards.shape(1) >= 1,
                  "rewards.shape[1] >= 1 required (K reward columns), got 0");
  estimate_options opt;
  opt.mask = optional_mask(mask ? &*mask : nullptr, "mask", rewards.shape(0));
  opt.lengths = optional_lengths(lengths ? &*lengths : nullptr, "lengths", rewards.shape(0));
  check_disjoint(rewards, "rewards", out, "out");
  check_disjoint(weights, "weights", out, "out");
  if (mask) check_disjoint(*mask, "mask", out, "out");
  if (lengths) check_disjoint(*lengths, "lengths", out, "out");
  opt.nan = parse_nan(nan);
  const auto est = gdpo_preset(compat, normalise);
  const auto K = static_cast<std::int64_t>(rewards.shape(1));
  const auto w = view<double>(weights);
  const auto run = [&]<class T>(T*) {
    const auto r = view<T>(rewards);
    const auto a = view<T>(out);
    // One workspace per thread: no allocation once a thread has seen the batch size.
    thread_local multi_reward_workspace ws;
    nb::gil_scoped_release release;
    std::visit([&](const auto& e) { estimate_multi(e, layout, r, K, w, a, ws, opt); }, est);
  };
  if (has(rewards, element::f32))
    run(static_cast<float*>(nullptr));
  else
    run(static_cast<double*>(nullptr));
}

void remax_into(const in_array& rewards, const in_array& baselines, const out_array& out,
                const group_layout* layout) {
  check_layout(rewards, "rewards", 1);
  check_float(rewards, "rewards");
  check_layout(baselines, "baselines", 1);
  check_same_dtype(baselines, "baselines", rewards, "rewards");
  check_layout(out, "out", 1);
  check_same_dtype(out, "out", rewards, "rewards");
  check_extent(out, "out", 0, rewards.shape(0), "len(rewards)");
  check_disjoint(rewards, "rewards", out, "out", /*same_ok=*/true);
  check_disjoint(baselines, "baselines", out, "out", /*same_ok=*/layout == nullptr);
  const auto run = [&]<class T>(T*) {
    const auto r = view<T>(rewards), b = view<T>(baselines);
    const auto a = view<T>(out);
    nb::gil_scoped_release release;
    if (layout)
      remax(*layout, r, b, a);
    else
      remax(r, b, a);
  };
  if (has(rewards, element::f32))
    run(static_cast<float*>(nullptr));
  else
    run(static_cast<double*>(nullptr));
}

void remax_tokens_into(const in_array& token_rewards, const in_array& mask,
                       const in_array& baselines, const out_array& advantages,
                       const out_array& returns) {
  check_layout(token_rewards, "token_level_rewards", 2);
  check_float(token_rewards, "token_level_rewards");
  check_layout(mask, "response_mask", 2);
  check_extent(mask, "response_mask", 0, token_rewards.shape(0), "token_level_rewards.shape[0]");
  check_extent(mask, "response_mask", 1, token_rewards.shape(1), "token_level_rewards.shape[1]");
  const bool bytes = has(mask, element::mask);
  if (!bytes) check_same_dtype(mask, "response_mask", token_rewards, "token_level_rewards");
  check_layout(baselines, "reward_baselines", 1);
  check_same_dtype(baselines, "reward_baselines", token_rewards, "token_level_rewards");
  check_extent(baselines, "reward_baselines", 0, token_rewards.shape(0),
               "token_level_rewards.shape[0]");
  for (const auto* o : {&advantages, &returns}) {
    const char* name = o == &advantages ? "advantages" : "returns";
    check_layout(*o, name, 2);
    check_same_dtype(*o, name, token_rewards, "token_level_rewards");
    check_extent(*o, name, 0, token_rewards.shape(0), "token_level_rewards.shape[0]");
    check_extent(*o, name, 1, token_rewards.shape(1), "token_level_rewards.shape[1]");
    check_disjoint(token_rewards, "token_level_rewards", *o, name);
    check_disjoint(mask, "response_mask", *o, name);
    check_disjoint(baselines, "reward_baselines", *o, name);
  }
  check_disjoint(returns, "returns", advantages, "advantages");
  const auto L = static_cast<std::int64_t>(token_rewards.shape(1));
  const auto run = [&]<class T>(T*) {
    const auto r = view<T>(token_rewards), b = view<T>(baselines);
    const auto a = view<T>(advantages), g = view<T>(returns);
    if (bytes) {
      const auto m = view<std::uint8_t>(mask);
      nb::gil_scoped_release release;
      remax_tokens(r, m, L, b, a, g);
    } else {
      const auto m = view<T>(mask);
      nb::gil_scoped_release release;
      remax_tokens(r, m, L, b, a, g);
    }
  };
  if (has(token_rewards, element::f32))
    run(static_cast<float*>(nullptr));
  else
    run(static_cast<double*>(nullptr));
}

}  // namespace

void bind_multi_reward(nb::module_& m) {
  m.def("gdpo_into", &gdpo_into, "compat"_a, "normalise"_a, "layout"_a, "rewards"_a, "weights"_a,
        "out"_a, "mask"_a = nb::none(), "lengths"_a = nb::none(), "nan"_a = "reject",
        "GDPO (hadw::estimate_multi): rewards [N, K], float64 weights [K] -> out [N] (the "
        "rewards' dtype). GIL released.");
  m.def("remax_into", &remax_into, "rewards"_a, "baselines"_a, "out"_a, "layout"_a = nb::none(),
        "ReMax: out = rewards - baselines (one per response, or one per group with layout).");
  m.def("remax_tokens_into", &remax_tokens_into, "token_rewards"_a, "mask"_a, "baselines"_a,
        "advantages"_a, "returns"_a,
        "verl's ReMax: returns = reverse cumsum of rewards * mask; advantages = returns - "
        "baselines * mask.");
}

}  // namespace hadw::python
