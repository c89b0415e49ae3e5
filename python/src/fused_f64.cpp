// run_fused<double>: every estimator x belief x token stage, for double rewards.
#include "fused_impl.hpp"

namespace hadw::python {
template step_stats run_fused<double>(const fused_call&);
}  // namespace hadw::python
