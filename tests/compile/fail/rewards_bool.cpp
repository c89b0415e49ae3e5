// expect: rewards must be float, double or a standard integer type
#include <hadw/hadw.hpp>
int main() {
  const auto layout = hadw::group_layout::uniform(1, 2);
  const bool rewards[] = {true, false};
  double adv[2];
  hadw::difficulty_anchor<> anchor;
  hadw::estimate_and_reweight(hadw::grpo{}, layout, std::span<const bool>(rewards),
                              std::span<double>(adv), anchor);
}
