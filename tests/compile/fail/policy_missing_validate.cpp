// expect: baseline_policy
// A baseline without validate() is not a baseline_policy: estimator<> refuses it.
#include <hadw/estimators.hpp>
#include <cstdint>
struct no_validate_baseline {
  template <class G>
  auto deviation(const G& g, const hadw::batch_stats&, typename G::value_type r,
                 std::int64_t) const {
    return r - g.mean;
  }
};
hadw::estimator<no_validate_baseline, hadw::unit_scale> e;
int main() { return 0; }
