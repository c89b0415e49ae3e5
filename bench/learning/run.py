"""The learning benchmark, by one command: trains every arm for every seed, then writes the CSVs,
the plots and the summary table.

    python bench/learning/run.py                 # the full benchmark: 8 seeds, about 40 min on 2 cores
    python bench/learning/run.py --smoke         # every arm, 1 seed, a few steps (CI, < 1 min)

Runs go to <out>/runs/<arm>/seed<k>*.csv; a run whose CSVs exist is not run again (delete <out>
to start over). Plots and summary.md go to <out>/. docs/experiments.md has what they show.
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from arms import all_arms  # noqa: E402
from tasks import Addition  # noqa: E402
import train  # noqa: E402

SMOKE = dict(steps=4, eval_every=2, eval_prompts=4, eval_samples=16, bias_ref_samples=8,
             bias_groups=2, warm_max_steps=30)


def warm_job(args):
    cfg, seed, path = args
    torch.set_num_threads(1)
    if not os.path.exists(path):
        w = train.warm_start(Addition(cfg.n_digits), cfg, seed)
        torch.save(w, path + ".tmp")
        os.replace(path + ".tmp", path)
    return seed, torch.load(path)["steps"]


def run_job(args):
    arm, seed, cfg, warm_path, runs = args
    if os.path.exists(os.path.join(runs, arm.name, f"seed{seed}_bias.csv")):
        return arm.name, seed, 0.0
    start = time.time()
    train.run(arm, seed, cfg, torch.load(warm_path), runs)
    return arm.name, seed, time.time() - start


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default="build/learning")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--arms", default="", help="comma-separated arm names (default: all)")
    ap.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                    help="adam: as trainers run (a constant advantage scale cancels in Adam's "
                         "update); sgd: plain SGD, where lambda_scale is a step size")
    ap.add_argument("--lr", type=float, default=None, help="default: 2e-4 (adam), 1e-2 (sgd)")
    ap.add_argument("--smoke", action="store_true", help="1 seed, a few steps: checks it runs")
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)

    lr = args.lr if args.lr is not None else {"adam": 2e-4, "sgd": 1e-2}[args.optimizer]
    cfg = train.Config(optimizer=args.optimizer, lr=lr, **(SMOKE if args.smoke else {}))
    seeds = range(1 if args.smoke else args.seeds)
    arms = all_arms()
    if args.arms:
        wanted = args.arms.split(",")
        unknown = set(wanted) - {a.name for a in arms}
        if unknown:
            ap.error(f"--arms: unknown {sorted(unknown)}; known: {[a.name for a in arms]}")
        arms = [a for a in arms if a.name in wanted]
    os.makedirs(args.out, exist_ok=True)
    runs = os.path.join(args.out, "runs")
    # Finished runs are skipped: never mix runs of two configurations in one --out.
    config_txt, config = os.path.join(args.out, "config.txt"), repr(dataclasses.asdict(cfg)) + "\n"
    if os.path.exists(config_txt):
        with open(config_txt) as f:
            if f.read() != config:
                ap.error(f"--out {args.out} holds runs of another configuration (its config.txt); "
                         "give a new --out or delete it")
    with open(config_txt, "w") as f:
        f.write(config)

    start = time.time()
    ctx = mp.get_context("spawn")   # fresh interpreters: no torch state shared across runs
    with ctx.Pool(args.jobs) as pool:
        warm = {s: os.path.join(args.out, f"warm_seed{s}.pt") for s in seeds}
        for seed, steps in pool.imap_unordered(warm_job, [(cfg, s, warm[s]) for s in seeds]):
            print(f"warm start seed {seed}: {steps} supervised steps", flush=True)
        jobs = [(arm, s, cfg, warm[s], runs) for s in seeds for arm in arms]
        for i, (name, seed, secs) in enumerate(pool.imap_unordered(run_job, jobs), 1):
            print(f"[{i}/{len(jobs)}] {name} seed {seed}: {secs:.0f} s "
                  f"({time.time() - start:.0f} s elapsed)", flush=True)
    if not args.no_plots:
        import report
        report.main(args.out, [a.name for a in arms], list(seeds), cfg)


if __name__ == "__main__":
    main()
