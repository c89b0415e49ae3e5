// expect: this Eigen expression has no storage to view
#include <hadw/interop/eigen.hpp>
int main() {
  Eigen::Matrix<float, 4, 8, Eigen::RowMajor> rewards = decltype(rewards)::Zero(), adv;
  hadw::estimate(hadw::grpo{}, rewards + rewards, adv);  // a lazy sum: nothing to view
}
