// expect: median
// A baseline that reads the median without `static constexpr bool needs_median = true` does not
// compile: its group_summary has no median.
#include <hadw/estimators.hpp>
#include <cstdint>
struct median_without_declaring {
  template <class G>
  auto deviation(const G& g, const hadw::batch_stats&, typename G::value_type r,
                 std::int64_t) const {
    return r - g.median;
  }
  void validate() const {}
};
hadw::estimator<median_without_declaring, hadw::unit_scale> e;
int main() { return 0; }
