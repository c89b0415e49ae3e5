// The CPU backend's entry: what hadw::estimate, reweight, the fused calls and
// broadcast_to_tokens run under backend::cpu once the shapes are checked. Each validates what it
// reads in one read-only scan (strong exception guarantee), then runs the kernels of
// backend/cpu.hpp; the HA-DW glue is step/step.hpp's hadw_step.
#pragma once

#include <hadw/backend/cpu/run.hpp>
#include <hadw/backend/cpu/scan.hpp>
#include <hadw/backend/cpu/token_scans.hpp>
#include <hadw/backend/tags.hpp>
#include <hadw/stats/batch.hpp>
#include <hadw/error.hpp>
#include <hadw/estimators/named.hpp>
#include <hadw/layout.hpp>
#include <hadw/stats/group.hpp>
#include <hadw/step/checks.hpp>
#include <hadw/step/options.hpp>
#include <hadw/step/step.hpp>

#include <cstdint>
#include <span>
#include <type_traits>

namespace hadw {

/// Per-response inputs beside the rewards, all in the caller's order.
struct estimate_options {
  /// 0 excludes a response: it gets advantage 0 and does not enter any statistic. Empty: all valid.
  std::span<const std::uint8_t> mask{};
  /// Token counts per response (>= 0): required by OPO; weights REINFORCE++'s batch whitening.
  std::span<const std::int64_t> lengths{};
  nan_policy nan = nan_policy::reject;
};

namespace detail {

template <class T>
[[nodiscard]] response_view<T> make_view(const group_layout& layout, std::span<const T> rewards,
                                         const estimate_options& opt) {
  return {rewards.data(), opt.mask.empty() ? nullptr : opt.mask.data(),
          opt.lengths.empty() ? nullptr : opt.lengths.data(),
          layout.has_permutation() ? layout.permutation().data() : nullptr,
          opt.nan == nan_policy::unscorable};
}

/// The per-response inputs of reweight's options as estimate() takes them (the fused calls add
/// the estimator's lengths).
inline estimate_options estimate_options_of(const reweight_options& opt,
                                            std::span<const std::int64_t> lengths = {}) {
  return {.mask = opt.mask, .lengths = lengths, .nan = opt.nan};
}

/// The rewards as the kernels read them under reweight's options (no lengths).
template <class R>
[[nodiscard]] response_view<std::remove_cv_t<R>> reweight_view(const group_layout& layout,
                                                               std::span<R> rewards,
                                                               const reweight_options& opt) {
  return make_view(layout, std::span<const std::remove_cv_t<R>>(rewards),
                   estimate_options_of(opt));
}

/// The lengths are token counts: >= 0.
inline void check_lengths(std::span<const std::int64_t> lengths) {
  for (std::size_t i = 0; i < lengths.size(); ++i)
    require(lengths[i] >= 0, "lengths[", i, "] >= 0 required, got ", lengths[i]);
}

/// reweight's verdict on a scan: throws on the first bad reward or an empty batch. `empty_ok`: a
/// batch with no valid response passes (a data-parallel rank's slice may have none).
inline observation checked_scan(const observation& p, const group_layout& layout,
                                const reweight_options& opt, bool empty_ok = false) {
  if (p.reweight_failure.failed()) raise(p.reweight_failure, layout, opt.range);
  require(empty_ok || p.total > 0, "rewards: no valid response in the batch (all masked or unscorable)");
  return p;
}

/// Validates the rewards under reweight's options and observes them, touching nothing.
template <class R>
[[nodiscard]] observation scan_rewards(const group_layout& layout, std::span<R> rewards,
                                       const reweight_options& opt, bool empty_ok = false) {
  const auto view = reweight_view(layout, rewards, opt);
  return checked_scan(cpu::scan(layout, view, opt.range,
                                {.reweight = true, .success_threshold = opt.success_threshold}),
                      layout, opt, empty_ok);
}

/// reweight's reward conventions (range, mask, NaN policy) of the entry points that share its
/// reward checks without its weighting (weigh, spo_estimate, prompt_tracker::update); lambda_scale
/// and the rest stay at their defaults.
template <class Options>
[[nodiscard]] reweight_options reward_checks_of(const Options& o) {
  reweight_options r;
  r.range = o.range;
  r.mask = o.mask;
  r.nan = o.nan;
  return r;
}

/// For an entry point that reads rewards but no advantages: validates `opt`, runs reweight's
/// reward scan (NaN, the range, an empty batch; throws, touching nothing) and returns the view of
/// the rewards the kernels read.
template <class R>
[[nodiscard]] response_view<std::remove_cv_t<R>> checked_reward_view(const group_layout& layout,
                                                                      std::span<R> rewards,
                                                                      const reweight_options& opt) {
  opt.validate();
  (void)scan_rewards(layout, rewards, opt);
  return reweight_view(layout, rewards, opt);
}

/// Validates everything reweight reads before it writes anything (strong exception guarantee);
/// the shapes were checked by the entry point. The advantage of an invalid response (masked, or
/// unscorable) is neither read nor written, so it may hold anything, NaN included.
template <class A, class R>
[[nodiscard]] observation scan_for_reweight(grouped_span<A> advantages, grouped_span<R> rewards,
                                            const reweight_options& opt, bool empty_ok = false) {
  const observation s = scan_rewards(*rewards.layout, rewards.values, opt, empty_ok);
  const auto view = reweight_view(*rewards.layout, rewards.values, opt);
  for (std::size_t i = 0; i < advantages.values.size(); ++i) {
    if (!view.valid(static_cast<std::int64_t>(i))) continue;
    const double a = static_cast<double>(advantages.values[i]);
    require(advantage_in_domain(a), "advantages[", i, "] is ", a,
            "; finite advantages with |advantage| <= max_abs_advantage (1e30) required");
  }
  return s;
}

/// One pass over the batch for the estimators that normalise across it. Groups merge in group
/// order, so the result does not depend on how groups are scheduled.
template <class T>
[[nodiscard]] batch_stats compute_batch_stats(const group_layout& layout,
                                              const response_view<T>& in, singleton_rule rule,
                                              bool weighted) {
  batch_stats b;
  for (std::int64_t k = 0; k < layout.num_groups(); ++k)
    accumulate_batch(b, in, layout.begin(k), layout.end(k),
                     compute_group_stats(in, layout.begin(k), layout.end(k)), rule, weighted);
  return b;
}

/// The CPU backend's weighing of a step: the kernel over every group, with the weighting
/// stage's range as a compile-time type where it is [0, 1].
template <class Run>
[[nodiscard]] auto cpu_weighing(const reward_range& range, Run run) {
  return [range, run](const weighting<>& w) mutable {
    return cpu::with_range(range, [&](const auto& rg) {
      return run(weighting<std::remove_cvref_t<decltype(rg)>>{w.belief, w.lambda_scale, rg,
                                                             w.warming_up});
    });
  };
}

namespace cpu {

/// What the entry points run under backend::cpu (backend::traits<cpu>::entry).
struct entry {
  /// estimate(): the checks of the rewards (finite, the size-1 rule), then the kernel.
  template <class Est, class T, class U>
  static void estimate(backend::cpu, const Est& est, const group_layout& layout,
                       std::span<const T> rewards, std::span<U> advantages,
                       const estimate_options& options) {
    check_lengths(options.lengths);
    const auto in = make_view(layout, rewards, options);
    // The first failure a sequential walk meets, whatever the thread count.
    const observation s =
        scan(layout, in, reward_range{}, {.estimate = true, .singleton = est.singleton});
    if (s.estimate_failure.failed()) raise(s.estimate_failure, layout, reward_range{});
    batch_stats b;
    if constexpr (Est::needs_batch_stats)
      b = compute_batch_stats(layout, in, est.singleton, est.uses_lengths);
    with_reader(in, [&](const auto& reader) {
      (void)run_step(layout, est, b, no_weighting{}, reader, advantages.data(), no_rows{}, 0);
    });
  }

  /// reweight(): the rewards' and advantages' checks and the observation, then the step.
  template <class A, class R, class Belief>
  static step_stats reweight(backend::cpu, grouped_span<A> advantages, grouped_span<R> rewards,
                             difficulty_anchor<Belief>& anchor, const reweight_options& options) {
    const observation seen = scan_for_reweight(advantages, rewards, options);
    const group_layout& layout = *rewards.layout;
    const auto view = reweight_view(layout, rewards.values, options);
    return hadw_step(anchor, options, layout.num_groups(),
                     observed_backend{seen, cpu_weighing(options.range, [&](const auto& w) {
                                        return with_reader(view, [&](const auto& in) {
                                          return run_step(layout, no_estimator{}, batch_stats{},
                                                          w, in, advantages.values.data(),
                                                          no_rows{}, 0);
                                        });
                                      })});
  }

  /// The fused step with token stage `rows`: every check of estimate() and reweight() in one
  /// read-only scan, then one pass of group statistics -> advantage -> Phi -> token rows. The
  /// arithmetic and its order are those of estimate() then reweight() then
  /// broadcast_to_tokens(), so the results are bit-identical to that chain.
  template <class Est, class T, class U, class Belief, class Rows>
  static step_stats fused(backend::cpu, const Est& est, const group_layout& layout,
                          std::span<const T> rewards, std::span<U> advantages,
                          difficulty_anchor<Belief>& anchor, const reweight_options& options,
                          std::span<const std::int64_t> lengths, const Rows& rows,
                          std::int64_t tokens) {
    check_lengths(lengths);
    const auto in = make_view(layout, rewards, estimate_options_of(options, lengths));
    const observation p = scan(layout, in, options.range,
                               {.estimate = true,
                                .singleton = est.singleton,
                                .reweight = true,
                                .success_threshold = options.success_threshold});
    const observation seen = checked_scan(p, layout, options);  // reweight's checks first,
    if (p.estimate_failure.failed()) raise(p.estimate_failure, layout, options.range);  // as unfused
    batch_stats b;
    if constexpr (Est::needs_batch_stats)
      b = compute_batch_stats(layout, in, est.singleton, est.uses_lengths);
    return hadw_step(anchor, options, layout.num_groups(),
                     observed_backend{seen, cpu_weighing(options.range, [&](const auto& w) {
                                        return with_reader(in, [&](const auto& reader) {
                                          return run_step(layout, est, b, w, reader,
                                                          advantages.data(), rows, tokens);
                                        });
                                      })});
  }

  template <class Est, class T, class U, class Belief>
  static step_stats estimate_and_reweight(backend::cpu be, const Est& est,
                                          const group_layout& layout, std::span<const T> rewards,
                                          std::span<U> advantages,
                                          difficulty_anchor<Belief>& anchor,
                                          const reweight_options& options,
                                          std::span<const std::int64_t> lengths) {
    return fused(be, est, layout, rewards, advantages, anchor, options, lengths, no_rows{}, 0);
  }

  /// The token stage by a per-token mask (M = uint8/bool) or by per-row lengths (integral I).
  template <class Est, class T, class U, class Belief, class MaskOrLength, class V>
  static step_stats estimate_reweight_broadcast(
      backend::cpu be, const Est& est, const group_layout& layout, std::span<const T> rewards,
      std::span<U> advantages, difficulty_anchor<Belief>& anchor,
      std::span<const MaskOrLength> token_rows, std::int64_t L, std::span<V> token_advantages,
      const reweight_options& options, std::span<const std::int64_t> lengths) {
    const auto tokens = static_cast<std::int64_t>(token_advantages.size());
    return fused(be, est, layout, rewards, advantages, anchor, options, lengths,
                 rows_of(token_rows, L, token_advantages), tokens);
  }

  /// broadcast_to_tokens(): rows in chunks, no reduction.
  template <class T, class MaskOrLength, class V>
  static void broadcast_to_tokens(backend::cpu, std::span<const T> advantages,
                                  std::span<const MaskOrLength> token_rows, std::int64_t L,
                                  std::span<V> token_advantages) {
    run_rows(advantages.data(), static_cast<std::int64_t>(advantages.size()),
             static_cast<std::int64_t>(token_advantages.size()),
             rows_of(token_rows, L, token_advantages));
  }

  /// The token stage of a mask [N, L] (uint8 or bool) or of per-row lengths (any other integer).
  template <class MaskOrLength, class V>
  [[nodiscard]] static auto rows_of(std::span<const MaskOrLength> token_rows, std::int64_t L,
                                    std::span<V> out) {
    const auto tokens = static_cast<std::int64_t>(out.size());
    if constexpr (std::is_same_v<MaskOrLength, std::uint8_t> || std::is_same_v<MaskOrLength, bool>)
      return mask_rows<MaskOrLength, V>{token_rows.data(), out.data(),
                                        static_cast<std::size_t>(L), stream_tokens<V>(tokens)};
    else
      return length_rows<MaskOrLength, V>{token_rows.data(), out.data(),
                                          static_cast<std::size_t>(L), stream_tokens<V>(tokens)};
  }
};

}  // namespace cpu
}  // namespace detail

namespace backend {
template <>
struct traits<cpu> {
  static constexpr bool host_memory = true;  ///< spans point to host memory
  static constexpr const char* name = "cpu";
  using layout = group_layout;
  template <class T>
  using grouped = grouped_span<T>;
  using entry = detail::cpu::entry;
  using token_scans = detail::cpu::token_scan_entry;  ///< api/token_scans.hpp, remax_tokens
};
}  // namespace backend

}  // namespace hadw
