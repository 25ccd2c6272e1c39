"""Pre-training features of a task's candidates: outputs for every unique function of a space, FIM
features for a chosen subset (docs/generation.md), gathered into a *feature table* (table v1 with no metrics).

    # 1. which functions get a FIM feature: the 8 baselines plus a seeded random sample
    python -m generation.precompute sample --space large --n 5000 --seed 0 -o fim-functions.txt
    # 2. their FIM features, sharded like any worker job (one process per GPU, or a Slurm array)
    python -m generation.worker --task cifar100-resnet --fim-only --functions fim-functions.txt \\
        --shard 0/8 --out features/cifar100-resnet --data-root /datasets
    # 3. the feature table: one row per unique function, outputs for all, FIM where computed
    python -m generation.precompute table --task cifar100-resnet --fim features/cifar100-resnet \\
        -o cifar100-resnet-features.h5 [--only-fim]

A feature table is what a search study (``generation.study``) chooses from: with ``features="fim"`` or
``"both"`` its candidates are the rows with a FIM feature, with ``"outputs"`` every row. Its metrics are
all flagged missing: nothing has been trained.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from actbench import get_space
from actbench.base.errors import NotInSpaceError
from actbench.base.text import plural
from actbench.lang.ops import BASELINES
from actbench.table import FimLayer, Provenance, TableInfo, TableWriter
from generation.recipes import Recipe

__all__ = ["feature_table", "main", "sample_functions"]


def sample_functions(space: str, n: int, *, seed: int = 0, include_baselines: bool = True) -> list[str]:
    """The space's baselines (their class representatives) then a ``RandomState(seed)`` sample of the other
    unique functions, ``n`` in all (every class once at most), in that order."""
    sp = get_space(space)
    if not 1 <= n <= sp.n_classes:
        raise ValueError(f"n must be between 1 and the space's {sp.n_classes:,} unique functions, got {n}")
    chosen: list[int] = []
    if include_baselines:
        for b in BASELINES:
            try:
                c = sp.class_index(b)  # by name, or by outputs when the space names it otherwise
            except NotInSpaceError:
                continue
            if c not in chosen:
                chosen.append(c)
    taken = set(chosen)
    rest = [c for c in np.random.RandomState(seed).permutation(sp.n_classes) if c not in taken]
    chosen += [int(c) for c in rest[: max(n - len(chosen), 0)]]
    return [sp.representatives[c] for c in chosen[:n]]


def _fim_results(folder: Path) -> dict[str, tuple[dict, Path]]:
    out = {}
    for p in sorted(folder.glob("*.json")):
        if p.name.endswith(".failed.json"):
            continue
        d = json.loads(p.read_text())
        out[d["name"]] = (d, p.with_name(p.name[: -len(".json")] + ".fim.npy"))
    return out


def feature_table(space: str, out: Path, *, fim: Path | None = None, only_fim: bool = False,
                  benchmark: str | None = None, description: str | None = None, command: str | None = None,
                  log=print) -> dict:
    """Write the feature table of ``space``: one row per unique function with its outputs and every
    equivalent name as an alias, and the FIM feature of each function found in the worker folder ``fim``
    (any result, FIM-only or trained). Returns counts."""
    sp = get_space(space)
    results = _fim_results(fim) if fim is not None else {}
    by_class: dict[int, tuple[dict, Path]] = {}
    for name, (doc, npy) in results.items():
        try:
            c = sp.class_index(name)  # by name, or by outputs for another spelling of a function of the space
        except NotInSpaceError:
            raise ValueError(f"{fim} holds {name!r}, which is not in space {space!r}") from None
        by_class.setdefault(c, (doc, npy))
    if only_fim and not by_class:
        raise ValueError(f"--only-fim, but {fim} holds no FIM results")
    recipes = {json.dumps(d["recipe"], sort_keys=True) for d, _ in by_class.values()}
    if len(recipes) > 1:
        raise ValueError(f"{fim} mixes results of {len(recipes)} recipes; one feature table per task")
    recipe = json.loads(recipes.pop()) if recipes else None
    convention = Recipe.model_validate(recipe).fim_convention if recipe else None
    layout = None
    if by_class:
        first = next(iter(by_class.values()))[0]
        layout = [FimLayer(*row) for row in first["fim_layout"]]
    rows = sorted(by_class) if only_fim else range(sp.n_classes)
    info = TableInfo(
        benchmark=benchmark or (f"{recipe['benchmark']}-features" if recipe else f"{space}-features"), space=space,
        description=description or (f"pre-training features of {space!r}"
                                    + (f" for recipe {recipe['name']!r} ({recipe['description']})" if recipe else "")
                                    + "; nothing trained: every metric is missing"))
    keep = ("git", "torch", "gpu", "device", "cpu")
    envs = sorted({json.dumps({k: v for k, v in d.get("env", {}).items() if k in keep}, sort_keys=True)
                   for d, _ in by_class.values()})
    notes = tuple(f"FIM environment: {e}" for e in envs)
    if convention:
        notes += (f"FIM features in the {convention!r} K-FAC convention",)
    prov = Provenance.now(source="generation", command=command, config=recipe,
                          description=f"outputs of {'the sampled' if only_fim else 'every unique'} function of "
                                      f"{space!r}; FIM features of {len(by_class)} functions by generation.worker "
                                      f"--fim-only",
                          notes=notes)
    t0 = time.perf_counter()
    counts = {"rows": 0, "with_fim": 0}
    with TableWriter(out, info=info, provenance=prov, fim_layers=layout, fim_convention=convention) as w:
        for i, c in enumerate(rows):
            hit = by_class.get(c)
            vec = np.load(hit[1], allow_pickle=False) if hit else None
            w.add(sp.representatives[c], {}, fim=vec, equivalents=sp.members(c))
            counts["rows"] += 1
            counts["with_fim"] += hit is not None
            if log and (i + 1) % 50_000 == 0:
                log(f"  {i + 1:,} rows ({time.perf_counter() - t0:.0f} s)")
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generation.precompute", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample", help="the baselines plus a seeded random sample of a space's unique functions")
    s.add_argument("--space")
    s.add_argument("--task", help="take the space from this task")
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-baselines", action="store_true")
    s.add_argument("-o", "--output", type=Path, required=True)
    t = sub.add_parser("table", help="write the feature table (outputs for all, FIM where computed)")
    t.add_argument("--space")
    t.add_argument("--task", help="take the space from this task")
    t.add_argument("--fim", type=Path, help="the worker's --fim-only result folder")
    t.add_argument("--only-fim", action="store_true", help="only the functions with a FIM feature")
    t.add_argument("--benchmark", help="table name (default: <task>-features)")
    t.add_argument("-o", "--output", type=Path, required=True)
    for q in (s, t):
        q.add_argument("--import", dest="plugins", action="append", default=[],
                       help="module or .py file that registers your own tasks")
    args = p.parse_args(argv)
    command = "python -m generation.precompute " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        from generation.tasks import get_task, import_plugin

        for spec in args.plugins:
            import_plugin(spec)
        space = args.space or (get_task(args.task).space if args.task else None)
        if space is None:
            raise ValueError("give --space or --task")
        if args.cmd == "sample":
            names = sample_functions(space, args.n, seed=args.seed, include_baselines=not args.no_baselines)
            args.output.write_text(f"# {command}\n" + "\n".join(names) + "\n")
            print(f"wrote {plural(len(names), 'function')} to {args.output}")
            return 0
        if args.fim is not None and not args.fim.is_dir():
            raise FileNotFoundError(f"--fim {args.fim}: no such folder (run generation.worker --fim-only first)")
        counts = feature_table(space, args.output, fim=args.fim, only_fim=args.only_fim, benchmark=args.benchmark,
                               command=command)
        print(f"wrote {args.output}: {counts}")
        return 0
    except (KeyError, ValueError, FileNotFoundError) as e:
        print(f"precompute: error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
