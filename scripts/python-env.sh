#!/usr/bin/env bash
# The Python test environment: a fresh virtual environment with torch and the peers hadw is checked
# against (verl, TRL, from PyPI); everything scripts/test.d/20-python.sh needs except hadw itself.
# scripts/test.sh starts it in the background while the C++ stage compiles (it is mostly download
# and unpacking); run alone, 20-python.sh calls it first. Writes build-python/env.status (its exit
# code) when done.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build-python
rm -f build-python/env.status
trap 'echo $? > build-python/env.status' EXIT
venv=build-python/venv
rm -rf "$venv"
python3 -m venv "$venv"
py="$venv/bin/python"
# --no-compile: no .pyc for the ~3 GB of packages at install time (Python compiles the few
# modules the tests import when they are first imported).
pip=("$py" -m pip install --quiet --disable-pip-version-check --no-compile)

# torch on the CPU. PyPI's Linux wheel links libtorch_cuda against the nvidia-* CUDA libraries,
# so `pip install --no-deps torch` cannot be imported (libcufile.so.0 missing); its declared
# dependencies are needed even without a GPU (about 3 GB to download, about 1 minute here).
"${pip[@]}" "torch==2.15.0" numpy pytest
# matplotlib: the learning benchmark's plots (bench/learning, its --smoke run in 20-python.sh).
"${pip[@]}" matplotlib

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
