#!/usr/bin/env python3
"""Plots for docs/theory.md from the CSV output of examples/bias_report and examples/simulate.

    python3 scripts/plot_theory.py [--build build] [--csv DIR] [--out docs/img] [--only NAME]

Runs <build>/examples/bias_report --csv DIR and <build>/examples/simulate --csv DIR/simulate.csv
(unless --no-run, which only reads DIR), then writes PNGs to --out. --only weightings (or bias,
tables, continuous, simulate) makes that one plot (weightings needs bias_report alone). Installs
matplotlib with pip if it is missing.
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile
from collections import defaultdict


def ensure_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"])
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--csv", default=None)
    ap.add_argument("--out", default=os.path.join("docs", "img"))
    ap.add_argument("--no-run", action="store_true")
    ap.add_argument("--only", choices=["bias", "tables", "continuous", "simulate", "weightings"])
    a = ap.parse_args()
    csv_dir = a.csv or tempfile.mkdtemp(prefix="hadw_theory_")
    os.makedirs(csv_dir, exist_ok=True)
    os.makedirs(a.out, exist_ok=True)
    if not a.no_run:
        ex = os.path.join(a.build, "examples")
        subprocess.check_call([os.path.join(ex, "bias_report"), "--csv", csv_dir],
                              stdout=subprocess.DEVNULL)
        if a.only in (None, "simulate"):
            subprocess.check_call([os.path.join(ex, "simulate"), "--csv",
                                   os.path.join(csv_dir, "simulate.csv")],
                                  stdout=subprocess.DEVNULL)
    plt = ensure_matplotlib()
    plots = {"bias": plot_bias, "tables": plot_tables, "continuous": plot_continuous,
             "simulate": plot_simulate, "weightings": plot_weightings}
    for name, plot in plots.items():
        if a.only in (None, name):
            plot(plt, csv_dir, a.out)
    print(f"CSV in {csv_dir}; plots in {a.out}")


def plot_bias(plt, csv_dir, out):
    """Lemma 2: the bias over p for several G, and the exact correct-response bias for G = 8."""
    rows = read(os.path.join(csv_dir, "bias_curve.csv"))
    by_g = defaultdict(list)
    for r in rows:
        by_g[int(r["G"])].append(r)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for g in sorted(by_g):
        p = [float(r["p"]) for r in by_g[g]]
        ax[0].plot(p, [float(r["bias"]) for r in by_g[g]], label=f"G = {g}")
        ax[1].plot(p, [float(r["p_under"]) for r in by_g[g]], label=f"G = {g}", lw=1)
    if 8 in by_g:
        p = [float(r["p"]) for r in by_g[8]]
        ax[0].plot(p, [float(r["correct_response_bias"]) for r in by_g[8]], "k--",
                   label="G = 8, correct response (exact)")
    ax[0].axhline(0, color="grey", lw=0.5)
    ax[0].set_xlabel("true success probability p")
    ax[0].set_ylabel("A - E[Â | S]  (> 0: underestimated)")
    ax[0].set_title("Lemma 2: bias of the group-relative advantage")
    ax[0].legend(fontsize=8)
    ax[1].set_xlabel("p")
    ax[1].set_ylabel("P(Â < A | S)")
    ax[1].set_title("Theorem 2, eps -> 0: probability of underestimation")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "theory_bias.png"), dpi=110)
    plt.close(fig)


def plot_tables(plt, csv_dir, out):
    """The tables as curves over G."""
    rows = read(os.path.join(csv_dir, "tables.csv"))
    fig, ax = plt.subplots(figsize=(6, 4))
    series = defaultdict(list)
    for r in rows:
        if r["direction"] != "under":
            continue
        g, b = int(r["G"]), float(r["b"])
        key = "(0, 2/G)" if abs(b - min(1.0, 2.0 / g)) < 1e-12 else f"(0, {b:g})"
        series[key].append((g, float(r["probability"])))
    for key, pts in series.items():
        pts.sort()
        ax.plot([x for x, _ in pts], [y for _, y in pts], "o-", ms=3, label=f"p ~ U{key}")
    for y in (0.63, 0.78):
        ax.axhline(y, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("group size G")
    ax.set_ylabel("P(Â < A | S)")
    ax.set_title("Theorem 2 tables (corollary thresholds dotted)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "theory_tables.png"), dpi=110)
    plt.close(fig)


def plot_continuous(plt, csv_dir, out):
    """Theorem 4: continuous rewards, integral (lines) and Monte Carlo (points)."""
    rows = read(os.path.join(csv_dir, "continuous.csv"))
    by_law = defaultdict(list)
    for r in rows:
        by_law[r["law"]].append(r)
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = {"beta_k2": "Beta(2p, 2(1-p))", "beta_k8": "Beta(8p, 8(1-p))",
              "truncnorm_xi0.2": "TruncNormal(mu, 0.2), x = its mean"}
    for law, label in labels.items():
        if law not in by_law:
            continue
        pts = sorted(by_law[law], key=lambda r: float(r["mean"]))
        x = [float(r["mean"]) for r in pts]
        line, = ax.plot(x, [float(r["bias"]) for r in pts], label=label)
        ax.errorbar(x, [float(r["mc_bias"]) for r in pts],
                    yerr=[2 * float(r["mc_se"]) for r in pts], fmt=".", color=line.get_color(),
                    ms=3, lw=0.5)
    ax.axhline(0, color="grey", lw=0.5)
    g = rows[0]["G"] if rows else "?"
    s = rows[0]["sigma"] if rows else "?"
    ax.set_xlabel("mean reward p")
    ax.set_ylabel("A - E[Â | S_sigma]")
    ax.set_title(f"Theorem 4 (G = {g}, sigma = {s}): integral vs Monte Carlo ±2 s.e.")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "theory_continuous.png"), dpi=110)
    plt.close(fig)


def plot_simulate(plt, csv_dir, out):
    """The simulation's accuracy curves."""
    rows = read(os.path.join(csv_dir, "simulate.csv"))
    by_m = defaultdict(list)
    for r in rows:
        by_m[r["method"]].append(r)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for m, pts in by_m.items():
        t = [int(r["step"]) for r in pts]
        ax[0].plot(t, [float(r["hardest_quartile"]) for r in pts], label=m)
        ax[1].plot(t, [float(r["all"]) for r in pts], label=m)
    ax[0].set_title("simulate: hardest quartile, mean p_j")
    ax[1].set_title("simulate: all prompts, mean p_j")
    for x in ax:
        x.set_xlabel("step")
        x.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "theory_simulate.png"), dpi=110)
    plt.close(fig)


# Colours by family, line styles by variant; GRPO on top.
WEIGHTING_STYLE = {
    "GRPO": dict(color="black", lw=2.2, zorder=5),
    "F-GRPO g=1": dict(color="tab:blue", ls="-"),
    "F-GRPO g=2": dict(color="tab:blue", ls="--"),
    "GRPO-LEAD": dict(color="tab:green", lw=1.8),
    "DGPO batch@p": dict(color="tab:purple", ls="-"),
    "DGPO U-batch": dict(color="tab:purple", ls="--"),
    "ROLL d=1-p": dict(color="tab:brown"),
    "HA-DW C=p l=1": dict(color="tab:orange", ls="-"),
    "HA-DW C=p l=1.5": dict(color="tab:orange", ls="--"),
    "HA-DW C=.5 l=1": dict(color="tab:red", ls="-", lw=1.8),
    "HA-DW C=.5 l=1.5": dict(color="tab:red", ls="--", lw=1.8),
}


def plot_weightings(plt, csv_dir, out):
    """theory/weighted.hpp: bias of a correct and a wrong response, and the tilt, per G."""
    rows = read(os.path.join(csv_dir, "weighted.csv"))
    data = defaultdict(dict)  # (G, method) -> {(p, correct): (bias, ratio)}
    for r in rows:
        data[(int(r["G"]), r["method"])][(float(r["p"]), r["correct"] == "1")] = (
            float(r["bias"]), float(r["ratio"]))
    sizes = sorted({g for g, _ in data})
    methods = [m for m in WEIGHTING_STYLE if any((g, m) in data for g in sizes)]
    fig, ax = plt.subplots(3, len(sizes), figsize=(5 * len(sizes), 12), sharex=True)
    for j, g in enumerate(sizes):
        for m in methods:
            d = data[(g, m)]
            ps = sorted({p for p, _ in d})
            style = dict(lw=1.2)
            style.update(WEIGHTING_STYLE[m])
            ax[0][j].plot(ps, [d[(p, True)][0] for p in ps], label=m, **style)
            ax[1][j].plot(ps, [d[(p, False)][0] for p in ps], label=m, **style)
            ax[2][j].plot(ps, [d[(p, True)][1] / d[(p, False)][1] for p in ps], label=m, **style)
        for i in range(3):
            ax[i][j].axhline(1.0 if i == 2 else 0.0, color="grey", lw=0.5)
            ax[i][j].axvline(0.5, color="grey", lw=0.5, ls=":")
        ax[0][j].set_title(f"G = {g}: correct response, A - E[wÂ | r=1, S]")
        ax[1][j].set_title(f"G = {g}: wrong response, A - E[wÂ | r=0, S]")
        ax[2][j].set_title(f"G = {g}: tilt = ratio(correct) / ratio(wrong)")
        ax[0][j].set_ylim(-1.0, 0.6)
        ax[1][j].set_ylim(-1.0, 0.6)
        ax[2][j].set_yscale("log")
        ax[2][j].set_ylim(0.1, 10)
        ax[2][j].set_xlabel("true success probability p")
    ax[0][0].set_ylabel("bias (> 0: under-credited)")
    ax[1][0].set_ylabel("bias (> 0: over-penalised)")
    ax[2][0].set_ylabel("tilt (1: in proportion; per-group weights = GRPO)")
    ax[0][0].legend(fontsize=8, ncol=2)
    fig.suptitle("Difficulty weightings under the Bernoulli model, exact (own reward in p̂)\n"
                 "tilt: F-GRPO, DGPO, ROLL = GRPO (per-group weights only rescale); LEAD and "
                 "HA-DW C = .5 move it toward 1 (past it at mid p for G >= 8); HA-DW C = p away",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(os.path.join(out, "theory_weightings.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
