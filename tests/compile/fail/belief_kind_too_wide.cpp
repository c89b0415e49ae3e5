// expect: belief kind must fit the format.s one kind byte
#include <hadw/anchor.hpp>
#include <cstdint>
#include <span>
#include <string_view>
struct wide_kind_belief {
  struct config {};
  static constexpr int kind = 300;  // does not fit the one kind byte: refused at compile time
  static constexpr std::string_view name = "wide_kind_belief";
  wide_kind_belief() = default;
  explicit wide_kind_belief(const config&) {}
  double prior() const { return 0.5; }
  void observe(double) {}
  double eta() const { return 0.0; }
  std::span<const double> history() const { return {}; }
  void save_state(hadw::state_writer&) const {}
  static wide_kind_belief load_state(hadw::state_reader&) { return {}; }
};
int main() { hadw::difficulty_anchor<wide_kind_belief> a; }
