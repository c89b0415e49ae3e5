// The one-call step equals the composition of its parts, bit for bit, and checks before writing.
#include <hadw/api/fused.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <vector>

TEST_CASE("estimate_reweight_broadcast equals estimate, reweight, broadcast_to_tokens",
          "[fused]") {
  std::mt19937_64 rng(17);
  const std::int64_t B = 32, G = 8, L = 24, N = B * G;
  const auto layout = hadw::group_layout::uniform(B, G);
  std::vector<float> r(N);
  std::vector<std::uint8_t> tmask(N * L);
  for (auto& x : r) x = std::bernoulli_distribution(0.3)(rng) ? 1.f : 0.f;
  for (auto& m : tmask) m = std::bernoulli_distribution(0.8)(rng);
  hadw::reweight_options opt;
  opt.lambda_scale = 1.4;

  hadw::difficulty_anchor<> a1, a2;
  a1.observe(0.2);
  a2.observe(0.2);
  std::vector<float> adv1(N), tok1(N * L), adv2(N), tok2(N * L);
  // The parts.
  hadw::estimate(hadw::grpo{}, layout, std::span<const float>(r), std::span<float>(adv1));
  const auto s1 = hadw::reweight(hadw::grouped(std::span<float>(adv1), layout),
                                 hadw::grouped(std::span<const float>(r), layout), a1, opt);
  hadw::broadcast_to_tokens(std::span<const float>(adv1), std::span<const std::uint8_t>(tmask), L,
                            std::span<float>(tok1));
  // The one call.
  const auto s2 = hadw::estimate_reweight_broadcast(
      hadw::grpo{}, layout, std::span<const float>(r), std::span<float>(adv2), a2,
      std::span<const std::uint8_t>(tmask), L, std::span<float>(tok2), opt);
  CHECK(std::memcmp(adv1.data(), adv2.data(), adv1.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(tok1.data(), tok2.data(), tok1.size() * sizeof(float)) == 0);
  CHECK(a1 == a2);
  CHECK(s1.phi_mean == s2.phi_mean);
  CHECK(s1.posterior == s2.posterior);
}

TEST_CASE("The fused call rejects bad input before writing or observing", "[fused][errors]") {
  const auto layout = hadw::group_layout::uniform(2, 4);
  std::vector<float> r{1, 0, 0, 1, 1, 1, 1, 3}, adv(8, 7.f), tok(16, 7.f);
  const std::vector<std::uint8_t> tmask(16, 1);
  hadw::difficulty_anchor<> anchor;
  const auto state = anchor.save();
  // reward 3 is outside the default range [0, 1]: found before estimate writes.
  CHECK_THROWS_WITH(hadw::estimate_and_reweight(hadw::grpo{}, layout, std::span<const float>(r),
                                                std::span<float>(adv), anchor),
                    Catch::Contains("rewards[7]"));
  r[7] = 0;
  CHECK_THROWS_WITH(hadw::estimate_reweight_broadcast(
                        hadw::grpo{}, layout, std::span<const float>(r), std::span<float>(adv),
                        anchor, std::span<const std::uint8_t>(tmask), 3, std::span<float>(tok)),
                    Catch::Contains("token_advantages.size()"));
  CHECK(adv == std::vector<float>(8, 7.f));
  CHECK(tok == std::vector<float>(16, 7.f));
  CHECK(anchor.save() == state);
}
