"""Search strategies with 1 and with K simulated workers: regret against simulated wall-clock time.

Usage: python docs/scripts/parallel_search.py [--bench mini] [--repeats 20] [--workers 1 8]
       [--strategies random evolution knr hyperband asha] [--features fim] [--trainings 100]
       [--plot docs/img/search-parallel.png]

Every strategy runs REPEATS searches (seeds 0..REPEATS-1) for each worker count K on the table's simulated
clock (``run_search(..., n_workers=K)``), each until the simulated wall clock reaches HORIZON: the time
one worker needs to train TRAININGS functions of median runtime; K workers spend K times the training
seconds in that time. Multi-fidelity strategies (``hyperband``, ``asha``; the table needs learning curves)
are charged the seconds of the epochs they train. Prints a Markdown table of the regret (median and
interquartile range over the seeds) at a quarter of the horizon and at the horizon, and draws regret
against simulated time, one panel per worker count (median line, interquartile band, log scales).
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
    label, features, workers, seconds, seed, grid = task
    r = run_search(_BENCH, make_strategy(label, features=features), max_seconds=seconds, seed=seed,
                   n_workers=workers)
    return label, workers, seed, r.regret_at(grid), len(r.names)


def horizon(bench: ActBench, trainings: int) -> float:
    """Simulated seconds one worker needs for ``trainings`` functions of the table's median runtime."""
    rt = bench.table()["runtime_s"].dropna()
    if rt.empty:
        raise SystemExit(f"{bench.name} has no runtimes: the simulated clock needs them")
    return trainings * float(rt.median())


def simulate(bench_name: str, strategies: list[str], workers: list[int], repeats: int, trainings: int,
             features: str, processes: int | None = None) -> tuple[np.ndarray, dict]:
    """The time grid and ``{(strategy, K): (repeats, len(grid)) regret}``; searches that have no result yet
    at a time hold NaN there."""
    h = horizon(ActBench(bench_name), trainings)
    grid = np.geomspace(h / 200, h, 120)
    tasks = [(s, features, k, k * h, seed, grid) for s in strategies for k in workers for seed in range(repeats)]
    out: dict[tuple[str, int], list] = {}
    evals: dict[tuple[str, int], list] = {}
    processes = processes or os.cpu_count() or 1
    if processes == 1:
        _init(bench_name)
        results = map(_one, tasks)
    else:
        pool = ProcessPoolExecutor(processes, initializer=_init, initargs=(bench_name,))
        results = pool.map(_one, tasks)
    for label, k, _, regret, n in results:
        out.setdefault((label, k), []).append(regret)
        evals.setdefault((label, k), []).append(n)
    if processes > 1:
        pool.shutdown()
    return grid, {key: (np.array(v), np.array(evals[key])) for key, v in out.items()}


def quartiles(a: np.ndarray) -> str:
    a = a[np.isfinite(a)]
    if not len(a):
        return "no result yet"
    return f"{np.median(a):.4f} ({np.quantile(a, 0.25):.4f}–{np.quantile(a, 0.75):.4f})"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="mini")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--strategies", nargs="+", default=["random", "evolution", "knr", "hyperband", "asha"])
    ap.add_argument("--features", default="fim", help="features of the surrogate search (default fim)")
    ap.add_argument("--trainings", type=int, default=100,
                    help="the horizon, in trainings of median runtime on one worker (default 100)")
    ap.add_argument("--processes", type=int,
                    help="processes that run the searches (default: the CPUs; 1 runs them in this one)")
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    grid, runs = simulate(args.bench, args.strategies, args.workers, args.repeats, args.trainings, args.features,
                          args.processes)
    h = grid[-1]
    q = int(np.searchsorted(grid, h / 4))
    print(f"| strategy | workers | regret at {h / 4 / 60:.1f} min | regret at {h / 60:.1f} min | evaluations |")
    print("|---|---|---|---|---|")
    for (label, k), (reg, n) in runs.items():
        print(f"| {label} | {k} | {quartiles(reg[:, q])} | {quartiles(reg[:, -1])} | {int(np.median(n))} |")
    print(f"{sum(len(r) for r, _ in runs.values())} searches on {args.bench!r}, horizon {h:.0f} simulated s "
          f"({args.trainings} median trainings on one worker), in {time.perf_counter() - t0:.0f} s")
    if args.plot:
        from actbench.analysis.plot import plot_regret, pyplot

        plt = pyplot()
        fig, axes = plt.subplots(1, len(args.workers), figsize=(5 * len(args.workers), 4), squeeze=False)
        for ax, k in zip(axes[0], args.workers):
            plot_regret(ax, grid / 60, {label: reg for (label, kk), (reg, _) in runs.items() if kk == k},
                        xlabel="simulated wall-clock minutes")
            ax.set_xscale("log")
            ax.set_title(f"{k} simulated worker{'s' if k > 1 else ''}", fontsize=9)
            ax.legend(fontsize=7)
        fig.suptitle(f"{args.bench}: regret, median and interquartile range over {args.repeats} searches", fontsize=9)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=130)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
