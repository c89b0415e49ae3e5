// expect: hadw::reweight: advantages must be writable
#include <hadw/interop/eigen.hpp>
#include <vector>
int main() {
  using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::vector<float> data(32, 0.0f);
  Eigen::Map<const row_matrix> adv(data.data(), 4, 8);  // read-only storage
  row_matrix rewards = row_matrix::Zero(4, 8);
  hadw::difficulty_anchor<> anchor;
  hadw::reweight(adv, rewards, anchor);
}
