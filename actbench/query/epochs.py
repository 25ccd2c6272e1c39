"""What a query at an epoch reads (:class:`EpochViews`): the learning curves of a block of rows, turned
once into per-seed values, the aggregate over seeds and the seconds up to each epoch."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from actbench.base.errors import FidelityError
from actbench.query.cost import Costs, median_known, run_costs
from actbench.table import schema
from actbench.table.schema import DIVERGED, METRICS

if TYPE_CHECKING:
    from actbench.table.reader import Table

__all__ = ["EpochViews", "whole_epoch"]


class EpochViews:
    """The epoch views of one open table, derived per block of curve rows and kept for as many blocks as
    the table keeps decompressed (:data:`actbench.table.CURVE_CACHE_BLOCKS`), least recently used first out.
    Costs follow ``costs`` (:class:`actbench.query.cost.Costs`: the one cost rule).
    """

    def __init__(self, table: Table, costs: Costs | None = None) -> None:
        self._table = table
        self._costs = costs if costs is not None else Costs(table)
        self._views: OrderedDict[int, dict] = OrderedDict()  # first row of a block -> its view

    def __len__(self) -> int:
        return len(self._views)

    def view(self, row: int) -> tuple[dict, int]:
        """What an epoch query of ``row`` reads, derived once per block of curve rows (vectorised) and
        kept as long as the table keeps the block: per seed, each metric at each epoch (test values NaN
        before the last epoch: not recorded per epoch; at the last epoch every value is the run's final one;
        ``runtime_s`` the run's cost up to the epoch by :mod:`actbench.query.cost`'s
        rule, NaN where unknown), whether the run reached the epoch, and the aggregate over seeds by
        :func:`actbench.table.results.aggregate`'s rule (``runtime_s``: the median of the runs' known costs).
        Returns (the view, the row's index in it)."""
        from actbench.table.results import aggregate_seeds  # imported on the first epoch query

        start, block = self._table.curve_block(row)
        view = self._views.get(start)
        if view is None or view["block"] is not block:
            rows = slice(start, start + len(block["val_acc"]))
            nan = np.full(block["val_acc"].shape, np.nan)  # (rows, seeds, epochs)
            per = {c: block[c].copy() if c in block else nan.copy() for c in METRICS if c != "runtime_s"}
            # the last epoch is the end of training: its values are the runs' final ones (the test split is
            # evaluated only then; training metrics measured after training, not averaged during the epoch),
            # and a run the table flags diverged did not complete it, so that query(name, epoch=last) answers
            # what query(name) answers
            final_diverged = self._table.seed_diverged(rows).astype(bool)
            for c in per:
                per[c][:, :, -1] = self._table.per_seed(c, rows)
            reached = ~np.isnan(per["val_acc"])
            reached[:, :, -1] &= ~final_diverged
            per["runtime_s"] = seconds = run_costs(block["epoch_s"], self._costs.runtimes(rows))
            median, flagged = {}, {}
            for c in METRICS:
                if c != "runtime_s":
                    # aggregate_seeds works over the last axis: seeds last
                    m, bad = aggregate_seeds(per[c].transpose(0, 2, 1), ~reached.transpose(0, 2, 1), c)
                    median[c], flagged[c] = m, bad
            median["runtime_s"] = median_known(seconds, axis=1)  # (rows, epochs)
            diverged = flagged["train_acc"] | flagged["val_acc"]
            # the aggregate at the last epoch is the table's own row, as a query without an epoch reads it
            for c in METRICS:
                if c != "runtime_s":
                    median[c][:, -1] = self._table.metrics[c][rows]
            diverged[:, -1] = np.any([self._table.flags[c][rows] == DIVERGED for c in METRICS], axis=0)
            view = {"block": block, "seed": per, "reached": reached, "median": median, "diverged": diverged}
            self._views[start] = view
            if len(self._views) > schema.CURVE_CACHE_BLOCKS:  # as many as the table keeps blocks
                self._views.popitem(last=False)
        else:
            self._views.move_to_end(start)
        return view, row - start

    def gather(self, rows, part: str, key: str | None = None) -> np.ndarray:
        """``view[part][key]`` (or ``view[part]``) of each of ``rows``, stacked: (len(rows), ...) in the order
        of ``rows``; ``part`` is ``"seed"``, ``"median"``, ``"reached"`` or ``"diverged"``."""
        rows = np.asarray(rows, dtype=np.int64)
        out = None
        for k, r in enumerate(rows):
            view, i = self.view(int(r))
            x = view[part] if key is None else view[part][key]
            if out is None:
                out = np.empty((len(rows), *x.shape[1:]), dtype=x.dtype)
            out[k] = x[i]
        if out is None:  # no rows
            per_run = part in ("seed", "reached")
            out = np.empty((0, len(self._table.seeds or [0]), self._table.n_epochs) if per_run
                           else (0, self._table.n_epochs))
        return out

    def elapsed(self, rows, *, aggregate: bool = False) -> np.ndarray:
        """What a first query at each epoch charges, by the cost rule: (len(rows), n_seeds, n_epochs) per run
        (``runtime_s`` of :meth:`view`, constant after the run stopped), or with ``aggregate`` (len(rows),
        n_epochs) per function (the median over its runs); the fallback where the cost is unknown."""
        x = self.gather(rows, "median" if aggregate else "seed", "runtime_s").astype(np.float64)
        e = self._table.n_epochs
        fallback = np.array([self._costs.fallback(k) for k in range(1, e + 1)])
        return np.where(np.isnan(x), fallback, x)


def whole_epoch(epoch, n_epochs: int) -> int:
    """``epoch`` as an int in 1..n_epochs: ints, and floats within 1e-9 of a whole number (``3.0``, DEHB's
    ``9 * 3**-2``); anything else is refused with what to do (:class:`actbench.errors.FidelityError`, a
    ``ValueError``)."""
    if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer, float, np.floating)):
        raise FidelityError(f"epoch must be a whole number of epochs between 1 and {n_epochs}, got {epoch!r}")
    k = round(float(epoch)) if np.isfinite(epoch) else -1
    if abs(float(epoch) - k) > 1e-9 * max(1.0, abs(k)):
        raise FidelityError(f"epoch {epoch!r} is not a whole number of epochs: the table's learning curves have "
                            f"values after epochs 1..{n_epochs}; give a whole number (for an optimiser with "
                            "fractional fidelities, actbench.interop.Objective(round_fidelity=True) rounds them up)")
    if not 1 <= k <= n_epochs:
        raise FidelityError(f"epoch must be between 1 and {n_epochs} (the table's epochs), got {epoch!r}")
    return int(k)
