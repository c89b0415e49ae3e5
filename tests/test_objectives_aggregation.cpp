// Tests of hadw/objectives/aggregation.hpp: verl's loss aggregation modes against hand values,
// mask and lengths views, the data-parallel global counts, and argument errors.
#include <hadw/objectives/aggregation.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace {

// The hand example: three rows of L = 5.
const std::vector<double> hand_loss = {0.5,  -1, 2,  0,   0,  //
                                       1,    1,  -2, 0.5, 3,  //
                                       -0.5, 0,  0,  0,   0};
const std::vector<std::uint8_t> hand_mask = {1, 1, 1, 0, 0,  //
                                             1, 1, 1, 1, 1,  //
                                             1, 0, 0, 0, 0};
const std::vector<std::int64_t> hand_lengths = {3, 5, 1};

double agg_hand(hadw::aggregation agg) {
  return hadw::aggregate_loss(std::span<const double>(hand_loss),
                              std::span<const std::uint8_t>(hand_mask), 5, agg);
}

// Independent reference: verl's agg_loss written with explicit loops over a mask.
double naive_agg(const std::vector<double>& loss, const std::vector<std::uint8_t>& mask,
                 std::int64_t L, hadw::loss_agg mode, double C) {
  const std::size_t N = loss.size() / static_cast<std::size_t>(L);
  double sum = 0, seq_sum = 0, seq_mean = 0;
  double tokens = 0, seqs = 0;
  for (std::size_t i = 0; i < N; ++i) {
    double row = 0, n = 0;
    for (std::size_t t = 0; t < static_cast<std::size_t>(L); ++t) {
      const std::size_t k = i * static_cast<std::size_t>(L) + t;
      row += loss[k] * mask[k];
      n += mask[k];
    }
    sum += row;
    tokens += n;
    if (n > 0) {
      seqs += 1;
      seq_sum += row;
      seq_mean += row / n;
    }
  }
  switch (mode) {
    case hadw::loss_agg::token_mean:
      return tokens > 0 ? sum / tokens : 0;
    case hadw::loss_agg::token_sum:
      return sum;
    case hadw::loss_agg::seq_mean_token_sum:
      return seqs > 0 ? seq_sum / seqs : 0;
    case hadw::loss_agg::seq_mean_token_mean:
      return seqs > 0 ? seq_mean / seqs : 0;
    case hadw::loss_agg::seq_mean_token_sum_norm:
      return seqs > 0 ? seq_sum / seqs / C : 0;
  }
  return 0;
}

constexpr hadw::loss_agg all_modes[] = {
    hadw::loss_agg::token_mean, hadw::loss_agg::token_sum, hadw::loss_agg::seq_mean_token_sum,
    hadw::loss_agg::seq_mean_token_mean, hadw::loss_agg::seq_mean_token_sum_norm};

}  // namespace

TEST_CASE("aggregation modes give the issue's hand values", "[objectives][aggregation]") {
  using hadw::loss_agg;
  CHECK(agg_hand({.mode = loss_agg::token_mean}) == Approx(0.5).epsilon(1e-15));
  CHECK(agg_hand({.mode = loss_agg::token_sum}) == Approx(4.5).epsilon(1e-15));
  CHECK(agg_hand({.mode = loss_agg::seq_mean_token_sum}) == Approx(1.5).epsilon(1e-15));
  CHECK(agg_hand({.mode = loss_agg::seq_mean_token_mean}) ==
        Approx(0.2333333333333333).epsilon(1e-14));
  CHECK(agg_hand({.mode = loss_agg::seq_mean_token_sum_norm, .normaliser = 5}) ==
        Approx(0.3).epsilon(1e-15));
}

TEST_CASE("verl's seq-mean-token-sum-norm divides by S and C: Dr. GRPO's sequence mean",
          "[objectives][aggregation][verl]") {
  // verl 0.9.1's agg_loss: masked_sum(row sums, non-empty rows) / global_batch_size (S = 3) /
  // loss_scale_factor (C = 5) = 4.5 / 3 / 5 (python/tests/test_peer_objectives.py runs it).
  const double hadw_value =
      agg_hand({.mode = hadw::loss_agg::seq_mean_token_sum_norm, .normaliser = 5});
  double verl_value = 0;
  for (std::size_t k = 0; k < hand_loss.size(); ++k) verl_value += hand_loss[k] * hand_mask[k];
  verl_value = verl_value / 3 / 5;
  CHECK(verl_value == Approx(0.3));
  CHECK(hadw_value == Approx(verl_value).epsilon(1e-15));
}

TEST_CASE("lengths and the equivalent mask aggregate identically", "[objectives][aggregation]") {
  for (auto mode : all_modes) {
    const hadw::aggregation agg{.mode = mode, .normaliser = 7};
    const double by_mask = agg_hand(agg);
    const double by_len = hadw::aggregate_loss(std::span<const double>(hand_loss),
                                               std::span<const std::int64_t>(hand_lengths), 5, agg);
    CHECK(by_mask == by_len);
  }
}

TEST_CASE("a bool mask works like a uint8 mask", "[objectives][aggregation]") {
  bool mask[15];
  for (std::size_t k = 0; k < 15; ++k) mask[k] = hand_mask[k] != 0;
  const hadw::aggregation agg{.mode = hadw::loss_agg::seq_mean_token_mean};
  CHECK(hadw::aggregate_loss(std::span<const double>(hand_loss), std::span<const bool>(mask), 5,
                             agg) == agg_hand(agg));
}

TEMPLATE_TEST_CASE("aggregation matches a naive reference on random masked batches",
                   "[objectives][aggregation][reference]", float, double) {
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<double> u(-3.0, 3.0);
  std::bernoulli_distribution keep(0.6);
  const std::int64_t N = 13, L = 11;
  std::vector<TestType> loss(N * L);
  std::vector<double> loss_d(N * L);
  std::vector<std::uint8_t> mask(N * L);
  for (std::size_t k = 0; k < loss.size(); ++k) {
    loss[k] = static_cast<TestType>(u(rng));
    loss_d[k] = static_cast<double>(loss[k]);
    mask[k] = keep(rng) ? 1 : 0;
  }
  for (std::int64_t t = 0; t < L; ++t) mask[3 * L + t] = 0;  // a fully masked row
  for (auto mode : all_modes) {
    const double got =
        hadw::aggregate_loss(std::span<const TestType>(loss), std::span<const std::uint8_t>(mask),
                             L, {.mode = mode, .normaliser = 16});
    CHECK(got == Approx(naive_agg(loss_d, mask, L, mode, 16)).epsilon(1e-13));
  }
}

TEST_CASE("a fully masked row is not a sequence", "[objectives][aggregation]") {
  // Rows [1, 2] (valid), [x, x] (masked), [3, 0] (one valid): S = 2, not 3.
  const std::vector<double> loss = {1, 2, 99, 99, 3, 0};
  const std::vector<std::uint8_t> mask = {1, 1, 0, 0, 1, 0};
  const auto agg = [&](hadw::loss_agg m) {
    return hadw::aggregate_loss(std::span<const double>(loss), std::span<const std::uint8_t>(mask),
                                2, {.mode = m});
  };
  CHECK(agg(hadw::loss_agg::seq_mean_token_sum) == Approx(3.0));    // (3 + 3) / 2
  CHECK(agg(hadw::loss_agg::seq_mean_token_mean) == Approx(2.25));  // (1.5 + 3) / 2
  CHECK(agg(hadw::loss_agg::token_mean) == Approx(2.0));            // 6 / 3
}

TEST_CASE("no valid token gives loss 0 in every mode, as TRL (verl 0.9.1: NaN but in token-sum)",
          "[objectives][aggregation]") {
  const std::vector<double> loss = {1, 2, 3, 4};
  const std::vector<std::uint8_t> mask(4, 0);
  for (auto mode : all_modes) {
    CHECK(hadw::aggregate_loss(std::span<const double>(loss), std::span<const std::uint8_t>(mask),
                               2, {.mode = mode, .normaliser = 4}) == 0.0);
    // A rank whose slice is all masked, with the step's global counts: 0 / T, as verl too.
    CHECK(hadw::aggregate_loss(
              std::span<const double>(loss), std::span<const std::uint8_t>(mask), 2,
              {.mode = mode, .normaliser = 4, .global_tokens = 7, .global_sequences = 3}) == 0.0);
  }
  const std::vector<double> empty;
  CHECK(hadw::aggregate_loss(std::span<const double>(empty), std::span<const std::uint8_t>(), 4,
                             {}) == 0.0);
}

TEST_CASE("data-parallel ranks with global counts average to the whole batch's loss",
          "[objectives][aggregation][data-parallel]") {
  // Split the hand batch into rank 0 = rows {0, 1} and rank 1 = row {2}.
  const std::span<const double> all(hand_loss);
  const std::span<const std::uint8_t> mask(hand_mask);
  for (auto mode : all_modes) {
    const hadw::aggregation whole{.mode = mode, .normaliser = 5};
    hadw::aggregation rank = whole;
    rank.global_tokens = 9;
    rank.global_sequences = 3;
    rank.dp_size = 2;
    const double l0 = hadw::aggregate_loss(all.subspan(0, 10), mask.subspan(0, 10), 5, rank);
    const double l1 = hadw::aggregate_loss(all.subspan(10, 5), mask.subspan(10, 5), 5, rank);
    CHECK((l0 + l1) / 2 == Approx(agg_hand(whole)).epsilon(1e-15));
  }
}

TEST_CASE("loss_agg modes parse from and print as verl's names", "[objectives][aggregation]") {
  for (auto mode : all_modes) CHECK(hadw::parse_loss_agg(hadw::loss_agg_name(mode)) == mode);
  CHECK(hadw::loss_agg_name(hadw::loss_agg::seq_mean_token_sum_norm) == "seq-mean-token-sum-norm");
  CHECK_THROWS_WITH(hadw::parse_loss_agg("seq-mean"), Catch::Contains("loss_agg_mode"));
}

TEST_CASE("aggregation arguments are checked and named", "[objectives][aggregation][errors]") {
  const std::span<const double> loss(hand_loss);
  const std::span<const std::uint8_t> mask(hand_mask);
  CHECK_THROWS_WITH(
      hadw::aggregate_loss(loss, mask, 5, {.mode = hadw::loss_agg::seq_mean_token_sum_norm}),
      Catch::Contains("aggregation.normaliser"));
  CHECK_THROWS_WITH(hadw::aggregate_loss(loss, mask, 4, {}), Catch::Contains("row_length"));
  CHECK_THROWS_WITH(hadw::aggregate_loss(loss, mask, 0, {}), Catch::Contains("row_length"));
  CHECK_THROWS_WITH(hadw::aggregate_loss(loss, mask.subspan(0, 10), 5, {}),
                    Catch::Contains("mask.size()"));
  CHECK_THROWS_WITH(hadw::aggregate_loss(loss, mask, 5, {.global_tokens = 8}),
                    Catch::Contains("aggregation.global_tokens"));
  CHECK_THROWS_WITH(hadw::aggregate_loss(loss, mask, 5, {.global_sequences = 2}),
                    Catch::Contains("aggregation.global_sequences"));
  CHECK_THROWS_WITH(hadw::aggregate_loss(loss, mask, 5, {.dp_size = 0}),
                    Catch::Contains("aggregation.dp_size"));
  const std::vector<std::int64_t> bad_len = {3, 6, 1};
  CHECK_THROWS_WITH(hadw::aggregate_loss(loss, std::span<const std::int64_t>(bad_len), 5, {}),
                    Catch::Contains("lengths[1]"));
  std::vector<double> nan_loss = hand_loss;
  nan_loss[1] = NAN;
  CHECK_THROWS_WITH(hadw::aggregate_loss(std::span<const double>(nan_loss), mask, 5, {}),
                    Catch::Contains("loss[1]"));
  nan_loss[1] = hand_loss[1];
  nan_loss[4] = NAN;  // a masked token: never read as a number
  CHECK(hadw::aggregate_loss(std::span<const double>(nan_loss), mask, 5, {}) == Approx(0.5));
}
