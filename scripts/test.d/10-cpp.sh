#!/usr/bin/env bash
# The C++ library: configure, build everything (tests, examples, benchmarks), run ctest.
set -euo pipefail
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
