"""Plots and the summary table of a learning-benchmark output directory (run.py calls it; run it
alone to redraw): `python bench/learning/report.py build/learning`."""
from __future__ import annotations

import csv
import os
import sys

import numpy as np

import hadw

# Two-sided 95% Student-t quantiles, df = 1 .. 30 (beyond: the normal's 1.96 is within 4%).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060,
        2.056, 2.052, 2.048, 2.045, 2.042]

HIGHLIGHT = ["grpo", "hadw_kalman_l1.5", "lr_match_l1.5", "hadw_window_l1.5", "dr_grpo", "rloo",
             "grpo_lead"]


def mean_ci(x):
    """Mean and half-width of the 95% t-interval over seeds (0 for one seed)."""
    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return float(x.mean()), 0.0
    t = T975[len(x) - 2] if len(x) - 1 <= len(T975) else 1.96
    return float(x.mean()), float(t * x.std(ddof=1) / np.sqrt(len(x)))


def read(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return rows[0], np.array(rows[1:], dtype=float)


def load(out, arms, seeds):
    """eval[arm][seed] = array [steps, buckets]; bias rows pooled over every arm and seed."""
    evals, bias = {}, []
    for arm in arms:
        evals[arm] = {}
        for s in seeds:
            base = os.path.join(out, "runs", arm, f"seed{s}")
            if not os.path.exists(base + "_bias.csv"):
                continue
            _, e = read(base + "_eval.csv")
            steps = np.unique(e[:, 0])
            buckets = int(e[:, 1].max()) + 1
            evals[arm][s] = (steps, e[:, 2].reshape(len(steps), buckets))
            bias.append(read(base + "_bias.csv")[1])
    return evals, np.concatenate(bias) if bias else np.zeros((0, 6))


def final_table(evals):
    """{arm: [(mean, ci) per bucket] + [(mean, ci) of the bucket average]} at the last step."""
    table = {}
    for arm, per_seed in evals.items():
        if not per_seed:
            continue
        final = np.array([acc[-1] for _, acc in per_seed.values()])    # [seeds, buckets]
        table[arm] = [mean_ci(final[:, k]) for k in range(final.shape[1])]
        table[arm].append(mean_ci(final.mean(1)))
    return table


def paired(evals, a, b):
    """Mean and 95% interval over seeds of (a - b) in final bucket-averaged accuracy."""
    common = sorted(set(evals.get(a, {})) & set(evals.get(b, {})))
    d = [evals[a][s][1][-1].mean() - evals[b][s][1][-1].mean() for s in common]
    return (*mean_ci(d), len(d)) if d else None


def binned_bias(bias, G, bins=10):
    """Measured E[p_hat | S] - p against Lemma 2's prediction, in bins of p_bin (an estimate of p
    independent of p_ref, so that the bins do not select p_ref's noise). Columns of `bias`:
    step, bucket, p_bin, p_ref, sum of live p_hat, live groups."""
    live = bias[:, 5] > 0
    p_bin, p, w = bias[live, 2], bias[live, 3], bias[live, 5]
    measured = bias[live, 4] / w - p
    predicted = np.array([hadw.theory.bias(float(q), G) if 0 < q < 1 else 0.0 for q in p])
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (p_bin >= lo) & ((p_bin < hi) if hi < 1 else (p_bin <= hi))
        if w[sel].sum() == 0:
            continue
        # each prompt weighted by its number of non-degenerate groups, as the pooled estimate is
        rows.append(((lo + hi) / 2, np.average(measured[sel], weights=w[sel]),
                     np.average(predicted[sel], weights=w[sel]), int(w[sel].sum())))
    return rows


def summary(out, evals, bias_rows):
    table = final_table(evals)
    nb = len(next(iter(table.values()))) - 1
    lines = ["| arm | " + " | ".join(f"{k + 1} digit{'s' if k else ''}" for k in range(nb))
             + " | mean |", "|---" * (nb + 2) + "|"]
    for arm, cells in table.items():
        lines.append(f"| {arm} | " + " | ".join(f"{m:.3f} ± {c:.3f}" for m, c in cells) + " |")
    lines += ["", "Paired differences in final mean accuracy (same seeds), mean ± 95% interval:", ""]
    pairs = [(a, "grpo") for a in table if a != "grpo"]
    pairs += [("hadw_kalman_l" + a[len("lr_match_l"):], a) for a in table
              if a.startswith("lr_match_l")]
    for a, b in pairs:
        r = paired(evals, a, b)
        if r:
            lines.append(f"- {a} - {b}: {r[0]:+.4f} ± {r[1]:.4f} (n = {r[2]})")
    lines += ["", "Advantage bias on held-out prompts (pooled over arms, seeds, checkpoints): "
              "E[p_hat | S] - p, measured vs Lemma 2:", "",
              "| p bin | measured | Lemma 2 | groups |", "|---|---|---|---|"]
    for mid, m, p, n in bias_rows:
        lines.append(f"| {mid:.2f} | {m:+.4f} | {p:+.4f} | {n} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(text)
    print(text)
    return table


def plots(out, evals, bias_rows, table, cfg):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a for a in HIGHLIGHT if evals.get(a)]
    nb = len(next(iter(table.values()))) - 1

    def bands(name, curves, title, ylabel, alpha, zero_line=False):
        """One panel per bucket: for each arm, the mean over seeds of curves[arm] ([seeds, steps,
        buckets]) with its 95% band."""
        fig, axes = plt.subplots(1, nb, figsize=(4 * nb, 3.4), sharex=True)
        for k, ax in enumerate(np.atleast_1d(axes)):
            for arm, (steps, per_seed) in curves.items():
                stats = np.array([mean_ci(per_seed[:, j, k]) for j in range(len(steps))])
                ax.plot(steps, stats[:, 0], label=arm)
                ax.fill_between(steps, stats[:, 0] - stats[:, 1], stats[:, 0] + stats[:, 1],
                                alpha=alpha)
            if zero_line:
                ax.axhline(0, color="grey", lw=0.5)
            ax.set_title(title.format(k + 1))
            ax.set_xlabel("RL step")
        np.atleast_1d(axes)[0].set_ylabel(ylabel)
        np.atleast_1d(axes)[-1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out, name), dpi=110)

    bands("accuracy_over_steps.png",
          {arm: (next(iter(evals[arm].values()))[0],
                 np.array([acc for _, acc in evals[arm].values()])) for arm in arms},
          "{}-digit prompts (held out)", "accuracy (mean, 95% CI over seeds)", 0.15)
    # the same curves as paired differences to GRPO (same seed, same prompts): what each arm adds
    if evals.get("grpo"):
        paired_curves = {}
        for arm in arms[1:]:
            common = sorted(set(evals[arm]) & set(evals["grpo"]))
            if common:
                paired_curves[arm] = (evals[arm][common[0]][0],
                                      np.array([evals[arm][s][1] - evals["grpo"][s][1]
                                                for s in common]))
        bands("accuracy_vs_grpo.png", paired_curves, "{}-digit prompts: arm - GRPO",
              "paired accuracy difference\n(mean, 95% CI over seeds)", 0.12, zero_line=True)

    names = list(table)
    fig, axes = plt.subplots(1, nb + 1, figsize=(3.2 * (nb + 1), 4.2), sharey=False)
    for k, ax in enumerate(axes):
        m = np.array([table[a][k][0] for a in names])
        c = np.array([table[a][k][1] for a in names])
        ax.errorbar(m, range(len(names)), xerr=c, fmt="o", capsize=3, ms=4)
        if "grpo" in table:
            ax.axvline(table["grpo"][k][0], color="grey", ls=":")
        ax.set_yticks(range(len(names)), names if k == 0 else [""] * len(names), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"{k + 1}-digit" if k < nb else "mean over buckets", fontsize=9)
        ax.set_xlabel("final accuracy", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "final_accuracy.png"), dpi=110)

    fig, ax = plt.subplots(figsize=(5, 3.6))
    grid = np.linspace(0.01, 0.99, 99)
    ax.plot(grid, [hadw.theory.bias(float(q), cfg.G) for q in grid], color="k", lw=1,
            label=f"Lemma 2, G = {cfg.G}")
    if bias_rows:
        r = np.array(bias_rows)
        ax.plot(r[:, 0], r[:, 2], "s", mfc="none", color="k", label="Lemma 2 at each prompt's p")
        ax.plot(r[:, 0], r[:, 1], "o", color="C3", label="measured (held-out prompts)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("prompt success probability p (reference draws)")
    ax.set_ylabel("E[p_hat | S] - p")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bias_measured_vs_lemma2.png"), dpi=110)
    plt.close("all")


def main(out, arms, seeds, cfg):
    evals, bias = load(out, arms, seeds)
    bias_rows = binned_bias(bias, cfg.G)
    table = summary(out, evals, bias_rows)
    plots(out, evals, bias_rows, table, cfg)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import ast
    from arms import all_arms
    import train
    out = sys.argv[1] if len(sys.argv) > 1 else "build/learning"
    with open(os.path.join(out, "config.txt")) as f:
        cfg = train.Config(**ast.literal_eval(f.read()))
    main(out, [a.name for a in all_arms()], list(range(100)), cfg)
