#!/usr/bin/env bash
# The Python package: `pip install .` into a fresh virtual environment together with the peers it
# is checked against (torch, verl, TRL, from PyPI: scripts/python-env.sh), then pytest.
# HADW_REQUIRE_PEERS=1 turns a missing peer into a failure: the cross-checks must run here, never
# skip.
set -euo pipefail
venv=build-python/venv
py="$venv/bin/python"
pip=("$py" -m pip install --quiet --disable-pip-version-check)

# The environment: scripts/test.sh builds it in the background (env.started holds that job's pid);
# run alone, or if that job is gone without a result, this stage builds it now.
ready=no
if [[ -f build-python/env.started ]]; then
  pid="$(cat build-python/env.started)"
  while [[ ! -f build-python/env.status ]] && kill -0 "$pid" 2>/dev/null; do sleep 2; done
  rm -f build-python/env.started
  cat build-python/env.log 2>/dev/null || true
  [[ "$(cat build-python/env.status 2>/dev/null)" == 0 ]] && ready=yes
fi
[[ "$ready" == yes ]] || bash scripts/python-env.sh

# The package itself, as a user installs it.
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "${pip[@]}" .

HADW_REQUIRE_PEERS=1 "$py" -m pytest -q python/tests

# The examples, as a user runs them (each exits non-zero if what it shows does not hold).
"$py" examples/python/trl_grpo.py --steps 4 > /dev/null
"$py" examples/python/verl_grpo.py > /dev/null
"$py" examples/python/distributed.py --world 2 > /dev/null
echo "examples/python: trl_grpo, verl_grpo, distributed ran"

# The Python benchmark's smoke run (small sizes, two repetitions): it must keep running; its
# figures here mean nothing (docs/performance.md has the measured ones).
"$py" bench/python/bench_python.py --quick

# The learning benchmark's smoke run (every arm, one seed, a few steps, plots and table): it must
# keep running end to end; docs/experiments.md has the full run's results.
"$py" bench/learning/run.py --smoke --out build-python/learning-smoke > /dev/null
echo "bench/learning: smoke run wrote $(ls build-python/learning-smoke/*.png | wc -l) plots"
