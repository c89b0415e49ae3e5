// The field's difficulty weightings (hadw::weigh, weighting/*.hpp) and SPO's per-prompt tracker
// (hadw::prompt_tracker, hadw::spo_estimate) for Python. Arrays cross by DLPack with no copy and
// are checked by arrays.hpp; the Pythonic surface is python/hadw/weighting.py.
#include "arrays.hpp"
#include "options.hpp"

#include <hadw/anchor/prompt_tracker.hpp>
#include <hadw/api/spo.hpp>
#include <hadw/api/weigh.hpp>
#include <hadw/weighting/focal.hpp>
#include <hadw/weighting/lead.hpp>
#include <hadw/weighting/length.hpp>
#include <hadw/weighting/prompt_phi.hpp>
#include <hadw/weighting/question.hpp>
#include <hadw/weighting/static_difficulty.hpp>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace nb = nanobind;
using namespace nb::literals;

namespace hadw::python {
namespace {

/// The parameters of every method; each method reads its own.
struct weigh_args {
  std::string method;
  double gamma, low, high, x0, k, temperature;
  std::optional<in_array> difficulty;
  bool renormalise;
  std::optional<in_array> lengths;
  double alpha;
  std::optional<in_array> priors;
  double lambda_scale;
};

std::span<const double> f64_per_group(const std::optional<in_array>& a, const char* name,
                                      const group_layout& layout, const char* method) {
  detail::require(a.has_value(), "method='", method, "' requires ", name,
                  " (float64, one per group)");
  check_layout(*a, name, 1);
  check_dtype(*a, name, element::f64);
  check_extent(*a, name, 0, static_cast<std::size_t>(layout.num_groups()), "layout.num_groups");
  return view<double>(*a);
}

/// ids as uint64: an int64 or uint64 array (ids are bit patterns, e.g. hashes).
std::span<const std::uint64_t> id_view(const in_array& ids, const group_layout& layout) {
  check_layout(ids, "ids", 1);
  const auto d = ids.dtype();
  if (d != nb::dtype<std::int64_t>() && d != nb::dtype<std::uint64_t>())
    throw nb::type_error(
        detail::concat("ids: int64 or uint64 required, got ", dtype_name(ids)).c_str());
  check_extent(ids, "ids", 0, static_cast<std::size_t>(layout.num_groups()), "layout.num_groups");
  return {static_cast<const std::uint64_t*>(ids.data()), ids.size()};
}

nb::dict weigh_stats_dict(const weigh_stats& s) {
  nb::dict d;
  d["hadw/weight_min"] = s.weight_min;
  d["hadw/weight_mean"] = s.weight_mean;
  d["hadw/weight_max"] = s.weight_max;
  d["hadw/total"] = s.total;
  d["hadw/num_groups"] = s.num_groups;
  d["hadw/degenerate"] = s.degenerate;
  return d;
}

template <class A, class R, class P>
weigh_stats run_weigh(const out_array& adv, const in_array& rew, const group_layout& layout,
                      const P& policy, const weigh_options& opt) {
  const auto a = view<A>(adv);
  const auto r = view<R>(rew);
  nb::gil_scoped_release release;
  return hadw::weigh(hadw::grouped(a, layout), hadw::grouped(r, layout), policy, opt);
}

template <class P>
weigh_stats dispatch(const out_array& adv, const in_array& rew, const group_layout& layout,
                     const P& policy, const weigh_options& opt) {
  const bool a32 = has(adv, element::f32), r32 = has(rew, element::f32);
  if (a32 && r32) return run_weigh<float, float>(adv, rew, layout, policy, opt);
  if (a32) return run_weigh<float, double>(adv, rew, layout, policy, opt);
  if (r32) return run_weigh<double, float>(adv, rew, layout, policy, opt);
  return run_weigh<double, double>(adv, rew, layout, policy, opt);
}

nb::dict weigh_into(const out_array& advantages, const in_array& rewards,
                    const group_layout& layout, const weigh_args& w, std::optional<in_array> mask,
                    double range_low, double range_high, const std::string& nan) {
  check_layout(advantages, "advantages", 1);
  check_float(advantages, "advantages");
  check_layout(rewards, "rewards", 1);
  check_float(rewards, "rewards");
  check_extent(advantages, "advantages", 0, rewards.shape(0), "len(rewards)");
  detail::require(static_cast<std::int64_t>(rewards.shape(0)) == layout.num_responses(),
                  "len(rewards) == layout.num_responses required, got ", rewards.shape(0), " vs ",
                  layout.num_responses());
  weigh_options opt;
  opt.range = {range_low, range_high};
  opt.mask = optional_mask(mask ? &*mask : nullptr, "mask", rewards.shape(0));
  opt.nan = parse_nan(nan);
  check_disjoint(rewards, "rewards", advantages, "advantages");
  if (mask) check_disjoint(*mask, "mask", advantages, "advantages");
  for (const auto* extra : {&w.difficulty, &w.lengths, &w.priors})
    if (*extra) check_disjoint(**extra, "a weighting input", advantages, "advantages");
  weigh_stats st;
  if (w.method == "f_grpo") {
    st = dispatch(advantages, rewards, layout, focal{.gamma = w.gamma}, opt);
  } else if (w.method == "grpo_lead") {
    st = dispatch(advantages, rewards, layout,
                  lead{.curve = {.low = w.low, .high = w.high, .x0 = w.x0, .k = w.k}}, opt);
  } else if (w.method == "dgpo_question") {
    st = dispatch(advantages, rewards, layout, question_weights{.temperature = w.temperature}, opt);
  } else if (w.method == "roll_static") {
    st = dispatch(advantages, rewards, layout,
                  static_difficulty{.difficulty = f64_per_group(w.difficulty, "difficulty", layout,
                                                                "roll_static"),
                                    .renormalise = w.renormalise},
                  opt);
  } else if (w.method == "delta_l") {
    detail::require(w.lengths.has_value(),
                    "method='delta_l' requires lengths (int64 token counts)");
    st = dispatch(
        advantages, rewards, layout,
        length_weights{.lengths = optional_lengths(&*w.lengths, "lengths", rewards.shape(0)),
                       .alpha = w.alpha},
        opt);
  } else if (w.method == "prompt_phi") {
    st = dispatch(advantages, rewards, layout,
                  prompt_phi{.priors = f64_per_group(w.priors, "priors", layout, "prompt_phi"),
                             .lambda_scale = w.lambda_scale},
                  opt);
  } else {
    throw error(
        detail::concat("method: 'f_grpo', 'grpo_lead', 'dgpo_question', 'roll_static', "
                       "'delta_l' or 'prompt_phi' required, got '",
                       w.method, "'"));
  }
  return weigh_stats_dict(st);
}

// ---------------------------------------------------------------------------------------------
// PromptTracker

constexpr const char* tracker_key = "hadw_prompt_tracker";

nb::bytes tracker_bytes(const prompt_tracker& t) {
  const auto v = t.save();
  return nb::bytes(reinterpret_cast<const char*>(v.data()), v.size());
}
prompt_tracker tracker_of(const nb::bytes& b) {
  return prompt_tracker::load(
      std::span<const std::uint8_t>(static_cast<const std::uint8_t*>(b.data()), b.size()));
}

template <class T>
void tracker_update_typed(prompt_tracker& t, std::span<const std::uint64_t> ids,
                          const in_array& rewards, const group_layout& layout, double rho,
                          const tracker_update_options& o) {
  t.update(ids, hadw::grouped(view<T>(rewards), layout), rho, o);
}

void tracker_update(prompt_tracker& t, const in_array& ids, const in_array& rewards,
                    const group_layout& layout, double rho, std::optional<in_array> rho_per_group,
                    std::optional<in_array> mask, double range_low, double range_high,
                    const std::string& nan) {
  check_layout(rewards, "rewards", 1);
  check_float(rewards, "rewards");
  tracker_update_options o;
  if (rho_per_group) o.rho_per_group = f64_per_group(rho_per_group, "rho", layout, "update");
  o.range = {range_low, range_high};
  o.mask = optional_mask(mask ? &*mask : nullptr, "mask", rewards.shape(0));
  o.nan = parse_nan(nan);
  const auto id = id_view(ids, layout);
  // The GIL stays held: the tracker is one Python object, and a step's update is small.
  if (has(rewards, element::f32))
    tracker_update_typed<float>(t, id, rewards, layout, rho, o);
  else
    tracker_update_typed<double>(t, id, rewards, layout, rho, o);
}

template <class R, class U>
void spo_typed(const prompt_tracker& t, std::span<const std::uint64_t> ids, const in_array& rewards,
               const group_layout& layout, const out_array& out, const spo_options& o) {
  hadw::spo_estimate(t, ids, hadw::grouped(view<R>(rewards), layout), view<U>(out), o);
}

void spo_estimate_into(const prompt_tracker& t, const in_array& ids, const in_array& rewards,
                       const group_layout& layout, const out_array& out, bool whiten, double eps,
                       std::optional<in_array> mask, double range_low, double range_high,
                       const std::string& nan) {
  check_layout(rewards, "rewards", 1);
  check_float(rewards, "rewards");
  check_layout(out, "out", 1);
  check_float(out, "out");
  check_extent(out, "out", 0, rewards.shape(0), "len(rewards)");
  check_disjoint(rewards, "rewards", out, "out", /*same_ok=*/true);
  spo_options o;
  o.whiten = whiten;
  o.eps = eps;
  o.range = {range_low, range_high};
  o.mask = optional_mask(mask ? &*mask : nullptr, "mask", rewards.shape(0));
  if (mask) check_disjoint(*mask, "mask", out, "out");
  o.nan = parse_nan(nan);
  const auto id = id_view(ids, layout);
  const bool r32 = has(rewards, element::f32), o32 = has(out, element::f32);
  if (r32 && o32)
    spo_typed<float, float>(t, id, rewards, layout, out, o);
  else if (r32)
    spo_typed<float, double>(t, id, rewards, layout, out, o);
  else if (o32)
    spo_typed<double, float>(t, id, rewards, layout, out, o);
  else
    spo_typed<double, double>(t, id, rewards, layout, out, o);
}

}  // namespace

void bind_weighting_field(nb::module_& m) {
  m.def(
      "weigh_into",
      [](const out_array& advantages, const in_array& rewards, const group_layout& layout,
         const std::string& method, double gamma, double low, double high, double x0, double k,
         double temperature, std::optional<in_array> difficulty, bool renormalise,
         std::optional<in_array> lengths, double alpha, std::optional<in_array> priors,
         double lambda_scale, std::optional<in_array> mask, double range_low, double range_high,
         const std::string& nan) {
        return weigh_into(advantages, rewards, layout,
                          {method, gamma, low, high, x0, k, temperature, std::move(difficulty),
                           renormalise, std::move(lengths), alpha, std::move(priors), lambda_scale},
                          std::move(mask), range_low, range_high, nan);
      },
      "advantages"_a, "rewards"_a, "layout"_a, "method"_a, "gamma"_a = 1.0, "low"_a = 0.4,
      "high"_a = 1.5, "x0"_a = 0.75, "k"_a = 10.0, "temperature"_a = 2.0,
      "difficulty"_a = nb::none(), "renormalise"_a = true, "lengths"_a = nb::none(),
      "alpha"_a = 1.0, "priors"_a = nb::none(), "lambda_scale"_a = 1.5, "mask"_a = nb::none(),
      "range_low"_a = 0.0, "range_high"_a = 1.0, "nan"_a = "reject",
      "Multiplies `advantages` in place by a difficulty weighting (hadw::weigh); returns "
      "{'hadw/weight_mean': ...}. GIL released.");

  nb::class_<prompt_tracker>(m, "PromptTracker",
                             "SPO's per-prompt Beta(alpha, beta) tracker with forgetting rho "
                             "(hadw::prompt_tracker): p = alpha / (alpha + beta) per prompt id.")
      .def(
          "__init__",
          [](prompt_tracker* self, double alpha0, double beta0) {
            new (self) prompt_tracker(beta_state{alpha0, beta0});
          },
          "alpha0"_a = 0.5, "beta0"_a = 0.5)
      .def("update", &tracker_update, "ids"_a, "rewards"_a, "layout"_a, "rho"_a,
           "rho_per_group"_a = nb::none(), "mask"_a = nb::none(), "range_low"_a = 0.0,
           "range_high"_a = 1.0, "nan"_a = "reject",
           "alpha <- rho alpha + sum r, beta <- rho beta + sum (1 - r) per group (prompt ids[k]).")
      .def("prior", &prompt_tracker::prior, "id"_a, "p = alpha / (alpha + beta) of prompt `id`.")
      .def(
          "belief",
          [](const prompt_tracker& t, std::uint64_t id) {
            const auto b = t.belief(id);
            return std::pair{b.alpha, b.beta};
          },
          "id"_a, "(alpha, beta) of prompt `id`.")
      .def(
          "set",
          [](prompt_tracker& t, std::uint64_t id, double alpha, double beta) {
            t.set(id, {alpha, beta});
          },
          "id"_a, "alpha"_a, "beta"_a, "Sets a prompt's belief.")
      .def(
          "priors_into",
          [](const prompt_tracker& t, const in_array& ids, const out_array& out) {
            check_layout(ids, "ids", 1);
            const auto layout = group_layout::uniform(static_cast<std::int64_t>(ids.shape(0)), 1);
            const auto id = id_view(ids, layout);
            check_layout(out, "out", 1);
            check_dtype(out, "out", element::f64);
            t.priors(id, view<double>(out));
          },
          "ids"_a, "out"_a, "out[k] = prior(ids[k]).")
      .def_static(
          "offline_prior",
          [](std::int64_t s, std::int64_t n, double clip_lower) {
            const auto b = prompt_tracker::offline_prior(s, n, clip_lower);
            return std::pair{b.alpha, b.beta};
          },
          "successes"_a, "n"_a, "clip_lower"_a,
          "SPO's offline initialisation: (alpha, beta) from n samples with s successes.")
      .def_prop_ro("size", &prompt_tracker::size, "Prompts tracked.")
      .def_prop_ro("updates", &prompt_tracker::updates, "update() calls so far.")
      .def("save", &tracker_bytes, "The state as versioned, checksummed bytes (bit-exact).")
      .def_static("load", &tracker_of, "state"_a,
                  "Restores a tracker; hadw.Error on corrupt input.")
      .def(
          "state_dict",
          [](const prompt_tracker& t) {
            nb::dict d;
            d[tracker_key] = tracker_bytes(t);
            return d;
          },
          "{'hadw_prompt_tracker': bytes}: for a trainer checkpoint.")
      .def(
          "load_state_dict",
          [](prompt_tracker& t, const nb::dict& d) {
            detail::require(d.contains(tracker_key), "state_dict: key '", tracker_key,
                            "' required (from PromptTracker.state_dict())");
            nb::object v = d[tracker_key];
            detail::require(nb::isinstance<nb::bytes>(v), "state_dict['", tracker_key,
                            "']: bytes required");
            t = tracker_of(nb::cast<nb::bytes>(v));
          },
          "state_dict"_a, "Restores the state written by state_dict(), in place.")
      .def("__getstate__", &tracker_bytes)
      .def("__setstate__", [](prompt_tracker* self,
                              const nb::bytes& b) { new (self) prompt_tracker(tracker_of(b)); })
      .def("__eq__", [](const prompt_tracker& a, const prompt_tracker& b) { return a == b; })
      .def("__repr__", [](const prompt_tracker& t) {
        return detail::concat("PromptTracker(size=", t.size(), ", updates=", t.updates(), ")");
      });

  m.def("spo_estimate_into", &spo_estimate_into, "tracker"_a, "ids"_a, "rewards"_a, "layout"_a,
        "out"_a, "whiten"_a = true, "eps"_a = 1e-8, "mask"_a = nb::none(), "range_low"_a = 0.0,
        "range_high"_a = 1.0, "nan"_a = "reject",
        "SPO's advantages r - p(prompt), whitened over the batch, into `out`.");
}

}  // namespace hadw::python
