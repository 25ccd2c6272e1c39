"""A table as pandas DataFrames (analysis calls, never charged): one row per function with its aggregate,
per-seed values and slot parameters (:func:`summary_frame`), and the learning curves in long form, one row
per function, seed and epoch (:func:`curves_frame`). ``ActBench.table()`` and ``ActBench.curves_frame()``
call these."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from actbench.table.schema import METRICS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["curves_frame", "epoch_frame", "summary_frame"]


def summary_frame(names: list[str], metrics: dict[str, np.ndarray], diverged: np.ndarray, n_equivalents: np.ndarray,
                  *, per_seed: dict[str, np.ndarray] | None = None, seeds: list[int] | None = None,
                  params: dict[str, list] | None = None, equivalents: list[tuple[str, ...]] | None = None
                  ) -> pd.DataFrame:
    """One row per function (index: representative names): the aggregated metrics, ``diverged``,
    ``n_equivalents``; with ``per_seed`` one column per metric and seed (``val_acc_seed0`` ...) and
    ``diverged_seed0`` ...; with ``params`` one column per parameter (the operator slots of each row); with
    ``equivalents`` a column of the names equivalent to each row (a tuple per row)."""
    import pandas as pd

    cols: dict[str, object] = {c: metrics[c] for c in METRICS}
    cols["diverged"] = diverged
    cols["n_equivalents"] = n_equivalents
    if per_seed is not None:
        for j, s in enumerate(seeds or []):
            for c in (*METRICS, "diverged"):
                cols[f"{c}_seed{s}"] = per_seed[c][:, j]
    for p, values in (params or {}).items():
        cols[p] = pd.Categorical(values)
    if equivalents is not None:
        cols["equivalents"] = equivalents
    return pd.DataFrame(cols, index=pd.Index(names, name="function"))


def curves_frame(names: list[str], rows: np.ndarray, seeds: list[int], curves: dict[str, np.ndarray]) -> pd.DataFrame:
    """The learning curves in long form: columns ``function``, ``row``, ``seed``, ``epoch`` (1-based) and one
    per curve (each an (n_rows, n_seeds, n_epochs) array), one row per function, seed and epoch, NaN after a
    run stopped."""
    import pandas as pd

    n_rows, n_seeds, n_epochs = next(iter(curves.values())).shape
    shape = (n_rows, n_seeds, n_epochs)
    row = np.broadcast_to(rows[:, None, None], shape).ravel()
    out = {"function": pd.Categorical.from_codes(row, categories=pd.Index(names)), "row": row,
           "seed": np.broadcast_to(np.asarray(seeds)[None, :, None], shape).ravel(),
           "epoch": np.broadcast_to(np.arange(1, n_epochs + 1)[None, None, :], shape).ravel()}
    out.update({c: a.ravel() for c, a in curves.items()})
    return pd.DataFrame(out)


def epoch_frame(names, values: dict[str, np.ndarray], diverged: np.ndarray, cost: np.ndarray) -> pd.DataFrame:
    """One row per function at one epoch (index: representative names): the metrics aggregated over seeds at
    that epoch, ``diverged`` and ``cost_s`` (what a first query at that epoch charges)."""
    import pandas as pd

    cols: dict[str, object] = {c: values[c] for c in METRICS}
    cols["diverged"], cols["cost_s"] = diverged, cost
    return pd.DataFrame(cols, index=pd.Index(list(names), name="function"))
