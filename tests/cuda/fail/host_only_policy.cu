// expect: calling a __host__ function
// A policy without HADW_HOST_DEVICE under backend::cuda: the kernels call it from device code,
// which hadw::cuda makes an error (nvcc alone only warns, and the call would be dropped).
#include <hadw/hadw.hpp>
#include <hadw/backend/cuda.cuh>
#include <cstdint>
struct host_only_baseline {
  template <class G>
  auto deviation(const G& g, const hadw::batch_stats&, typename G::value_type r,  // no
                 std::int64_t) const {                                            // HADW_HOST_DEVICE
    return r - g.mean;
  }
  void validate() const {}
};
void run(const hadw::device_group_layout& layout, std::span<const float> r, std::span<float> a) {
  hadw::estimate(hadw::backend::cuda{}, hadw::estimator<host_only_baseline, hadw::unit_scale>{},
                 layout, r, a);
}
