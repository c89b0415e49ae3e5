// expect: argmax
// A baseline that reads argmax without `static constexpr bool needs_extrema = true` does not
// compile: its group_summary has no argmax (the kernels would not have computed one).
#include <hadw/hadw.hpp>
#include <cstdint>
#include <span>
#include <vector>
struct best_only_baseline {  // needs_extrema missing
  template <class G>
  auto deviation(const G& g, const hadw::batch_stats&, typename G::value_type r,
                 std::int64_t pos) const {
    return pos == g.argmax ? r : 0.0;
  }
  void validate() const {}
};
int main() {
  const auto layout = hadw::group_layout::uniform(1, 2);
  std::vector<double> r{0.0, 1.0}, a(2);
  hadw::estimate(hadw::estimator<best_only_baseline, hadw::unit_scale>{}, layout,
                 std::span<const double>(r), std::span<double>(a));
  return 0;
}
