// libFuzzer harness: difficulty_anchor<Belief>::load on arbitrary bytes, for every belief.
//
// The first byte chooses what is repaired before load(): bit 0 rewrites the header's payload size
// and bit 1 the FNV-1a trailer, so that the fuzzer reaches the payload parser instead of stopping
// at the checksum. Properties: load() either throws hadw::error or returns an anchor whose state
// is valid (prior and history in [0, 1], step >= 0) and that survives another save/load round
// trip bit for bit; the loaded anchor keeps working (observe, save).
#include "fuzz_input.hpp"

#include <hadw/anchor.hpp>
#include <hadw/detail/bytes.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

namespace {

template <class Belief>
void check_loaded(const std::vector<std::uint8_t>& bytes) {
  using anchor_t = hadw::difficulty_anchor<Belief>;
  anchor_t a;
  try {
    a = anchor_t::load(bytes);
  } catch (const hadw::error&) {
    return;  // rejected: the only acceptable failure
  }
  FUZZ_CHECK(std::isfinite(a.prior()) && a.prior() >= 0.0 && a.prior() <= 1.0);
  FUZZ_CHECK(std::isfinite(a.eta()) && a.eta() >= 0.0 && a.eta() <= 1.0);
  FUZZ_CHECK(a.step() >= 0);
  for (double v : a.history()) FUZZ_CHECK(v >= 0.0 && v <= 1.0);
  const std::vector<std::uint8_t> again = a.save();
  FUZZ_CHECK(anchor_t::load(again) == a);
  for (int k = 0; k < 2; ++k) {
    const auto before = a.save();
    try {
      if (k == 0) a.observe(0.25);
      else a.observe(std::int64_t{3}, std::int64_t{4});
    } catch (const hadw::error&) {
      FUZZ_CHECK(a.step() == INT64_MAX);  // the only reason a valid ratio may be refused
      FUZZ_CHECK(a.save() == before);      // ... and nothing changed
    }
  }
  FUZZ_CHECK(std::isfinite(a.prior()) && a.prior() >= 0.0 && a.prior() <= 1.0);
  FUZZ_CHECK(anchor_t::load(a.save()) == a);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t repair = data[0];
  std::vector<std::uint8_t> bytes(data + 1, data + size);
  constexpr std::size_t header = 12, trailer = 8;
  if ((repair & 1) && bytes.size() >= header + trailer) {
    const auto payload = static_cast<std::uint32_t>(bytes.size() - header - trailer);
    for (int i = 0; i < 4; ++i) bytes[8 + i] = static_cast<std::uint8_t>(payload >> (8 * i));
  }
  if ((repair & 2) && bytes.size() >= trailer) {
    const std::size_t body = bytes.size() - trailer;
    const std::uint64_t h = hadw::detail::fnv1a64(std::span<const std::uint8_t>(bytes).first(body));
    for (int i = 0; i < 8; ++i) bytes[body + i] = static_cast<std::uint8_t>(h >> (8 * i));
  }
  check_loaded<hadw::kalman_belief>(bytes);
  check_loaded<hadw::window_mean_belief>(bytes);
  check_loaded<hadw::fixed_belief>(bytes);
  return 0;
}
