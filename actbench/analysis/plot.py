"""Plot helpers shared by the CLI and the docs' scripts: label placement without collisions, regret curves.

matplotlib is imported only by :func:`pyplot`; :func:`spread` and :func:`regret_floor` are plain numpy, so
they are tested without a display.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FEATURE_WORDS = {"fim": "FIM eigenvalue features", "outputs": "outputs on the sample points",
                 "both": "FIM features and outputs"}


def pyplot():
    """matplotlib's pyplot on the Agg backend, or MissingExtraError naming the extra."""
    try:
        import matplotlib
    except ImportError as e:
        from actbench.base.errors import MissingExtraError

        raise MissingExtraError("plots need matplotlib: pip install 'actbench[search]'") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def spread(wanted: Sequence[float], gap: float, lo: float = -np.inf, hi: float = np.inf) -> np.ndarray:
    """Positions as close as possible to ``wanted`` (least squares) that keep their order, lie ``gap`` apart,
    and stay inside [lo, hi] (the gap shrinks when [lo, hi] cannot hold them all).

    Subtracting ``i * gap`` from the i-th smallest position turns "at least gap apart" into "non-decreasing",
    whose least-squares solution is the pool-adjacent-violators fit, clipped to the bounds; adding ``i * gap``
    back gives the answer.
    """
    w = np.asarray(wanted, dtype=float)
    n = len(w)
    if n == 0:
        return w.copy()
    if np.isfinite(lo) and np.isfinite(hi) and n > 1:
        gap = min(gap, (hi - lo) / (n - 1))
    order = np.argsort(w, kind="stable")
    steps = gap * np.arange(n)
    target = w[order] - steps
    # pool adjacent violators: blocks of (mean, size) kept non-decreasing
    means: list[float] = []
    sizes: list[int] = []
    for v in target:
        means.append(float(v))
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            m2, s2 = means.pop(), sizes.pop()
            means[-1] = (means[-1] * sizes[-1] + m2 * s2) / (sizes[-1] + s2)
            sizes[-1] += s2
    # with z non-decreasing, x >= lo needs only z[0] >= lo and x <= hi only z[-1] <= hi - (n-1) gap: the
    # bounded least-squares fit is the unbounded one clipped to those bounds
    fitted = np.clip(np.repeat(means, sizes), lo, hi - steps[-1]) + steps
    out = np.empty(n)
    out[order] = fitted
    return out


def label_points(ax, xy: np.ndarray, labels: Sequence[str], *, color: str = "red", fontsize: float = 7) -> None:
    """Label 2-D points in columns beside the axes (left of it for points in the left half, right of it for
    the others), with a leader line from each label to its point.

    Labels keep the vertical order of their points and never overlap, however close the points are.
    """
    if not len(labels):
        return
    xy = np.asarray(xy, dtype=float)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    frac = (xy[:, 1] - y0) / (y1 - y0)
    left = (xy[:, 0] - x0) / (x1 - x0) < 0.5
    for side, tx, ha in ((left, -0.03, "right"), (~left, 1.03, "left")):
        idx = np.flatnonzero(side)
        ys = spread(frac[idx], gap=0.045, lo=0.02, hi=0.98)
        for i, ty in zip(idx, ys):
            ax.annotate(labels[i], tuple(xy[i]), xytext=(tx, ty), textcoords="axes fraction", fontsize=fontsize,
                        color=color, va="center", ha=ha, annotation_clip=False,
                        arrowprops=dict(arrowstyle="-", color=color, lw=0.5, alpha=0.6, shrinkA=0, shrinkB=2))
    ax.scatter(xy[:, 0], xy[:, 1], s=22, marker="x", c=color, zorder=5)


def label_vlines(ax, xs: Sequence[float], labels: Sequence[str], *, color: str = "#c44e52",
                 fontsize: float = 7) -> None:
    """Mark values with vertical lines and label them above the axes, spread apart, with leader lines."""
    x0, x1 = ax.get_xlim()
    xs = np.asarray(xs, dtype=float)
    frac = (xs - x0) / (x1 - x0)
    tx = spread(frac, gap=0.028, lo=0.0, hi=1.0)
    for x, text, t in zip(xs, labels, tx):
        ax.axvline(x, color=color, lw=0.8)
        ax.annotate(text, (x, 1.0), xycoords=("data", "axes fraction"), xytext=(t, 1.06),
                    textcoords="axes fraction", rotation=90, fontsize=fontsize, color=color, ha="center",
                    va="bottom", annotation_clip=False,
                    arrowprops=dict(arrowstyle="-", color=color, lw=0.5, shrinkA=0, shrinkB=0))


def trained_range(val: np.ndarray) -> tuple[float, float]:
    """A colour range over the functions that trained: from the 5th percentile of those above the midpoint
    of the worst and best value to the best. Most functions of a benchmark either train well or stay at
    chance; a scale from 0 to 1 spends its colours on the gap and saturates where the good ones differ."""
    v = np.asarray(val, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    trained = v[v >= (lo + hi) / 2]
    vmin = float(np.quantile(trained, 0.05))
    return (vmin, hi) if vmin < hi else (lo, hi if hi > lo else lo + 1.0)


def regret_floor(curves: Sequence[np.ndarray]) -> float:
    """Where a log-scale regret plot draws zero regret: half the smallest positive regret of any curve
    (1e-6 when no curve has one)."""
    pos = [c[c > 0] for c in curves if np.any(np.asarray(c) > 0)]
    smallest = min((float(np.nanmin(p)) for p in pos if len(p)), default=2e-6)
    return smallest / 2


def plot_regret(ax, x: np.ndarray, runs: dict[str, np.ndarray], *, xlabel: str) -> float:
    """Median regret (line) and interquartile range (band) per strategy on a log scale.

    ``runs`` maps a label to a (repeats, len(x)) array of regret (NaN before a search has a finite best,
    which counts as the worst; no line is drawn where the median has none).
    Zero regret (the table's best found) is drawn at a floor below every positive value, marked by a
    dotted line; returns that floor.
    """
    floor = regret_floor([np.asarray(m, dtype=float).ravel() for m in runs.values()])
    top = floor
    ax.set_yscale("log")  # before any data: autoscaling a linear axis to the log scale overflows
    worst = 1e300  # no finite best yet (nothing arrived, or all diverged) counts as the worst regret;
    none = 1e100  # a quantile interpolated towards `worst` lands far above this: no value there
    for label, m in runs.items():
        m = np.asarray(m, dtype=float)
        q25, med, q75 = (np.maximum(np.quantile(np.where(np.isnan(m), worst, m), q, axis=0), floor)
                         for q in (0.25, 0.5, 0.75))
        tail = med[len(med) // 20:]  # the first 5 % of a search: off the scale
        if (tail < none).any():
            top = max(top, float(tail[tail < none].max()))
        (line,) = ax.plot(x, np.where(med >= none, np.nan, med), label=label)  # no line while the median has none
        ax.fill_between(x, np.where(q25 >= none, np.nan, q25), np.minimum(q75, 1e9), alpha=0.18,
                        color=line.get_color(), lw=0)
    # the first random draws reach regrets near 1; what separates strategies is far below: crop to three
    # times the highest median after the first 5 % of the evaluations
    ax.set_ylim(floor / 1.5, min(ax.get_ylim()[1], 3 * top))
    ax.axhline(floor, color="grey", ls=":", lw=1)
    ax.annotate("0 (the table's best found)", (0.99, floor), xycoords=("axes fraction", "data"), ha="right",
                va="bottom", fontsize=7, color="grey")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("regret: table's best - best found (val. acc.)")
    return floor
