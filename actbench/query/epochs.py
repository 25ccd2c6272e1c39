"""What a query at an epoch reads (:class:`EpochViews`): the learning curves of a block of rows, turned
once into per-seed values, the aggregate over seeds and the seconds up to each epoch."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from actbench.table import schema
from actbench.table.schema import METRICS

if TYPE_CHECKING:
    from actbench.table.reader import Table

__all__ = ["EpochViews", "whole_epoch"]


class EpochViews:
    """The epoch views of one open table, derived per block of curve rows and kept for as many blocks as
    the table keeps decompressed (:data:`actbench.table.CURVE_CACHE_BLOCKS`), least recently used first out.
    """

    def __init__(self, table: Table) -> None:
        self._table = table
        self._views: OrderedDict[int, dict] = OrderedDict()  # first row of a block -> its view

    def __len__(self) -> int:
        return len(self._views)

    def view(self, row: int) -> tuple[dict, int]:
        """What an epoch query of ``row`` reads, derived once per block of curve rows (vectorised) and
        kept as long as the table keeps the block: per seed, each metric at each epoch (test values NaN:
        not recorded per epoch; ``runtime_s`` the seconds up to the epoch: the run's ``runtime_s`` times its
        share of training seconds, ``epoch_s``, up to the epoch; the plain running sum of ``epoch_s`` where
        the run has no runtime), whether the run reached the epoch, and the aggregate over seeds by
        :func:`actbench.table.results.aggregate`'s rule (``runtime_s``: the median over the runs that reached it).
        Returns (the view, the row's index in it)."""
        from actbench.table.results import aggregate_seeds  # imported on the first epoch query

        start, block = self._table.curve_block(row)
        view = self._views.get(start)
        if view is None or view["block"] is not block:
            reached = ~np.isnan(block["val_acc"])  # (rows, seeds, epochs)
            nan = np.full(reached.shape, np.nan)
            cum = np.cumsum(np.nan_to_num(block["epoch_s"]), axis=2)  # training seconds up to each epoch
            # the run's recorded runtime (evaluations and set-up included) spread over its epochs in
            # proportion to their training seconds: the last epoch costs the whole run, however reached
            total = np.take_along_axis(cum, np.maximum(reached.sum(axis=2, keepdims=True) - 1, 0), axis=2)
            runtime = self._table.per_seed("runtime_s", slice(start, start + len(cum)))[:, :, None]
            fair = np.isfinite(runtime) & (runtime > 0) & (total > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                seconds = np.where(fair, runtime * (cum / np.where(total > 0, total, 1.0)), cum)
            seconds = np.where(np.isnan(block["epoch_s"]), np.nan, seconds)
            per = {"train_acc": block["train_acc"], "val_acc": block["val_acc"], "test_acc": nan,
                   "train_loss": block["train_loss"], "val_loss": block["val_loss"], "test_loss": nan,
                   "runtime_s": seconds}
            median, flagged = {}, {}
            for c in METRICS:
                if c != "runtime_s":
                    # aggregate_seeds works over the last axis: seeds last
                    m, bad = aggregate_seeds(per[c].transpose(0, 2, 1), ~reached.transpose(0, 2, 1), c)
                    median[c], flagged[c] = m, bad
            t = np.sort(np.where(reached, seconds, np.inf), axis=1)  # runs that reached the epoch first
            n = reached.sum(axis=1)  # (rows, epochs)
            lo = np.take_along_axis(t, np.maximum((n - 1) // 2, 0)[:, None, :], axis=1)[:, 0, :]
            hi = np.take_along_axis(t, np.maximum(n // 2, 0)[:, None, :].clip(max=t.shape[1] - 1), axis=1)[:, 0, :]
            median["runtime_s"] = np.where(n > 0, (lo + hi) / 2, np.nan)
            view = {"block": block, "seed": per, "reached": reached, "median": median,
                    "diverged": flagged["train_acc"] | flagged["val_acc"]}
            self._views[start] = view
            if len(self._views) > schema.CURVE_CACHE_BLOCKS:  # as many as the table keeps blocks
                self._views.popitem(last=False)
        else:
            self._views.move_to_end(start)
        return view, row - start

    def elapsed(self, rows) -> np.ndarray:
        """(len(rows), n_seeds, n_epochs) seconds up to each epoch of each run (``runtime_s`` of
        :meth:`view`: what a query at that epoch charges for one run), NaN after a run stopped."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full((len(rows), len(self._table.seeds or [0]), self._table.n_epochs), np.nan)
        for k, r in enumerate(rows):
            view, i = self.view(int(r))
            out[k] = view["seed"]["runtime_s"][i]
        return out


def whole_epoch(epoch, n_epochs: int) -> int:
    """``epoch`` as an int in 1..n_epochs: ints, and floats within 1e-9 of a whole number (``3.0``, DEHB's
    ``9 * 3**-2``); anything else is refused with what to do."""
    if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer, float, np.floating)):
        raise ValueError(f"epoch must be a whole number of epochs between 1 and {n_epochs}, got {epoch!r}")
    k = round(float(epoch)) if np.isfinite(epoch) else -1
    if abs(float(epoch) - k) > 1e-9 * max(1.0, abs(k)):
        raise ValueError(f"epoch {epoch!r} is not a whole number of epochs: the table's learning curves have "
                         f"values after epochs 1..{n_epochs}; give a whole number (for an optimiser with "
                         "fractional fidelities, actbench.interop.Objective(round_fidelity=True) rounds them up)")
    if not 1 <= k <= n_epochs:
        raise ValueError(f"epoch must be between 1 and {n_epochs} (the table's epochs), got {epoch!r}")
    return int(k)
