// The CPU backend: one pass over the batch that goes rewards -> group statistics -> estimator ->
// HA-DW weight -> token rows, in caller memory, with no allocation per call.
//
// Every public entry point (estimate, reweight, broadcast_to_tokens and the fused ones) runs the
// kernels below with the stages it needs switched on at compile time, so the fused call and the
// chain of separate calls execute the same arithmetic in the same order: bit-identical results.
// The per-element formulas are the shared HADW_HOST_DEVICE functions (compute_group_stats,
// estimator<>::advantage, phi); this file only decides how the data is walked.
//
// The backend in pipeline order: readers (compile-time views of the options), scan (checks and
// the observation), group (one group through every stage), lockstep (a pack of groups), rows
// (the token stage), run (the batch), entry (what the entry points dispatch to, and
// backend::traits<cpu>).
#pragma once

#include <hadw/backend/cpu/entry.hpp>
#include <hadw/backend/cpu/group.hpp>
#include <hadw/backend/cpu/lockstep.hpp>
#include <hadw/backend/cpu/readers.hpp>
#include <hadw/backend/cpu/rows.hpp>
#include <hadw/backend/cpu/run.hpp>
#include <hadw/backend/cpu/scan.hpp>
