#include <hadw/layout.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

TEST_CASE("uniform layouts address consecutive groups", "[layout]") {
  const auto l = hadw::group_layout::uniform(3, 4);
  CHECK(l.num_groups() == 3);
  CHECK(l.num_responses() == 12);
  CHECK(l.begin(2) == 8);
  CHECK(l.end(2) == 12);
  CHECK(l.is_uniform());
  CHECK(l.uniform_size() == 4);
  CHECK_FALSE(l.has_permutation());
  CHECK(l.index(7) == 7);
}

TEST_CASE("from_offsets builds ragged groups and detects uniform ones", "[layout]") {
  const auto l = hadw::group_layout::from_offsets({0, 3, 5});
  CHECK(l.num_groups() == 2);
  CHECK(l.size(0) == 3);
  CHECK(l.size(1) == 2);
  CHECK_FALSE(l.is_uniform());
  const auto u = hadw::group_layout::from_offsets(std::vector<std::int64_t>{0, 2, 4, 6});
  CHECK(u.uniform_size() == 2);
  CHECK(u == hadw::group_layout::uniform(3, 2));
}

TEST_CASE("from_ids groups by first appearance and keeps each group's order", "[layout]") {
  const std::vector<std::string> ids{"q2", "q1", "q2", "q3", "q1", "q2"};
  const auto l = hadw::group_layout::from_ids(ids);
  REQUIRE(l.num_groups() == 3);
  CHECK(l.size(0) == 3);  // q2
  CHECK(l.size(1) == 2);  // q1
  CHECK(l.size(2) == 1);  // q3
  REQUIRE(l.has_permutation());
  const std::vector<std::int64_t> want{0, 2, 5, 1, 4, 3};
  for (std::int64_t j = 0; j < 6; ++j) CHECK(l.index(j) == want[static_cast<std::size_t>(j)]);
}

TEST_CASE("from_ids on already-contiguous ids needs no permutation", "[layout]") {
  const std::vector<long> ids{5, 5, 9, 9, 9};
  const auto l = hadw::group_layout::from_ids(ids);
  CHECK_FALSE(l.has_permutation());
  CHECK(l == hadw::group_layout::from_offsets(std::vector<int>{0, 2, 5}));
}

TEST_CASE("bad layouts are rejected with the argument named", "[layout][errors]") {
  CHECK_THROWS_WITH(hadw::group_layout::uniform(0, 4), Catch::Contains("num_groups"));
  CHECK_THROWS_WITH(hadw::group_layout::uniform(4, 0), Catch::Contains("group_size"));
  CHECK_THROWS_WITH(hadw::group_layout::uniform(INT64_MAX, 4), Catch::Contains("int64"));
  CHECK_THROWS_WITH(hadw::group_layout::from_offsets(std::vector<int>{0}),
                    Catch::Contains("offsets.size()"));
  CHECK_THROWS_WITH(hadw::group_layout::from_offsets(std::vector<int>{1, 3}),
                    Catch::Contains("offsets[0] == 0"));
  CHECK_THROWS_WITH(hadw::group_layout::from_offsets(std::vector<int>{0, 3, 3, 5}),
                    Catch::Contains("strictly increasing") && Catch::Contains("offsets[2]"));
  CHECK_THROWS_WITH(hadw::group_layout::from_offsets(std::vector<int>{0, 4, 2}),
                    Catch::Contains("strictly increasing"));
  CHECK_THROWS_WITH(hadw::group_layout::from_ids(std::vector<int>{}), Catch::Contains("ids"));
  std::vector<float> v(5);
  const auto l = hadw::group_layout::uniform(2, 3);
  CHECK_THROWS_WITH(hadw::grouped(std::span<float>(v), l), Catch::Contains("5 vs 6"));
}

TEST_CASE("8-bit offsets are numbers: accepted, and printed as numbers in messages",
          "[layout][offsets]") {
  // int8_t and uint8_t are standard integers (bool and char offsets do not compile:
  // tests/compile/fail/offsets_bool.cpp, offsets_char.cpp).
  CHECK(hadw::group_layout::from_offsets(std::vector<std::int8_t>{0, 3, 5}) ==
        hadw::group_layout::from_offsets({0, 3, 5}));
  CHECK(hadw::group_layout::from_offsets(std::vector<std::uint8_t>{0, 2, 4}) ==
        hadw::group_layout::uniform(2, 2));
  // Regression: an int8 offset was streamed as a character (here byte 0xFB).
  CHECK_THROWS_WITH(hadw::group_layout::from_offsets(std::vector<std::int8_t>{-5, 3}),
                    Catch::Equals("offsets[0] == 0 required, got -5"));
  CHECK_THROWS_WITH(hadw::group_layout::from_offsets(std::vector<std::int8_t>{0, 65, 64}),
                    Catch::Contains("offsets[1] = 65 and offsets[2] = 64"));
}
