#!/usr/bin/env bash
# The whole ctest suite again, built with clang under AddressSanitizer + UndefinedBehaviorSanitizer
# (every UBSan finding fatal) and with OpenMP on, so that the kernels' parallel paths, the
# determinism test's 1/2/3-thread comparison and every bad-input case run under the sanitizers.
# Asserts stay on (no NDEBUG); -O1 keeps the run short. The examples run as ctest tests too;
# benchmarks register none and are not built here, nor are the -march=native copies of the
# bit-identity tests (the normal stage runs those). The build-system tests (consumer projects,
# compile-fail checks) are the normal stage's business and are left out, and so is MPI (its
# mpirun suite is not run under the sanitizers; its hadw code goes through reweight's checks).
set -euo pipefail
build="${HADW_ASAN_BUILD_DIR:-build-asan}"
jobs="$(nproc)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE= \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DHADW_ENABLE_OPENMP=ON -DHADW_ENABLE_MPI=OFF -DHADW_BUILD_EXAMPLES=ON -DHADW_BUILD_BENCHMARKS=OFF \
  -DHADW_NATIVE_TESTS=OFF
cmake --build "$build" -j"$jobs"
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_NUM_THREADS=2
ctest --test-dir "$build" --output-on-failure -j"$jobs" -E "${HADW_ASAN_EXCLUDE:-^(consumer|compile|compile_fail|odr)/}"
