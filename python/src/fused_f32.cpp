// run_fused<float>: every estimator x belief x token stage, for float rewards.
#include "fused_impl.hpp"

namespace hadw::python {
template step_stats run_fused<float>(const fused_call&);
}  // namespace hadw::python
