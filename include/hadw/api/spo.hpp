// hadw::spo_estimate: SPO's advantages (Single-stream Policy Optimization; verl-recipe
// spo/spo_ray_trainer.py): A = r - p(prompt), p the prompt_tracker's Beta mean from before this
// step, then whitened over the batch, (A - mean) / (std + 1e-8) with the unbiased std (torch's).
#pragma once

#include <hadw/anchor/prompt_tracker.hpp>
#include <hadw/backend/cpu/entry.hpp>
#include <hadw/concepts.hpp>
#include <hadw/detail/alias.hpp>
#include <hadw/error.hpp>
#include <hadw/layout.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

namespace hadw {

struct spo_options {
  bool whiten = true;                    ///< SPO's batch normalisation; false: the raw r - p
  double eps = 1e-8;                     ///< SPO's
  reward_range range{};                  ///< r is mapped onto [0, 1] first (SPO's rewards are 0/1)
  std::span<const std::uint8_t> mask{};  ///< 0: advantage 0, left out of the whitening
  nan_policy nan = nan_policy::reject;
};

/// Writes SPO's advantage of every response into out (0 for an invalid one); ids[k] is group
/// k's prompt id. Call before tracker.update(ids, rewards, rho) of the same step (SPO computes
/// the advantages with the prior, then updates alpha, beta). With fewer than 2 valid responses
/// the whitened advantages are 0 (SPO's torch std would be NaN). Reads the tracker only;
/// throws hadw::error naming the input before writing anything.
template <class R, class U>
void spo_estimate(const prompt_tracker& tracker, std::span<const std::uint64_t> ids,
                  grouped_span<R> rewards, std::span<U> out, const spo_options& options = {}) {
  detail::require_reward_value<std::remove_cv_t<R>>();
  detail::require_advantage_value<U>();
  detail::require(rewards.layout != nullptr, "rewards.layout must not be null (use hadw::grouped)");
  const group_layout& layout = *rewards.layout;
  detail::require_size(ids.size(), static_cast<std::size_t>(layout.num_groups()), "ids",
                       "layout.num_groups()");
  const auto n = static_cast<std::size_t>(layout.num_responses());
  detail::require_size(rewards.values.size(), n, "rewards", "layout.num_responses()");
  detail::require_size(out.size(), n, "out", "layout.num_responses()");
  if (!options.mask.empty())
    detail::require_size(options.mask.size(), n, "mask", "layout.num_responses()");
  detail::require(std::isfinite(options.eps) && options.eps > 0.0,
                  "spo_options.eps > 0 (finite) required, got ", options.eps);
  detail::require_in_place_or_disjoint(out, "out", rewards.values, "rewards");
  const auto view =
      detail::checked_reward_view(layout, rewards.values, detail::reward_checks_of(options));

  double sum = 0.0;
  std::int64_t count = 0;
  for (std::int64_t k = 0; k < layout.num_groups(); ++k) {
    const double p = tracker.prior(ids[static_cast<std::size_t>(k)]);
    for (std::int64_t j = layout.begin(k); j < layout.end(k); ++j) {
      const std::int64_t i = view.index(j);
      const auto at = static_cast<std::size_t>(i);
      if (!view.valid(i)) {
        out[at] = U(0);
        continue;
      }
      const double a = options.range.normalise(view.reward(i)) - p;
      out[at] = static_cast<U>(a);
      sum += static_cast<double>(out[at]);
      ++count;
    }
  }
  if (!options.whiten) return;
  // Two passes over out (in double from the values as written: SPO whitens its float tensor).
  const double mean = sum / static_cast<double>(count);
  double m2 = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    if (view.valid(static_cast<std::int64_t>(i))) {
      const double d = static_cast<double>(out[i]) - mean;
      m2 += d * d;
    }
  const double sd = count > 1 ? std::sqrt(m2 / static_cast<double>(count - 1)) : 0.0;
  for (std::size_t i = 0; i < n; ++i)
    if (view.valid(static_cast<std::int64_t>(i)))
      out[i] = count > 1 ? static_cast<U>((static_cast<double>(out[i]) - mean) / (sd + options.eps))
                         : U(0);
}

}  // namespace hadw
