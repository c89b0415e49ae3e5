// expect: Eigen input must be row-major
#include <hadw/interop/eigen.hpp>
int main() {
  Eigen::MatrixXf rewards = Eigen::MatrixXf::Zero(4, 8), adv(4, 8);  // column-major
  hadw::estimate(hadw::grpo{}, rewards, adv);
}
