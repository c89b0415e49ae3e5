// hadw::reweight, estimate_and_reweight and estimate_reweight_broadcast under backend::cuda,
// compared with the CPU backend: the weighted advantages, every step_stats field and the anchor
// after the step, for each belief policy, both timings, warm-up, masks, NaN policies, reward
// ranges, observation kinds; token rows (uint8 and bool masks, vector and scalar row widths);
// the CPU's errors with nothing written and the anchor untouched; run-to-run determinism.
#include "device_support.cuh"

using namespace hadw_test;

namespace {

template <class Belief>
void compare_reweight(hadw::difficulty_anchor<Belief> anchor, const hadw::group_layout& layout,
                      const std::vector<float>& rewards, const std::vector<std::uint8_t>& mask,
                      hadw::reweight_options opt, const std::string& what) {
  INFO(what);
  const auto n = static_cast<std::size_t>(layout.num_responses());
  std::vector<float> adv(n);
  hadw::estimate(hadw::dr_grpo{.singleton = hadw::singleton_rule::zero}, layout,
                 std::span<const float>(rewards), std::span<float>(adv),
                 {.mask = mask, .nan = opt.nan});
  auto cpu_anchor = anchor;
  auto cpu = adv;
  opt.mask = mask;
  const auto cpu_st =
      hadw::reweight(hadw::grouped(std::span<float>(cpu), layout),
                     hadw::grouped(std::span<const float>(rewards), layout), cpu_anchor, opt);

  device_vector<float> d_r(rewards), d_a(adv);
  device_vector<std::uint8_t> d_m(mask);
  const hadw::device_group_layout d_layout(layout);
  opt.mask = d_m.cspan();
  const auto dev_st = hadw::reweight(hadw::backend::cuda{}, hadw::grouped(d_a.span(), d_layout),
                                     hadw::grouped(d_r.cspan(), d_layout), anchor, opt);
  require_close(cpu, d_a.host(), what);
  require_same_stats(cpu_st, dev_st);
  REQUIRE(anchor.step() == cpu_anchor.step());
  require_close(cpu_anchor.prior(), anchor.prior(), "anchor prior after the step");
}

template <class Belief>
void compare_all_options(const hadw::difficulty_anchor<Belief>& anchor) {
  for (const auto& [name, layout] : test_layouts()) {
    const std::int64_t n = layout.num_responses();
    const auto binary = make_rewards<float>(n, 31);
    for (auto timing : {hadw::anchor_timing::prior, hadw::anchor_timing::posterior}) {
      hadw::reweight_options opt;
      opt.timing = timing;
      compare_reweight(anchor, layout, binary, {}, opt, name + ", default");
      compare_reweight(anchor, layout, binary, make_mask(n, 32), opt, name + ", mask");
      hadw::reweight_options o2 = opt;
      o2.update_anchor = false;
      o2.observation = hadw::observation_kind::success_rate;
      o2.lambda_scale = 1.3;
      compare_reweight(anchor, layout, make_rewards<float>(n, 33, false), {}, o2,
                       name + ", success_rate, no update");
      hadw::reweight_options o3 = opt;
      o3.range = {-1.0, 1.0};
      o3.nan = hadw::nan_policy::unscorable;
      auto signed_rewards = make_rewards<float>(n, 34, false);
      for (std::size_t i = 0; i < signed_rewards.size(); ++i)
        signed_rewards[i] = i % 23 == 5 ? NAN : 2.0f * signed_rewards[i] - 1.0f;
      compare_reweight(anchor, layout, signed_rewards, make_mask(n, 35), o3,
                       name + ", range [-1,1], NaN unscorable");
      hadw::reweight_options o4 = opt;
      o4.warmup_steps = 1;
      compare_reweight(anchor, layout, binary, {}, o4, name + ", warm-up");
    }
  }
}

}  // namespace

TEST_CASE("device reweight matches the CPU backend for every belief", "[cuda][reweight]") {
  compare_all_options(hadw::difficulty_anchor<>{});
  compare_all_options(hadw::difficulty_anchor<hadw::window_mean_belief>{
      hadw::window_mean_belief::config{.window = 10}});
  compare_all_options(
      hadw::difficulty_anchor<hadw::fixed_belief>{hadw::fixed_belief::config{.belief = 0.3}});
}

TEST_CASE("device reweight over several steps keeps the anchor in step with the CPU",
          "[cuda][reweight]") {
  const auto layout = hadw::group_layout::uniform(64, 8);
  const hadw::device_group_layout d_layout(layout);
  hadw::difficulty_anchor<> cpu_anchor, dev_anchor;
  for (int step = 0; step < 12; ++step) {
    const auto rewards = make_rewards<float>(512, 100 + step);
    std::vector<float> adv(512);
    hadw::estimate(hadw::grpo{.singleton = hadw::singleton_rule::zero}, layout,
                   std::span<const float>(rewards), std::span<float>(adv));
    auto cpu = adv;
    hadw::reweight(hadw::grouped(std::span<float>(cpu), layout),
                   hadw::grouped(std::span<const float>(rewards), layout), cpu_anchor);
    device_vector<float> d_r(rewards), d_a(adv);
    hadw::reweight(hadw::backend::cuda{}, hadw::grouped(d_a.span(), d_layout),
                   hadw::grouped(d_r.cspan(), d_layout), dev_anchor);
    require_close(cpu, d_a.host(), "step");
    // binary rewards: y_t is an exact ratio of counts, so the anchors agree bit for bit
    REQUIRE(cpu_anchor == dev_anchor);
  }
}

template <class M>
void compare_fused(const hadw::group_layout& layout, std::int64_t L, const std::string& what) {
  INFO(what << ", L = " << L);
  const std::int64_t n = layout.num_responses();
  const auto rewards = make_rewards<float>(n, 41);
  const auto lengths = make_lengths(n, 42);
  // Mask bytes 0/1, viewed as M (uint8 or bool: one byte each, as torch stores bool tensors).
  const auto tmask = make_mask(n * L, 43, 0.7);
  const std::span<const M> host_mask(reinterpret_cast<const M*>(tmask.data()), tmask.size());
  hadw::reweight_options opt;
  const auto est = hadw::grpo{.singleton = hadw::singleton_rule::zero};

  hadw::difficulty_anchor<> cpu_anchor, dev_anchor;
  std::vector<float> cpu_adv(static_cast<std::size_t>(n)), cpu_tok(tmask.size());
  const auto cpu_st = hadw::estimate_reweight_broadcast(
      est, layout, std::span<const float>(rewards), std::span<float>(cpu_adv), cpu_anchor,
      host_mask, L, std::span<float>(cpu_tok), opt);

  device_vector<float> d_r(rewards), d_adv(static_cast<std::size_t>(n)), d_tok(tmask.size(), -7.0f);
  device_vector<std::uint8_t> d_bytes(tmask);
  const std::span<const M> d_mask(reinterpret_cast<const M*>(d_bytes.cspan().data()), tmask.size());
  const hadw::device_group_layout d_layout(layout);
  const auto dev_st =
      hadw::estimate_reweight_broadcast(hadw::backend::cuda{}, est, d_layout, d_r.cspan(),
                                        d_adv.span(), dev_anchor, d_mask, L, d_tok.span(), opt);
  require_close(cpu_adv, d_adv.host(), what + ": advantages");
  const auto tok = d_tok.host();
  require_close(cpu_tok, tok, what + ": tokens");
  for (std::size_t i = 0; i < tok.size(); ++i)
    if (!tmask[i]) REQUIRE(tok[i] == 0.0f);  // masked tokens exactly 0
  require_same_stats(cpu_st, dev_st);
  REQUIRE(cpu_anchor == dev_anchor);

  // estimate_and_reweight (no tokens) and broadcast_to_tokens on their own agree with the above
  hadw::difficulty_anchor<> again;
  device_vector<float> d_adv2(static_cast<std::size_t>(n)), d_tok2(tmask.size(), -7.0f);
  hadw::estimate_and_reweight(hadw::backend::cuda{}, est, d_layout, d_r.cspan(), d_adv2.span(),
                              again, opt);
  hadw::broadcast_to_tokens(hadw::backend::cuda{}, std::span<const float>(d_adv2.cspan()), d_mask,
                            L, d_tok2.span());
  const auto adv2 = d_adv2.host();
  const auto tok2 = d_tok2.host();
  REQUIRE(std::memcmp(adv2.data(), d_adv.host().data(), adv2.size() * sizeof(float)) == 0);
  REQUIRE(std::memcmp(tok2.data(), tok.data(), tok.size() * sizeof(float)) == 0);
}

TEST_CASE("device fused step matches the CPU backend, token rows included", "[cuda][fused]") {
  for (const auto& [name, layout] : test_layouts()) {
    for (std::int64_t L : {1, 3, 4, 64, 130}) {
      compare_fused<std::uint8_t>(layout, L, name + ", uint8 mask");
      compare_fused<bool>(layout, L, name + ", bool mask");
    }
  }
}

TEST_CASE("device fused step is bit-identical run to run", "[cuda][fused][determinism]") {
  const auto layout = hadw::group_layout::uniform(2048, 16);
  const std::int64_t L = 256, n = layout.num_responses();
  const auto rewards = make_rewards<float>(n, 51, false);
  device_vector<float> d_r(rewards), a1(static_cast<std::size_t>(n)),
      a2(static_cast<std::size_t>(n));
  device_vector<float> t1(static_cast<std::size_t>(n * L)), t2(static_cast<std::size_t>(n * L));
  device_vector<std::uint8_t> m(make_mask(n * L, 52));
  const hadw::device_group_layout d_layout(layout);
  hadw::difficulty_anchor<> x, y;
  const auto s1 =
      hadw::estimate_reweight_broadcast(hadw::backend::cuda{}, hadw::grpo_batch_std{}, d_layout,
                                        d_r.cspan(), a1.span(), x, m.cspan(), L, t1.span());
  const auto s2 =
      hadw::estimate_reweight_broadcast(hadw::backend::cuda{}, hadw::grpo_batch_std{}, d_layout,
                                        d_r.cspan(), a2.span(), y, m.cspan(), L, t2.span());
  const auto h1 = t1.host(), h2 = t2.host();
  REQUIRE(std::memcmp(h1.data(), h2.data(), h1.size() * sizeof(float)) == 0);
  REQUIRE(std::memcmp(&s1.phi_mean, &s2.phi_mean, sizeof(double)) == 0);
  REQUIRE(std::memcmp(&s1.adv_std_after, &s2.adv_std_after, sizeof(double)) == 0);
  REQUIRE(x == y);
}

TEST_CASE("device reweight throws the CPU backend's errors; nothing written, anchor untouched",
          "[cuda][reweight][errors]") {
  const auto layout = hadw::group_layout::uniform(3, 4);
  const hadw::device_group_layout d_layout(layout);
  const auto check = [&](std::vector<float> rewards, std::vector<float> adv,
                         std::vector<std::uint8_t> mask, hadw::reweight_options opt) {
    hadw::difficulty_anchor<> cpu_anchor;
    auto cpu = adv;
    opt.mask = mask;
    const std::string expected = error_of([&] {
      hadw::reweight(hadw::grouped(std::span<float>(cpu), layout),
                     hadw::grouped(std::span<const float>(rewards), layout), cpu_anchor, opt);
    });
    REQUIRE_FALSE(expected.empty());
    device_vector<float> d_r(rewards), d_a(adv);
    device_vector<std::uint8_t> d_m(mask);
    opt.mask = d_m.cspan();
    hadw::difficulty_anchor<> anchor;
    const auto before = anchor.save();
    CHECK(error_of([&] {
            hadw::reweight(hadw::backend::cuda{}, hadw::grouped(d_a.span(), d_layout),
                           hadw::grouped(d_r.cspan(), d_layout), anchor, opt);
          }) == expected);
    CHECK(d_a.host() == adv);
    CHECK(anchor.save() == before);
    // the fused step under the same options throws the CPU's fused error
    hadw::difficulty_anchor<> cpu2;
    std::vector<float> out(12);
    opt.mask = mask;
    const std::string fused_expected = error_of([&] {
      hadw::estimate_and_reweight(hadw::grpo{.singleton = hadw::singleton_rule::zero}, layout,
                                  std::span<const float>(rewards), std::span<float>(out), cpu2,
                                  opt);
    });
    opt.mask = d_m.cspan();
    device_vector<float> d_out(12, -7.0f);
    if (!fused_expected.empty()) {
      CHECK(error_of([&] {
              hadw::estimate_and_reweight(hadw::backend::cuda{},
                                          hadw::grpo{.singleton = hadw::singleton_rule::zero},
                                          d_layout, d_r.cspan(), d_out.span(), anchor, opt);
            }) == fused_expected);
      for (float v : d_out.host()) REQUIRE(v == -7.0f);
      CHECK(anchor.save() == before);
    }
  };
  const std::vector<float> r{1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1};
  const std::vector<float> a(12, 0.5f);
  SECTION("reward outside reward_range") {
    auto bad = r;
    bad[7] = 1.5f;
    check(bad, a, {}, {});
  }
  SECTION("NaN reward under nan_policy::reject") {
    auto bad = r;
    bad[2] = NAN;
    check(bad, a, {}, {});
  }
  SECTION("non-finite advantage") {
    auto bad = a;
    bad[9] = INFINITY;
    check(r, bad, {}, {});
  }
  SECTION("every response masked") {
    check(r, a, std::vector<std::uint8_t>(12, 0), {});
  }
  SECTION("bad options are rejected on the host") {
    hadw::reweight_options o;
    o.lambda_scale = -1;
    check(r, a, {}, o);
  }
}
