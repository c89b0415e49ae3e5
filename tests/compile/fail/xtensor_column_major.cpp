// expect: xtensor input must be row-major
#include <hadw/interop/xtensor.hpp>
#include <xtensor/xtensor.hpp>
int main() {
  xt::xtensor<float, 2, xt::layout_type::column_major> rewards({4, 8}), adv({4, 8});
  hadw::estimate(hadw::grpo{}, rewards, adv);
}
