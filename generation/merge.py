"""Build a table from a worker's result folder (format version 2, with learning curves, when every run has one).

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

from actbench.table.results import aggregate, write_results_table
from generation.recipes import Recipe

__all__ = ["aggregate", "main", "merge"]


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
    return write_results_table(out, docs, fails, lambda d: np.load(results / f"{_stem(results, d)}.fim.npy",
                                                                  allow_pickle=False),
                               recipe=recipe.model_dump(), space=space, benchmark=benchmark,
                               description=description, command=command)


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
