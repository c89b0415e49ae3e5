// Replays the committed fuzz corpus (fuzz/corpus/<harness>/: seeds and the reproducers of every
// bug the fuzzers found) through the harnesses' own property checks, in the normal ctest run and
// in the sanitizer build, so that a fixed bug stays fixed without libFuzzer or clang.
//
// Each harness is compiled into this file with its entry point renamed; a violated property
// aborts (FUZZ_CHECK), which fails this test.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#define LLVMFuzzerTestOneInput fuzz_anchor_load_one
#include "../fuzz/fuzz_anchor_load.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_layout_one
#include "../fuzz/fuzz_layout.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_estimate_reweight_one
#include "../fuzz/fuzz_estimate_reweight.cpp"
#undef LLVMFuzzerTestOneInput

namespace {

namespace fs = std::filesystem;

const fs::path corpus_root = fs::path(__FILE__).parent_path().parent_path() / "fuzz" / "corpus";

std::size_t replay(const char* harness, int (*one)(const std::uint8_t*, std::size_t)) {
  const fs::path dir = corpus_root / harness;
  REQUIRE(fs::is_directory(dir));
  std::size_t n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                          std::istreambuf_iterator<char>());
    INFO(entry.path().string());
    CHECK(one(bytes.data(), bytes.size()) == 0);
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("The committed fuzz corpus passes every harness property", "[fuzz][corpus]") {
  CHECK(replay("fuzz_anchor_load", fuzz_anchor_load_one) > 0);
  CHECK(replay("fuzz_layout", fuzz_layout_one) > 0);
  CHECK(replay("fuzz_estimate_reweight", fuzz_estimate_reweight_one) > 0);
  // An empty input is a valid test case for every harness.
  CHECK(fuzz_anchor_load_one(nullptr, 0) == 0);
  CHECK(fuzz_layout_one(nullptr, 0) == 0);
  CHECK(fuzz_estimate_reweight_one(nullptr, 0) == 0);
}
