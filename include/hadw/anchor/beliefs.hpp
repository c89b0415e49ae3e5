// Belief policies of the difficulty anchor (paper §3.1, DESIGN.md §1.2): what the model's current
// success rate C is believed to be, and how each batch's accuracy y_t updates that belief.
#pragma once

#include <hadw/concepts.hpp>
#include <hadw/error.hpp>
#include <hadw/anchor/state.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace hadw {

namespace detail {

inline void check_unit(double v, const char* name) {
  require(std::isfinite(v) && v >= 0.0 && v <= 1.0, name, " in [0, 1] required, got ", v);
}
inline void check_window(std::int64_t w, const char* name) {
  require(w >= 1 && w <= (1 << 20), name, " in [1, 2^20] required, got ", w);
}

/// Whether push_window drops the oldest value before it appends.
[[nodiscard]] inline bool window_full(const std::vector<double>& window, std::int64_t capacity) {
  // capacity >= 1 (validated); the emptiness test only tells GCC's -Warray-bounds so.
  return !window.empty() && static_cast<std::int64_t>(window.size()) >= capacity;
}

/// The last `capacity` values in chronological order (oldest first). The first push reserves
/// the whole window, so a step allocates nothing once the anchor has observed once.
inline void push_window(std::vector<double>& window, std::int64_t capacity, double v) {
  if (window.capacity() < static_cast<std::size_t>(capacity))
    window.reserve(static_cast<std::size_t>(capacity));
  if (window_full(window, capacity)) window.erase(window.begin());
  window.push_back(v);
}

/// The sum of `values`, left to right (the window mean's summation order).
[[nodiscard]] inline double sum_of(std::span<const double> values) {
  double sum = 0.0;
  for (double v : values) sum += v;
  return sum;
}

}  // namespace detail

/// The paper's anchor (eq. 7-11): a Kalman-style update of the belief with a forgetting factor
/// driven by how unstable the recent beliefs were.
///
///   sigma_t = population std of the last m posterior beliefs (warmup_sigma while fewer than 2)
///   eta_t   = clamp(eta * sigma_t, 0, 1)
///   C_t^+   = (1 - eta_t) C_t^- + eta_t y_t,   C_{t+1}^- = C_t^+
///
/// The history holds posterior beliefs only (C_0 is a setting, not an estimate). Note that
/// sigma_t is typically 0.01-0.05, so eta_t = eta * sigma_t moves C slowly unless eta is large;
/// the paper gives no value for eta, m or C_0.
struct kalman_belief {
  struct config {
    double eta = 0.1;             ///< base rate (0.1: the public TRL reading of the paper)
    std::int64_t window = 10;     ///< m, beliefs in the history (10: same source)
    double initial_belief = 0.5;  ///< C_0 (0.5: no prior knowledge of the model's level)
    double warmup_sigma = 1.0;    ///< sigma while the history holds < 2 beliefs (TRL reading)
    /// C_0 := the first batch's accuracy instead of initial_belief (TRL reading); that first
    /// observation sets the belief with eta_1 = 1.
    bool initialise_from_first_observation = false;

    void validate() const {
      detail::check_unit(eta, "kalman_belief::config::eta");
      detail::check_window(window, "kalman_belief::config::window");
      detail::check_unit(initial_belief, "kalman_belief::config::initial_belief");
      detail::require(std::isfinite(warmup_sigma) && warmup_sigma >= 0.0,
                      "kalman_belief::config::warmup_sigma >= 0 required, got ", warmup_sigma);
    }
    friend bool operator==(const config&, const config&) = default;
  };
  static constexpr std::uint8_t kind = 1;
  static constexpr std::string_view name = "hadw::kalman_belief";

  kalman_belief() : kalman_belief(config{}) {}
  explicit kalman_belief(const config& c) : cfg_(c), belief_(c.initial_belief) {
    cfg_.validate();
  }

  [[nodiscard]] double prior() const { return belief_; }
  [[nodiscard]] double eta() const { return eta_; }
  [[nodiscard]] std::span<const double> history() const { return history_; }
  [[nodiscard]] const config& settings() const { return cfg_; }

  void observe(double y) {
    const update u = next(y);
    eta_ = u.eta;
    belief_ = u.belief;
    detail::push_window(history_, cfg_.window, belief_);
  }
  /// prior() after observe(y), without observing (anchor_timing::posterior).
  [[nodiscard]] double posterior(double y) const { return next(y).belief; }

  /// Population std (ddof 0, eq. 10) of the history; two-pass for exactness.
  [[nodiscard]] double sigma() const {
    if (history_.size() < 2) return cfg_.warmup_sigma;
    double mean = 0.0;
    for (double v : history_) mean += v;
    mean /= static_cast<double>(history_.size());
    double m2 = 0.0;
    for (double v : history_) m2 += (v - mean) * (v - mean);
    return std::sqrt(m2 / static_cast<double>(history_.size()));
  }

  void save_state(state_writer& w) const {
    w.f64(cfg_.eta);
    w.i64(cfg_.window);
    w.f64(cfg_.initial_belief);
    w.f64(cfg_.warmup_sigma);
    w.flag(cfg_.initialise_from_first_observation);
    w.f64(belief_);
    w.f64(eta_);
    w.f64_window(history_);
  }
  [[nodiscard]] static kalman_belief load_state(state_reader& r) {
    config c;
    c.eta = r.f64("eta");
    c.window = r.i64("window");
    c.initial_belief = r.f64("initial_belief");
    c.warmup_sigma = r.f64("warmup_sigma");
    c.initialise_from_first_observation = r.flag("initialise_from_first_observation");
    kalman_belief b(c);  // validates the config
    b.belief_ = r.f64_unit("belief");
    b.eta_ = r.f64_unit("eta");
    b.history_ = r.unit_window(static_cast<std::uint64_t>(c.window), "history");
    return b;
  }

  friend bool operator==(const kalman_belief&, const kalman_belief&) = default;

private:
  /// eta_t and C_t^+ after observing y (eq. 9-11).
  struct update {
    double eta, belief;
  };
  [[nodiscard]] update next(double y) const {
    if (history_.empty() && cfg_.initialise_from_first_observation) return {1.0, y};
    const double eta = std::clamp(cfg_.eta * sigma(), 0.0, 1.0);
    return {eta, (1.0 - eta) * belief_ + eta * y};
  }

  config cfg_;
  double belief_;
  double eta_ = 0.0;
  std::vector<double> history_;
};

/// What the authors' released verl code does (yangfengkai/HA-DW; paper App. F's simpler
/// variant): the belief is the plain mean of the last k batch accuracies. Their estimator adds the
/// current batch before weighting: use it with anchor_timing::posterior to reproduce them.
struct window_mean_belief {
  struct config {
    std::int64_t window = 10;     ///< k (reward_window_k = 10 in the authors' scripts)
    double initial_belief = 0.5;  ///< belief before any observation
    void validate() const {
      detail::check_window(window, "window_mean_belief::config::window");
      detail::check_unit(initial_belief, "window_mean_belief::config::initial_belief");
    }
    friend bool operator==(const config&, const config&) = default;
  };
  static constexpr std::uint8_t kind = 2;
  static constexpr std::string_view name = "hadw::window_mean_belief";

  window_mean_belief() : window_mean_belief(config{}) {}
  explicit window_mean_belief(const config& c) : cfg_(c) { cfg_.validate(); }

  [[nodiscard]] double prior() const {
    if (window_.empty()) return cfg_.initial_belief;
    return detail::sum_of(window_) / static_cast<double>(window_.size());
  }
  /// The weight the newest observation has in the mean.
  [[nodiscard]] double eta() const {
    return window_.empty() ? 0.0 : 1.0 / static_cast<double>(window_.size());
  }
  [[nodiscard]] std::span<const double> history() const { return window_; }
  [[nodiscard]] const config& settings() const { return cfg_; }
  void observe(double y) { detail::push_window(window_, cfg_.window, y); }
  /// prior() after observe(y), without observing: the values the window keeps, then y, summed
  /// in prior()'s order.
  [[nodiscard]] double posterior(double y) const {
    const std::span<const double> kept =
        std::span<const double>(window_).subspan(detail::window_full(window_, cfg_.window) ? 1 : 0);
    return (detail::sum_of(kept) + y) / static_cast<double>(kept.size() + 1);
  }

  void save_state(state_writer& w) const {
    w.i64(cfg_.window);
    w.f64(cfg_.initial_belief);
    w.f64_window(window_);
  }
  [[nodiscard]] static window_mean_belief load_state(state_reader& r) {
    config c;
    c.window = r.i64("window");
    c.initial_belief = r.f64("initial_belief");
    window_mean_belief b(c);  // validates the config
    b.window_ = r.unit_window(static_cast<std::uint64_t>(c.window), "window");
    return b;
  }

  friend bool operator==(const window_mean_belief&, const window_mean_belief&) = default;

private:
  config cfg_;
  std::vector<double> window_;
};

/// A constant threshold (the paper's ablation: a fixed anchor instead of an evolving one).
struct fixed_belief {
  struct config {
    double belief = 0.5;
    void validate() const { detail::check_unit(belief, "fixed_belief::config::belief"); }
    friend bool operator==(const config&, const config&) = default;
  };
  static constexpr std::uint8_t kind = 3;
  static constexpr std::string_view name = "hadw::fixed_belief";

  fixed_belief() : fixed_belief(config{}) {}
  explicit fixed_belief(const config& c) : cfg_(c) { cfg_.validate(); }
  [[nodiscard]] double prior() const { return cfg_.belief; }
  [[nodiscard]] double eta() const { return 0.0; }
  [[nodiscard]] std::span<const double> history() const { return {}; }
  [[nodiscard]] const config& settings() const { return cfg_; }
  void observe(double) {}
  [[nodiscard]] double posterior(double) const { return cfg_.belief; }

  void save_state(state_writer& w) const { w.f64(cfg_.belief); }
  [[nodiscard]] static fixed_belief load_state(state_reader& r) {
    config c;
    c.belief = r.f64("belief");
    return fixed_belief(c);  // validates the config
  }

  friend bool operator==(const fixed_belief&, const fixed_belief&) = default;

private:
  config cfg_;
};

static_assert(belief_policy<kalman_belief> && belief_policy<window_mean_belief> &&
              belief_policy<fixed_belief>);

}  // namespace hadw
