// expect: advantages .and token_advantages. must be float or double
#include <hadw/hadw.hpp>
#include <vector>
// _Float16 advantages overflowed to inf from rewards of 1e5: refused at compile time. Where the
// compiler has no _Float16 (clang 14 on x86-64), long double stands in: refused the same way.
#if defined(__FLT16_MAX__)
using narrow = _Float16;
#else
using narrow = long double;
#endif
int main() {
  const auto layout = hadw::group_layout::uniform(2, 4);
  std::vector<float> rewards(8, 1.0f);
  std::vector<narrow> adv(8);
  hadw::difficulty_anchor<> anchor;
  hadw::reweight(hadw::grouped(std::span<narrow>(adv), layout),
                 hadw::grouped(std::span<const float>(rewards), layout), anchor);
}
