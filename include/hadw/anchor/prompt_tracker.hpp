// hadw::prompt_tracker: a per-prompt difficulty anchor, SPO's value tracker (Single-stream
// Policy Optimization; verl-recipe spo/spo_ray_trainer.py): for each prompt id a Beta(alpha,
// beta) belief about its success rate, updated with forgetting rho as each new reward arrives,
//   alpha <- rho alpha + r,   beta <- rho beta + (1 - r),   p = alpha / (alpha + beta).
// Usable as SPO's baseline (api/spo.hpp: A = r - p) and as HA-DW's C per prompt
// (weighting/prompt_phi.hpp with priors()). Saved and restored bit-exactly (anchor/state.hpp).
#pragma once

#include <hadw/anchor/state.hpp>
#include <hadw/backend/cpu/entry.hpp>  // reweight's reward scan, shared (CPU-only class)
#include <hadw/concepts.hpp>
#include <hadw/detail/bytes.hpp>
#include <hadw/error.hpp>
#include <hadw/layout.hpp>
#include <hadw/stats/readers.hpp>
#include <hadw/step/options.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hadw {

/// One prompt's belief.
struct beta_state {
  double alpha = 0.5;
  double beta = 0.5;
  [[nodiscard]] double mean() const { return alpha / (alpha + beta); }
  friend bool operator==(const beta_state&, const beta_state&) = default;
};

/// The per-response inputs of prompt_tracker::update.
struct tracker_update_options {
  /// Forgetting per update, one value per group (overrides `rho`); SPO's KL-based rho is
  /// per prompt: rho = clamp(2^(-D / 0.06), clip_lower, 0.96).
  std::span<const double> rho_per_group{};
  reward_range range{};  ///< rewards are mapped onto [0, 1] first (SPO's are 0/1)
  std::span<const std::uint8_t> mask{};
  nan_policy nan = nan_policy::reject;
};

class prompt_tracker {
 public:
  static constexpr std::uint16_t format_version = 1;
  static constexpr std::uint8_t state_kind = 1;  ///< the tracker's tag in its saved bytes

  /// The belief of a prompt never seen (SPO without offline values: Beta(0.5, 0.5)).
  explicit prompt_tracker(beta_state initial = {}) : initial_(initial) {
    check_belief(initial, "initial");
  }

  /// SPO's offline initialisation from n scored samples with s successes:
  /// alpha = N0 (s + 0.5) / (n + 1), beta = N0 (n - s + 0.5) / (n + 1), N0 = 1 / (1 - clip_lower);
  /// n = 0 gives Beta(0.5, 0.5), as SPO's offline_N = 0 branch.
  [[nodiscard]] static beta_state offline_prior(std::int64_t successes, std::int64_t n,
                                                double clip_lower) {
    detail::require(n >= 0 && successes >= 0 && successes <= n,
                    "0 <= successes <= n required, got successes = ", successes, ", n = ", n);
    detail::require(std::isfinite(clip_lower) && clip_lower >= 0.0 && clip_lower < 1.0,
                    "clip_lower in [0, 1) required, got ", clip_lower);
    if (n == 0) return {};
    const double n0 = 1.0 / (1.0 - clip_lower);
    const double s = static_cast<double>(successes), m = static_cast<double>(n);
    return {n0 * (s + 0.5) / (m + 1.0), n0 * (m - s + 0.5) / (m + 1.0)};
  }

  /// The belief about `id` (the initial one for an id never seen).
  [[nodiscard]] beta_state belief(std::uint64_t id) const {
    const auto it = beliefs_.find(id);
    return it == beliefs_.end() ? initial_ : it->second;
  }
  /// p = alpha / (alpha + beta): SPO's p̂ and the prompt's C for HA-DW.
  [[nodiscard]] double prior(std::uint64_t id) const { return belief(id).mean(); }
  /// The priors of the groups' ids into out (sizes equal). Allocates nothing.
  void priors(std::span<const std::uint64_t> ids, std::span<double> out) const {
    detail::require_size(out.size(), ids.size(), "out", "ids.size()");
    for (std::size_t k = 0; k < ids.size(); ++k) out[k] = prior(ids[k]);
  }
  /// Sets a prompt's belief (e.g. offline_prior of its offline pass rate).
  void set(std::uint64_t id, beta_state b) {
    check_belief(b, "belief");
    beliefs_.insert_or_assign(id, b);
  }

  /// One step: for every group k (prompt ids[k]) with valid responses,
  /// alpha <- rho_k alpha + sum u_i, beta <- rho_k beta + sum (1 - u_i), u = range-normalised
  /// reward. With one response per prompt (SPO's setting) this is SPO's update exactly; with G
  /// responses it is the Beta-Bernoulli posterior of the G outcomes, forgotten once per step.
  /// A group with no valid response is skipped (no forgetting). An id in two groups of one
  /// call is updated twice, in group order (SPO instead keeps the last row's update only).
  /// The first sight of an id allocates its map entry. Throws hadw::error (naming the input)
  /// before changing anything; only a failed allocation can leave the update partial.
  template <class T>
  void update(std::span<const std::uint64_t> ids, grouped_span<T> rewards, double rho,
              const tracker_update_options& options = {}) {
    detail::require_reward_value<std::remove_cv_t<T>>();
    update_impl(ids, rewards, rho, options);
  }

  [[nodiscard]] std::size_t size() const { return beliefs_.size(); }
  [[nodiscard]] beta_state initial() const { return initial_; }
  [[nodiscard]] std::int64_t updates() const { return updates_; }

  /// The state as bytes: "HDPT", u16 version, u8 kind, u8 reserved, u32 payload size, payload
  /// (initial alpha, beta; update count; u64 n; n x (u64 id, f64 alpha, f64 beta) in increasing
  /// id order, so equal states save equal bytes), u64 FNV-1a of all preceding bytes.
  [[nodiscard]] std::vector<std::uint8_t> save() const {
    std::vector<std::pair<std::uint64_t, beta_state>> items(beliefs_.begin(), beliefs_.end());
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    state_writer p;
    p.f64(initial_.alpha);
    p.f64(initial_.beta);
    p.i64(updates_);
    p.u64(items.size());
    for (const auto& [id, b] : items) {
      p.u64(id);
      p.f64(b.alpha);
      p.f64(b.beta);
    }
    state_writer w;
    for (char c : {'H', 'D', 'P', 'T'}) w.u8(static_cast<std::uint8_t>(c));
    w.u16(format_version);
    w.u8(state_kind);
    w.u8(0);
    w.u32(static_cast<std::uint32_t>(p.size()));
    w.raw(p.bytes());
    w.u64(detail::fnv1a64(w.bytes()));
    return w.release();
  }

  /// Restores a tracker from save()'s bytes; throws hadw::error ("prompt tracker state: ...")
  /// on a truncated, corrupted, wrong-version or wrong-kind buffer, or an invalid belief.
  [[nodiscard]] static prompt_tracker load(std::span<const std::uint8_t> bytes) {
    constexpr std::size_t header = 12, trailer = 8, entry = 24;
    detail::require(bytes.size() >= header + trailer, "prompt tracker state: ", bytes.size(),
                    " bytes is too short (>= ", header + trailer, " required)");
    detail::require(bytes[0] == 'H' && bytes[1] == 'D' && bytes[2] == 'P' && bytes[3] == 'T',
                    "prompt tracker state: bad magic (not a hadw prompt tracker)");
    state_reader h(bytes);
    (void)h.u32();
    const std::uint16_t version = h.u16();
    detail::require(version == format_version, "prompt tracker state: format version ", version,
                    " unsupported (", format_version, " required)");
    const std::uint8_t kind = h.u8();
    detail::require(kind == state_kind, "prompt tracker state: kind ", +kind, " (", +state_kind,
                    " required)");
    (void)h.u8();
    const std::uint32_t size = h.u32();
    detail::require(bytes.size() == header + size + trailer, "prompt tracker state: ", bytes.size(),
                    " bytes, but the header says ", header + size + trailer);
    const auto body = bytes.first(header + size);
    state_reader tail(bytes.subspan(header + size));
    detail::require(tail.u64() == detail::fnv1a64(body), "prompt tracker state: checksum mismatch");
    state_reader r(body);
    (void)r.u64();
    (void)r.u32();
    prompt_tracker t(checked({r.f64("initial alpha"), r.f64("initial beta")}, "initial"));
    t.updates_ = r.i64("updates");
    detail::require(t.updates_ >= 0, "prompt tracker state: negative update count ", t.updates_);
    const std::uint64_t n = r.u64("count");
    detail::require(n <= r.remaining() / entry, "prompt tracker state: ", n,
                    " entries do not fit the ", r.remaining(), " bytes left");
    t.beliefs_.reserve(static_cast<std::size_t>(n));
    std::uint64_t last = 0;
    for (std::uint64_t e = 0; e < n; ++e) {
      const std::uint64_t id = r.u64("id");
      detail::require(e == 0 || id > last,
                      "prompt tracker state: ids not strictly increasing at entry ", e);
      last = id;
      const double a = r.f64("alpha");
      t.beliefs_.emplace(id, checked({a, r.f64("beta")}, "belief"));
    }
    detail::require(r.position() == header + size, "prompt tracker state: payload has ",
                    header + size - r.position(), " unread bytes");
    return t;
  }
  [[nodiscard]] static prompt_tracker load(const std::vector<std::uint8_t>& bytes) {
    return load(std::span<const std::uint8_t>(bytes));
  }

  /// Bit-exact equality of the whole state.
  friend bool operator==(const prompt_tracker& a, const prompt_tracker& b) {
    return a.save() == b.save();
  }

 private:
  /// alpha, beta >= 0, finite, alpha + beta > 0: p is defined (the update keeps it so:
  /// r + (1 - r) = 1 is added each step).
  static bool valid(beta_state b) {
    return std::isfinite(b.alpha) && std::isfinite(b.beta) && b.alpha >= 0.0 && b.beta >= 0.0 &&
           b.alpha + b.beta > 0.0;
  }
  static void check_belief(beta_state b, const char* what) {
    detail::require(valid(b), what,
                    ": alpha, beta >= 0 (finite) with alpha + beta > 0 required, got (", b.alpha,
                    ", ", b.beta, ")");
  }
  static beta_state checked(beta_state b, const char* what) {
    detail::require(valid(b), "prompt tracker state: ", what, " (", b.alpha, ", ", b.beta,
                    ") is not a valid Beta belief");
    return b;
  }

  template <class T>
  void update_impl(std::span<const std::uint64_t> ids, grouped_span<T> rewards, double rho,
                   const tracker_update_options& o) {
    detail::require(rewards.layout != nullptr,
                    "rewards.layout must not be null (use hadw::grouped)");
    const group_layout& layout = *rewards.layout;
    const auto groups = static_cast<std::size_t>(layout.num_groups());
    detail::require_size(ids.size(), groups, "ids", "layout.num_groups()");
    detail::require_size(rewards.values.size(), static_cast<std::size_t>(layout.num_responses()),
                         "rewards", "layout.num_responses()");
    if (!o.mask.empty())
      detail::require_size(o.mask.size(), rewards.values.size(), "mask", "layout.num_responses()");
    if (o.rho_per_group.empty()) {
      detail::require(std::isfinite(rho) && rho >= 0.0 && rho <= 1.0,
                      "rho in [0, 1] required, got ", rho);
    } else {
      detail::require_size(o.rho_per_group.size(), groups, "rho_per_group", "layout.num_groups()");
      for (std::size_t k = 0; k < groups; ++k)
        detail::require(std::isfinite(o.rho_per_group[k]) && o.rho_per_group[k] >= 0.0 &&
                            o.rho_per_group[k] <= 1.0,
                        "rho_per_group[", k, "] in [0, 1] required, got ", o.rho_per_group[k]);
    }
    // reweight's scan: NaN, the range, an empty batch; nothing changed yet.
    const auto view =
        detail::checked_reward_view(layout, rewards.values, detail::reward_checks_of(o));
    for (std::size_t k = 0; k < groups; ++k) {
      double s = 0.0, f = 0.0;
      std::int64_t n = 0;
      for (std::int64_t j = layout.begin(static_cast<std::int64_t>(k));
           j < layout.end(static_cast<std::int64_t>(k)); ++j) {
        const std::int64_t i = view.index(j);
        if (!view.valid(i)) continue;
        const double u = o.range.normalise(view.reward(i));
        s += u;
        f += 1.0 - u;
        ++n;
      }
      if (n == 0) continue;
      const double r = o.rho_per_group.empty() ? rho : o.rho_per_group[k];
      beta_state& b = beliefs_.try_emplace(ids[k], initial_).first->second;
      b = {r * b.alpha + s, r * b.beta + f};
    }
    ++updates_;
  }

  beta_state initial_;
  std::unordered_map<std::uint64_t, beta_state> beliefs_;
  std::int64_t updates_ = 0;
};

}  // namespace hadw
