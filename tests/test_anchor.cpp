// difficulty_anchor and its belief policies against the reference of eq. 7-11 in
// tests/support/reference.hpp, scripted observation sequences, and the byte format.
#include <hadw/anchor.hpp>

#include "support/reference.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

namespace {
std::vector<double> scripted(const std::string& kind) {
  std::vector<double> y;
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0.0, 0.08);
  for (int t = 0; t < 60; ++t) {
    if (kind == "constant") y.push_back(0.3);
    if (kind == "step") y.push_back(t < 30 ? 0.2 : 0.8);
    if (kind == "noisy") y.push_back(std::clamp(0.4 + 0.005 * t + noise(rng), 0.0, 1.0));
  }
  return y;
}
}  // namespace

TEST_CASE("kalman_belief follows eq. 8-11 on scripted sequences", "[anchor][kalman]") {
  for (const char* kind : {"constant", "step", "noisy"}) {
    for (double eta : {0.1, 0.9}) {
      INFO(kind << " eta " << eta);
      hadw::difficulty_anchor<hadw::kalman_belief> a{
          hadw::kalman_belief::config{.eta = eta, .window = 5, .initial_belief = 0.5}};
      ref::kalman r{.eta = eta, .c = 0.5L, .m = 5};
      for (double y : scripted(kind)) {
        CHECK(a.prior() == Approx(static_cast<double>(r.c)).epsilon(1e-13));
        a.observe(y);
        r.observe(y);
        CHECK(a.eta() == Approx(static_cast<double>(r.last_eta)).epsilon(1e-12).margin(1e-15));
      }
      CHECK(a.prior() == Approx(static_cast<double>(r.c)).epsilon(1e-13));
      CHECK(a.step() == 60);
      CHECK(a.history().size() == 5);
    }
  }
}

TEST_CASE("kalman_belief's first steps use warmup_sigma and then the history's std",
          "[anchor][kalman]") {
  hadw::difficulty_anchor<hadw::kalman_belief> a{hadw::kalman_belief::config{
      .eta = 0.5, .window = 10, .initial_belief = 0.5, .warmup_sigma = 1.0}};
  a.observe(1.0);  // sigma = 1 -> eta_1 = 0.5 -> C = 0.75
  CHECK(a.eta() == 0.5);
  CHECK(a.prior() == 0.75);
  a.observe(1.0);  // history {0.75}: still warm-up -> C = 0.875
  CHECK(a.prior() == 0.875);
  a.observe(0.0);  // history {0.75, 0.875}: sigma = 0.0625 -> eta = 0.03125
  CHECK(a.eta() == Approx(0.03125));
  CHECK(a.prior() == Approx(0.875 * (1 - 0.03125)));
}

TEST_CASE("kalman_belief can start from the first observation", "[anchor][kalman]") {
  hadw::difficulty_anchor<hadw::kalman_belief> a{
      hadw::kalman_belief::config{.initialise_from_first_observation = true}};
  a.observe(0.3125);
  CHECK(a.prior() == 0.3125);
  CHECK(a.eta() == 1.0);
}

TEST_CASE("a constant observation leaves a settled belief alone", "[anchor][kalman]") {
  hadw::difficulty_anchor<> a{hadw::kalman_belief::config{.eta = 1.0, .initial_belief = 0.3}};
  for (int t = 0; t < 20; ++t) a.observe(0.3);
  CHECK(a.prior() == Approx(0.3).epsilon(1e-15));
}

TEST_CASE("window_mean_belief is the mean of the last k observations", "[anchor][window]") {
  hadw::difficulty_anchor<hadw::window_mean_belief> a{
      hadw::window_mean_belief::config{.window = 3, .initial_belief = 0.25}};
  CHECK(a.prior() == 0.25);
  a.observe(0.5);
  CHECK(a.prior() == 0.5);
  a.observe(1.0);
  a.observe(0.0);
  CHECK(a.prior() == Approx(0.5));
  a.observe(0.25);  // window {1, 0, 0.25}
  CHECK(a.prior() == Approx(1.25 / 3));
  CHECK(a.history().size() == 3);
}

TEST_CASE("fixed_belief never moves", "[anchor][fixed]") {
  hadw::difficulty_anchor<hadw::fixed_belief> a{hadw::fixed_belief::config{.belief = 0.7}};
  a.observe(0.0);
  a.observe(1.0);
  CHECK(a.prior() == 0.7);
  CHECK(a.step() == 2);
}

TEST_CASE("observe(correct, total) equals observe(ratio) bit for bit", "[anchor]") {
  hadw::difficulty_anchor<> a, b;
  for (std::int64_t c : {3, 17, 250, 1}) {
    a.observe(c, 256);
    b.observe(static_cast<double>(c) / 256.0);
  }
  CHECK(a == b);
}

TEMPLATE_TEST_CASE("save/load restores the state bit-exactly mid-run and resumes identically",
                   "[anchor][save]", hadw::kalman_belief, hadw::window_mean_belief,
                   hadw::fixed_belief) {
  hadw::difficulty_anchor<TestType> a;
  const auto ys = scripted("noisy");
  for (std::size_t t = 0; t < 25; ++t) a.observe(ys[t]);
  auto restored = hadw::difficulty_anchor<TestType>::load(a.save());
  CHECK(restored == a);
  for (std::size_t t = 25; t < ys.size(); ++t) {
    a.observe(ys[t]);
    restored.observe(ys[t]);
    CHECK(std::bit_cast<std::uint64_t>(a.prior()) == std::bit_cast<std::uint64_t>(restored.prior()));
  }
  CHECK(restored.save() == a.save());
}

TEST_CASE("corrupt, truncated, wrong-version and wrong-kind buffers are rejected",
          "[anchor][save][errors]") {
  hadw::difficulty_anchor<> a;
  for (double y : {0.2, 0.4, 0.6}) a.observe(y);
  const auto bytes = a.save();
  using K = hadw::difficulty_anchor<>;
  for (std::size_t n = 0; n < bytes.size(); ++n) {  // every truncation
    const std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
    CHECK_THROWS_AS(K::load(cut), hadw::error);
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {  // every single flipped byte
    auto bad = bytes;
    bad[i] ^= 0x5a;
    CHECK_THROWS_AS(K::load(bad), hadw::error);
  }
  auto version = bytes;
  version[4] = 9;
  CHECK_THROWS_WITH(K::load(version), Catch::Contains("version"));
  CHECK_THROWS_WITH(hadw::difficulty_anchor<hadw::window_mean_belief>::load(bytes),
                    Catch::Contains("belief kind"));
  auto longer = bytes;
  longer.push_back(0);
  CHECK_THROWS_AS(K::load(longer), hadw::error);
}

TEST_CASE("bad anchor settings and observations are rejected, naming the field",
          "[anchor][errors]") {
  using kc = hadw::kalman_belief::config;
  CHECK_THROWS_WITH(hadw::difficulty_anchor<>(kc{.eta = 1.5}), Catch::Contains("eta"));
  CHECK_THROWS_WITH(hadw::difficulty_anchor<>(kc{.eta = -0.1}), Catch::Contains("eta"));
  CHECK_THROWS_WITH(hadw::difficulty_anchor<>(kc{.window = 0}), Catch::Contains("window"));
  CHECK_THROWS_WITH(hadw::difficulty_anchor<>(kc{.initial_belief = NAN}),
                    Catch::Contains("initial_belief"));
  CHECK_THROWS_WITH(hadw::difficulty_anchor<>(kc{.warmup_sigma = -1}),
                    Catch::Contains("warmup_sigma"));
  CHECK_THROWS_WITH(hadw::difficulty_anchor<hadw::window_mean_belief>(
                        hadw::window_mean_belief::config{.window = 0}),
                    Catch::Contains("window"));
  CHECK_THROWS_WITH(
      hadw::difficulty_anchor<hadw::fixed_belief>(hadw::fixed_belief::config{.belief = 2}),
      Catch::Contains("belief"));
  hadw::difficulty_anchor<> a;
  const auto before = a.save();
  CHECK_THROWS_WITH(a.observe(1.5), Catch::Contains("ratio"));
  CHECK_THROWS_WITH(a.observe(NAN), Catch::Contains("ratio"));
  CHECK_THROWS_WITH(a.observe(3, 0), Catch::Contains("total"));
  CHECK_THROWS_WITH(a.observe(5, 4), Catch::Contains("correct"));
  CHECK_THROWS_WITH(a.observe(-1, 4), Catch::Contains("correct"));
  CHECK(a.save() == before);  // rejected observations leave no trace
}
