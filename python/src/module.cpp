// hadw._core: the nanobind extension behind the `hadw` Python package.
//
// Arrays cross by DLPack with no copy (arrays.hpp checks and views them); every kernel runs with
// the GIL released; hadw::error becomes hadw.Error, a ValueError. The Pythonic surface (argument
// juggling, output allocation, torch/NumPy symmetry) lives in hadw/__init__.py, over these calls.
#include "arrays.hpp"
#include "cpu_features.hpp"
#include "fused.hpp"
#include "options.hpp"

#include <hadw/hadw.hpp>
#include <hadw/theory/binary.hpp>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nb = nanobind;
using namespace nb::literals;

namespace hadw::python {
namespace {

// ---------------------------------------------------------------------------------------------
// Layouts

group_layout layout_from_offsets(const in_array& offsets) {
  check_layout(offsets, "offsets", 1);
  check_dtype(offsets, "offsets", element::i64);
  const auto o = view<std::int64_t>(offsets);
  return group_layout::from_offsets(o);
}

group_layout layout_from_ids(const in_array& ids) {
  check_layout(ids, "index", 1);
  check_dtype(ids, "index", element::i64);
  const auto v = view<std::int64_t>(ids);
  nb::gil_scoped_release release;
  return group_layout::from_ids(v);
}

void check_responses(const group_layout& layout, std::size_t n, const char* name) {
  detail::require(static_cast<std::int64_t>(n) == layout.num_responses(), "len(", name,
                  ") == layout.num_responses required, got ", n, " vs ",
                  layout.num_responses());
}

// ---------------------------------------------------------------------------------------------
// estimate

template <class T>
void estimate_typed(const any_estimator& e, const group_layout& layout, const in_array& rewards,
                    const out_array& out, const estimate_options& opt) {
  const auto r = view<T>(rewards);
  const auto a = view<T>(out);
  nb::gil_scoped_release release;
  std::visit([&](const auto& est) { hadw::estimate(est, layout, r, a, opt); }, e.value);
}

void estimate_into(const any_estimator& e, const group_layout& layout, const in_array& rewards,
                   const out_array& out, std::optional<in_array> mask,
                   std::optional<in_array> lengths, const std::string& nan) {
  check_layout(rewards, "rewards", 1);
  check_float(rewards, "rewards");
  check_layout(out, "out", 1);
  check_same_dtype(out, "out", rewards, "rewards");
  check_extent(out, "out", 0, rewards.shape(0), "len(rewards)");
  check_responses(layout, rewards.shape(0), "rewards");
  estimate_options opt;
  opt.mask = optional_mask(mask ? &*mask : nullptr, "mask", rewards.shape(0));
  opt.lengths = optional_lengths(lengths ? &*lengths : nullptr, "lengths", rewards.shape(0));
  check_disjoint(rewards, "rewards", out, "out", /*same_ok=*/true);
  if (mask) check_disjoint(*mask, "mask", out, "out");
  if (lengths) check_disjoint(*lengths, "lengths", out, "out");
  opt.nan = parse_nan(nan);
  if (has(rewards, element::f32)) estimate_typed<float>(e, layout, rewards, out, opt);
  else estimate_typed<double>(e, layout, rewards, out, opt);
}

// ---------------------------------------------------------------------------------------------
// Anchor sharing

/// A DifficultyAnchor as Python holds it. Python threads may share one (a trainer's logging or
/// checkpoint thread next to its step), while the C++ anchor is one-thread-at-a-time: every read
/// and write of `value` holds `mutex` (anchor_guard, or the kernel calls, which take it with the
/// GIL released), so concurrent calls serialise instead of racing.
struct py_anchor {
  anchor_variant value;
  mutable std::mutex mutex;

  explicit py_anchor(anchor_variant v) : value(std::move(v)) {}
  /// Only a new anchor is moved (DifficultyAnchor.load returns one): it gets a mutex of its own.
  py_anchor(py_anchor&& other) : value(std::move(other.value)) {}
};

/// Holds an anchor's mutex for one call. When another thread holds it, waits with the GIL
/// released: a waiter holding the GIL would stall every Python thread, the holder included when
/// it needs the GIL to finish (a deadlock).
class anchor_guard {
 public:
  explicit anchor_guard(const py_anchor& a) : lock_(a.mutex, std::try_to_lock) {
    if (!lock_.owns_lock()) {
      nb::gil_scoped_release release;
      lock_.lock();
    }
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

// ---------------------------------------------------------------------------------------------
// reweight

/// The step statistics as {'hadw/prior': ..., ...}. A trainer calls this every step, and a new
/// dict of 17 keys was most of a small call's overhead (insertions, resizes, GC): each call
/// copies a template that already has the keys (a copy shares its key table) and only sets the
/// values.
nb::dict stats_dict(const step_stats& st) {
  static PyObject* const templ = [] {  // never freed: may outlive the interpreter's teardown
    PyObject* d = PyDict_New();
    step_stats{}.for_each([&](std::string_view key, double) {
      nb::str k(key.data(), key.size());
      PyDict_SetItem(d, k.ptr(), Py_None);
    });
    return d;
  }();
  nb::dict d = nb::steal<nb::dict>(PyDict_Copy(templ));
  if (!d.is_valid()) throw nb::python_error();
  Py_ssize_t pos = 0;
  PyObject *key = nullptr, *ignored = nullptr;
  st.for_each([&](std::string_view name, double value) {
    PyDict_Next(templ, &pos, &key, &ignored);  // the same order: the template was filled by for_each
    const bool integral = name == "hadw/correct" || name == "hadw/total" ||
                          name == "hadw/num_groups" || name == "hadw/step";
    nb::object v = integral ? nb::object(nb::int_(static_cast<std::int64_t>(value)))
                            : nb::object(nb::float_(value));
    PyDict_SetItem(d.ptr(), key, v.ptr());
  });
  return d;
}

template <class A, class R>
step_stats reweight_typed(const out_array& adv, const in_array& rewards, py_anchor& anchor,
                          const group_layout& layout, const reweight_options& opt) {
  const auto a = view<A>(adv);
  const auto r = view<R>(rewards);
  nb::gil_scoped_release release;
  const std::lock_guard lock(anchor.mutex);
  return std::visit(
      [&](auto& anc) { return hadw::reweight(grouped(a, layout), grouped(r, layout), anc, opt); },
      anchor.value);
}

struct reweight_args {
  double lambda_scale;
  bool update_anchor;
  std::string timing;
  double range_low, range_high;
  std::string observation;
  double success_threshold;
  std::int64_t warmup_steps;
  std::string nan;
};

reweight_options options_of(const reweight_args& args) {
  reweight_options opt;
  opt.lambda_scale = args.lambda_scale;
  opt.update_anchor = args.update_anchor;
  opt.timing = parse_timing(args.timing);
  opt.range = {args.range_low, args.range_high};
  opt.observation = parse_observation(args.observation);
  opt.success_threshold = args.success_threshold;
  opt.warmup_steps = args.warmup_steps;
  opt.nan = parse_nan(args.nan);
  return opt;
}

nb::dict reweight_into(const out_array& advantages, const in_array& rewards, py_anchor& anchor,
                       const group_layout& layout, std::optional<in_array> mask,
                       const reweight_args& args) {
  check_layout(advantages, "advantages", 1);
  check_float(advantages, "advantages");
  check_layout(rewards, "rewards", 1);
  check_float(rewards, "rewards");
  check_extent(advantages, "advantages", 0, rewards.shape(0), "len(rewards)");
  check_responses(layout, rewards.shape(0), "rewards");
  reweight_options opt = options_of(args);
  opt.mask = optional_mask(mask ? &*mask : nullptr, "mask", rewards.shape(0));
  check_disjoint(rewards, "rewards", advantages, "advantages");
  if (mask) check_disjoint(*mask, "mask", advantages, "advantages");
  const bool a32 = has(advantages, element::f32), r32 = has(rewards, element::f32);
  step_stats st;
  if (a32 && r32) st = reweight_typed<float, float>(advantages, rewards, anchor, layout, opt);
  else if (a32) st = reweight_typed<float, double>(advantages, rewards, anchor, layout, opt);
  else if (r32) st = reweight_typed<double, float>(advantages, rewards, anchor, layout, opt);
  else st = reweight_typed<double, double>(advantages, rewards, anchor, layout, opt);
  return stats_dict(st);
}

// ---------------------------------------------------------------------------------------------
// Token broadcast

template <class T>
void broadcast_typed(const in_array& adv, const in_array* mask, const in_array* lengths,
                     std::int64_t L, const out_array& out) {
  const auto a = view<T>(adv);
  const auto o = view<T>(out);
  if (mask) {
    const auto m = view<std::uint8_t>(*mask);
    nb::gil_scoped_release release;
    hadw::broadcast_to_tokens(a, m, L, o);
  } else {
    const auto n = view<std::int64_t>(*lengths);
    nb::gil_scoped_release release;
    hadw::broadcast_to_tokens(a, n, L, o);
  }
}

void broadcast_into(const in_array& advantages, const out_array& out,
                    std::optional<in_array> mask, std::optional<in_array> lengths) {
  check_layout(advantages, "advantages", 1);
  check_float(advantages, "advantages");
  check_layout(out, "out", 2);
  check_same_dtype(out, "out", advantages, "advantages");
  const std::size_t n = advantages.shape(0);
  check_extent(out, "out", 0, n, "len(advantages)");
  const auto L = static_cast<std::int64_t>(out.shape(1));
  detail::require((mask.has_value()) != (lengths.has_value()),
                  "exactly one of mask [N, L] or lengths [N] required");
  if (mask) {
    check_layout(*mask, "mask", 2);
    check_dtype(*mask, "mask", element::mask);
    check_extent(*mask, "mask", 0, n, "len(advantages)");
    check_extent(*mask, "mask", 1, out.shape(1), "out.shape[1]");
  } else {
    check_layout(*lengths, "lengths", 1);
    check_dtype(*lengths, "lengths", element::i64);
    check_extent(*lengths, "lengths", 0, n, "len(advantages)");
  }
  check_disjoint(advantages, "advantages", out, "out");
  if (mask) check_disjoint(*mask, "mask", out, "out");
  if (lengths) check_disjoint(*lengths, "lengths", out, "out");
  const in_array* m = mask ? &*mask : nullptr;
  const in_array* l = lengths ? &*lengths : nullptr;
  if (has(advantages, element::f32)) broadcast_typed<float>(advantages, m, l, L, out);
  else broadcast_typed<double>(advantages, m, l, L, out);
}

// ---------------------------------------------------------------------------------------------
// Anchor

nb::bytes to_bytes(const std::vector<std::uint8_t>& v) {
  return nb::bytes(reinterpret_cast<const char*>(v.data()), v.size());
}
std::span<const std::uint8_t> of_bytes(const nb::bytes& b) {
  return {reinterpret_cast<const std::uint8_t*>(b.c_str()), b.size()};
}

/// f(the anchor) under its mutex; f returns a value (nothing that points into the anchor).
template <class F>
auto with(const py_anchor& a, F&& f) {
  const anchor_guard guard(a);
  return std::visit(std::forward<F>(f), a.value);
}

/// f(the anchor) under its mutex, for a call that changes it.
template <class F>
void change(py_anchor& a, F&& f) {
  const anchor_guard guard(a);
  std::visit(std::forward<F>(f), a.value);
}

std::vector<std::uint8_t> saved(const py_anchor& a) {
  return with(a, [](const auto& x) { return x.save(); });
}

nb::dict anchor_config(const py_anchor& a) {
  const anchor_guard guard(a);
  nb::dict d;
  d["belief"] = belief_name(a.value);
  std::visit(
      [&](const auto& anc) {
        const auto& c = anc.belief().settings();
        using C = std::remove_cvref_t<decltype(c)>;
        if constexpr (std::is_same_v<C, kalman_belief::config>) {
          d["eta"] = c.eta;
          d["window"] = c.window;
          d["initial_belief"] = c.initial_belief;
          d["warmup_sigma"] = c.warmup_sigma;
          d["initialise_from_first_observation"] = c.initialise_from_first_observation;
        } else if constexpr (std::is_same_v<C, window_mean_belief::config>) {
          d["window"] = c.window;
          d["initial_belief"] = c.initial_belief;
        } else {
          d["initial_belief"] = c.belief;
        }
      },
      a.value);
  return d;
}

constexpr const char* state_key = "hadw_anchor";

void bind_anchor(nb::module_& m) {
  nb::class_<py_anchor>(m, "DifficultyAnchor",
                        "The evolving difficulty anchor of HA-DW (paper §3.1): a belief C about "
                        "the model's success rate, carried across steps.\n\n"
                        "belief: 'kalman' (the paper's eq. 8-11, default), 'window_mean' (the "
                        "authors' released code: mean of the last `window` batch accuracies) or "
                        "'fixed' (a constant, the paper's ablation; its value is initial_belief).")
      .def(
          "__init__",
          [](py_anchor* self, const std::string& belief, std::optional<double> eta,
             std::optional<std::int64_t> window, std::optional<double> initial_belief,
             std::optional<double> warmup_sigma,
             std::optional<bool> initialise_from_first_observation) {
            anchor_settings s{eta, window, initial_belief, warmup_sigma,
                              initialise_from_first_observation};
            new (self) py_anchor(make_anchor(belief, s));
          },
          "belief"_a = "kalman", nb::kw_only(), "eta"_a = nb::none(), "window"_a = nb::none(),
          "initial_belief"_a = nb::none(), "warmup_sigma"_a = nb::none(),
          "initialise_from_first_observation"_a = nb::none())
      .def_prop_ro("belief",
                   [](const py_anchor& a) {
                     const anchor_guard guard(a);  // load_state_dict may change it
                     return belief_name(a.value);
                   },
                   "'kalman', 'window_mean' or 'fixed'.")
      .def_prop_ro("prior", [](const py_anchor& a) { return with(a, [](const auto& x) { return x.prior(); }); },
                   "C_t^-: the belief the next step is weighted with.")
      .def_prop_ro("eta", [](const py_anchor& a) { return with(a, [](const auto& x) { return x.eta(); }); },
                   "The weight the last observation received (eta_t).")
      .def_prop_ro("step", [](const py_anchor& a) { return with(a, [](const auto& x) { return x.step(); }); },
                   "Observations so far.")
      .def_prop_ro("last_observation",
                   [](const py_anchor& a) { return with(a, [](const auto& x) { return x.last_observation(); }); },
                   "The last batch accuracy observed (nan before any).")
      .def_prop_ro("history",
                   [](const py_anchor& a) {
                     return with(a, [](const auto& x) {
                       const auto h = x.history();
                       return std::vector<double>(h.begin(), h.end());
                     });
                   },
                   "The window the belief keeps, oldest first.")
      .def_prop_ro("config", &anchor_config, "The belief and its settings, as a dict.")
      .def(
          "observe",
          [](py_anchor& a, std::int64_t correct, std::int64_t total) {
            change(a, [&](auto& x) { x.observe(correct, total); });
          },
          "correct"_a, "total"_a,
          "Observes y_t = correct / total from integer counts (e.g. all-reduced across ranks).")
      .def(
          "observe",
          [](py_anchor& a, double ratio) {
            change(a, [&](auto& x) { x.observe(ratio); });
          },
          "ratio"_a, "Observes the batch accuracy y_t in [0, 1] (eq. 7).")
      .def("save", [](const py_anchor& a) { return to_bytes(saved(a)); },
           "The state as versioned, checksummed bytes (bit-exact).")
      .def_static(
          "load", [](const nb::bytes& b) { return py_anchor(load_anchor(of_bytes(b))); }, "state"_a,
          "Restores an anchor from save()'s bytes; raises hadw.Error on corrupt input.")
      .def(
          "state_dict",
          [](const py_anchor& a) {
            nb::dict d;
            d[state_key] = to_bytes(saved(a));
            return d;
          },
          "{'hadw_anchor': bytes}: for a trainer checkpoint (torch.save / pickle).")
      .def(
          "load_state_dict",
          [](py_anchor& a, const nb::dict& d) {
            detail::require(d.contains(state_key), "state_dict: key '", state_key,
                            "' required (from DifficultyAnchor.state_dict())");
            nb::object v = d[state_key];
            detail::require(nb::isinstance<nb::bytes>(v), "state_dict['", state_key,
                            "']: bytes required");
            anchor_variant loaded = load_anchor(of_bytes(nb::cast<nb::bytes>(v)));
            const anchor_guard guard(a);
            // As C++'s difficulty_anchor<B>::load: a state restores an anchor of its own belief.
            detail::require(loaded.index() == a.value.index(), "state_dict: the state of a '",
                            belief_name(loaded), "' anchor cannot be loaded into this '",
                            belief_name(a.value), "' anchor (DifficultyAnchor.load(bytes) makes "
                            "an anchor of the saved belief)");
            a.value = std::move(loaded);
          },
          "state_dict"_a, "Restores the state written by state_dict(), in place.")
      .def("__getstate__",
           [](const py_anchor& a) { return to_bytes(saved(a)); })
      .def("__setstate__",
           [](py_anchor* self, const nb::bytes& b) { new (self) py_anchor(load_anchor(of_bytes(b))); })
      .def("__eq__",
           [](const py_anchor& a, const py_anchor& b) {
             return &a == &b || saved(a) == saved(b);  // one anchor's lock at a time
           })
      .def("__repr__", [](const py_anchor& a) {
        const anchor_guard guard(a);
        return std::visit(
            [&](const auto& x) {
              return detail::concat("DifficultyAnchor(belief='", belief_name(a.value),
                                    "', prior=", x.prior(), ", step=", x.step(), ")");
            },
            a.value);
      });
}

// ---------------------------------------------------------------------------------------------
// Estimator

std::string estimator_repr(const any_estimator& e) {
  std::string s = "Estimator('" + e.name + "'";
  if (!e.compat.empty()) s += ", compat='" + e.compat + "'";
  std::visit(
      [&](const auto& est) {
        if constexpr (requires { est.eps; }) s += detail::concat(", eps=", est.eps);
        if constexpr (requires { est.unbiased; }) s += est.unbiased ? ", unbiased=True" : ", unbiased=False";
        if constexpr (requires { est.eps_at; })
          s += std::string(", eps_at='") + name_of(est.eps_at) + "'";
        if constexpr (requires { est.centred; }) s += est.centred ? ", centred=True" : ", centred=False";
        if constexpr (requires { est.normalise; }) s += est.normalise ? ", normalise=True" : ", normalise=False";
        if constexpr (requires { est.f_norm; }) s += detail::concat(", f_norm=", est.f_norm);
        if constexpr (requires { est.history_mean; })
          s += detail::concat(", history_mean=", est.history_mean, ", lambda_scale=", est.lambda_scale);
        if constexpr (requires { est.process_var; })
          s += detail::concat(", process_var=", est.process_var, ", measurement_var=",
                              est.measurement_var, ", initial_mean=", est.initial_mean,
                              ", initial_var=", est.initial_var);
        s += std::string(", singleton='") + name_of(est.singleton) + "')";
      },
      e.value);
  return s;
}

void bind_estimator(nb::module_& m) {
  nb::class_<any_estimator>(
      m, "Estimator",
      "A group-relative advantage estimator chosen by name: 'grpo', 'dr_grpo', 'grpo_batch_std', "
      "'rloo', 'grpo_leave_one_out', 'reinforce_pp_baseline', 'opo', 'gpg', 'grpo_passk', "
      "'ha_dw_authors', 'maxrl', 'dgpo', 'krpo' (and verl's 'rloo_vectorized'). compat ('verl', 'trl', 'openrlhf', "
      "'nemo_rl', 'slime', 'roll', 'rllm', 'skyrl', 'authors') starts from that "
      "trainer's preset (hadw/estimators/compat.hpp); the named options "
      "override it and must be options the estimator has.")
      .def(
          "__init__",
          [](any_estimator* self, const std::string& name, std::optional<std::string> compat,
             std::optional<double> eps, std::optional<bool> unbiased,
             std::optional<std::string> singleton, std::optional<std::string> eps_at,
             std::optional<bool> centred, std::optional<bool> normalise,
             std::optional<double> f_norm, std::optional<double> history_mean,
             std::optional<double> lambda_scale, std::optional<double> process_var,
             std::optional<double> measurement_var, std::optional<double> initial_mean,
             std::optional<double> initial_var) {
            new (self) any_estimator(name, std::move(compat),
                                     {eps, unbiased, std::move(singleton), std::move(eps_at),
                                      centred, normalise, f_norm, history_mean, lambda_scale,
                                      process_var, measurement_var, initial_mean, initial_var});
          },
          "name"_a, nb::kw_only(), "compat"_a = nb::none(), "eps"_a = nb::none(),
          "unbiased"_a = nb::none(), "singleton"_a = nb::none(), "eps_at"_a = nb::none(),
          "centred"_a = nb::none(), "normalise"_a = nb::none(), "f_norm"_a = nb::none(),
          "history_mean"_a = nb::none(), "lambda_scale"_a = nb::none(),
          "process_var"_a = nb::none(), "measurement_var"_a = nb::none(),
          "initial_mean"_a = nb::none(), "initial_var"_a = nb::none())
      .def_ro("name", &any_estimator::name)
      .def_prop_ro(
          "needs_batch_stats",
          [](const any_estimator& e) {
            return std::visit(
                [](const auto& est) {
                  return std::remove_cvref_t<decltype(est.policies())>::needs_batch_stats;
                },
                e.value);
          },
          "Whether the advantages read statistics of the whole batch, not only the group's "
          "(grpo_batch_std, reinforce_pp_baseline): data-parallel ranks then need the whole "
          "batch.")
      .def_prop_ro("compat", [](const any_estimator& e) -> std::optional<std::string> {
        if (e.compat.empty()) return std::nullopt;
        return e.compat;
      })
      .def("__repr__", &estimator_repr);
}

// ---------------------------------------------------------------------------------------------
// The fused step

/// Checks one fused call's arrays (each error names its argument) and views them. Nothing is
/// written here, nor by run_fused before hadw's own checks passed.
fused_call make_call(const py_step& step, const group_layout& layout, const in_array& rewards,
                     const out_array& out, py_anchor& anchor, const std::optional<in_array>& mask,
                     const std::optional<in_array>& lengths,
                     const std::optional<out_array>& token_out,
                     const std::optional<in_array>& token_mask,
                     const std::optional<in_array>& token_lengths) {
  // With a token stage the per-response buffer is the caller's `advantages` (hadw.Step.tokens).
  const char* out_name = token_out ? "advantages" : "out";
  check_layout(rewards, "rewards", 1);
  check_float(rewards, "rewards");
  check_layout(out, out_name, 1);
  check_same_dtype(out, out_name, rewards, "rewards");
  const std::size_t n = rewards.shape(0);
  check_extent(out, out_name, 0, n, "len(rewards)");
  check_responses(layout, n, "rewards");
  fused_call c;
  c.step = &step;
  c.layout = &layout;
  c.anchor = &anchor.value;
  c.rewards = rewards.data();
  c.advantages = out.data();
  c.n = n;
  c.mask = optional_mask(mask ? &*mask : nullptr, "mask", n);
  c.lengths = optional_lengths(lengths ? &*lengths : nullptr, "lengths", n);
  // Every output against every input (the very same array as out and rewards is an in-place
  // estimate, allowed), and the two outputs against each other.
  const auto writes_nothing_read = [&](const auto& o, const char* o_name, bool rewards_ok) {
    check_disjoint(rewards, "rewards", o, o_name, rewards_ok);
    if (mask) check_disjoint(*mask, "mask", o, o_name);
    if (lengths) check_disjoint(*lengths, "lengths", o, o_name);
    if (token_mask) check_disjoint(*token_mask, "token_mask", o, o_name);
    if (token_lengths) check_disjoint(*token_lengths, "token_lengths", o, o_name);
  };
  if (!token_out) {
    detail::require(!token_mask && !token_lengths,
                    "token_out: required with token_mask or token_lengths");
    writes_nothing_read(out, out_name, /*rewards_ok=*/true);
    return c;
  }
  detail::require(token_mask.has_value() != token_lengths.has_value(),
                  "exactly one of token_mask [N, L] or token_lengths [N] required");
  check_layout(*token_out, "token_out", 2);
  check_same_dtype(*token_out, "token_out", rewards, "rewards");
  check_extent(*token_out, "token_out", 0, n, "len(rewards)");
  c.token_stage = true;
  c.tokens = token_out->data();
  c.L = static_cast<std::int64_t>(token_out->shape(1));
  if (token_mask) {
    check_layout(*token_mask, "token_mask", 2);
    check_dtype(*token_mask, "token_mask", element::mask);
    check_extent(*token_mask, "token_mask", 0, n, "len(rewards)");
    check_extent(*token_mask, "token_mask", 1, token_out->shape(1), "token_out.shape[1]");
    c.token_mask = static_cast<const std::uint8_t*>(token_mask->data());
  } else {
    check_layout(*token_lengths, "token_lengths", 1);
    check_dtype(*token_lengths, "token_lengths", element::i64);
    check_extent(*token_lengths, "token_lengths", 0, n, "len(rewards)");
    c.token_lengths = static_cast<const std::int64_t*>(token_lengths->data());
  }
  writes_nothing_read(out, out_name, /*rewards_ok=*/true);
  writes_nothing_read(*token_out, "token_out", /*rewards_ok=*/false);
  check_disjoint(out, out_name, *token_out, "token_out");
  return c;
}

step_stats run(const fused_call& c, bool f32, const py_anchor& anchor) {
  nb::gil_scoped_release release;
  const std::lock_guard lock(anchor.mutex);
  return f32 ? run_fused<float>(c) : run_fused<double>(c);
}

void bind_step(nb::module_& m) {
  nb::class_<py_step>(m, "Step",
                      "An estimator and HA-DW's options, parsed and validated once; each call "
                      "runs hadw's fused C++ step (estimate -> reweight -> token broadcast) on "
                      "new arrays, checking them all before anything is written.")
      .def(
          "__init__",
          [](py_step* self, const any_estimator& estimator, double lambda_scale,
             bool update_anchor, const std::string& timing, double range_low, double range_high,
             const std::string& observation, double success_threshold,
             std::int64_t warmup_steps, const std::string& nan) {
            reweight_options opt = options_of({lambda_scale, update_anchor, timing, range_low,
                                               range_high, observation, success_threshold,
                                               warmup_steps, nan});
            opt.validate();
            new (self) py_step{estimator, opt};
          },
          "estimator"_a, nb::kw_only(), "lambda_scale"_a = 1.5, "update_anchor"_a = true,
          "timing"_a = "prior", "range_low"_a = 0.0, "range_high"_a = 1.0,
          "observation"_a = "mean_reward", "success_threshold"_a = 0.5, "warmup_steps"_a = 0,
          "nan"_a = "reject")
      .def_prop_ro("estimator", [](const py_step& s) { return s.estimator; })
      .def_prop_ro("lambda_scale", [](const py_step& s) { return s.options.lambda_scale; })
      .def_prop_ro("update_anchor", [](const py_step& s) { return s.options.update_anchor; })
      .def_prop_ro("timing", [](const py_step& s) {
        return s.options.timing == anchor_timing::prior ? "prior" : "posterior";
      })
      .def_prop_ro("reward_range", [](const py_step& s) {
        return std::make_pair(s.options.range.low, s.options.range.high);
      })
      .def_prop_ro("observation", [](const py_step& s) {
        return s.options.observation == observation_kind::mean_reward ? "mean_reward"
                                                                      : "success_rate";
      })
      .def_prop_ro("success_threshold", [](const py_step& s) { return s.options.success_threshold; })
      .def_prop_ro("warmup_steps", [](const py_step& s) { return s.options.warmup_steps; })
      .def_prop_ro("nan", [](const py_step& s) {
        return s.options.nan == nan_policy::reject ? "reject" : "unscorable";
      })
      .def(
          "run",
          [](const py_step& s, const group_layout& layout, const in_array& rewards,
             const out_array& out, py_anchor& anchor, std::optional<in_array> mask,
             std::optional<in_array> lengths, std::optional<out_array> token_out,
             std::optional<in_array> token_mask, std::optional<in_array> token_lengths) {
            const fused_call c = make_call(s, layout, rewards, out, anchor, mask, lengths,
                                           token_out, token_mask, token_lengths);
            return stats_dict(run(c, has(rewards, element::f32), anchor));
          },
          "layout"_a, "rewards"_a, "out"_a, "anchor"_a, "mask"_a = nb::none(),
          "lengths"_a = nb::none(), "token_out"_a = nb::none(), "token_mask"_a = nb::none(),
          "token_lengths"_a = nb::none(),
          "Writes the weighted advantages into `out` (and token_out [N, L] under token_mask or "
          "token_lengths), updates the anchor, returns the step statistics. GIL released.")
      .def(
          "_time",
          [](const py_step& s, const group_layout& layout, const in_array& rewards,
             const out_array& out, py_anchor& anchor, std::int64_t number,
             std::optional<in_array> mask, std::optional<in_array> lengths,
             std::optional<out_array> token_out, std::optional<in_array> token_mask,
             std::optional<in_array> token_lengths) {
            detail::require(number >= 1, "number >= 1 required, got ", number);
            const fused_call c = make_call(s, layout, rewards, out, anchor, mask, lengths,
                                           token_out, token_mask, token_lengths);
            const bool f32 = has(rewards, element::f32);
            nb::gil_scoped_release release;
            const std::lock_guard lock(anchor.mutex);
            const auto t0 = std::chrono::steady_clock::now();
            for (std::int64_t k = 0; k < number; ++k)
              (void)(f32 ? run_fused<float>(c) : run_fused<double>(c));
            const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
            return dt.count() / static_cast<double>(number);
          },
          "layout"_a, "rewards"_a, "out"_a, "anchor"_a, "number"_a, "mask"_a = nb::none(),
          "lengths"_a = nb::none(), "token_out"_a = nb::none(), "token_mask"_a = nb::none(),
          "token_lengths"_a = nb::none(),
          "Benchmarks: seconds per call of the same C++ step, called `number` times in a C++ "
          "loop (no Python in between); updates the anchor every call.")
      .def("__repr__", [](const py_step& s) {
        return detail::concat("Step(", estimator_repr(s.estimator),
                              ", lambda_scale=", s.options.lambda_scale, ")");
      });
}

void bind_layout(nb::module_& m) {
  nb::class_<group_layout>(m, "GroupLayout",
                           "Which responses belong to which prompt's group. Build it once per "
                           "step and pass it to estimate / reweight as layout=.")
      .def_static("uniform", &group_layout::uniform, "num_groups"_a, "group_size"_a,
                  "num_groups groups of group_size consecutive responses.")
      .def_static("from_offsets", &layout_from_offsets, "offsets"_a,
                  "Ragged groups from CSR offsets (int64, num_groups + 1 entries, offsets[0] == 0).")
      .def_static("from_ids", &layout_from_ids, "index"_a,
                  "Groups from one int64 id per response, in any order (verl's uid array); groups "
                  "are numbered by first appearance.")
      .def_prop_ro("num_groups", &group_layout::num_groups)
      .def_prop_ro("num_responses", &group_layout::num_responses)
      .def_prop_ro("is_uniform", &group_layout::is_uniform)
      .def_prop_ro("uniform_size", &group_layout::uniform_size, "The common group size (0 when ragged).")
      .def_prop_ro("has_permutation", &group_layout::has_permutation)
      .def_prop_ro("offsets",
                   [](const group_layout& l) {
                     const auto o = l.offsets();
                     return std::vector<std::int64_t>(o.begin(), o.end());
                   },
                   "CSR offsets in group order (num_groups + 1 entries).")
      .def_prop_ro("permutation",
                   [](const group_layout& l) {
                     const auto p = l.permutation();
                     return std::vector<std::int64_t>(p.begin(), p.end());
                   },
                   "group-order position -> caller index (empty when already group-contiguous).")
      .def("__eq__", [](const group_layout& a, const group_layout& b) { return a == b; })
      .def("__repr__", [](const group_layout& l) {
        return detail::concat("GroupLayout(num_groups=", l.num_groups(),
                              ", num_responses=", l.num_responses(), ")");
      });
}

}  // namespace
}  // namespace hadw::python

namespace hadw::python {
void bind_token_scans(nb::module_& m);  // token_scans.cpp
void bind_weighting_field(nb::module_& m);  // weighting_field.cpp
void bind_multi_reward(nb::module_& m);  // multi_reward.cpp
}  // namespace hadw::python

NB_MODULE(HADW_PY_MODULE, m) {
  using namespace hadw::python;
  m.doc() = "hadw's C++ kernels (nanobind). Use the `hadw` package, which wraps these.";
  m.attr("__version__") = hadw::detail::concat(HADW_VERSION_MAJOR, ".", HADW_VERSION_MINOR, ".",
                                               HADW_VERSION_PATCH);
  nb::exception<hadw::error>(m, "Error", PyExc_ValueError);

  bind_layout(m);
  bind_estimator(m);
  bind_anchor(m);
  bind_step(m);
  bind_token_scans(m);
  bind_weighting_field(m);
  bind_multi_reward(m);

  // What this variant is (hadw/_native.py picks one per machine; hadw.build_info() reports it).
  m.attr("_isa") = HADW_PY_ISA;
  m.attr("_pack_width") = hadw::detail::pack_width;
  m.attr("_openmp") = static_cast<bool>(HADW_HAS_OPENMP);
  m.attr("_compiler") = hadw::python::compiler_name();
  m.def("_cpu_supports", &hadw::python::cpu_supports, "isa"_a,
        "Whether this CPU (and OS) runs code built for `isa` ('baseline', 'x86-64-v2', ...).");

  m.def("estimate_into", &estimate_into, "estimator"_a, "layout"_a, "rewards"_a, "out"_a,
        "mask"_a = nb::none(), "lengths"_a = nb::none(), "nan"_a = "reject",
        "Writes the advantages of `rewards` into `out` (same dtype and length). No copy, GIL "
        "released.");
  m.def(
      "reweight_into",
      [](const out_array& advantages, const in_array& rewards, py_anchor& anchor,
         const hadw::group_layout& layout, std::optional<in_array> mask, double lambda_scale,
         bool update_anchor, const std::string& timing, double range_low, double range_high,
         const std::string& observation, double success_threshold, std::int64_t warmup_steps,
         const std::string& nan) {
        return reweight_into(advantages, rewards, anchor, layout, std::move(mask),
                             {lambda_scale, update_anchor, timing, range_low, range_high,
                              observation, success_threshold, warmup_steps, nan});
      },
      "advantages"_a, "rewards"_a, "anchor"_a, "layout"_a, "mask"_a = nb::none(),
      "lambda_scale"_a = 1.5, "update_anchor"_a = true, "timing"_a = "prior",
      "range_low"_a = 0.0, "range_high"_a = 1.0, "observation"_a = "mean_reward",
      "success_threshold"_a = 0.5, "warmup_steps"_a = 0, "nan"_a = "reject",
      "Multiplies `advantages` in place by Phi (eq. 13-16) and updates the anchor; returns the "
      "step statistics as a dict with 'hadw/...' keys. GIL released.");
  m.def("broadcast_into", &broadcast_into, "advantages"_a, "out"_a, "mask"_a = nb::none(),
        "lengths"_a = nb::none(),
        "out[i, t] = advantages[i] where the token is valid, exactly 0 elsewhere.");

  // For the zero-copy tests: the address the kernels would read, through the same conversion.
  m.def(
      "_data_address",
      [](const in_array& a) { return reinterpret_cast<std::uintptr_t>(a.data()); }, "array"_a,
      "The address of the first element as the kernels see it (tests: no copy was made).");

  // The per-response formulas of HA-DW (weighting.hpp), for inspection and plots.
  m.def("history_difficulty", &hadw::history_difficulty, "p_hat"_a, "prior"_a,
        "Eq. 13: diff = p_hat - C^- (negative: harder than the model's level).");
  m.def("direction", &hadw::direction, "advantage"_a, "difficulty"_a,
        "Eq. 14: D = -sgn(A) sgn(diff).");
  m.def("magnitude", &hadw::magnitude, "difficulty"_a, "Eq. 15: M = |diff|.");
  m.def("phi", &hadw::phi, "advantage"_a, "difficulty"_a, "lambda_scale"_a,
        "Eq. 16: Phi = lambda_scale * exp(D * M).");

  // The paper's binary-reward theory (hadw/theory/binary.hpp): closed forms, double precision.
  auto theory = m.def_submodule("theory", "The paper's bias results for binary rewards (§2).");
  theory.def("non_degenerate_probability", &hadw::theory::non_degenerate_probability, "p"_a,
             "G"_a, "P(S) = 1 - (1-p)^G - p^G: the group carries a gradient.");
  theory.def("expected_baseline", &hadw::theory::expected_baseline, "p"_a, "G"_a,
             "Lemma 2: E[p_hat | S] = (p - p^G) / (1 - (1-p)^G - p^G).");
  theory.def("bias", &hadw::theory::bias, "p"_a, "G"_a,
             "Lemma 2: A - E[A_hat | S] = E[p_hat | S] - p (> 0: underestimated).");
  theory.def("underestimation_probability", &hadw::theory::underestimation_probability, "G"_a,
             "a"_a, "b"_a, "Theorem 2 tables: P(A_hat < A | S) for p uniform on (a, b).");
  theory.def("overestimation_probability", &hadw::theory::overestimation_probability, "G"_a,
             "a"_a, "b"_a, "Theorem 2 tables: P(A_hat > A | S) for p uniform on (a, b).");
}
