"""Surrogate regressors on embeddings, with the scikit-learn contract (needs the ``search`` extra).

``make_regressor(kind)`` returns an unfitted estimator: ``"knr"`` (k-nearest neighbours, k=3, the
paper's best), ``"rf"`` (random forest) or ``"svr"`` (support-vector regression, RBF kernel). The
k-NN regressor is our own NumPy implementation (same predictions as scikit-learn's
``KNeighborsRegressor(n_neighbors=3)``, ties between equidistant neighbours aside), because a search
refits it after every evaluation and scikit-learn's per-call overhead dominates at that size.

``surrogate_quality`` reports how well a surrogate ranks functions: Spearman and Kendall correlation
between cross-validated predictions and the true validation accuracy.
"""

from __future__ import annotations

import numpy as np

from actbench.base.errors import MissingExtraError

try:
    from sklearn.base import BaseEstimator, RegressorMixin
except ImportError as e:  # pragma: no cover - exercised by a test that hides scikit-learn
    raise MissingExtraError("surrogates need scikit-learn: pip install 'actbench[search]'") from e

__all__ = ["REGRESSORS", "IncrementalKNeighbors", "KNeighborsSurrogate", "make_regressor", "surrogate_quality", "targets"]

REGRESSORS: tuple[str, ...] = ("knr", "rf", "svr")


class KNeighborsSurrogate(RegressorMixin, BaseEstimator):
    """Mean target of the ``n_neighbors`` nearest training points (euclidean).

    Attributes (after ``fit``):
        X_: (n, d) training inputs.
        y_: (n,) training targets.
    """

    def __init__(self, n_neighbors: int = 3) -> None:
        self.n_neighbors = n_neighbors

    def fit(self, X, y) -> KNeighborsSurrogate:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or len(X) != len(y) or not len(y):
            raise ValueError(f"fit needs X of shape (n, d) and y of shape (n,) with n >= 1; got {X.shape}, {y.shape}")
        if self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be >= 1, got {self.n_neighbors}")
        self.X_, self.y_ = X, y
        return self

    def predict(self, X) -> np.ndarray:
        if not hasattr(self, "X_"):
            raise ValueError("KNeighborsSurrogate is not fitted yet: call fit(X, y) first")
        X = np.asarray(X, dtype=np.float64)
        d2 = (X * X).sum(1)[:, None] - 2 * X @ self.X_.T + (self.X_ * self.X_).sum(1)[None, :]
        k = min(self.n_neighbors, len(self.y_))
        if k == len(self.y_):
            return np.full(len(X), self.y_.mean())
        if k <= 5:  # k passes of argmin beat argpartition along short rows several times over
            total = np.zeros(len(X))
            rows = np.arange(len(X))
            for _ in range(k):
                j = d2.argmin(axis=1)
                total += self.y_[j]
                d2[rows, j] = np.inf
            return total / k
        idx = np.argpartition(d2, k - 1, axis=1)[:, :k]
        return self.y_[idx].mean(axis=1)


class IncrementalKNeighbors:
    """k-NN regression over a fixed candidate set to which evaluated points are added one at a time.

    Equivalent to refitting :class:`KNeighborsSurrogate` on the evaluated points after every addition
    and predicting every candidate (up to the order of equidistant neighbours), but each addition costs
    O(n_candidates · k) instead of a fresh O(n_candidates · n_evaluated) distance matrix: a search's
    per-step cost stops growing with the number of evaluations.
    """

    def __init__(self, X: np.ndarray, n_neighbors: int = 3) -> None:
        self.X = np.asarray(X, dtype=np.float64)
        self.k = n_neighbors
        self.best_d = np.full((len(self.X), n_neighbors), np.inf)
        self.best_y = np.zeros((len(self.X), n_neighbors))
        self.n = 0
        self._pred = np.zeros(len(self.X))

    def add(self, i: int, y: float) -> None:
        d = ((self.X - self.X[i]) ** 2).sum(axis=1)
        # each row's k nearest are kept sorted; the new point goes after every one at most as far (the
        # order a stable sort of old-then-new gives), and only rows where that is among the k change
        pos = (self.best_d <= d[:, None]).sum(axis=1)
        hit = np.flatnonzero(pos < self.k)
        if len(hit):
            p = pos[hit][:, None]
            cols = np.arange(self.k)[None, :]
            src = cols - (cols > p)  # column c takes old c before p, old c - 1 after it
            nd = np.take_along_axis(self.best_d[hit], src, axis=1)
            ny = np.take_along_axis(self.best_y[hit], src, axis=1)
            at = cols == p
            nd[at] = d[hit]
            ny[at] = float(y)
            self.best_d[hit], self.best_y[hit] = nd, ny
        self.n += 1
        if self.n <= self.k:  # every row's neighbours changed
            self._pred = self.best_y[:, :self.n].mean(axis=1)
        elif len(hit):  # only the rows whose neighbours changed
            self._pred[hit] = ny.mean(axis=1)

    def predict(self) -> np.ndarray:
        """(n_candidates,) predictions: mean target of the min(k, n_added) nearest added points."""
        return self._pred.copy()


def make_regressor(kind: str, *, seed: int = 0):
    """An unfitted surrogate: ``knr`` (k=3), ``rf`` (a random forest of 10 trees: our choice, since a search
    refits it after every evaluation) or ``svr`` (RBF kernel, scikit-learn's default C and gamma)."""
    if kind == "knr":
        return KNeighborsSurrogate(n_neighbors=3)
    if kind == "rf":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_estimators=10, random_state=seed, n_jobs=1)
    if kind == "svr":
        from sklearn.svm import SVR

        return SVR()
    from actbench.base.text import did_you_mean

    raise ValueError(f"unknown regressor {kind!r}{did_you_mean(kind, REGRESSORS)}; regressors: {', '.join(REGRESSORS)}")


def targets(bench) -> np.ndarray:
    """Validation accuracy per row, a diverged or missing value counting as 0 (a run that learned nothing)."""
    return np.nan_to_num(bench.metric("val_acc"), nan=0.0)


def surrogate_quality(bench, *, features: str = "both", regressor: str = "knr", folds: int = 5,
                      seed: int = 0) -> dict[str, float]:
    """Cross-validated rank correlation of a surrogate's predictions with validation accuracy.

    Returns ``{"spearman": ..., "kendall": ...}``. Uses the cached embedding; free analysis (not charged).
    """
    from scipy.stats import kendalltau, spearmanr
    from sklearn.model_selection import KFold, cross_val_predict

    from actbench.analysis.features import embedding

    X = embedding(bench, features, seed=seed)
    y = targets(bench)
    pred = cross_val_predict(make_regressor(regressor, seed=seed), X, y,
                             cv=KFold(folds, shuffle=True, random_state=seed))
    return {"spearman": float(spearmanr(pred, y).statistic), "kendall": float(kendalltau(pred, y).statistic)}
