// Policies written the way a user writes them, in a user header, with public hadw API only:
// each one generic over the value type (double, or a SIMD pack of groups on the CPU lockstep)
// and HADW_HOST_DEVICE (so the CUDA kernels run it), declaring the statistics it reads.
//
//   midrange_baseline  b = (min + max) / 2                      moments only: SIMD path
//   max_min_scale      s = max - min                            moments only: SIMD path
//   median_baseline    b = the group's median                   needs_median: one group at a time
//   midrange_scalar_baseline  the midrange for double only      scalar_only: one group at a time
//   ema_belief         (tests/support/user_belief.hpp)          an exponential moving average
#pragma once

#include "user_belief.hpp"

#include <hadw/config.hpp>
#include <hadw/estimators.hpp>

#include <cstdint>

namespace test_support {

// [snippet:midrange]
struct midrange_baseline {
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const hadw::batch_stats&, typename G::value_type r,
                                  std::int64_t) const {
    return r - (g.min + g.max) * 0.5;
  }
  void validate() const {}
};

struct max_min_scale {
  template <class G>
  HADW_HOST_DEVICE auto scale(const G& g, const hadw::batch_stats&) const {
    return g.max - g.min;  // 0 only where every deviation is 0 too
  }
  void validate() const {}
};

struct median_baseline {
  static constexpr bool needs_median = true;
  template <class G>
  HADW_HOST_DEVICE auto deviation(const G& g, const hadw::batch_stats&, typename G::value_type r,
                                  std::int64_t) const {
    return r - g.median;
  }
  void validate() const {}
};
// [end:midrange]

/// midrange_baseline written for one group only (a concrete double signature): it declares
/// `scalar_only`, so the lockstep never instantiates it for a pack.
struct midrange_scalar_baseline {
  static constexpr bool scalar_only = true;
  HADW_HOST_DEVICE double deviation(const hadw::group_summary<double>& g, const hadw::batch_stats&,
                                    double r, std::int64_t) const {
    return r - (g.min + g.max) * 0.5;
  }
  void validate() const {}
};

using midrange_estimator = hadw::estimator<midrange_baseline, max_min_scale>;
using midrange_scalar_estimator = hadw::estimator<midrange_scalar_baseline, max_min_scale>;
using median_estimator = hadw::estimator<median_baseline, hadw::group_std_scale>;
using median_unit_estimator = hadw::estimator<median_baseline, hadw::unit_scale>;

static_assert(hadw::baseline_policy<midrange_baseline> && hadw::scale_policy<max_min_scale> &&
              hadw::baseline_policy<median_baseline>);

}  // namespace test_support
