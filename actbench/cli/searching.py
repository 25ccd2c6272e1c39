"""``actbench search`` and ``actbench plot``: benchmarking search strategies offline (the search extra)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from actbench.base.text import mask_url, plural
from actbench.cli._common import save_figure, write_output

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    s = sub.add_parser(
        "search", help="benchmark search strategies offline on a table (needs the search extra)",
        description="Run search strategies against a table, REPEATS times each with seeds 0..REPEATS-1, and "
        "print the mean best validation accuracy after BUDGET evaluations, the test accuracy of that function, "
        "and the regret to the table's best. Strategies: random, evolution (regularized evolution over the "
        "grammar), the paper's surrogate search with a regressor: knr, rf, svr (on --features), and any of "
        "optuna:tpe, optuna:random, optuna:knr, optuna:rf, optuna:svr (Optuna's samplers, and ours as an "
        "Optuna sampler; needs the optuna extra).")
    s.add_argument("--bench", "-b", default="mini", help="benchmark name or table path (default mini)")
    s.add_argument("--strategy", nargs="+", default=["knr", "random"], help="strategies (default: knr random)")
    s.add_argument("--features", nargs="+", default=["both"], choices=["fim", "outputs", "both"],
                   help="feature sets for surrogate strategies (default both)")
    s.add_argument("--budget", type=int, default=None,
                   help="distinct functions per search (default 100, or no limit with --max-seconds)")
    s.add_argument("--max-seconds", type=float, default=None, metavar="S",
                   help="stop a search after S simulated training seconds (for multi-fidelity strategies: sh, "
                        "hyperband, asha, on tables with learning curves)")
    s.add_argument("--repeats", type=int, default=20, help="searches per strategy (default 20)")
    s.add_argument("--workers", type=int, default=1, metavar="K",
                   help="simulated asynchronous workers on a clock driven by the table's runtimes (default 1)")
    s.add_argument("--plot", type=Path, help="write regret vs evaluations (with --workers: vs simulated time), "
                   "median and interquartile range, log scale (PNG)")
    s.add_argument("--json", type=Path, help="write every trajectory as JSON")
    s.add_argument("--storage", metavar="URL",
                   help="keep every search as an Optuna study in this storage (sqlite:///searches.db, "
                        "postgresql://...): one trial per function, for the Optuna dashboard (needs the optuna extra)")
    s.add_argument("--study-name", metavar="PREFIX",
                   help="studies are named PREFIX-STRATEGY-seedN (default: the table's name)")
    s.set_defaults(func=_cmd_search)

    pl = sub.add_parser("plot", help="plots of a table (needs the search extra)",
                        description="Plots of a table. `actbench plot embedding` draws the 2-D UMAP embedding "
                        "of the functions' features coloured by validation accuracy.")
    pl.add_argument("what", choices=["embedding"])
    pl.add_argument("--bench", "-b", default="mini")
    pl.add_argument("--features", default="both", choices=["fim", "outputs", "both"])
    pl.add_argument("-o", "--output", type=Path, required=True)
    pl.set_defaults(func=_cmd_plot)


def _cmd_search(args: argparse.Namespace) -> int:
    from actbench.bench import ActBench
    from actbench.search.driver import run_search
    from actbench.search.registry import SURROGATE_REGRESSORS, make_strategy

    bench = ActBench(args.bench)
    budget = args.budget if args.budget is not None or args.max_seconds is not None else 100
    runs: dict[str, list] = {}
    for strat in args.strategy:
        surrogate = strat.split(":")[-1] in SURROGATE_REGRESSORS
        for feats in (args.features if surrogate else [None]):
            label = strat if feats is None else f"{strat}-{feats}"
            prefix = args.study_name or bench.name
            runs[label] = [run_search(bench, make_strategy(strat, features=feats or "both"), budget=budget,
                                      seed=seed, n_workers=args.workers, max_seconds=args.max_seconds,
                                      storage=args.storage,
                                      study_name=f"{prefix}-{label}-seed{seed}" if args.storage else None)
                           for seed in range(args.repeats)]
    workers = f", {plural(args.workers, 'simulated worker')}" if args.workers > 1 else ""
    print(f"{bench.name}: {plural(len(bench), 'function')}, best val_acc {np.nanmax(bench.metric('val_acc')):.4f}; "
          f"budget {budget if budget is not None else 'unlimited'}"
          f"{f', {args.max_seconds:g} simulated seconds' if args.max_seconds is not None else ''}, "
          f"{args.repeats} repeats{workers} (mean ± 95% CI)")
    print(f"{'strategy':<16} {'best val_acc':>18} {'its test_acc':>14} {'regret':>18} {'ms/run':>8}")
    last = lambda a: a[-1] if len(a) else np.nan  # a search may end with no full training (multi-fidelity)
    for label, rs in runs.items():
        bv = np.array([last(r.best_val) for r in rs])
        bt = np.array([last(r.best_test) for r in rs])
        rg = np.array([last(r.regret) for r in rs])
        ms = 1000 * np.mean([r.wall_s for r in rs])
        print(f"{label:<16} {_mean(bv):9.4f} ± {_ci95(bv):6.4f} {_mean(bt):14.4f} "
              f"{_mean(rg):9.4f} ± {_ci95(rg):6.4f} {ms:8.1f}")
    ended = {label: sum(r.exhausted for r in rs) for label, rs in runs.items() if any(r.exhausted for r in rs)}
    for label, n in ended.items():
        print(f"{label}: {plural(n, 'search', 'searches')} ended early, with nothing left to propose (every "
              "function evaluated or started)")
    if args.storage:
        n = sum(len(rs) for rs in runs.values())
        print(f"kept {plural(n, 'search', 'searches')} as Optuna studies in {mask_url(args.storage)} "
              f"(optuna-dashboard {mask_url(args.storage)} shows them)")
    if args.json:
        write_output(args.json, json.dumps({label: [{"seed": r.seed, "names": r.names, "best_val": r.best_val.tolist(),
                                                  "best_test": r.best_test.tolist(), "regret": r.regret.tolist(),
                                                  "wall_s": r.wall.tolist()}
                                                 for r in rs] for label, rs in runs.items()}, indent=1))
    if args.plot:
        from actbench.analysis.plot import plot_regret, pyplot

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4))
        if args.workers > 1 or args.max_seconds is not None:
            end = max(r.wall[-1] for rs in runs.values() for r in rs if len(r.wall))
            unit, div = (("hours", 3600.0) if end >= 7200 else ("minutes", 60.0) if end >= 120 else ("seconds", 1.0))
            grid = np.linspace(0, end, 400)
            plot_regret(ax, grid / div, {label: np.array([r.regret_at(grid) for r in rs]) for label, rs in runs.items()},
                        xlabel=f"simulated {unit} ({plural(args.workers, 'worker')}, the table's runtimes)")
        else:
            plot_regret(ax, np.arange(1, budget + 1), {label: np.array([r.regret for r in rs])
                                                             for label, rs in runs.items()},
                        xlabel="functions evaluated")
        ax.set_title(f"{bench.name}: median and interquartile range over {plural(args.repeats, 'search', 'searches')}",
                     fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _mean(a: np.ndarray) -> float:
    """Mean of the finite values, NaN (without numpy's warning) when there are none."""
    a = a[np.isfinite(a)]
    return float(a.mean()) if len(a) else float("nan")


def _ci95(a: np.ndarray) -> float:
    """Half-width of the normal 95% interval of the mean of the finite values (0 for fewer than two)."""
    a = a[np.isfinite(a)]
    return float(1.96 * a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else 0.0


def _cmd_plot(args: argparse.Namespace) -> int:
    from actbench.analysis.plot import FEATURE_WORDS, label_points, pyplot, trained_range
    from actbench.bench import ActBench
    from actbench.analysis.features import embedding
    from actbench.lang.ops import BASELINES

    bench = ActBench(args.bench)
    emb = embedding(bench, args.features)
    val = bench.metric("val_acc")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    bad = np.isnan(val)
    ax.scatter(emb[bad, 0], emb[bad, 1], s=4, c="lightgrey", label="diverged")
    vmin, vmax = trained_range(val)
    order = np.flatnonzero(~bad)[np.argsort(val[~bad], kind="stable")]  # the best drawn last, on top
    sc = ax.scatter(emb[order, 0], emb[order, 1], s=4, c=val[order], cmap="viridis", vmin=vmin, vmax=vmax)
    fig.colorbar(sc, ax=ax, extend="min", pad=0.12,
                 label=f"validation accuracy (colours span the trained functions' {vmin:.3f} to {vmax:.3f})")
    rows = [(b.replace("(x)", ""), bench.resolver.resolve(b).row) for b in BASELINES if b in bench]
    label_points(ax, emb[[r for _, r in rows]], [b for b, _ in rows])
    ax.set_title(f"{bench.name}: UMAP embedding of the functions' {FEATURE_WORDS[args.features]}\n"
                 f"(computed before any training)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    save_figure(fig, args.output)
    print(f"wrote {args.output}")
    return 0
