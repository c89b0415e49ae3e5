// expect: offsets must be a standard integer type
#include <hadw/layout.hpp>
#include <vector>
int main() {
  // char is a character type (std::int8_t / std::uint8_t are the 8-bit integers).
  (void)hadw::group_layout::from_offsets(std::vector<char>{0, 2, 4});
}
