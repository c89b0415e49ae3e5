// expect: Eigen input must have inner stride 1 known at compile time
#include <hadw/interop/eigen.hpp>
#include <vector>
int main() {
  using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::vector<float> data(64, 0.0f);
  Eigen::Map<const row_matrix, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>> rewards(
      data.data(), 4, 8, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(16, 2));
  row_matrix adv(4, 8);
  hadw::estimate(hadw::grpo{}, rewards, adv);
}
