// expect: scale_policy
// A scale that returns float for a double group is not a scale_policy (the kernels divide by the
// scale in double: a float would round it silently).
#include <hadw/estimators.hpp>
struct float_scale {
  template <class G>
  float scale(const G&, const hadw::batch_stats&) const {
    return 1.0f;
  }
  void validate() const {}
};
hadw::estimator<hadw::mean_baseline, float_scale> e;
int main() { return 0; }
