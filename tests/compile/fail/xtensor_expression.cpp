// expect: this xtensor expression has no storage to view
#include <hadw/interop/xtensor.hpp>
#include <xtensor/xtensor.hpp>
int main() {
  xt::xtensor<float, 2> rewards({4, 8}), adv({4, 8});
  hadw::estimate(hadw::grpo{}, rewards + rewards, adv);  // a lazy xfunction: nothing to view
}
