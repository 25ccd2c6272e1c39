"""``actbench info``, ``query``, ``best``, ``compare``, ``convert``, ``validate`` and ``upgrade``: reading and
checking tables."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from actbench.base.text import plural
from actbench.cli._common import bench_args, open_bench

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    i = sub.add_parser("info", help="describe a table: what it measures, where it came from, its size",
                       description="Print a table's benchmark, splits, aggregation, provenance and counts.")
    i.add_argument("bench", nargs="?", default="mini",
                   help="benchmark name (mini, the default; cnn, resnet, vit) or path of a .h5 table")
    i.add_argument("--json", action="store_true", help="print JSON")
    bench_args(i)
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
    bench_args(q)
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
    bench_args(cmp)
    cmp.set_defaults(func=_cmd_compare)

    bst = sub.add_parser(
        "best", help="the best functions of a table or of a search study folder",
        description="Print the K functions with the best METRIC (highest accuracy; lowest loss or runtime) of a "
        "benchmark, a table file, or a search study folder (generation.study), which may still be running.")
    bst.add_argument("bench", nargs="?", default="mini", help="benchmark name, table path or study folder")
    bst.add_argument("-k", type=int, default=10, help="how many (default 10)")
    bst.add_argument("--metric", default="val_acc", help="metric to rank by (default val_acc)")
    bst.add_argument("--names", action="store_true", help="print only the names, one per line (for --functions)")
    bench_args(bst)
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


def _cmd_info(args: argparse.Namespace) -> int:
    bench = open_bench(args, args.bench)
    t = bench.data
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
    from actbench.sources.registry import BENCHMARKS

    spec = BENCHMARKS.get(t.info.benchmark)
    layout = spec.layout() if spec is not None and t.provenance.source != "generation" else None
    if layout is not None and t.n_fim:
        bins = sum(layer.n_bins for layer in layout)
        return (f"unknown: the FIM feature has {t.n_fim:,} values, our {t.info.benchmark} network's layout has "
                f"{bins:,} bins, so no layer boundaries are attached")
    return "unknown"


def _official_input(t) -> dict:
    """What the table says of the official file it was converted from."""
    from actbench.sources.registry import BENCHMARKS

    src = t.provenance.inputs[0]
    out = {"official input": f"{src.name}, {src.size:,} bytes, sha256 {src.sha256}"}
    checked = [n[len("input "):] for n in t.provenance.notes if n.startswith("input ")]
    out["verification"] = checked[0] if checked else "unverified (converted by hand with actbench convert)"
    spec = BENCHMARKS.get(t.info.benchmark)
    if spec is not None and spec.paper_rows is not None and t.n_rows != spec.paper_rows:
        out["rows vs the paper"] = f"{plural(t.n_rows, 'row')}; the paper's release has {spec.paper_rows:,}"
    return out


def _cmd_query(args: argparse.Namespace) -> int:
    bench = open_bench(args, args.bench)
    rec = bench.query(args.name, seed=args.seed, epoch=args.epoch)
    if args.json:
        print(rec.model_dump_json(indent=2))
        return 0
    print(rec)
    return 0


def _cmd_best(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise ValueError(f"-k must be at least 1, got {args.k}")
    bench = open_bench(args, args.bench)
    df = bench.best(args.k, metric=args.metric)
    if args.names:
        print("\n".join(df.index))
        return 0
    cols = [c for c in dict.fromkeys([args.metric, "val_acc", "test_acc"]) if c in df.columns]
    print(df[cols].to_string(float_format=lambda v: f"{v:.4f}"))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from actbench.analysis.compare import agreement

    a, b = open_bench(args, args.a), open_bench(args, args.b)
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
    from actbench.sources.convert import convert_official_json

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
    version = t.format_version
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
