#!/usr/bin/env bash
# Sets up and runs every test of hadw: the stages in scripts/test.d/, in name order.
# Each stage is a script of its own (C++ build + ctest, Python, sanitizers, fuzzing, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# The Python stage's environment (mostly downloads) is built while the C++ stage compiles, at the
# lowest CPU priority so that the compiler keeps the cores.
if [[ -f scripts/test.d/20-python.sh ]]; then
  mkdir -p build-python
  rm -f build-python/env.status
  nice -n 19 bash scripts/python-env.sh > build-python/env.log 2>&1 &
  echo $! > build-python/env.started
fi
for stage in scripts/test.d/*.sh; do
  echo "=== hadw test stage: ${stage} ==="
  start=$SECONDS
  bash "$stage"
  echo "=== ${stage}: passed in $((SECONDS - start)) s ==="
done
echo "=== all hadw test stages passed ==="
