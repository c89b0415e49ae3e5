#include <hadw/api/tokens.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

TEMPLATE_TEST_CASE("mask broadcast writes the advantage on valid tokens and exact 0 elsewhere",
                   "[tokens]", float, double) {
  std::mt19937 rng(1);
  const std::int64_t N = 7, L = 13;
  std::vector<TestType> adv(N), out(N * L, TestType(99));
  std::vector<std::uint8_t> mask(N * L);
  for (auto& a : adv) a = static_cast<TestType>(std::uniform_real_distribution<>(-2, 2)(rng));
  for (auto& m : mask) m = rng() % 3 != 0;
  hadw::broadcast_to_tokens(std::span<const TestType>(adv), std::span<const std::uint8_t>(mask), L,
                            std::span<TestType>(out));
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t t = 0; t < L; ++t) {
      const auto k = static_cast<std::size_t>(i * L + t);
      CHECK(out[k] == (mask[k] ? adv[static_cast<std::size_t>(i)] : TestType(0)));
    }
}

TEST_CASE("length broadcast fills each row's prefix", "[tokens]") {
  const std::vector<float> adv{1.5f, -2.f, 0.25f};
  const std::vector<int> len{0, 4, 2};
  std::vector<float> out(12, 9.f);
  hadw::broadcast_to_tokens(std::span<const float>(adv), std::span<const int>(len), 4,
                            std::span<float>(out));
  const std::vector<float> want{0, 0, 0, 0, -2, -2, -2, -2, 0.25f, 0.25f, 0, 0};
  CHECK(out == want);
}

TEST_CASE("bool masks are accepted", "[tokens]") {
  const std::vector<double> adv{3.0};
  const bool mask[] = {true, false, true};
  std::vector<double> out(3);
  hadw::broadcast_to_tokens(std::span<const double>(adv), std::span<const bool>(mask, 3), 3,
                            std::span<double>(out));
  CHECK(out == std::vector<double>{3.0, 0.0, 3.0});
}

TEST_CASE("token shapes are checked", "[tokens][errors]") {
  const std::vector<float> adv(2);
  std::vector<float> out(8);
  const std::vector<std::uint8_t> mask(8, 1), short_mask(7, 1);
  const auto a = std::span<const float>(adv);
  CHECK_THROWS_WITH(hadw::broadcast_to_tokens(a, std::span<const std::uint8_t>(mask), 0,
                                              std::span<float>(out)),
                    Catch::Contains("L (tokens per row) >= 1"));
  CHECK_THROWS_WITH(hadw::broadcast_to_tokens(a, std::span<const std::uint8_t>(mask), 3,
                                              std::span<float>(out)),
                    Catch::Contains("token_advantages.size()"));
  CHECK_THROWS_WITH(hadw::broadcast_to_tokens(a, std::span<const std::uint8_t>(short_mask), 4,
                                              std::span<float>(out)),
                    Catch::Contains("mask.size()"));
  const std::vector<std::int64_t> long_row{5, 1};
  CHECK_THROWS_WITH(hadw::broadcast_to_tokens(a, std::span<const std::int64_t>(long_row), 4,
                                              std::span<float>(out)),
                    Catch::Contains("lengths[0]"));
}

TEST_CASE("int8 lengths are numbers; L = 1 may broadcast in place", "[tokens]") {
  const std::vector<float> adv{1.5f, -2.f, 0.25f};
  const std::vector<std::int8_t> len{0, 3, 1};
  std::vector<float> out(9, 9.f);
  hadw::broadcast_to_tokens(std::span<const float>(adv), std::span<const std::int8_t>(len), 3,
                            std::span<float>(out));
  CHECK(out == std::vector<float>{0, 0, 0, -2, -2, -2, 0.25f, 0, 0});
  const std::vector<std::int8_t> bad{0, -1, 1};
  CHECK_THROWS_WITH(hadw::broadcast_to_tokens(std::span<const float>(adv),
                                              std::span<const std::int8_t>(bad), 3,
                                              std::span<float>(out)),
                    Catch::Contains("got -1 with L = 3"));
  // One token per row, the same buffer: each row reads its advantage before writing it.
  std::vector<float> buf = adv;
  const std::vector<std::uint8_t> mask{1, 0, 1};
  hadw::broadcast_to_tokens(std::span<const float>(buf), std::span<const std::uint8_t>(mask), 1,
                            std::span<float>(buf));
  CHECK(buf == std::vector<float>{1.5f, 0.f, 0.25f});
  // Any other overlap is refused.
  std::vector<float> wide{1, 2, 3, 0, 0, 0, 0};
  const std::vector<std::uint8_t> mask6(6, 1);
  CHECK_THROWS_WITH(hadw::broadcast_to_tokens(std::span<const float>(wide).first(3),
                                              std::span<const std::uint8_t>(mask6), 2,
                                              std::span<float>(wide).subspan(1)),
                    Catch::Contains("token_advantages and advantages overlap"));
}
