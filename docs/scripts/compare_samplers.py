"""Optuna's samplers beside ours on a table: median best and regret over seeds at several budgets.

Usage: python docs/scripts/compare_samplers.py [--bench mini] [--repeats 20] [--budgets 50 100]
       [--strategies knr optuna:knr optuna:tpe optuna:random random evolution] [--features both]
       [--plot docs/img/search-optuna.png]

Each strategy runs REPEATS searches (seeds 0..REPEATS-1) of the largest budget with run_search; the values at
a smaller budget are read off the same trajectories. Prints a Markdown table (median and interquartile
range over the seeds) and draws regret against evaluations (median, IQR band, log scale).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from actbench import ActBench
from actbench.search import make_strategy, run_search

_BENCH = None


def _init(name: str) -> None:
    global _BENCH
    _BENCH = ActBench(name)


def _one(task):
    label, features, budget, seed = task
    t = time.perf_counter()
    r = run_search(_BENCH, make_strategy(label, features=features), budget=budget, seed=seed)
    return r.strategy, seed, r.best_val, r.regret, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="mini")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--budgets", type=int, nargs="+", default=[50, 100])
    ap.add_argument("--strategies", nargs="+",
                    default=["knr", "optuna:knr", "optuna:tpe", "optuna:random", "random", "evolution"])
    ap.add_argument("--features", default="both")
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args()
    top = max(args.budgets)
    tasks = [(s, args.features, top, seed) for s in args.strategies for seed in range(args.repeats)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count() or 1, initializer=_init, initargs=(args.bench,)) as pool:
        results = list(pool.map(_one, tasks))
    runs: dict[str, list] = {}
    for label, _, best, regret, secs in results:
        runs.setdefault(label, []).append((best, regret, secs))
    q = lambda a: f"{np.median(a):.4f} ({np.quantile(a, 0.25):.4f}–{np.quantile(a, 0.75):.4f})"
    head = " | ".join(f"best val_acc after {b} | regret after {b}" for b in args.budgets)
    print(f"| strategy | {head} | s/search |")
    print("|---|" + "---|---|" * len(args.budgets) + "---|")
    for label, rs in runs.items():
        cells = " | ".join(f"{q([r[0][b - 1] for r in rs])} | {q([r[1][b - 1] for r in rs])}" for b in args.budgets)
        print(f"| {label} | {cells} | {np.mean([r[2] for r in rs]):.2f} |")
    print(f"{len(tasks)} searches of budget {top} on {args.bench!r} in {time.perf_counter() - t0:.0f} s "
          f"({os.cpu_count()} processes)")
    if args.plot:
        from actbench.analysis.plot import plot_regret, pyplot

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4))
        plot_regret(ax, np.arange(1, top + 1), {k: np.array([r[1] for r in rs]) for k, rs in runs.items()},
                    xlabel="functions evaluated")
        ax.set_title(f"{args.bench}: median and interquartile range over {args.repeats} searches", fontsize=9)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=130)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
