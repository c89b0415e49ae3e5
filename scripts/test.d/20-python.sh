#!/usr/bin/env bash
# The Python package: `pip install .` into a fresh virtual environment together with the peers it
# is checked against (torch, verl, TRL, from PyPI), then pytest. HADW_REQUIRE_PEERS=1 turns a
# missing peer into a failure: the cross-checks must run here, never skip.
set -euo pipefail
venv=build-python/venv
rm -rf "$venv"
python3 -m venv "$venv"
py="$venv/bin/python"
pip=("$py" -m pip install --quiet --disable-pip-version-check)

# torch on the CPU. PyPI's Linux wheel links libtorch_cuda against the nvidia-* CUDA libraries,
# so `pip install --no-deps torch` cannot be imported (libcufile.so.0 missing); its declared
# dependencies are needed even without a GPU (about 3 GB to download, about 1 minute here).
"${pip[@]}" "torch==2.15.0" numpy pytest

# The peers, at the versions the cross-checks were written against. Their own dependency lists
# pull in a whole training stack (ray[default], vllm-facing extras, wandb, ...): install them
# --no-deps, plus the modules that importing verl.trainer.ppo.core_algos and
# trl.trainer.grpo_trainer needs.
"${pip[@]}" --no-deps "verl==0.9.1" "trl==1.16.0"
# OpenRLHF's advantages are inline in a Ray-importing module: python/tests/test_peer_presets.py
# runs those lines from the installed source file, so the package itself is enough.
"${pip[@]}" --no-deps "openrlhf==0.11.2"
"${pip[@]}" packaging ray omegaconf codetiming orjson "tensordict>=0.8,<=0.10.0,!=0.9.0" \
  "transformers>=5.5.3,<5.11,!=5.6.0" accelerate datasets pandas tokenizers
# What importing verl's trainer modules needs beyond that, for the trainer tests: the legacy
# verl.trainer.ppo.ray_trainer (compute_advantage, RayPPOTrainer), then the v1 PPOTrainer (verl
# 0.9's default trainer).
"${pip[@]}" torchdata pillow peft cachetools uvicorn fastapi starlette opentelemetry-api
"${pip[@]}" transferqueue pyzmq msgspec hydra-core aiohttp

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
