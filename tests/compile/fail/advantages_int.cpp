// expect: advantages .and token_advantages. must be float or double
#include <hadw/hadw.hpp>
#include <vector>
int main() {
  // int advantages truncated (UB past INT_MAX): refused at compile time.
  const auto layout = hadw::group_layout::uniform(2, 4);
  std::vector<float> rewards(8, 1.0f);
  std::vector<int> adv(8);
  hadw::estimate(hadw::grpo{}, layout, std::span<const float>(rewards), std::span<int>(adv));
}
