"""Build a table v1 from a worker's result folder.

    python -m generation.merge results/cnn -o cnn.h5 [--space act-bench]

Aggregation over seeds: the median, where a diverged run counts as the worst possible value
(accuracy -inf, loss +inf); if the median lands on a diverged run (most runs diverged) the value
is NaN and flagged diverged. Runtime is the median of all runs' wall times. Per-seed values are
stored as they are. Functions that failed (an exception, not a divergence) stay in the table with
every value NaN and flagged missing, and are listed in the provenance notes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from actbench import get_space
from actbench.table import DIVERGED, METRICS, MISSING, FimLayer, Provenance, TableInfo, TableWriter
from generation.recipes import Recipe

__all__ = ["aggregate", "main", "merge"]

_ACC = {"train_acc", "val_acc", "test_acc"}


def aggregate(runs: list[dict]) -> tuple[dict[str, float], dict[str, int]]:
    """Median over seeds with diverged runs counted as worst; returns (values, flags)."""
    vals, flags = {}, {}
    div = np.array([r["diverged"] for r in runs])
    for col in METRICS:
        x = np.array([r[col] for r in runs], dtype=float)
        if col == "runtime_s":
            vals[col], flags[col] = float(np.median(x)), 0
            continue
        worst = -np.inf if col in _ACC else np.inf
        x = np.where(div | np.isnan(x), worst, x)
        m = float(np.median(x)) if len(x) % 2 else float(np.sort(x)[len(x) // 2 - (col in _ACC)])
        if np.isinf(m):
            vals[col], flags[col] = float("nan"), DIVERGED
        else:
            vals[col], flags[col] = m, 0
    return vals, flags


def merge(results: Path, out: Path, *, space: str | None = None, benchmark: str | None = None,
          description: str | None = None, command: str | None = None) -> dict:
    """Write the table; returns counts. Raises FileNotFoundError when the folder has no results."""
    done = sorted(results.glob("*.json"))
    done = [p for p in done if not p.name.endswith(".failed.json")]
    failed = sorted(results.glob("*.failed.json"))
    if not done and not failed:
        raise FileNotFoundError(f"no results in {results} (run generation.worker first)")
    docs = [json.loads(p.read_text()) for p in done]
    fails = [json.loads(p.read_text()) for p in failed]
    fim_only = [d["name"] for d in docs if d.get("kind") == "fim"]
    if fim_only:
        raise ValueError(f"{results} holds FIM-only results ({len(fim_only)}, e.g. {fim_only[0]!r}); build a feature "
                         "table from them with python -m generation.precompute table")
    done_names = {d["name"] for d in docs}
    fails = [f for f in fails if f["name"] not in done_names]  # a retry that succeeded wins
    recipe = Recipe.model_validate(docs[0]["recipe"] if docs else fails[0]["recipe"])
    for d in docs + fails:
        other = Recipe.model_validate(d["recipe"])
        if other.fim_convention != recipe.fim_convention:
            first = (docs or fails)[0]["name"]
            raise ValueError(f"{d['name']!r} has FIM features in the {other.fim_convention!r} K-FAC convention, "
                             f"{first!r} in {recipe.fim_convention!r}: one table holds one convention. Recompute "
                             "one set (generation.worker --fim-convention ...) or merge them into separate tables")
        if other != recipe:
            raise ValueError(f"{d['name']!r} was run with a different recipe than {docs[0]['name']!r}; "
                             "merge one recipe's results at a time")
    layout = [FimLayer(*row) for row in docs[0]["fim_layout"]] if docs else None
    sp = get_space(space) if space else None
    k = len(recipe.seeds)
    info = TableInfo(benchmark=benchmark or recipe.benchmark, space=space,
                     description=description or recipe.description, n_seeds=k,
                     aggregation=f"median of {k} runs (diverged runs count as worst)" if k > 1 else "single run",
                     train_split="training split", val_split="validation split held out of the training set",
                     test_split="test set", val_is_test=False)
    if docs:
        data = docs[0]["data"]
        info = info.model_copy(update={"description": f"{info.description}; data: {data}",
                                       "train_split": f"training split ({data})",
                                       "val_split": f"validation split held out of the training set ({data})",
                                       "test_split": f"test split ({data})"})
    created = sorted(d["created"] for d in docs)
    compute_h = sum(d["seconds"] for d in docs) / 3600
    envs = sorted({json.dumps({k2: v for k2, v in d["env"].items() if k2 in ("git", "torch", "gpu", "device")},
                              sort_keys=True) for d in docs})
    prov = Provenance.now(
        source="generation", description=f"trained by generation/ with recipe {recipe.name!r}",
        command=command, config=recipe.model_dump(),
        notes=tuple([f"environment: {e}" for e in envs]
                    + ([f"FIM features in the {recipe.fim_convention!r} K-FAC convention"] if layout else [])
                    + ([f"results written from {created[0]} to {created[-1]}; {compute_h:.2f} h of worker "
                        f"compute in all"] if docs else [])
                    + [f"failed (no values): {f['name']}: {f['error']}" for f in fails]),
    )
    counts = {"rows": 0, "failed": len(fails), "diverged_runs": 0}
    with TableWriter(out, info=info, provenance=prov, seeds=list(recipe.seeds), fim_layers=layout,
                     fim_convention=recipe.fim_convention if layout else None) as w:
        for d in sorted(docs, key=lambda d: d["name"]):
            vals, flags = aggregate(d["runs"])
            fim = np.load(results / f"{_stem(results, d)}.fim.npy", allow_pickle=False)
            per_seed = {c: [r[c] for r in d["runs"]] for c in METRICS}
            counts["diverged_runs"] += sum(r["diverged"] for r in d["runs"])
            w.add(d["name"], vals, flags=flags, per_seed=per_seed, seed_diverged=[r["diverged"] for r in d["runs"]],
                  fim=fim, equivalents=sp.equivalents(d["name"]) if sp else ())
            counts["rows"] += 1
        for f in sorted(fails, key=lambda f: f["name"]):
            w.add(f["name"], {}, flags={c: MISSING for c in METRICS},
                  equivalents=sp.equivalents(f["name"]) if sp else ())
            counts["rows"] += 1
    return counts


def _stem(results: Path, doc: dict) -> str:
    from generation.worker import result_key

    return result_key(doc["name"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generation.merge", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--space", help="the space the functions come from: adds every equivalent name as an alias")
    p.add_argument("--benchmark", help="table name (default: the recipe's)")
    p.add_argument("--description", help="what the table is (default: the recipe's description)")
    args = p.parse_args(argv)
    command = "python -m generation.merge " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        counts = merge(args.results, args.output, space=args.space, benchmark=args.benchmark,
                       description=args.description, command=command)
    except (FileNotFoundError, ValueError) as e:
        print(f"merge: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
