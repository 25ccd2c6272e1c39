"""How far two tables of the same task agree: a regenerated or extended table beside the one it repeats.

Training on another machine changes the last digits of every run and, through them, some predictions
(docs/generation.md#reproducibility), so two honest tables of one recipe are compared by distribution, not
bit for bit: how many values are identical, how large the differences are, whether the ranking holds, and
which runs diverge in one table only. ``actbench compare A B`` prints the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from actbench.table.schema import METRICS

__all__ = ["Agreement", "agreement"]


@dataclass(frozen=True)
class Agreement:
    """What :func:`agreement` found for one metric, at one level (the aggregate, or the single runs).

    Attributes:
        metric: the column compared.
        level: ``"aggregate"`` (each table's value over its seeds) or ``"runs"`` (every common seed).
        values: pairs compared (rows in both tables, times common seeds for runs).
        diverged_a_only: pairs diverged (or NaN) in table A only.
        diverged_b_only: pairs diverged (or NaN) in table B only.
        finite: pairs with a value in both.
        identical: of those, how many are equal bit for bit.
        median_abs: the median absolute difference over the finite pairs.
        p90_abs: its 90th percentile.
        max_abs: its maximum.
        spearman: rank correlation over the finite pairs (NaN with fewer than 3 or constant values).
    """

    metric: str
    level: str
    values: int
    diverged_a_only: int
    diverged_b_only: int
    finite: int
    identical: int
    median_abs: float
    p90_abs: float
    max_abs: float
    spearman: float

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        if not self.finite:
            return (f"{self.metric} ({self.level}): no pair has values in both tables "
                    f"({self.diverged_a_only} diverged in A only, {self.diverged_b_only} in B only)")
        return (f"{self.metric} ({self.level}): {self.identical:,} of {self.finite:,} identical "
                f"({self.identical / self.finite:.1%}); |difference| median {self.median_abs:.4g}, 90th percentile "
                f"{self.p90_abs:.4g}, max {self.max_abs:.4g}; Spearman {self.spearman:.4f}; diverged in A only "
                f"{self.diverged_a_only:,}, in B only {self.diverged_b_only:,} (of {self.values:,})")


def _agree(metric: str, level: str, a: np.ndarray, b: np.ndarray) -> Agreement:
    from scipy.stats import spearmanr

    na, nb = np.isnan(a), np.isnan(b)
    ok = ~na & ~nb
    d = np.abs(a[ok] - b[ok])
    rho = float("nan")
    if ok.sum() >= 3 and np.ptp(a[ok]) > 0 and np.ptp(b[ok]) > 0:
        rho = float(spearmanr(a[ok], b[ok])[0])
    q = (lambda p: float(np.quantile(d, p))) if len(d) else (lambda p: float("nan"))
    return Agreement(metric=metric, level=level, values=int(a.size), diverged_a_only=int((na & ~nb).sum()),
                     diverged_b_only=int((nb & ~na).sum()), finite=int(ok.sum()), identical=int((d == 0).sum()),
                     median_abs=q(0.5), p90_abs=q(0.9), max_abs=q(1.0), spearman=rho)


def agreement(a, b, metric: str = "val_acc") -> dict:
    """Compare two tables (:class:`actbench.ActBench`) on ``metric`` over the rows both have (matched by
    the representative's name: tables of one space share them).

    Returns ``{"rows": in both, "a_only": rows of A not in B, "b_only": ..., "aggregate": Agreement,
    "runs": Agreement or None}``; ``runs`` compares every seed both tables hold (None when one table has
    no per-seed values or they share no seed).

    Raises:
        ValueError: ``metric`` is not a metric column, or the tables share no row.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; metrics are {', '.join(METRICS)}")
    ta, tb = a.data, b.data
    rows_b = {n: i for i, n in enumerate(tb.names)}
    pairs = [(i, rows_b[n]) for i, n in enumerate(ta.names) if n in rows_b]
    if not pairs:
        raise ValueError(f"{a.path.name} and {b.path.name} share no row: are they tables of the same space? "
                         f"(rows are matched by their representatives' names, e.g. {ta.names[0]!r})")
    ia, ib = (np.array(x) for x in zip(*pairs))
    out = {"rows": len(pairs), "a_only": len(ta.names) - len(pairs), "b_only": len(tb.names) - len(pairs),
           "aggregate": _agree(metric, "aggregate", ta.metrics[metric][ia], tb.metrics[metric][ib]), "runs": None}
    seeds = [s for s in (ta.seeds or []) if s in (tb.seeds or [])]
    if seeds:
        ja, jb = [ta.seeds.index(s) for s in seeds], [tb.seeds.index(s) for s in seeds]
        va = ta.per_seed(metric)[np.ix_(ia, ja)].astype(float)
        vb = tb.per_seed(metric)[np.ix_(ib, jb)].astype(float)
        va[ta.seed_diverged()[np.ix_(ia, ja)]] = np.nan
        vb[tb.seed_diverged()[np.ix_(ib, jb)]] = np.nan
        out["runs"] = _agree(metric, f"runs, seeds {', '.join(map(str, seeds))}", va.ravel(), vb.ravel())
    return out
