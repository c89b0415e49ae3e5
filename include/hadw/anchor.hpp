// difficulty_anchor: the one piece of state HA-DW carries across training steps.
#pragma once

#include <hadw/beliefs.hpp>
#include <hadw/concepts.hpp>
#include <hadw/detail/bytes.hpp>
#include <hadw/error.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace hadw {

/// The evolving difficulty anchor (paper §3.1): a belief C about the model's current success
/// rate. Each step weights with prior() (C_t^-) and then observe()s the batch accuracy y_t,
/// which makes prior() the next step's C_{t+1}^- = C_t^+.
///
/// State survives save()/load() bit-exactly, so a run resumed from a checkpoint produces exactly
/// the weights of an uninterrupted run. Data-parallel ranks that all-reduce integer counts and
/// call observe(correct, total) hold bit-identical anchors.
template <belief_policy Belief = kalman_belief>
class difficulty_anchor {
public:
  using belief_type = Belief;
  using config = typename Belief::config;

  /// Byte-format version written by save(); load() accepts exactly this version.
  static constexpr std::uint16_t format_version = 1;

  /// The belief policy with its documented defaults.
  difficulty_anchor() = default;
  explicit difficulty_anchor(const config& c) : belief_(c) {}
  explicit difficulty_anchor(const Belief& b) : belief_(b) {}

  /// C_t^-: the belief the next step is weighted with.
  [[nodiscard]] double prior() const { return belief_.prior(); }
  /// The weight the last observation received (eta_t for kalman_belief; 0 before any).
  [[nodiscard]] double eta() const { return belief_.eta(); }
  /// Observations so far.
  [[nodiscard]] std::int64_t step() const { return step_; }
  /// The last batch accuracy observed (NaN before any).
  [[nodiscard]] double last_observation() const { return last_observation_; }
  /// The window the belief keeps, oldest first (posterior beliefs for kalman_belief, batch
  /// accuracies for window_mean_belief, empty for fixed_belief).
  [[nodiscard]] std::span<const double> history() const { return belief_.history(); }
  [[nodiscard]] const Belief& belief() const { return belief_; }

  /// Observes the batch accuracy y_t in [0, 1] (eq. 7). Throws hadw::error otherwise.
  void observe(double ratio) {
    detail::require(std::isfinite(ratio) && ratio >= 0.0 && ratio <= 1.0,
                    "ratio in [0, 1] required, got ", ratio);
    // A loaded checkpoint may hold any step >= 0; counting past INT64_MAX would be UB (fuzzing).
    detail::require(step_ < INT64_MAX, "step() < INT64_MAX required to observe, got ", step_);
    belief_.observe(ratio);
    last_observation_ = ratio;
    ++step_;
  }
  /// Observes y_t = correct / total from integer counts (all-reduced across ranks).
  void observe(std::int64_t correct, std::int64_t total) {
    detail::require(total > 0, "total > 0 required, got ", total);
    detail::require(correct >= 0 && correct <= total, "0 <= correct <= total required, got correct = ",
                    correct, ", total = ", total);
    observe(static_cast<double>(correct) / static_cast<double>(total));
  }

  /// The state as bytes: "HADW", u16 version, u8 belief kind, u8 reserved, u32 payload size,
  /// payload (little-endian integers, IEEE-754 doubles as their bit patterns), u64 FNV-1a of all
  /// preceding bytes.
  [[nodiscard]] std::vector<std::uint8_t> save() const {
    detail::byte_writer payload;
    belief_.save_state(payload);
    payload.i64(step_);
    payload.f64(last_observation_);
    detail::byte_writer w;
    for (char c : {'H', 'A', 'D', 'W'}) w.u8(static_cast<std::uint8_t>(c));
    w.u16(format_version);
    w.u8(Belief::kind);
    w.u8(0);
    w.u32(static_cast<std::uint32_t>(payload.bytes().size()));
    auto& out = w.bytes();
    out.insert(out.end(), payload.bytes().begin(), payload.bytes().end());
    w.u64(detail::fnv1a64(out));
    return std::move(out);
  }

  /// Restores an anchor from save()'s bytes. Throws hadw::error on a truncated, corrupted,
  /// wrong-version or wrong-belief buffer; nothing is constructed then.
  [[nodiscard]] static difficulty_anchor load(std::span<const std::uint8_t> bytes) {
    constexpr std::size_t header = 12, trailer = 8;
    detail::require(bytes.size() >= header + trailer, "anchor state: ", bytes.size(),
                    " bytes is too short for a saved anchor (>= ", header + trailer, " required)");
    detail::require(bytes[0] == 'H' && bytes[1] == 'A' && bytes[2] == 'D' && bytes[3] == 'W',
                    "anchor state: bad magic (not a hadw anchor)");
    detail::byte_reader r(bytes);
    (void)r.u32();
    const std::uint16_t version = r.u16();
    detail::require(version == format_version, "anchor state: format version ", version,
                    " unsupported (", format_version, " required)");
    const std::uint8_t kind = r.u8();
    detail::require(kind == Belief::kind, "anchor state: belief kind ", +kind,
                    " does not match this anchor's belief kind ", +Belief::kind);
    (void)r.u8();
    const std::uint32_t size = r.u32();
    detail::require(bytes.size() == header + size + trailer, "anchor state: ", bytes.size(),
                    " bytes, but the header says ", header + size + trailer);
    const auto body = bytes.first(header + size);
    detail::byte_reader tail(bytes.subspan(header + size));
    detail::require(tail.u64() == detail::fnv1a64(body), "anchor state: checksum mismatch");
    difficulty_anchor a(Belief::load_state(r));
    a.step_ = r.i64();
    detail::require(a.step_ >= 0, "anchor state: negative step ", a.step_);
    a.last_observation_ = r.f64();
    detail::require(r.position() == header + size, "anchor state: payload has ",
                    header + size - r.position(), " unread bytes");
    return a;
  }
  [[nodiscard]] static difficulty_anchor load(const std::vector<std::uint8_t>& bytes) {
    return load(std::span<const std::uint8_t>(bytes));
  }

  /// Bit-exact equality of the whole state (what a resumed run must reproduce).
  friend bool operator==(const difficulty_anchor& a, const difficulty_anchor& b) {
    return a.save() == b.save();
  }

private:
  Belief belief_;
  std::int64_t step_ = 0;
  double last_observation_ = NAN;
};

}  // namespace hadw
