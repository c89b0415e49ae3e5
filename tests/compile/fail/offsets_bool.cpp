// expect: offsets must be a standard integer type
#include <hadw/layout.hpp>
int main() {
  const bool offsets[] = {false, true};
  (void)hadw::group_layout::from_offsets(std::span<const bool>(offsets));
}
