// The one-call step equals the composition of its parts, bit for bit, and checks before writing.
#include <hadw/api/fused.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string_view>
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

namespace {

/// step_stats as bytes, field by field: equal means bit for bit (NaN fields included).
std::vector<unsigned char> bytes_of(const hadw::step_stats& st) {
  std::vector<unsigned char> b;
  st.for_each([&](std::string_view, double v) {
    unsigned char x[sizeof v];
    std::memcpy(x, &v, sizeof v);
    b.insert(b.end(), x, x + sizeof v);
  });
  return b;
}

}  // namespace

TEMPLATE_TEST_CASE("In place (advantages = rewards) equals a separate output, unscorable NaN too",
                   "[fused][in_place]", hadw::kalman_belief, hadw::window_mean_belief) {
  // Regression: in place, the advantage written over an unscorable (NaN) reward made the weighting
  // stage count that response as valid: phi_mean 1.437 instead of 1.453.
  std::mt19937_64 rng(5);
  std::vector<int> ids;
  for (int k = 0; k < 40; ++k)
    for (int j = 0; j < 6; ++j) ids.push_back((k * 7 + j * 3) % 40);  // shuffled: a permutation
  const auto by_ids = hadw::group_layout::from_ids(ids);
  const auto uniform = hadw::group_layout::uniform(40, 6);
  const auto N = ids.size();
  std::vector<double> r(N);
  std::vector<std::uint8_t> mask(N), tmask(N * 5);
  for (auto& x : r) x = std::bernoulli_distribution(0.4)(rng) ? 1.0 : 0.0;
  for (std::size_t i = 0; i < N; i += 7) r[i] = NAN;  // unscorable
  for (auto& m : mask) m = std::bernoulli_distribution(0.9)(rng);
  for (auto& m : tmask) m = std::bernoulli_distribution(0.8)(rng);

  for (const auto* layout : {&uniform, &by_ids})
    for (const auto timing : {hadw::anchor_timing::prior, hadw::anchor_timing::posterior})
      for (const bool masked : {false, true}) {
        hadw::reweight_options o;
        o.nan = hadw::nan_policy::unscorable;
        o.timing = timing;
        if (masked) o.mask = mask;
        hadw::difficulty_anchor<TestType> a_out, a_in;
        for (int step = 0; step < 3; ++step) {
          std::vector<double> out(N, 7.0), buf = r, tok_out(N * 5), tok_in(N * 5);
          const auto s_out = hadw::estimate_and_reweight(hadw::grpo{}, *layout,
                                                         std::span<const double>(r),
                                                         std::span<double>(out), a_out, o);
          const auto s_in = hadw::estimate_and_reweight(hadw::grpo{}, *layout,
                                                        std::span<const double>(buf),
                                                        std::span<double>(buf), a_in, o);
          CHECK(bytes_of(s_in) == bytes_of(s_out));
          CHECK(std::memcmp(buf.data(), out.data(), N * sizeof(double)) == 0);
          CHECK(a_in == a_out);
          // The token stage in place too.
          std::vector<double> out2(N, 7.0), buf2 = r;
          const auto t_out = hadw::estimate_reweight_broadcast(
              hadw::grpo{}, *layout, std::span<const double>(r), std::span<double>(out2), a_out,
              std::span<const std::uint8_t>(tmask), 5, std::span<double>(tok_out), o);
          const auto t_in = hadw::estimate_reweight_broadcast(
              hadw::grpo{}, *layout, std::span<const double>(buf2), std::span<double>(buf2), a_in,
              std::span<const std::uint8_t>(tmask), 5, std::span<double>(tok_in), o);
          CHECK(bytes_of(t_in) == bytes_of(t_out));
          CHECK(std::memcmp(buf2.data(), out2.data(), N * sizeof(double)) == 0);
          CHECK(tok_in == tok_out);
        }
      }
}

TEST_CASE("In-place step_stats count exactly the scorable responses", "[fused][in_place]") {
  // 2 groups of 4, one unscorable reward each; prior 0.5, lambda 1.5. Counted by hand: 6 valid
  // responses, Phi of each from its group's mean over the scorable rewards.
  const auto layout = hadw::group_layout::uniform(2, 4);
  std::vector<double> buf{1, NAN, 0, 0, 1, 1, NAN, 0};
  hadw::difficulty_anchor<hadw::fixed_belief> anchor;
  hadw::reweight_options o;
  o.nan = hadw::nan_policy::unscorable;
  const auto st = hadw::estimate_and_reweight(hadw::grpo{}, layout, std::span<const double>(buf),
                                              std::span<double>(buf), anchor, o);
  CHECK(st.total == 6);
  // Group 0: p = 1/3 (hard: diff -1/6), one correct (amplified) and two wrong (damped).
  // Group 1: p = 2/3 (easy: diff +1/6), two correct (damped) and one wrong (amplified).
  const double up = 1.5 * std::exp(1.0 / 6.0), down = 1.5 * std::exp(-1.0 / 6.0);
  CHECK(st.phi_mean == Approx((up + 2 * down + 2 * down + up) / 6.0).epsilon(1e-15));
  CHECK(st.phi_min == Approx(down).epsilon(1e-15));
  CHECK(buf[1] == 0.0);
  CHECK(buf[6] == 0.0);
}
