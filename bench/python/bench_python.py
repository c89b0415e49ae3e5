#!/usr/bin/env python3
"""hadw from Python against the C++ call and the peers' Python, timed side by side in one process.

Response level (GRPO + HA-DW, float32 binary rewards, groups of 16; 8192 and 65536 responses):
  C++ fused        hadw's fused C++ step (hadw::estimate_and_reweight) called in a C++ loop inside
                   the extension, the build this process runs (hadw.build_info()['isa'])
  hadw.Step        the same step from Python, options parsed once, NumPy in and out
  hadw.Step torch  the same with torch CPU tensors in and out
  free function    hadw.estimate_and_reweight("grpo", ...), options looked up per call
  torch TRL-way    TRL's GRPO lines (view(-1, G).mean/std, repeat_interleave, / (std + 1e-4))
                   followed by HA-DW written the same way in torch, with the belief updated from
                   the batch accuracy (.item())
  verl grpo_vec    verl's compute_grpo_vectorized_outcome_advantage on [N, 1] token rewards
                   (its GRPO only: no HA-DW)

Token level (2^26 tokens: 8192 rows x 8192, float32 out, token mask or per-row lengths):
  memcpy           np.copyto of a 256 MiB float32 array (the machine's copy bandwidth here)
  hadw tokens      hadw.Step.tokens: estimate -> reweight -> broadcast in one call
  torch TRL-way    the torch step above, then advantages.unsqueeze(1) * mask
  verl grpo_vec    verl's function on [N, L] token rewards and mask (its GRPO only)
Bandwidth = the bytes a call must move (reads + writes of its arrays) / its time; "% memcpy" is
that over memcpy's (2 x 256 MiB) / its time, both measured in this run.

Every figure is the minimum over --repeat rounds; each round times every row of a table once, one
after the other (each long enough to time), so load that drifts on a shared host reaches all rows
alike; ratios come from one run. OpenBLAS's idle threads are held to one (they spin on a core
after NumPy's import, which on a 2-core host takes time from whichever row runs). Usage:
    python bench/python/bench_python.py [--repeat 7] [--json out.json] [--quick]
torch (one thread) and verl are optional: their rows are skipped when not installed.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Callable, Dict, Optional

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy starts its threads

import numpy as np  # noqa: E402

import hadw  # noqa: E402

G = 16
LAMBDA = 1.5


def calibrate(fn: Callable[[], object], min_seconds: float) -> int:
    """Calls per timing so that one lasts at least min_seconds."""
    fn()
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - t0 >= min_seconds:
            return calls
        calls *= 2


def rounds(rows: Dict[str, Callable[[], object]], repeat: int,
           min_seconds: float = 0.02) -> Dict[str, float]:
    """Seconds per call of each row: the minimum over `repeat` rounds, each round timing every
    row once in turn. A row whose callable takes `calls` itself (the C++ loop) times them."""
    plan: Dict[str, tuple] = {}
    for name, fn in rows.items():
        if getattr(fn, "times_itself", False):
            calls = max(1, int(min_seconds / max(fn(1), 1e-9)))
            plan[name] = (lambda f=fn, c=calls: f(c), 1)
        else:
            calls = calibrate(fn, min_seconds)

            def run(f=fn, c=calls):
                t0 = time.perf_counter()
                for _ in range(c):
                    f()
                return (time.perf_counter() - t0) / c
            plan[name] = (run, calls)
    best = {name: math.inf for name in rows}
    for _ in range(repeat):
        for name, (run, _calls) in plan.items():
            best[name] = min(best[name], run())
    return best


def optional(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except Exception:  # not installed, or its own imports fail: the row is skipped
        return None


def rewards_of(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.random(n // G).repeat(G)  # a spread of prompt difficulties
    return (rng.random(n) < p).astype(np.float32)


def torch_trl_step(torch):
    """GRPO the way TRL's GRPOTrainer writes it, then HA-DW in the same style; the belief is a
    window mean of batch accuracies (the authors' released anchor), updated every call."""
    state = {"history": [], "prior": 0.5}

    def step(rewards):
        with torch.no_grad():
            grouped = rewards.view(-1, G)
            mean = grouped.mean(dim=1)
            std = grouped.std(dim=1)
            mean_r = mean.repeat_interleave(G, dim=0)
            adv = (rewards - mean_r) / (std.repeat_interleave(G, dim=0) + 1e-4)
            diff = mean_r - state["prior"]
            adv = adv * (LAMBDA * torch.exp(-torch.sign(adv) * torch.sign(diff) * diff.abs()))
            state["history"] = (state["history"] + [rewards.mean().item()])[-10:]
            state["prior"] = sum(state["history"]) / len(state["history"])
            return adv

    return step


def response_level(n: int, repeat: int, torch, verl_fn, report: Dict[str, float]) -> None:
    r = rewards_of(n)
    out = np.empty_like(r)
    anchor = hadw.DifficultyAnchor()
    step = hadw.Step("grpo", compat="trl", lambda_scale=LAMBDA)
    layout = hadw.GroupLayout.uniform(n // G, G)

    def cpp(calls: int) -> float:  # the C++ step in a C++ loop: seconds per call
        return step._step._time(layout, r, out, anchor, calls)
    cpp.times_itself = True

    rows: Dict[str, Callable] = {
        "C++ fused": cpp,
        "hadw.Step": lambda: step(r, anchor, group_size=G, out=out),
        "free function": lambda: hadw.estimate_and_reweight(
            "grpo", r, anchor, group_size=G, out=out, compat="trl", lambda_scale=LAMBDA),
    }
    if torch is not None:
        rt, ot = torch.from_numpy(r), torch.from_numpy(out)
        rows["hadw.Step torch"] = lambda: step(rt, anchor, group_size=G, out=ot)
        rows["torch TRL-way"] = lambda f=torch_trl_step(torch): f(rt)
        if verl_fn is not None:
            tok = rt.view(n, 1)
            mask = torch.ones(n, 1, dtype=torch.bool)
            uid = np.repeat(np.arange(n // G), G)
            rows["verl grpo_vec"] = lambda: verl_fn(tok, mask, uid)
    t = rounds(rows, repeat)
    print(f"\nResponse level: GRPO + HA-DW, {n // G} x {G} = {n} responses, float32")
    print(f"{'call':<18}{'us':>10}{'/ C++ fused':>14}{'hadw.Step faster':>18}")
    for name, sec in t.items():
        print(f"{name:<18}{sec * 1e6:>10.1f}{sec / t['C++ fused']:>14.2f}"
              f"{sec / t['hadw.Step']:>17.1f}x")
        report[f"response/{n}/{name}"] = sec


def token_level(n: int, L: int, repeat: int, torch, verl_fn, report: Dict[str, float]) -> None:
    r = rewards_of(n, seed=2)
    rng = np.random.default_rng(3)
    lengths = rng.integers(L // 4, L + 1, n).astype(np.int64)
    mask = (np.arange(L)[None, :] < lengths[:, None]).view(np.uint8)
    tok = np.ones((n, L), np.float32)  # touched once: no page faults in the timed calls
    adv = np.empty(n, np.float32)
    anchor = hadw.DifficultyAnchor()
    step = hadw.Step("grpo", compat="trl", lambda_scale=LAMBDA)
    src = np.ones((n, L), np.float32)

    rows: Dict[str, Callable] = {
        "memcpy": lambda: np.copyto(tok, src),
        "hadw tokens, mask": lambda: step.tokens(r, anchor, mask, group_size=G, token_out=tok,
                                                 advantages=adv),
        "hadw tokens, lengths": lambda: step.tokens(r, anchor, token_lengths=lengths,
                                                    group_size=G, token_out=tok, advantages=adv),
    }
    moved = {"memcpy": 2 * tok.nbytes, "hadw tokens, mask": mask.nbytes + tok.nbytes,
             "hadw tokens, lengths": lengths.nbytes + tok.nbytes}
    t = rounds(rows, repeat)
    del src
    peers: Dict[str, Callable] = {}
    if torch is not None:  # slow: timed in rounds of their own, fewer of them
        rt, mt = torch.from_numpy(r), torch.from_numpy(mask).view(torch.bool)
        peers["torch TRL-way"] = lambda f=torch_trl_step(torch): f(rt).unsqueeze(1) * mt
        moved["torch TRL-way"] = mask.nbytes + tok.nbytes
        if verl_fn is not None:
            token_rewards = torch.zeros(n, L)
            token_rewards[torch.arange(n), torch.from_numpy(lengths - 1)] = rt
            uid = np.repeat(np.arange(n // G), G)
            peers["verl grpo_vec"] = lambda: verl_fn(token_rewards, mt, uid)
            moved["verl grpo_vec"] = token_rewards.numel() * 4 + mask.nbytes + tok.nbytes
        t.update(rounds(peers, max(2, repeat // 3), min_seconds=0.0))
    copy_bw = moved["memcpy"] / t["memcpy"]
    print(f"\nToken level: {n} x {L} = 2^{int(math.log2(n * L))} tokens, float32 out")
    print(f"{'call':<22}{'ms':>9}{'GB/s':>8}{'% memcpy':>10}{'hadw (mask) faster':>20}")
    for name, sec in t.items():
        bw = moved[name] / sec
        print(f"{name:<22}{sec * 1e3:>9.2f}{bw / 1e9:>8.1f}{100 * bw / copy_bw:>9.0f}%"
              f"{sec / t['hadw tokens, mask']:>19.1f}x")
        report[f"tokens/{name}"] = sec
        report[f"tokens/{name}/bandwidth_pct_of_memcpy"] = 100 * bw / copy_bw


def main(argv: Optional[list] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", help="also write the figures (seconds) to this file")
    ap.add_argument("--quick", action="store_true",
                    help="smaller token batch (2^22) and fewer repetitions: a smoke run")
    args = ap.parse_args(argv)

    torch = optional("torch")
    if torch is not None:
        torch.set_num_threads(1)
    core_algos = optional("verl.trainer.ppo.core_algos")
    verl_fn = getattr(core_algos, "compute_grpo_vectorized_outcome_advantage", None)
    info = hadw.build_info()
    print(f"hadw {info['version']}: build {info['isa']} ({info['simd_width']} doubles per pack; "
          f"built {', '.join(info['built'])}; {info['compiler']}); torch "
          f"{torch.__version__ if torch else 'absent'} on 1 thread; verl "
          f"{'present' if verl_fn else 'absent'}; min of {args.repeat} repetitions")
    report: Dict[str, float] = {"isa": info["isa"]}
    repeat = 2 if args.quick else args.repeat
    for n in ((8192,) if args.quick else (8192, 65536)):
        response_level(n, repeat, torch, verl_fn, report)
    token_level(2048 if args.quick else 8192, 2048 if args.quick else 8192, repeat, torch,
                verl_fn, report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
