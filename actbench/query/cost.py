"""What a function costs a search (:class:`Costs`): one rule, read by every route that reports or charges
simulated training seconds (``ActBench.query`` with and without ``epoch=`` and ``seed=``, the budget,
:meth:`actbench.ActBench.elapsed`, the simulated clock of ``run_search``, :class:`actbench.interop.Objective`
at every spelling of a fidelity, and the syne-tune export).

The rule (docs/tables.md, "What a query costs"):

1. **A run** (one seed) trained to epoch ``k`` costs its runtime (the table's ``runtime_s`` of that run:
   training, evaluations and set-up) times the share of its training seconds (the curve's ``epoch_s``) spent by
   the end of epoch ``k``. A run that stopped before epoch ``k`` (it diverged) costs all it ran, its whole
   runtime; so does a run asked for without an epoch, or at the last one. A run without a recorded runtime
   costs its training seconds up to ``k``; a run with neither is *unknown*. On a row with no per-run runtime
   at all (tables that hold only aggregates, such as the official ones), each run is taken to have run for
   the row's ``runtime_s``.
2. **A function** (``seed=None``, the table's aggregate) costs the median of its runs' known costs; at the end
   of training that is the table's ``runtime_s`` (the median of its runs' runtimes).
3. **An unknown cost** (a function that failed to train; a table without runtimes) is the *fallback*: the
   median end-of-training cost of the functions whose cost is known, times ``k / epochs`` at epoch ``k``
   (0.0 on a table where no function has a known cost). It is charged and reported like any other cost;
   records say so by a NaN ``runtime_s`` beside the finite ``cost_s``.

Each run's cost never decreases with the epoch, so neither does a function's: a search that asks for the same
function at a later epoch is charged the difference (the training continues), and training one epoch after
another costs exactly what one query at the last epoch costs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from actbench.table.reader import Table

__all__ = ["Costs", "median_known", "run_costs"]


def median_known(x: np.ndarray, axis: int) -> np.ndarray:
    """The median over ``axis`` of the finite values of ``x`` (the mean of the two middle ones for an even
    count, as ``np.median``), NaN where none is finite; without ``np.nanmedian``'s warning."""
    known = np.isfinite(x)
    n = known.sum(axis=axis, keepdims=True)
    s = np.sort(np.where(known, x, np.inf), axis=axis)
    last = s.shape[axis] - 1
    lo = np.take_along_axis(s, np.clip((n - 1) // 2, 0, last), axis=axis)
    hi = np.take_along_axis(s, np.clip(n // 2, 0, last), axis=axis)
    with np.errstate(invalid="ignore"):
        out = np.where(n > 0, (lo + hi) / 2, np.nan)
    return np.squeeze(out, axis=axis)


def run_costs(epoch_s: np.ndarray, runtime: np.ndarray) -> np.ndarray:
    """(rows, runs, epochs) cost of each run up to the end of each epoch, by rule 1 of the module docstring,
    from its training seconds per epoch ``epoch_s`` (rows, runs, epochs; NaN after the run stopped) and its
    runtime (rows, runs; NaN where unknown). NaN where the cost is unknown."""
    trained = ~np.isnan(epoch_s)
    cum = np.cumsum(np.where(trained, epoch_s, 0.0), axis=2)
    total = cum[:, :, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, cum / np.where(total > 0, total, 1.0), 1.0)  # 1.0 at the last epoch, exactly
    r = runtime[:, :, None]
    known = np.isfinite(r) & (r >= 0)
    own = np.where(trained.any(axis=2, keepdims=True), cum, np.nan)  # no runtime: its training seconds
    return np.where(known, r * share, own)


class Costs:
    """The cost rule of one open table (module docstring): per-run runtimes, end-of-training costs of every
    row (computed once, on the first charged query) and the fallback for unknown costs."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._final_runs: np.ndarray | None = None  # (n_rows, n_runs)
        self._final: np.ndarray | None = None  # (n_rows,)
        self._fallback: float | None = None

    @property
    def n_epochs(self) -> int:
        return self._table.n_epochs

    def runtimes(self, rows: slice) -> np.ndarray:
        """(rows, runs) the runtime of each run: the table's per-seed ``runtime_s`` where it has one; on a row
        with no per-run runtime, the row's ``runtime_s`` for every run (one run on a table without seeds)."""
        t = self._table
        agg = np.asarray(t.metrics["runtime_s"][rows], dtype=np.float64)
        if t.seeds is None:
            return agg[:, None]
        per = np.array(t.per_seed("runtime_s", rows), dtype=np.float64)
        none = ~np.isfinite(per).any(axis=1)
        per[none] = agg[none, None]
        return per

    def _compute_final(self) -> None:
        runs = self.runtimes(slice(None))
        if self.n_epochs:  # runs without a runtime cost their training seconds, when their curve has them
            for row in np.flatnonzero(~np.isfinite(runs).all(axis=1)):
                start, block = self._table.curve_block(int(row))
                es = block["epoch_s"][row - start]  # (runs, epochs)
                seconds = np.where(np.isnan(es).all(axis=1), np.nan, np.nansum(np.nan_to_num(es, nan=0.0), axis=1))
                runs[row] = np.where(np.isfinite(runs[row]) & (runs[row] >= 0), runs[row], seconds)
        runs[~(runs >= 0)] = np.nan
        self._final_runs = runs
        self._final = median_known(runs, axis=1)
        known = self._final[np.isfinite(self._final)]
        self._fallback = float(median_known(known, axis=0)) if known.size else 0.0

    def fallback(self, epoch: int | None = None) -> float:
        """What an unknown cost is taken to be at ``epoch`` (None: the end of training)."""
        if self._fallback is None:
            self._compute_final()
        e = self.n_epochs
        return self._fallback if epoch is None or not e else self._fallback * epoch / e

    def final(self, row: int, seed_index: int | None = None) -> float:
        """The measured cost of ``row`` trained to the end (of one run, or the median over runs), NaN where
        unknown."""
        if self._final is None:
            self._compute_final()
        return float(self._final[row] if seed_index is None else self._final_runs[row, seed_index])

    def charge(self, measured: float, epoch: int | None = None) -> float:
        """The cost charged and reported for a measured cost (NaN: unknown, so the fallback)."""
        return measured if measured == measured else self.fallback(epoch)
