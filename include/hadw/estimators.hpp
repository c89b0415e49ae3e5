// Group-relative advantage estimators as baseline x scale policies (DESIGN.md §1.1):
// A_{k,i} = (r_{k,i} - b_{k,i}) / s_k.
#pragma once

#include <hadw/estimators/compat.hpp>    // peer presets
#include <hadw/estimators/estimator.hpp> // estimator<Baseline, Scale>
#include <hadw/estimators/named.hpp>     // grpo, dr_grpo, rloo, ...
#include <hadw/estimators/policies.hpp>  // the baselines and scales
#include <hadw/estimators/rules.hpp>     // eps placement, size-1 rules
#include <hadw/estimators/sequence.hpp>  // sequential baselines (KRPO's Kalman filter)
