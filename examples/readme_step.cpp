// The README's "a step, in 15 lines", compiled and run so the README cannot rot.
#include <hadw/hadw.hpp>

#include <cstdio>
#include <random>
#include <string_view>
#include <vector>

int main() {
  std::mt19937 rng(1);
  // [snippet:readme_step]
  auto layout = hadw::group_layout::uniform(512, 16);          // or from_offsets / from_ids(uids)
  std::vector<float> rewards(512 * 16), adv(512 * 16);          // from your verifier
  hadw::difficulty_anchor anchor;                               // lives across steps; checkpoint it

  // each step:
  for (auto& r : rewards) r = static_cast<float>(rng() % 2);    // (your verifier's scores)
  hadw::estimate(hadw::compat::verl::grpo, layout, std::span<const float>(rewards),
                 std::span<float>(adv));                        // GRPO, verl's conventions
  hadw::step_stats st = hadw::reweight(hadw::grouped(std::span<float>(adv), layout),
                                       hadw::grouped(std::span<const float>(rewards), layout),
                                       anchor);                 // Phi with the prior, then observe
  st.for_each([&](std::string_view key, double v) { std::printf("%s %g\n", key.data(), v); });
  std::vector<std::uint8_t> state = anchor.save();             // bit-exact, versioned, checksummed
  // [end:readme_step]
  return hadw::difficulty_anchor<>::load(state) == anchor ? 0 : 1;
}
