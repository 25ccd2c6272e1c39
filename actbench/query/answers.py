"""What a query answers (:class:`Answers`): the values, flags and cost of one table row, at the end of
training or at an epoch, aggregated over seeds or of one seed. ``ActBench.query`` resolves the name, asks
this object, charges the budget the answer's ``cost_s`` and builds the record; the free accessors
(``ActBench.cost``, ``best(epoch=...)``, ``per_seed``) read the same answers uncharged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from actbench.base.errors import FidelityError
from actbench.query.cost import Costs
from actbench.query.epochs import EpochViews, whole_epoch
from actbench.table.schema import DIVERGED, METRICS, MISSING

if TYPE_CHECKING:
    from actbench.table.reader import Table

__all__ = ["Answers"]


class Answers:
    """The answers of one open table. ``costs`` is its cost rule (:class:`actbench.query.cost.Costs`),
    ``views`` its epoch views (:class:`actbench.query.epochs.EpochViews`)."""

    def __init__(self, table: Table, *, benchmark: str) -> None:
        self._table = table
        self._benchmark = benchmark
        self.costs = Costs(table)
        self.views = EpochViews(table, self.costs)
        self._per_seed: dict[str, np.ndarray] | None = None
        #: (n_rows,) whether a row's aggregate diverged (any metric flagged)
        self.row_diverged = np.any(np.stack([table.flags[c] == DIVERGED for c in METRICS]), axis=0)
        self._row_missing = np.stack([table.flags[c] == MISSING for c in METRICS], axis=1)
        self._base = dict(table.info_fields)

    # --- per-seed values ---------------------------------------------------------------------------

    def per_seed(self, hint: str = "per-seed values need a table that has them") -> dict[str, np.ndarray]:
        """Every metric per seed, (n_rows, n_seeds), and ``"diverged"``: read once, kept (do not modify)."""
        if self._table.seeds is None:
            raise ValueError(f"this table holds only aggregated values ({self._table.info.aggregation}); {hint}")
        if self._per_seed is None:
            self._per_seed = {c: self._table.per_seed(c) for c in METRICS}
            self._per_seed["diverged"] = self._table.seed_diverged()
        return self._per_seed

    def seed_index(self, seed) -> int:
        """The position of ``seed`` among the table's seeds (ValueError, with the seeds, when it is none)."""
        self.per_seed(hint="query without seed=")
        seeds = self._table.seeds
        if isinstance(seed, (bool, np.bool_)) or seed not in seeds:
            raise ValueError(f"seed {seed!r} is not in this table; its seeds are {seeds}")
        return seeds.index(seed)

    def epoch_of(self, epoch) -> int:
        """``epoch`` checked against the table's curves (:func:`actbench.query.epochs.whole_epoch`)."""
        e = self._table.n_epochs
        if not e:
            raise FidelityError(f"{self._benchmark!r} has no learning curves: only the values at the end of training "
                                "(query without epoch=); tables written from results with curves have them "
                                "(ActBench.epochs says how many)")
        return whole_epoch(epoch, e)

    # --- one row -----------------------------------------------------------------------------------

    def answer(self, row: int, seed: int | None, epoch) -> dict[str, Any]:
        """The record fields of ``row`` (all but the name, row and how it was resolved): values, ``diverged``,
        ``missing``, ``cost_s`` (by the cost rule, never NaN), the table's description fields."""
        if epoch is not None:
            return self._at_epoch(row, seed, self.epoch_of(epoch))
        t = self._table
        if seed is None:
            vals = {c: float(t.metrics[c][row]) for c in METRICS}
            diverged = bool(self.row_diverged[row])
            missing = tuple(c for c, m in zip(METRICS, self._row_missing[row]) if m)
            cost = self.costs.charge(self.costs.final(row))
            base = self._base
        else:
            j = self.seed_index(seed)
            vals = {c: float(self._per_seed[c][row, j]) for c in METRICS}
            diverged = bool(self._per_seed["diverged"][row, j])
            missing = tuple(c for c in METRICS if vals[c] != vals[c] and not diverged)
            cost = self.costs.charge(self.costs.final(row, j))
            base = {**self._base, "aggregation": f"seed {seed} (one run)"}
        return dict(seed=seed, epoch=None, diverged=diverged, missing=missing, cost_s=cost, **vals, **base)

    def _at_epoch(self, row: int, seed: int | None, epoch: int) -> dict[str, Any]:
        e = self._table.n_epochs
        view, i = self.views.view(row)
        k = epoch - 1
        if seed is not None:
            j = self.seed_index(seed)
            vals = {c: float(view["seed"][c][i, j, k]) for c in METRICS}
            diverged = bool(not view["reached"][i, j, k])  # the run had stopped (diverged) by this epoch
            aggregation = f"seed {seed} (one run), at epoch {epoch} of {e}"
        else:
            vals = {c: float(view["median"][c][i, k]) for c in METRICS}
            diverged = bool(view["diverged"][i, k])
            aggregation = f"{self._base['aggregation']}, at epoch {epoch} of {e}"
        cost = self.costs.charge(vals["runtime_s"], epoch)
        missing = tuple(c for c in METRICS
                        if (c.startswith("test_") and epoch < e) or (vals[c] != vals[c] and not diverged))
        return dict(seed=seed, epoch=int(epoch), diverged=diverged, missing=missing, cost_s=cost, **vals,
                    **{**self._base, "aggregation": aggregation})

    def cost(self, row: int, seed: int | None, epoch) -> float:
        """What a first query of ``row`` (at ``epoch``, of ``seed``) costs, by the rule; uncharged."""
        return self.answer(row, seed, epoch)["cost_s"]

    # --- every row ---------------------------------------------------------------------------------

    def at_epoch(self, epoch) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Every row at ``epoch``, aggregated over seeds as a query at that epoch: (metric -> (n_rows,) values,
        (n_rows,) diverged, (n_rows,) cost by the rule)."""
        k = self.epoch_of(epoch)
        rows = np.arange(self._table.n_rows)
        values = {c: self.views.gather(rows, "median", c)[:, k - 1] for c in METRICS}
        measured = values["runtime_s"]
        cost = np.where(np.isnan(measured), self.costs.fallback(k), measured)
        return values, self.views.gather(rows, "diverged")[:, k - 1], cost
