#!/usr/bin/env python3
"""GRPO + HA-DW at trainer size, as users run it today versus hadw, measured in one run.

Three implementations of the same response-level step (group mean/std advantages, then the HA-DW
weight Phi = lambda * exp(D * M) with a fixed belief C = 0.5):

  verl-loop    verl's per-uid Python loop (compute_grpo_outcome_advantage: id2score lists,
               torch.mean / torch.std per group, a second loop to normalise), followed by a
               per-response HA-DW loop written the same way;
  torch-vec    TRL's vectorised torch (view(-1, G).mean/std, repeat_interleave), followed by
               vectorised HA-DW;
  hadw         hadw::estimate_and_reweight through the Google Benchmark driver
               build-speed/bench/bench_response (BM_hadw_fused_grpo_hadw), built beforehand
               with `cmake --build build-speed --target bench_response`.

torch comes from PyPI into a virtual environment (default build-speed/venv). PyPI's Linux torch
wheel depends on several GB of nvidia-* CUDA packages; this script first installs the wheel with
--no-deps plus the small pure-Python dependencies and the few CUDA libraries that libtorch links
at import time and that a machine with the CUDA toolkit lacks (cuFile, cuSPARSELt, NVSHMEM, NCCL);
if torch still does not import, it falls back to the full `pip install torch`.

Every figure is the median over --repetitions timed repetitions; the ratios come from the same
run. Usage:
    python3 scripts/compare_peers.py [--prompts 512] [--group 16] [--repetitions 15]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ["--no-deps", "torch", "nvidia-cufile", "nvidia-cusparselt-cu13", "nvidia-nvshmem-cu13",
           "nvidia-nccl-cu13"]
PURE_DEPS = ["numpy", "filelock", "typing-extensions", "sympy", "networkx", "jinja2", "fsspec"]


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def torch_imports(python: Path) -> bool:
    return subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode == 0


def ensure_torch(venv: Path) -> Path:
    """A Python with torch: the venv, created and filled on first use."""
    py = venv_python(venv)
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if torch_imports(py):
        return py
    pip = [str(py), "-m", "pip", "install", "-q"]
    subprocess.run(pip + MINIMAL, check=True)
    subprocess.run(pip + PURE_DEPS, check=True)
    if not torch_imports(py):
        print("torch does not import with the minimal set; installing torch with all its deps",
              file=sys.stderr)
        subprocess.run(pip + ["torch"], check=True)
    return py


def timed(fn, repetitions: int, min_seconds: float = 0.05) -> float:
    """Median seconds per call over `repetitions` repetitions of enough calls to last min_seconds."""
    fn()
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - t0 >= min_seconds:
            break
        calls *= 2
    samples = []
    for _ in range(repetitions):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls)
    return statistics.median(samples)


def run_peers(prompts: int, group: int, repetitions: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    n = prompts * group
    rewards = (torch.rand(n) < 0.4).float()
    index = [f"uid-{i // group}" for i in range(n)]  # verl's uid strings, group-contiguous
    belief, lam = 0.5, 1.5

    def verl_loop():
        scores = rewards.clone()
        id2score, id2mean, id2std = defaultdict(list), {}, {}
        with torch.no_grad():
            for i in range(n):
                id2score[index[i]].append(scores[i])
            for idx in id2score:
                if len(id2score[idx]) == 1:
                    id2mean[idx], id2std[idx] = torch.tensor(0.0), torch.tensor(1.0)
                else:
                    t = torch.stack(id2score[idx])
                    id2mean[idx], id2std[idx] = torch.mean(t), torch.std(t)
            for i in range(n):
                scores[i] = (scores[i] - id2mean[index[i]]) / (id2std[index[i]] + 1e-6)
            for i in range(n):  # HA-DW, per response
                diff = id2mean[index[i]] - belief
                d = -torch.sign(scores[i]) * torch.sign(diff)
                scores[i] = scores[i] * lam * torch.exp(d * diff.abs())
        return scores

    def torch_vec():
        with torch.no_grad():
            grouped = rewards.view(-1, group)
            mean = grouped.mean(dim=1).repeat_interleave(group, dim=0)
            std = grouped.std(dim=1).repeat_interleave(group, dim=0)
            adv = (rewards - mean) / (std + 1e-6)
            diff = mean - belief
            d = -torch.sign(adv) * torch.sign(diff)
            return adv * (lam * torch.exp(d * diff.abs()))

    a, b = verl_loop(), torch_vec()
    assert torch.allclose(a, b, atol=1e-5), "the two peer implementations disagree"
    return {"verl-loop": timed(verl_loop, max(3, repetitions // 3)),
            "torch-vec": timed(torch_vec, repetitions),
            "torch_version": torch.__version__}


def run_hadw(build: Path, prompts: int, group: int, repetitions: int) -> dict:
    exe = build / "bench" / "bench_response"
    if not exe.exists():
        sys.exit(f"{exe} missing: cmake --build {build} --target bench_response")
    out = subprocess.run(
        [str(exe), f"--benchmark_filter=BM_(hadw_fused_grpo_hadw|naive_grpo_hadw)/prompts:{prompts}/G:{group}$",
         f"--benchmark_repetitions={repetitions}", "--benchmark_format=json",
         "--benchmark_report_aggregates_only=true"],
        check=True, capture_output=True, text=True).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3}[b["time_unit"]]
            key = "hadw" if "hadw_fused" in b["run_name"] else "naive C++ loop"
            res[key] = b["real_time"] * scale
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=512)
    ap.add_argument("--group", type=int, default=16)
    ap.add_argument("--repetitions", type=int, default=15)
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--venv", type=Path, default=ROOT / "build-speed" / "venv")
    ap.add_argument("--build", type=Path, default=ROOT / "build-speed")
    ap.add_argument("--peers-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.peers_only:  # inside the venv: print the peers' timings as JSON
        print(json.dumps(run_peers(args.prompts, args.group, args.repetitions, args.torch_threads)))
        return
    py = ensure_torch(args.venv)
    peers = json.loads(subprocess.run(
        [str(py), __file__, "--peers-only", f"--prompts={args.prompts}", f"--group={args.group}",
         f"--repetitions={args.repetitions}", f"--torch-threads={args.torch_threads}"],
        check=True, capture_output=True, text=True).stdout)
    ours = run_hadw(args.build, args.prompts, args.group, args.repetitions)
    rows = {**{k: v for k, v in peers.items() if k != "torch_version"}, **ours}
    n = args.prompts * args.group
    print(f"GRPO + HA-DW, {args.prompts} prompts x {args.group} = {n} responses, float32; "
          f"median of {args.repetitions} repetitions; torch {peers['torch_version']} on "
          f"{args.torch_threads} thread(s), hadw single-threaded")
    print(f"{'implementation':<16}{'median us':>12}{'x slower than hadw':>22}")
    for name, sec in sorted(rows.items(), key=lambda kv: -kv[1]):
        print(f"{name:<16}{sec * 1e6:>12.1f}{sec / rows['hadw']:>22.1f}")


if __name__ == "__main__":
    main()
