// hadw::theory — the paper's bias results (arXiv 2601.08521, §2 and §4) as tested code: closed
// forms for binary rewards (Lemma 2, Theorems 1-2 and their tables), Theorem 3's feasible
// lambda_scale interval, the bias of HA-DW and the competing difficulty weightings, and Theorem 4
// for continuous rewards (numerical integration and Monte Carlo). Everything is double precision,
// deterministic, and throws hadw::error on bad arguments.
#pragma once

#include <hadw/theory/binary.hpp>         // P(S), E[p̂|S], bias, Theorem 2, the tables
#include <hadw/theory/continuous.hpp>     // Theorem 4: integrals and Monte Carlo
#include <hadw/theory/distributions.hpp>  // Beta and truncated Normal reward laws
#include <hadw/theory/lambda.hpp>         // Theorem 3: feasible lambda_scale
#include <hadw/theory/quadrature.hpp>     // adaptive Gauss-Kronrod
#include <hadw/theory/random.hpp>         // seeded random source
#include <hadw/theory/weighted.hpp>       // difficulty weightings' bias (HA-DW, F-GRPO, LEAD, ...)
