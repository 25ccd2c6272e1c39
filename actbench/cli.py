"""The ``actbench`` command line.

Run ``actbench --help`` for the commands and ``actbench COMMAND --help`` for each one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from actbench._version import __version__
from actbench.errors import ActBenchError, plural

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input, 130 interrupted with Ctrl-C,
    141 when the reader of the output went away, e.g. ``| head``, as for other Unix tools)."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a reader that left shows here, not as a message at exit
        return code
    except KeyboardInterrupt:
        print("\nactbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _stdout_to_devnull()
        return 141


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (tests capture it)
        pass


def _main(argv: Sequence[str] | None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except ActBenchError as e:
        print(f"actbench: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except (OSError, KeyError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"actbench: error: {msg}", file=sys.stderr)
        return 2


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="actbench",
        description="Benchmark tables and tools for activation-function search "
        "(Act-Bench, Bingham & Miikkulainen, NeurIPS 2023).",
    )
    p.add_argument("--version", action="version", version=f"actbench {__version__}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    e = sub.add_parser(
        "eval",
        help="parse and evaluate one activation function",
        description="Parse NAME (e.g. 'swish(x)' or 'mul(hard_sigmoid(x), elu(x))'), print its canonical "
        "spelling, display forms, and its values: at the points given with --x, else a summary over "
        "the 1000 reference sample points. With --space, also its equivalence class in that space.",
    )
    e.add_argument("name", help="function name; quote it in the shell, e.g. 'min(square(x),selu(x))'")
    e.add_argument("--x", type=float, nargs="+", metavar="X", help="evaluate at these input values")
    e.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="arithmetic precision (default float64, the reference)")
    e.add_argument("--space", metavar="SPACE", help="also show the class in this space (act-bench, large)")
    e.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    e.set_defaults(func=_cmd_eval)

    s = sub.add_parser(
        "space",
        help="enumerate a search space and its equivalence classes",
        description="Enumerate the search space NAME, evaluate every function on the sample points, "
        "group equivalent functions, and print the counts. With -o, write one line per class: "
        "representative, class size, and all its names (tab-separated; names separated by spaces).",
    )
    s.add_argument("name", nargs="?", default="act-bench", help="space name (default act-bench)")
    s.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the classes to FILE (TSV)")
    s.add_argument("--list", action="store_true", help="list the registered spaces and exit")
    s.set_defaults(func=_cmd_space)

    o = sub.add_parser("ops", help="list the operators of the function language",
                       description="List every operator with its kind and display name.")
    o.set_defaults(func=_cmd_ops)
    _add_table_commands(sub)
    _add_search_commands(sub)
    return p


def _add_search_commands(sub) -> None:
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
    from actbench.search import make_strategy, run_search

    bench = ActBench(args.bench)
    budget = args.budget if args.budget is not None or args.max_seconds is not None else 100
    runs: dict[str, list] = {}
    for strat in args.strategy:
        surrogate = strat.split(":")[-1] in ("knr", "rf", "svr")
        for feats in (args.features if surrogate else [None]):
            label = strat if feats is None else f"{strat}-{feats}"
            runs[label] = [run_search(bench, make_strategy(strat, features=feats or "both"), budget=budget,
                                      seed=seed, n_workers=args.workers, max_seconds=args.max_seconds)
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
    if args.json:
        args.json.write_text(json.dumps({label: [{"seed": r.seed, "names": r.names, "best_val": r.best_val.tolist(),
                                                  "best_test": r.best_test.tolist(), "regret": r.regret.tolist(),
                                                  "wall_s": r.wall.tolist()}
                                                 for r in rs] for label, rs in runs.items()}, indent=1))
    if args.plot:
        from actbench._plot import plot_regret, pyplot

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
        fig.savefig(args.plot, dpi=130)
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
    from actbench._plot import FEATURE_WORDS, label_points, pyplot, trained_range
    from actbench.bench import ActBench
    from actbench.features import embedding
    from actbench.ops import BASELINES

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
    rows = [(b.replace("(x)", ""), bench._find(b)[0]) for b in BASELINES if b in bench]
    label_points(ax, emb[[r for _, r in rows]], [b for b, _ in rows])
    ax.set_title(f"{bench.name}: UMAP embedding of the functions' {FEATURE_WORDS[args.features]}\n"
                 f"(computed before any training)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(args.output, dpi=130)
    print(f"wrote {args.output}")
    return 0


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--revision", help="Hub revision (default: the one pinned in this actbench release)")
    p.add_argument("--cache-dir", type=Path, help="cache folder (default $ACTBENCH_CACHE or ~/.cache/actbench)")
    p.add_argument("--offline", action="store_true", default=None, help="never use the network")
    p.add_argument("--accept-license", action="store_true", default=None,
                   help="accept the official release's licence (Academic Public License, non-commercial) when a "
                        "paper table is fetched (also: ACTBENCH_ACCEPT_LICENSE=1)")


def _add_table_commands(sub) -> None:
    d = sub.add_parser(
        "download", help="fetch a paper table (cnn, resnet, vit) into the cache",
        description="Put the table of BENCH (cnn, resnet, vit) into the cache and print its path: from the Hub "
        "when this actbench's manifest publishes it (checked against its sha256), else from the authors' "
        "official release (download with resume, licence notice, conversion, checks). Afterwards "
        "ActBench(BENCH) opens it offline.")
    d.add_argument("bench", help="benchmark name: cnn, resnet or vit")
    d.add_argument("--force", action="store_true", help="fetch and convert again even if a copy is cached")
    d.add_argument("--source", help="the official JSON file to convert: a URL (a mirror) or a local path")
    d.add_argument("--keep-json", action="store_true", help="keep the downloaded official JSON in the cache")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    _bench_args(d)
    d.set_defaults(func=_cmd_download)

    ls = sub.add_parser("list", help="the known benchmarks, where each comes from, and whether it is cached",
                        description="List the benchmarks served by name: shipped with the package, on the Hub, "
                        "or fetched from the official release, and whether a copy is in the cache.")
    ls.add_argument("--cache-dir", type=Path, help="cache folder (default $ACTBENCH_CACHE or ~/.cache/actbench)")
    ls.set_defaults(func=_cmd_list)

    pin = sub.add_parser(
        "pin", help="(maintainers) pin the sha256 of a real official file so that downloads are verified",
        description="Write the sha256 and size of FILE, a real official release file of BENCH, into the pins "
        "file that ships with the package (actbench/data/official_pins.json in a source checkout, or --pins).")
    pin.add_argument("bench", help="cnn, resnet or vit")
    pin.add_argument("file", type=Path)
    pin.add_argument("--pins", type=Path, help="the pins file to write (default: the package's)")
    pin.set_defaults(func=_cmd_pin)

    i = sub.add_parser("info", help="describe a table: what it measures, where it came from, its size",
                       description="Print a table's benchmark, splits, aggregation, provenance and counts.")
    i.add_argument("bench", nargs="?", default="mini",
                   help="benchmark name (mini, the default; cnn, resnet, vit) or path of a .h5 table")
    i.add_argument("--json", action="store_true", help="print JSON")
    _bench_args(i)
    i.set_defaults(func=_cmd_info)

    q = sub.add_parser(
        "query", help="look up one function's results in a benchmark table",
        description="Print the training results of NAME in benchmark B. Any spelling, any name the table lists "
        "as equivalent, and any function with the same outputs on the sample points is answered.")
    q.add_argument("name", help="function name, e.g. 'swish(x)'")
    q.add_argument("--bench", "-b", default="mini",
                   help="benchmark name (mini, the default, ships with the package; cnn, resnet, vit) or path of a .h5 table")
    q.add_argument("--seed", type=int, help="one run's values instead of the aggregate (tables with per-seed values)")
    q.add_argument("--epoch", type=int, help="the values after this many epochs (tables with learning curves)")
    q.add_argument("--json", action="store_true", help="print the record as JSON")
    _bench_args(q)
    q.set_defaults(func=_cmd_query)

    cmp = sub.add_parser(
        "compare", help="how far two tables of one task agree (a regenerated table beside the one it repeats)",
        description="Compare A and B on METRIC over the rows both have: the aggregates and every common seed's "
        "run: how many values are identical, the absolute differences, the rank correlation, and the runs that "
        "diverged in one table only. Runs on other machines differ in their last digits and, through them, in "
        "some predictions, so honest tables of one recipe agree by distribution, not bit for bit.")
    cmp.add_argument("a", help="benchmark name or table path")
    cmp.add_argument("b", help="benchmark name or table path")
    cmp.add_argument("--metric", default="val_acc", help="metric to compare (default val_acc)")
    cmp.add_argument("--json", action="store_true", help="print JSON")
    _bench_args(cmp)
    cmp.set_defaults(func=_cmd_compare)

    bst = sub.add_parser(
        "best", help="the best functions of a table or of a search study folder",
        description="Print the K functions with the best METRIC (highest accuracy; lowest loss or runtime) of a "
        "benchmark, a table file, or a search study folder (generation.study), which may still be running.")
    bst.add_argument("bench", nargs="?", default="mini", help="benchmark name, table path or study folder")
    bst.add_argument("-k", type=int, default=10, help="how many (default 10)")
    bst.add_argument("--metric", default="val_acc", help="metric to rank by (default val_acc)")
    bst.add_argument("--names", action="store_true", help="print only the names, one per line (for --functions)")
    _bench_args(bst)
    bst.set_defaults(func=_cmd_best)

    c = sub.add_parser(
        "convert", help="convert an official Act-Bench JSON file into a table",
        description="Convert an official release file (act-bench-cnn.json, act-bench-resnet.json, "
        "act-bench-vit.json) into an actbench table (HDF5, format v1), reading one record at a time.")
    c.add_argument("src", type=Path, help="the official JSON file")
    c.add_argument("--bench", "-b", required=True, help="which benchmark the file holds: cnn, resnet or vit")
    c.add_argument("-o", "--output", type=Path, help="the table to write (default: SRC with .h5)")
    c.add_argument("--source", choices=["official-json", "test-fixture"], default="official-json",
                   help="provenance label; use test-fixture for synthetic files")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(func=_cmd_convert)

    v = sub.add_parser("validate", help="check that a file is a valid actbench table",
                       description="Check the structure and values of a table; exit 1 and list the problems "
                       "if it is not valid.")
    v.add_argument("path", type=Path)
    v.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="seconds before a file that libhdf5 cannot finish reading is called damaged "
                        "(default: 600; the file is read in a child process)")
    v.set_defaults(func=_cmd_validate)

    up = sub.add_parser("upgrade", help="rewrite a table written before actbench 0.3.0 with checksums",
                        description="Validate a table in full, then rewrite it with integrity checks (HDF5's "
                        "fletcher32 on every dataset, checksummed metadata); every value is copied unchanged. "
                        "Replaces the file atomically unless -o is given.")
    up.add_argument("path", type=Path)
    up.add_argument("-o", "--output", type=Path, help="write here instead of replacing PATH")
    up.set_defaults(func=_cmd_upgrade)

    pub = sub.add_parser(
        "publish", help="(maintainers) write the manifest of a folder of tables and upload it to the Hub",
        description="Validate every .h5 table in FOLDER, write FOLDER/manifest.json (sha256 and size per "
        "table), and upload the folder to the Hub dataset repository REPO_ID (needs a write token, "
        "e.g. from `huggingface-cli login`). Copy the written manifest to actbench/data/manifest.json "
        "for the next release.")
    pub.add_argument("folder", type=Path)
    pub.add_argument("--repo-id", required=True, help="Hub dataset repository, e.g. ORG/act-bench")
    pub.add_argument("--dry-run", action="store_true", help="write the manifest, upload nothing")
    pub.set_defaults(func=_cmd_publish)


def _open(args: argparse.Namespace, name: str):
    from actbench.bench import ActBench

    return ActBench(name, revision=args.revision, cache_dir=args.cache_dir, offline=args.offline,
                    accept_license=args.accept_license)


def _cmd_download(args: argparse.Namespace) -> int:
    from actbench import hub, official
    from actbench.registry import BENCHMARKS

    spec = BENCHMARKS.get(args.bench)
    if spec is not None and spec.shipped:
        print(f"{args.bench!r} ships with the package: nothing to download. ActBench({args.bench!r}) opens it.")
        return 0
    if spec is not None and args.source is None and args.bench in hub.load_manifest().files:
        path = hub.ensure_table(args.bench, revision=args.revision, cache=args.cache_dir, offline=args.offline,
                                force=args.force, progress=not args.no_progress)
    else:
        if args.revision is not None:
            raise ValueError(f"--revision selects a Hub revision, but {args.bench!r} is not published on the Hub for "
                             "this actbench release")
        path = official.ensure_official(args.bench, source=args.source, cache=args.cache_dir, offline=args.offline,
                                        accept_license=args.accept_license, keep_json=args.keep_json,
                                        force=args.force, progress=not args.no_progress)
    print(path)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from actbench import hub, official
    from actbench.registry import BENCHMARKS, official_pin

    manifest = hub.load_manifest()
    print(f"{'name':<8} {'title':<24} {'comes from':<40} cached")
    for name, spec in BENCHMARKS.items():
        if spec.shipped:
            where, cached = "shipped with the package", "yes (shipped)"
        else:
            hit = official.cached_table(name, args.cache_dir) if spec.json_name else None
            if name in manifest.files:
                where = f"Hugging Face Hub ({manifest.repo_id})"
            else:
                pinned = "sha256 pinned" if official_pin(name) else "no checksum pinned"
                where = f"official release ({pinned})"
            cached = f"yes: {hit}" if hit else "no"
        print(f"{name:<8} {spec.title:<24} {where:<40} {cached}")
    return 0


def _cmd_pin(args: argparse.Namespace) -> int:
    from actbench.official import pin

    entry = pin(args.bench, args.file, pins=args.pins)
    print(f"pinned {args.bench}: {entry['file']} sha256 {entry['sha256']}, {entry['size']:,} bytes")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    bench = _open(args, args.bench)
    t = bench._table
    info = {
        "path": str(bench.path),
        "size_bytes": bench.path.stat().st_size,
        "rows": len(bench),
        "names (incl. equivalents)": len(t.aliases),
        "diverged rows": int(bench.table()["diverged"].sum()),
        "fim_dims": t.n_fim,
        "fim_layout": [layer.name for layer in t.fim_layers] if t.fim_layers else _unknown_layout(t),
        "fim_convention": (t.fim_convention or "unknown") + ("" if t.fim_convention_stated or not t.fim_convention
                                                              else " (inferred from the provenance)"),
        "seeds": t.seeds if t.seeds is not None else f"aggregates only ({plural(t.info.n_seeds, 'run')})",
        "learning curves": (f"{t.n_epochs} epoch{'s' if t.n_epochs > 1 else ''} per run (query(name, epoch=k))"
                            if t.n_epochs else "none (final values only)"),
        "integrity": (f"{t.integrity} checksums on every byte, verified on every read" if t.integrity else
                      f"unprotected (written before actbench 0.3.0: damage can go unnoticed; "
                      f"`actbench upgrade {bench.path}` rewrites it with checksums)"),
        "info": t.info.model_dump(),
        "provenance": t.provenance.model_dump(),
    }
    if t.provenance.source in ("official-json", "test-fixture") and t.provenance.inputs:
        info.update(_official_input(t))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for k, v in info.items():
        if isinstance(v, dict):
            print(f"{k}:")
            for kk, vv in v.items():
                print(f"  {kk:<18} {vv}")
        else:
            print(f"{k:<26} {v}")
    return 0


def _unknown_layout(t) -> str:
    from actbench.registry import BENCHMARKS

    spec = BENCHMARKS.get(t.info.benchmark)
    layout = spec.layout() if spec is not None and t.provenance.source != "generation" else None
    if layout is not None and t.n_fim:
        bins = sum(layer.n_bins for layer in layout)
        return (f"unknown: the FIM feature has {t.n_fim:,} values, our {t.info.benchmark} network's layout has "
                f"{bins:,} bins, so no layer boundaries are attached")
    return "unknown"


def _official_input(t) -> dict:
    """What the table says of the official file it was converted from."""
    from actbench.registry import BENCHMARKS

    src = t.provenance.inputs[0]
    out = {"official input": f"{src.name}, {src.size:,} bytes, sha256 {src.sha256}"}
    checked = [n[len("input "):] for n in t.provenance.notes if n.startswith("input ")]
    out["verification"] = checked[0] if checked else "unverified (converted by hand with actbench convert)"
    spec = BENCHMARKS.get(t.info.benchmark)
    if spec is not None and spec.paper_rows is not None and t.n_rows != spec.paper_rows:
        out["rows vs the paper"] = f"{plural(t.n_rows, 'row')}; the paper's release has {spec.paper_rows:,}"
    return out


def _cmd_query(args: argparse.Namespace) -> int:
    bench = _open(args, args.bench)
    rec = bench.query(args.name, seed=args.seed, epoch=args.epoch)
    if args.json:
        print(rec.model_dump_json(indent=2))
        return 0
    print(rec)
    return 0


def _cmd_best(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise ValueError(f"-k must be at least 1, got {args.k}")
    bench = _open(args, args.bench)
    df = bench.best(args.k, metric=args.metric)
    if args.names:
        print("\n".join(df.index))
        return 0
    cols = [c for c in dict.fromkeys([args.metric, "val_acc", "test_acc"]) if c in df.columns]
    print(df[cols].to_string(float_format=lambda v: f"{v:.4f}"))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from actbench.compare import agreement

    a, b = _open(args, args.a), _open(args, args.b)
    res = agreement(a, b, args.metric)
    if args.json:
        print(json.dumps({k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in res.items()}, indent=2))
        return 0
    print(f"A: {a.path}\nB: {b.path}")
    print(f"rows in both: {res['rows']:,} (A only {res['a_only']:,}, B only {res['b_only']:,})")
    print(res["aggregate"])
    print(res["runs"] if res["runs"] is not None else "runs: no common per-seed values")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from actbench.convert import convert_official_json

    out = args.output or args.src.with_suffix(".h5")
    report = convert_official_json(args.src, out, bench=args.bench, source=args.source,
                                   progress=not args.no_progress)
    print(f"wrote {out}: {plural(report['rows'], 'row')}, FIM length {report['fim_length']}, "
          f"{plural(report['fim_missing'], 'row')} without FIM, "
          f"{plural(report['diverged_values'], 'NaN value')} (diverged), "
          f"{plural(report['missing_values'], 'absent value')}; input sha256 {report['sha256']}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from actbench.table import VALIDATE_TIMEOUT_S, read_table, validate_table

    if not args.path.exists():
        raise FileNotFoundError(f"no file at {args.path}")
    problems = validate_table(args.path, timeout=args.timeout if args.timeout is not None else VALIDATE_TIMEOUT_S)
    if problems:
        print(f"{args.path}: NOT a valid actbench table")
        for p in problems:
            print(f"  - {p}")
        return 1
    t = read_table(args.path)
    protection = ("every checksum verified" if t.integrity else
                  "unprotected: written before actbench 0.3.0, without checksums; `actbench upgrade` adds them")
    version = int(t._file.attrs["format_version"])
    t.close()
    print(f"{args.path}: valid actbench table (format version {version}; {protection})")
    return 0


def _cmd_upgrade(args: argparse.Namespace) -> int:
    from actbench.table import read_table, upgrade_table

    if not args.path.exists():
        raise FileNotFoundError(f"no file at {args.path}")
    t = read_table(args.path)
    protected = t.integrity is not None
    t.close()
    if protected and args.output is None:
        print(f"{args.path} already carries checksums ({t.integrity}); nothing to do")
        return 0
    out = upgrade_table(args.path, args.output)
    print(f"wrote {out} (every value copied; fletcher32 checksums on every dataset)")
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from actbench.hub import publish

    man = publish(args.folder, repo_id=args.repo_id, dry_run=args.dry_run)
    print(man.model_dump_json(indent=2))
    print(f"wrote {args.folder / 'manifest.json'}" + (" (dry run: nothing uploaded)" if args.dry_run else
          f"; uploaded to {args.repo_id}@{man.revision}"))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from actbench.expr import evaluate, parse
    from actbench.space import get_space, sample_points

    expr = parse(args.name)
    x = np.asarray(args.x, dtype=np.float64) if args.x else sample_points()
    y = evaluate(expr, x, dtype=args.dtype)
    info: dict = {"name": str(expr), "pretty": expr.pretty(), "latex": expr.latex(), "dtype": args.dtype}
    if args.x:
        info["x"] = x.tolist()
        info["y"] = [_num(v) for v in y]
    else:
        finite = y[np.isfinite(y)]
        info["sample_points"] = {
            "n": int(y.size), "nan": int(np.isnan(y).sum()), "inf": int(np.isinf(y).sum()),
            "min": _num(finite.min()) if finite.size else None,
            "max": _num(finite.max()) if finite.size else None,
            "mean": _num(finite.mean()) if finite.size else None,
        }
    if args.space:
        space = get_space(args.space)
        info["space"] = args.space
        info["representative"] = space.canonical(expr)
        info["equivalents"] = space.equivalents(expr)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"name       {info['name']}\npretty     {info['pretty']}\nlatex      {info['latex']}")
    if args.x:
        for xi, yi in zip(info["x"], info["y"]):
            print(f"f({xi:g}) = {yi}")
    else:
        sp = info["sample_points"]
        print(f"on the {sp['n']} sample points ({args.dtype}): min {sp['min']}, max {sp['max']}, "
              f"mean {sp['mean']}, {sp['nan']} NaN, {sp['inf']} inf")
    if args.space:
        eq = info["equivalents"]
        print(f"class in {args.space!r}: representative {info['representative']}, {plural(len(eq), 'name')}")
    return 0


def _num(v: float) -> float | str:
    v = float(v)
    return v if np.isfinite(v) else str(v)


def _cmd_space(args: argparse.Namespace) -> int:
    from actbench.space import SPACES, get_space

    if args.list:
        for spec in SPACES.values():
            print(f"{spec.name:<12} {spec.description}")
        return 0
    t0 = time.perf_counter()
    space = get_space(args.name)
    took = time.perf_counter() - t0
    paper = space.spec.paper_unique
    print(f"space        {space.name}")
    print(f"schemas      {', '.join(space.spec.schemas)}" + (" + literals" if space.spec.literals else ""))
    print(f"names        {space.n_names:,}")
    print(f"unique       {space.n_classes:,} (float64 outputs on the sample points, "
          f"equal to 32 significant bits)")
    if paper is not None:
        print(f"paper        {paper:,} (TF 2.8 float32 exact equality; see docs/spaces.md)")
    print(f"built in     {took:.1f} s")
    if args.output:
        _write_classes(space, args.output)
        print(f"wrote        {args.output} ({plural(space.n_classes, 'class')})")
    return 0


def _write_classes(space, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"# actbench {__version__} space {space.name}: representative, size, members\n")
        for rep, members in space.classes():
            f.write(f"{rep}\t{len(members)}\t{' '.join(members)}\n")
    tmp.replace(path)


def _cmd_ops(args: argparse.Namespace) -> int:
    from actbench.ops import OPERATORS

    for op in OPERATORS.values():
        lo, hi = op.arity
        arity = f"{lo}" if lo == hi else f"{lo}+"
        extra = "  (extra: CoAtNet experiment)" if op.extra else ""
        print(f"{op.name:<14} {op.kind:<7} args {arity:<3} {op.pretty}{extra}")
    return 0
