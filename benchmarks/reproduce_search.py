"""The paper's search experiment grid on any table: 3 regressors x 3 feature sets, random search as the baseline.

Usage: python benchmarks/reproduce_search.py [--bench mini] [--budget 100] [--repeats 100] [--out docs/search-mini]

Every search starts with the 8 baselines, then evaluates the unevaluated function with the highest
surrogate prediction (KNR k=3, random forest, SVR) on the UMAP embedding of FIM features, outputs, or
both; random search and regularized evolution are the baselines. Writes OUT.json (every trajectory's
summary), OUT.md (the table) and OUT.png (best validation accuracy so far, mean and 95% CI), and prints
the wall time of the whole grid (target in docs/performance.md: 100 repeats x 3 regressors x 3 feature sets <= 5 min, with the
embeddings cached).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from actbench import ActBench
from actbench.analysis.features import embedding
from actbench.search import RandomSearch, RegularizedEvolution, SurrogateSearch, run_search


_BENCH = None


_METHOD, _SEED = "auto", 0


def _init(bench_name: str, method: str = "auto", seed: int = 0) -> None:
    global _BENCH, _METHOD, _SEED
    _BENCH, _METHOD, _SEED = ActBench(bench_name), method, seed


def _make(label: str):
    if label == "random":
        return RandomSearch()
    if label == "evolution":
        return RegularizedEvolution()
    reg, feats = label.split("-")
    return SurrogateSearch(reg, feats, embedding_method=_METHOD, embedding_seed=_SEED)


def _one(task):
    label, seed, budget = task
    t = time.perf_counter()
    r = run_search(_BENCH, _make(label), budget=budget, seed=seed)
    return label, r.best_val, float(r.best_test[-1]), float(r.regret[-1]), time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="mini")
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("docs/search-mini"))
    ap.add_argument("--embedding", default="auto", choices=["auto", "exact", "fast"],
                    help="how the surrogates' UMAP embeddings are made (default auto: exact up to 50,000 functions)")
    ap.add_argument("--embedding-seed", type=int, default=0, help="UMAP's seed (default 0, the shipped embeddings)")
    ap.add_argument("--strategies", help="comma-separated subset of the grid's labels (default: all)")
    args = ap.parse_args()
    bench = ActBench(args.bench)
    t0 = time.perf_counter()
    for f in ("fim", "outputs", "both"):
        embedding(bench, f, method=args.embedding, seed=args.embedding_seed)
    print(f"embeddings ready in {time.perf_counter() - t0:.1f} s (cached after the first run); "
          f"{len(bench):,} functions, best val_acc {np.nanmax(bench.metric('val_acc')):.4f}")
    labels = [f"{r}-{f}" for r in ("knr", "rf", "svr") for f in ("fim", "outputs", "both")] + ["random", "evolution"]
    if args.strategies:
        unknown = set(args.strategies.split(",")) - set(labels)
        if unknown:
            ap.error(f"unknown strategies {sorted(unknown)}; the grid's labels are {labels}")
        labels = [label for label in labels if label in args.strategies.split(",")]
    table_best = float(np.nanmax(bench.metric("val_acc")))
    summary, curves = {}, {}
    workers = os.cpu_count() or 1
    tasks = [(label, s, args.budget) for label in labels for s in range(args.repeats)]
    t_grid = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(args.bench, args.embedding, args.embedding_seed)) as pool:
        results = list(pool.map(_one, tasks, chunksize=5))
    for label in labels:
        rs = [r for r in results if r[0] == label]
        bv = np.array([r[1][-1] for r in rs])
        rg = np.array([r[3] for r in rs])
        found = np.array([r[3] <= 1e-12 for r in rs])
        cpu = sum(r[4] for r in rs)
        summary[label] = {"best_val_mean": float(bv.mean()), "best_val_ci95": float(1.96 * bv.std(ddof=1) / np.sqrt(len(bv))),
                          "best_test_mean": float(np.mean([r[2] for r in rs])),
                          "regret_mean": float(rg.mean()), "found_best_fraction": float(found.mean()),
                          "seconds": round(cpu, 2), "ms_per_run": round(1000 * cpu / len(rs), 1)}
        curves[label] = np.array([r[1] for r in rs])
        print(f"{label:<14} best val {bv.mean():.4f} ± {summary[label]['best_val_ci95']:.4f}  regret {rg.mean():.4f}  "
              f"found best {found.mean():.2f}  {summary[label]['ms_per_run']} ms/run", flush=True)
    grid_s = time.perf_counter() - t_grid
    surrogate_s = sum(v["seconds"] for k, v in summary.items() if k not in ("random", "evolution"))
    print(f"grid: {grid_s:.1f} s wall on {workers} processes for {len(tasks)} searches; the 3x3 surrogate part "
          f"{surrogate_s:.1f} s of process time for {9 * args.repeats} searches")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"bench": bench.name, "budget": args.budget,
                                                         "embedding": args.embedding,
                                                         "embedding_seed": args.embedding_seed,
                                                         "repeats": args.repeats, "table_best_val": table_best,
                                                         "grid_seconds": grid_s, "surrogate_seconds": surrogate_s,
                                                         "summary": summary}, indent=2))
    lines = [f"| strategy | best val_acc after {args.budget} (mean ± 95% CI) | its test_acc | regret | found the best | ms/run |",
             "|---|---|---|---|---|---|"]
    for label, v in summary.items():
        lines.append(f"| {label} | {v['best_val_mean']:.4f} ± {v['best_val_ci95']:.4f} | {v['best_test_mean']:.4f} | "
                     f"{v['regret_mean']:.4f} | {v['found_best_fraction']:.0%} | {v['ms_per_run']} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    x = np.arange(1, args.budget + 1)
    for label, m in curves.items():
        mean = m.mean(0)
        half = 1.96 * m.std(0, ddof=1) / np.sqrt(len(m))
        style = "--" if label in ("random", "evolution") else "-"
        ax.plot(x, mean, style, label=label, lw=1.2)
        ax.fill_between(x, mean - half, mean + half, alpha=0.15)
    ax.axhline(table_best, color="black", lw=0.6, ls=":")
    ax.set_xlabel("functions evaluated")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title(f"{bench.name}: {args.repeats} searches per strategy (mean, 95% CI); dotted: table's best", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    lo = min(float(np.nanmin(m.mean(0)[8:])) for m in curves.values())
    ax.set_ylim(lo - 0.005, table_best + 0.002)
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=130)
    print(f"wrote {args.out}.json, .md, .png")


if __name__ == "__main__":
    main()
