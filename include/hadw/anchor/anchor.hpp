// difficulty_anchor: the one piece of state HA-DW carries across training steps.
#pragma once

#include <hadw/anchor/beliefs.hpp>
#include <hadw/concepts.hpp>
#include <hadw/detail/bytes.hpp>
#include <hadw/error.hpp>
#include <hadw/anchor/state.hpp>

#include <array>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace hadw {

namespace detail {

/// Its address identifies belief type B (one definition per program: an inline variable).
template <class B>
inline constexpr char belief_type_tag = 0;

/// Which belief type owns each kind byte of the saved format, process-wide (belief_policy's
/// comment has the rules). hadw's own beliefs hold their kinds from the start, so a user type
/// claiming one of them is refused even if the hadw belief is never used in that process.
class belief_kind_registry {
public:
  static constexpr std::uint8_t first_user_kind = 64;

  [[nodiscard]] static belief_kind_registry& instance() {
    static belief_kind_registry registry;  // thread-safe initialisation
    return registry;
  }

  /// Claims `kind` for the type identified by `tag`; throws hadw::error if another type holds it
  /// or a type other than hadw's own asks for a reserved kind (1-63). Idempotent per type.
  void claim(std::uint8_t kind, const void* tag, std::string_view name) {
    const std::lock_guard<std::mutex> lock(mutex_);
    entry& e = owners_[kind];
    if (e.tag == tag) return;
    require(e.tag == nullptr, "belief kind ", +kind, " is claimed by two belief types: ", e.name,
            " and ", name, "; each belief type needs its own kind (1-63 are hadw's, 64-255 are "
            "free for user beliefs)");
    require(kind >= first_user_kind, "belief kind ", +kind, " of ", name,
            " is in 1-63, the range reserved for hadw's own beliefs; a user belief takes a kind "
            "in 64-255");
    e = entry{tag, name};
  }

  /// The name of the type that claimed `kind` in this process, or "" when none did.
  [[nodiscard]] std::string owner(std::uint8_t kind) {
    const std::lock_guard<std::mutex> lock(mutex_);
    return std::string(owners_[kind].name);
  }

private:
  struct entry {
    const void* tag = nullptr;
    std::string_view name;
  };
  template <class B>
  void reserve() {
    owners_[B::kind] = entry{&belief_type_tag<B>, B::name};
  }
  belief_kind_registry() {
    reserve<kalman_belief>();
    reserve<window_mean_belief>();
    reserve<fixed_belief>();
  }
  std::mutex mutex_;
  std::array<entry, 256> owners_{};
};

/// Claims B's kind once per process (a static local: later calls cost one initialised-guard
/// check). A refused claim throws every time it is attempted and leaves the registry unchanged.
template <class B>
void claim_belief_kind() {
  [[maybe_unused]] static const bool claimed =
      (belief_kind_registry::instance().claim(B::kind, &belief_type_tag<B>, B::name), true);
}

}  // namespace detail

/// The evolving difficulty anchor (paper §3.1): a belief C about the model's current success
/// rate. Each step weights with prior() (C_t^-) and then observe()s the batch accuracy y_t,
/// which makes prior() the next step's C_{t+1}^- = C_t^+.
///
/// State survives save()/load() bit-exactly, so a run resumed from a checkpoint produces exactly
/// the weights of an uninterrupted run. Data-parallel ranks that all-reduce integer counts and
/// call observe(correct, total) hold bit-identical anchors.
template <belief_policy Belief = kalman_belief>
class difficulty_anchor {
  using kind_type = std::remove_cvref_t<decltype(Belief::kind)>;
  static_assert(std::integral<kind_type> && !std::same_as<kind_type, bool>,
                "Belief::kind must be an integer constant: the belief's tag (1-255) in the saved "
                "byte format; declare it `static constexpr std::uint8_t kind = ...`");
  static_assert(Belief::kind != 0,
                "belief kind 0 is not a valid kind: 1-63 are reserved for hadw's beliefs, a user "
                "belief takes a kind in 64-255");
  static_assert(std::in_range<std::uint8_t>(Belief::kind),
                "belief kind must fit the format's one kind byte: 1-63 are reserved for hadw's "
                "beliefs, a user belief takes a kind in 64-255");
  static_assert(!std::string_view(Belief::name).empty(),
                "Belief::name must name the belief (e.g. its type name) for error messages");

public:
  using belief_type = Belief;
  using config = typename Belief::config;

  /// Byte-format version written by save(); load() accepts exactly this version.
  static constexpr std::uint16_t format_version = 1;
  /// Belief's tag in the saved byte format.
  static constexpr std::uint8_t belief_kind = static_cast<std::uint8_t>(Belief::kind);

  /// The belief policy with its documented defaults. Each constructor claims the belief's kind
  /// (once per process and type): a kind held by another belief type throws hadw::error.
  difficulty_anchor() { detail::claim_belief_kind<Belief>(); }
  explicit difficulty_anchor(const config& c) : belief_(c) { detail::claim_belief_kind<Belief>(); }
  explicit difficulty_anchor(const Belief& b) : belief_(b) { detail::claim_belief_kind<Belief>(); }

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
  /// hadw's beliefs allocate here at most once, when the first observation reserves their
  /// window; after that an observation allocates nothing.
  void observe(double ratio) {
    check_observation(ratio);
    belief_.observe(ratio);
    last_observation_ = ratio;
    ++step_;
  }
  /// Throws the hadw::error observe(ratio) would throw, changing nothing.
  void check_observation(double ratio) const {
    detail::require(std::isfinite(ratio) && ratio >= 0.0 && ratio <= 1.0,
                    "ratio in [0, 1] required, got ", ratio);
    // A loaded checkpoint may hold any step >= 0; counting past INT64_MAX would be UB (fuzzing).
    detail::require(step_ < INT64_MAX, "step() < INT64_MAX required to observe, got ", step_);
  }

  /// prior() after observe(ratio), bit for bit, with the anchor unchanged: C_t^+ for
  /// anchor_timing::posterior. Throws what observe(ratio) would. A belief with a
  /// `posterior(y)` member (hadw's own) computes it in place; another is observed on a copy.
  [[nodiscard]] double prior_after(double ratio) const {
    check_observation(ratio);
    if constexpr (requires { { belief_.posterior(ratio) } -> std::same_as<double>; }) {
      return belief_.posterior(ratio);
    } else {
      Belief b = belief_;
      b.observe(ratio);
      return b.prior();
    }
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
    detail::claim_belief_kind<Belief>();
    state_writer payload;
    belief_.save_state(payload);
    payload.i64(step_);
    payload.f64(last_observation_);
    state_writer w;
    for (char c : {'H', 'A', 'D', 'W'}) w.u8(static_cast<std::uint8_t>(c));
    w.u16(format_version);
    w.u8(belief_kind);
    w.u8(0);
    w.u32(static_cast<std::uint32_t>(payload.size()));
    w.raw(payload.bytes());
    w.u64(detail::fnv1a64(w.bytes()));
    return w.release();
  }

  /// Restores an anchor from save()'s bytes. Throws hadw::error on a truncated, corrupted,
  /// wrong-version or wrong-belief buffer; nothing is constructed then.
  [[nodiscard]] static difficulty_anchor load(std::span<const std::uint8_t> bytes) {
    detail::claim_belief_kind<Belief>();
    constexpr std::size_t header = 12, trailer = 8;
    detail::require(bytes.size() >= header + trailer, "anchor state: ", bytes.size(),
                    " bytes is too short for a saved anchor (>= ", header + trailer, " required)");
    detail::require(bytes[0] == 'H' && bytes[1] == 'A' && bytes[2] == 'D' && bytes[3] == 'W',
                    "anchor state: bad magic (not a hadw anchor)");
    state_reader h(bytes);
    (void)h.u32();
    const std::uint16_t version = h.u16();
    detail::require(version == format_version, "anchor state: format version ", version,
                    " unsupported (", format_version, " required)");
    const std::uint8_t kind = h.u8();
    if (kind != belief_kind) [[unlikely]] {
      const std::string holder = detail::belief_kind_registry::instance().owner(kind);
      throw error(detail::concat(
          "anchor state: belief kind ", +kind, " does not match this anchor's belief kind ",
          +belief_kind, " (the bytes hold ",
          holder.empty() ? std::string("a belief of a kind no type in this process claims")
                         : holder + " state",
          ", this anchor keeps ", Belief::name, ")"));
    }
    (void)h.u8();
    const std::uint32_t size = h.u32();
    detail::require(bytes.size() == header + size + trailer, "anchor state: ", bytes.size(),
                    " bytes, but the header says ", header + size + trailer);
    const auto body = bytes.first(header + size);
    state_reader tail(bytes.subspan(header + size));
    detail::require(tail.u64() == detail::fnv1a64(body), "anchor state: checksum mismatch");
    // The payload reader ends where the payload does: a belief that reads too far is told the
    // buffer is truncated instead of reading the checksum.
    state_reader r(body);
    (void)r.u64();  // past the header, read above
    (void)r.u32();
    difficulty_anchor a(Belief::load_state(r));
    a.step_ = r.i64("step");
    detail::require(a.step_ >= 0, "anchor state: negative step ", a.step_);
    a.last_observation_ = r.f64("last_observation");
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
