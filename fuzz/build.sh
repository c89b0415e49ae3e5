#!/usr/bin/env bash
# Builds the libFuzzer harnesses fuzz/fuzz_*.cpp with clang++ (libFuzzer + ASan + UBSan, every
# UBSan finding fatal) into ${1:-build-fuzz}/. Header-only library: one clang++ call per harness.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build-fuzz}"
cxx="${CXX_FUZZ:-clang++}"
mkdir -p "$out"
for src in "$root"/fuzz/fuzz_*.cpp; do
  name="$(basename "$src" .cpp)"
  echo "building $name"
  "$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -ffp-contract=off -Wall -Wextra -Wpedantic -Werror -I"$root/include" "$src" -o "$out/$name" &
done
wait_all() { local rc=0; for job in $(jobs -p); do wait "$job" || rc=1; done; return $rc; }
wait_all
