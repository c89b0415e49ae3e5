// expect: token lengths must be a standard integer type
#include <hadw/api/tokens.hpp>
#include <vector>
int main() {
  const std::vector<float> adv{1.0f, 2.0f};
  const std::vector<char> lengths{1, 2};
  std::vector<float> out(4);
  hadw::broadcast_to_tokens(std::span<const float>(adv), std::span<const char>(lengths), 2,
                            std::span<float>(out));
}
