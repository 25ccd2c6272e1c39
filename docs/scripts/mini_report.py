"""Figures and the accuracy plot of the shipped mini table, for docs/mini.md.

Usage: python docs/scripts/mini_report.py [TABLE] [-o docs/img/mini-val-acc.png]   (needs matplotlib)
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from actbench import BASELINES, ActBench


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("table", nargs="?", default="mini")
    ap.add_argument("-o", "--output", default="docs/img/mini-val-acc.png")
    args = ap.parse_args()
    bench = ActBench(args.table)
    df = bench.table()
    val = df["val_acc"].to_numpy()
    n = len(df)
    diverged = np.isnan(val)
    chance = ~diverged & (val <= 0.2)
    ok = ~diverged & ~chance
    q = np.percentile(val[ok], [5, 25, 50, 75, 95])
    order = df["val_acc"].rank(ascending=False, method="min", na_option="bottom")
    base = []
    for b in BASELINES:
        rec = bench.lookup(b)
        base.append({"baseline": b, "row": rec, "val_acc": float(df.loc[rec, "val_acc"]),
                     "test_acc": float(df.loc[rec, "test_acc"]), "rank": int(order[rec])})
    per_seed_div = bench.seed_diverged()
    report = {
        "rows": n, "diverged (median run diverged)": int(diverged.sum()),
        "at chance (val_acc <= 0.2)": int(chance.sum()), "fail to train (either)": int((diverged | chance).sum()),
        "fail fraction": round(float((diverged | chance).mean()), 4),
        "runs diverged (of all seeds)": f"{int(per_seed_div.sum())} of {per_seed_div.size}",
        "val_acc of the rest: 5/25/50/75/95 %": [round(float(v), 4) for v in q],
        "best": [(name, round(float(v), 4)) for name, v in df["val_acc"].nlargest(5).items()],
        "baselines": base,
    }
    print(json.dumps(report, indent=2))
    from actbench.analysis.plot import label_vlines, pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.6))
    ax.hist(val[~diverged], bins=np.linspace(0, 1, 101), color="#4c72b0")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("validation accuracy (median of 3 runs)")
    ax.set_ylabel("functions")
    ax.set_title(f"actbench mini: {n:,} unique Act-Bench functions, small CNN on 8x8 digits "
                 f"({int(diverged.sum())} diverged, not shown); baselines marked", fontsize=9, pad=48)
    label_vlines(ax, [b["val_acc"] for b in base], [b["baseline"].replace("(x)", "") for b in base])
    fig.tight_layout()
    fig.savefig(args.output, dpi=130)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
