// expect: xtensor input must be 1-D or 2-D
#include <hadw/interop/xtensor.hpp>
#include <xtensor/xtensor.hpp>
int main() {
  xt::xtensor<float, 3> rewards({2, 4, 8}), adv({2, 4, 8});
  hadw::estimate(hadw::grpo{}, rewards, adv);
}
