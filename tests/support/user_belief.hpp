// A belief policy written the way a user writes one: public hadw API only (no hadw::detail).
//
// ema_belief: an exponential moving average of the batch accuracies,
//   belief <- (1 - alpha) belief + alpha y,
// eta() = alpha once it has observed, 0 before; history() = the current (posterior) belief once
// it has observed, empty before. Its kind, 200, is in the user range (64-255).
#pragma once

#include <hadw/anchor.hpp>
#include <hadw/concepts.hpp>
#include <hadw/error.hpp>
#include <hadw/anchor/state.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace test_support {

struct ema_belief {
  struct config {
    double alpha = 0.1;           ///< weight of each new observation, in (0, 1]
    double initial_belief = 0.5;  ///< belief before any observation, in [0, 1]

    void validate() const {
      if (!(std::isfinite(alpha) && alpha > 0.0 && alpha <= 1.0))
        throw hadw::error("ema_belief::config::alpha in (0, 1] required, got " +
                          std::to_string(alpha));
      if (!(std::isfinite(initial_belief) && initial_belief >= 0.0 && initial_belief <= 1.0))
        throw hadw::error("ema_belief::config::initial_belief in [0, 1] required, got " +
                          std::to_string(initial_belief));
    }
    friend bool operator==(const config&, const config&) = default;
  };
  // [snippet:ema_kind]
  static constexpr std::uint8_t kind = 200;  // user beliefs: 64-255
  static constexpr std::string_view name = "test_support::ema_belief";
  // [end:ema_kind]

  ema_belief() : ema_belief(config{}) {}
  explicit ema_belief(const config& c) : cfg_(c), belief_(c.initial_belief) { cfg_.validate(); }

  [[nodiscard]] double prior() const { return belief_; }
  [[nodiscard]] double eta() const { return observed_ ? cfg_.alpha : 0.0; }
  [[nodiscard]] std::span<const double> history() const {
    return {&belief_, observed_ ? std::size_t{1} : std::size_t{0}};
  }
  [[nodiscard]] const config& settings() const { return cfg_; }

  void observe(double y) {
    belief_ = (1.0 - cfg_.alpha) * belief_ + cfg_.alpha * y;
    observed_ = true;
  }

  // [snippet:ema_state]
  void save_state(hadw::state_writer& w) const {
    w.f64(cfg_.alpha);
    w.f64(cfg_.initial_belief);
    w.f64(belief_);
    w.flag(observed_);
  }
  [[nodiscard]] static ema_belief load_state(hadw::state_reader& r) {
    config c;
    c.alpha = r.f64("ema alpha");
    c.initial_belief = r.f64("ema initial_belief");
    ema_belief b(c);  // validates the config
    b.belief_ = r.f64_unit("ema belief");
    b.observed_ = r.flag("ema observed");
    // Before any observation the belief is the initial one, bit for bit.
    if (!b.observed_ && std::bit_cast<std::uint64_t>(b.belief_) !=
                            std::bit_cast<std::uint64_t>(c.initial_belief))
      throw hadw::error("anchor state: ema belief differs from initial_belief before any "
                        "observation");
    return b;
  }
  // [end:ema_state]

  friend bool operator==(const ema_belief&, const ema_belief&) = default;

private:
  config cfg_;
  double belief_;
  bool observed_ = false;
};

static_assert(hadw::belief_policy<ema_belief>);

}  // namespace test_support
