// expect: belief kind 0 is not a valid kind
#include <hadw/anchor.hpp>
#include <cstdint>
#include <span>
#include <string_view>
struct zero_kind_belief {
  struct config {};
  static constexpr std::uint8_t kind = 0;  // 0 is no kind: refused at compile time
  static constexpr std::string_view name = "zero_kind_belief";
  zero_kind_belief() = default;
  explicit zero_kind_belief(const config&) {}
  double prior() const { return 0.5; }
  void observe(double) {}
  double eta() const { return 0.0; }
  std::span<const double> history() const { return {}; }
  void save_state(hadw::state_writer&) const {}
  static zero_kind_belief load_state(hadw::state_reader&) { return {}; }
};
int main() { hadw::difficulty_anchor<zero_kind_belief> a; }
