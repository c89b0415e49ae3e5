// libFuzzer harness: group_layout::uniform / from_offsets / from_ids on arbitrary sizes, offsets
// (several integer types, values past int64 included) and ids (integers, strings, floats with
// NaN). Properties: the call throws hadw::error or returns a layout that is self-consistent
// (offsets start at 0 and strictly increase, the permutation is a permutation) and says what the
// input says (the same offsets; for ids: responses of one group share an id, groups have distinct
// ids and are numbered by first appearance, and inside a group the caller's order is kept).
#include "fuzz_input.hpp"

#include <hadw/layout.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

void check_consistent(const hadw::group_layout& l) {
  FUZZ_CHECK(l.num_groups() >= 1);
  const auto off = l.offsets();
  FUZZ_CHECK(off.size() == static_cast<std::size_t>(l.num_groups()) + 1);
  FUZZ_CHECK(off[0] == 0);
  bool uniform = true;
  for (std::int64_t k = 0; k < l.num_groups(); ++k) {
    FUZZ_CHECK(l.size(k) >= 1);
    uniform = uniform && l.size(k) == l.size(0);
  }
  FUZZ_CHECK(l.num_responses() == off.back());
  FUZZ_CHECK(l.is_uniform() == uniform);
  if (uniform) FUZZ_CHECK(l.uniform_size() == l.size(0));
  if (l.has_permutation()) {
    const auto p = l.permutation();
    FUZZ_CHECK(p.size() == static_cast<std::size_t>(l.num_responses()));
    std::vector<bool> seen(p.size(), false);
    for (std::int64_t i : p) {
      FUZZ_CHECK(i >= 0 && static_cast<std::size_t>(i) < p.size() && !seen[static_cast<std::size_t>(i)]);
      seen[static_cast<std::size_t>(i)] = true;
    }
  }
}

template <class I>
void offsets_case(hadw_fuzz::input& in) {
  std::vector<I> off(in.u8() % 12);
  for (auto& v : off) {
    // Mostly small steps (so that valid layouts are common), sometimes any bit pattern.
    const std::uint8_t tag = in.u8();
    v = tag < 200 ? static_cast<I>(tag % 9) : static_cast<I>(in.u64());
  }
  if (!off.empty() && (in.u8() & 3) != 0) {  // usually make it a running sum (CSR-like)
    using U = std::make_unsigned_t<I>;  // wrapping sum: big values must not be UB in the harness
    for (std::size_t k = 1; k < off.size(); ++k)
      off[k] = static_cast<I>(static_cast<U>(static_cast<U>(off[k]) + static_cast<U>(off[k - 1])));
    off[0] = 0;
  }
  try {
    const auto l = hadw::group_layout::from_offsets(off);
    check_consistent(l);
    FUZZ_CHECK(!l.has_permutation());
    FUZZ_CHECK(l.offsets().size() == off.size());
    for (std::size_t k = 0; k < off.size(); ++k)
      FUZZ_CHECK(std::cmp_equal(l.offsets()[k], off[k]));  // no wrap-around of big unsigned values
  } catch (const hadw::error&) {
    bool valid = off.size() >= 2 && off[0] == 0;
    for (std::size_t k = 1; valid && k < off.size(); ++k)
      valid = off[k] > off[k - 1] && std::in_range<std::int64_t>(off[k]);
    FUZZ_CHECK(!valid);  // a valid CSR array must be accepted
  }
}

template <class Id>
void check_ids(const std::vector<Id>& ids) {
  try {
    const auto l = hadw::group_layout::from_ids(ids);
    check_consistent(l);
    FUZZ_CHECK(static_cast<std::size_t>(l.num_responses()) == ids.size());
    const auto same = [](const Id& a, const Id& b) { return a == b; };  // NaN: never the same id
    std::int64_t prev_first = -1;
    for (std::int64_t k = 0; k < l.num_groups(); ++k) {
      const std::int64_t first = l.index(l.begin(k));
      FUZZ_CHECK(first > prev_first);  // groups numbered by first appearance
      prev_first = first;
      for (std::int64_t j = l.begin(k); j < l.end(k); ++j) {
        if (j == l.begin(k)) continue;
        FUZZ_CHECK(l.index(j) > l.index(j - 1));  // stable inside a group
        FUZZ_CHECK(same(ids[static_cast<std::size_t>(l.index(j))],
                        ids[static_cast<std::size_t>(first)]));
      }
      for (std::int64_t m = 0; m < k; ++m)
        FUZZ_CHECK(!same(ids[static_cast<std::size_t>(l.index(l.begin(m)))],
                         ids[static_cast<std::size_t>(first)]));
    }
  } catch (const hadw::error&) {
    FUZZ_CHECK(ids.empty());  // the only documented rejection
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hadw_fuzz::input in(data, size);
  switch (in.u8() % 8) {
    case 0: {
      // Sizes near the int64 limits must be rejected, not wrapped; allocation is bounded by
      // keeping accepted group counts small.
      const std::int64_t b = in.flag() ? in.i64() : static_cast<std::int64_t>(in.u8()) - 2;
      const std::int64_t g = in.flag() ? in.i64() : static_cast<std::int64_t>(in.u8()) - 2;
      if (b > (1 << 16)) return 0;  // the layout holds b + 1 offsets: a memory cost, not a bug
      try {
        const auto l = hadw::group_layout::uniform(b, g);
        check_consistent(l);
        FUZZ_CHECK(l.num_groups() == b && l.uniform_size() == g && l.num_responses() == b * g);
      } catch (const hadw::error&) {
        FUZZ_CHECK(b < 1 || g < 1 || b > INT64_MAX / g);
      }
      break;
    }
    case 1: offsets_case<std::int64_t>(in); break;
    case 2: offsets_case<std::int32_t>(in); break;
    case 3: offsets_case<std::uint64_t>(in); break;
    case 4: offsets_case<std::uint8_t>(in); break;
    case 5: {
      std::vector<std::int64_t> ids(in.u8() % 48);
      const int distinct = 1 + in.u8() % 8;
      for (auto& id : ids) id = in.u8() % distinct;
      check_ids(ids);
      break;
    }
    case 6: {
      std::vector<std::string> ids(in.u8() % 32);
      for (auto& id : ids) id.assign(static_cast<std::size_t>(in.u8() % 3), static_cast<char>('a' + in.u8() % 3));
      check_ids(ids);
      break;
    }
    default: {
      std::vector<double> ids(in.u8() % 32);
      for (auto& id : ids) id = in.number<double>();
      check_ids(ids);
      break;
    }
  }
  return 0;
}
