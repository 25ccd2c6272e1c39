"""Tables from training results: generation.worker's result documents aggregated over seeds and written as a
table (format version 2 when they have learning curves). Used by ``generation.merge`` (a folder of result
files) and by search studies (results kept in an Optuna storage), so that both give the same table for the
same results.

Aggregation over seeds: the median, where a diverged run counts as the worst possible value (accuracy
-inf, loss +inf); if the median lands on a diverged run (most runs diverged) the value is NaN and flagged
diverged. Runtime is the median of all runs' wall times. Per-seed values are stored as they are. Functions
that failed (an exception, not a divergence) stay in the table with every value NaN and flagged missing,
and are listed in the provenance notes. When every run of every result carries its learning curve, the
table holds the curves too (format version 2); otherwise none, with a note when some had one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from actbench.table.provenance import Provenance, TableInfo
from actbench.table.schema import CURVE_METRICS, DIVERGED, METRICS, MISSING, FimLayer
from actbench.table.writer import TableWriter

__all__ = ["aggregate", "write_results_table"]

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
        m, bad = aggregate_seeds(x, div, col)
        vals[col], flags[col] = float(m), DIVERGED if bad else 0
    return vals, flags


def aggregate_seeds(x: np.ndarray, diverged: np.ndarray, col: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`aggregate`'s rule for one metric column, over the last axis of ``x`` (the seeds): a diverged
    run (or a NaN) counts as the worst value; the median of an odd count, and of an even count the lower
    middle value for accuracies and the upper one for losses (the worse of the two middle runs). Returns
    (values, flagged): NaN and True where the median run diverged."""
    worst = -np.inf if col in _ACC else np.inf
    x = np.where(diverged | np.isnan(x), worst, x)
    k = x.shape[-1]
    m = np.sort(x, axis=-1)[..., k // 2 if k % 2 else k // 2 - (col in _ACC)]
    bad = np.isinf(m)
    return np.where(bad, np.nan, m), bad


def write_results_table(out: Path, docs: Sequence[dict], fails: Sequence[dict], fim_of: Callable[[dict], np.ndarray],
                        *, recipe: dict[str, Any], space: str | None = None, benchmark: str | None = None,
                        description: str | None = None, command: str | None = None,
                        notes: Sequence[str] = ()) -> dict:
    """Write the table of ``docs`` (results) and ``fails`` (failures) trained with ``recipe`` (a recipe as a
    dict); ``fim_of(doc)`` gives a result's FIM feature; ``notes`` are added to the provenance. Returns
    counts."""
    from actbench.lang.space import get_space

    layout = [FimLayer(*row) for row in docs[0]["fim_layout"]] if docs else None
    sp = get_space(space) if space else None
    k = len(recipe["seeds"])
    info = TableInfo(benchmark=benchmark or recipe["benchmark"], space=space,
                     description=description or recipe["description"], n_seeds=k,
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
    keep = ("git", "torch", "gpu", "device", "cpu", "cpu_capability")
    envs = sorted({json.dumps({k2: v for k2, v in d["env"].items() if k2 in keep}, sort_keys=True) for d in docs})
    prov = Provenance.now(
        source="generation", description=f"trained by generation/ with recipe {recipe['name']!r}",
        command=command, config=dict(recipe),
        notes=tuple([f"environment: {e}" for e in envs]
                    + ([f"FIM features in the {recipe.get('fim_convention')!r} K-FAC convention"] if layout else [])
                    + ([f"results written from {created[0]} to {created[-1]}; {compute_h:.2f} h of worker "
                        f"compute in all"] if docs else [])
                    + [f"failed (no values): {f['name']}: {f['error']}" for f in fails] + list(notes)),
    )
    with_curves = bool(docs) and all(r.get("curve") for d in docs for r in d["runs"])
    if docs and not with_curves and any(r.get("curve") for d in docs for r in d["runs"]):
        prov = prov.model_copy(update={"notes": (*prov.notes, "learning curves left out: some results have none "
                                                              "(written before curves were recorded)")})
    counts = {"rows": 0, "failed": len(fails), "diverged_runs": 0, "curves": with_curves}
    with TableWriter(out, info=info, provenance=prov, seeds=list(recipe["seeds"]), fim_layers=layout,
                     fim_convention=recipe.get("fim_convention") if layout else None,
                     epochs=int(recipe["epochs"]) if with_curves else None) as w:
        for d in sorted(docs, key=lambda d: d["name"]):
            vals, flags = aggregate(d["runs"])
            fim = fim_of(d)
            per_seed = {c: [r[c] for r in d["runs"]] for c in METRICS}
            counts["diverged_runs"] += sum(r["diverged"] for r in d["runs"])
            curves = ({c: [r["curve"][c] for r in d["runs"]] for c in CURVE_METRICS} if with_curves else None)
            w.add(d["name"], vals, flags=flags, per_seed=per_seed, seed_diverged=[r["diverged"] for r in d["runs"]],
                  fim=fim, equivalents=sp.equivalents(d["name"]) if sp else (), curves=curves)
            counts["rows"] += 1
        for f in sorted(fails, key=lambda f: f["name"]):
            w.add(f["name"], {}, flags={c: MISSING for c in METRICS},
                  equivalents=sp.equivalents(f["name"]) if sp else ())
            counts["rows"] += 1
    return counts


