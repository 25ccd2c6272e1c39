"""The bottom of the search package: what a strategy is (:class:`Strategy`, the ask/tell protocol) and what it
may see before evaluating (:class:`SearchSpace`: the candidates and their pre-training features, never the
metrics). Every strategy, the driver and the Optuna adapters import this module and nothing above it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from actbench.base.errors import SearchExhausted

__all__ = ["SearchExhausted", "SearchSpace", "Strategy"]


class SearchSpace:
    """What a strategy may look at without paying: the candidates and their pre-training features."""

    def __init__(self, bench) -> None:
        self._bench = bench
        self.names: list[str] = list(bench)  # one per row: every distinct function of the table
        self._embedding: np.ndarray | None = None  # a fixed embedding (with_embedding)

    @classmethod
    def of(cls, bench_or_space) -> SearchSpace:
        """``bench_or_space`` itself when it is a SearchSpace, else the SearchSpace of that table."""
        return bench_or_space if isinstance(bench_or_space, SearchSpace) else cls(bench_or_space)

    def with_embedding(self, embedding: np.ndarray) -> SearchSpace:
        """A copy whose :meth:`embedding` is ``embedding`` (an (n_rows, d) array computed elsewhere, as a
        study computes its own once), whatever features or seed are asked."""
        import copy

        new = copy.copy(self)
        new._embedding = embedding
        return new

    @property
    def name(self) -> str:
        """The table's benchmark name."""
        return self._bench.name

    @property
    def info(self):
        """What the table measures (:class:`actbench.table.TableInfo`: its space, splits, seeds)."""
        return self._bench.info

    @property
    def resolver(self):
        """Names to rows (:class:`actbench.query.Resolver`; free)."""
        return self._bench.resolver

    def __len__(self) -> int:
        return len(self.names)

    def row(self, name: str) -> int:
        """Row index of any name (free); raises UnknownFunctionError when the table has none."""
        return self._bench.resolver.resolve(name).row

    def find(self, name: str) -> int | None:
        """Row index of any name, or None (free, and cheap: for strategies that try many names)."""
        hit = self._bench.resolver.find(name)
        return None if hit is None else hit.row

    def embedding(self, features: str = "both", *, seed: int = 0, method: str = "auto") -> np.ndarray:
        """(n_rows, 2) cached UMAP embedding (see :func:`actbench.analysis.features.embedding`)."""
        if self._embedding is not None:
            return self._embedding
        from actbench.analysis.features import embedding

        return embedding(self._bench, features, seed=seed, method=method)

    def features(self, kind: str) -> np.ndarray:
        """Raw pre-training features, ``"fim"`` or ``"outputs"``."""
        return self._bench.features(kind)

    @property
    def epochs(self) -> int | None:
        """Epochs of the table's learning curves (``ask`` may return ``(name, epoch)``), or None."""
        return self._bench.epochs


@runtime_checkable
class Strategy(Protocol):
    """The ask/tell protocol of a search algorithm."""

    name: str

    def setup(self, space: SearchSpace, rng: np.random.Generator) -> None:
        """Called once before the search with the candidates and a seeded generator."""

    def ask(self) -> str:
        """The next function to evaluate (any name; equivalent names count as the same function); None to
        wait for results of other simulated workers; :class:`SearchExhausted` when nothing is left."""

    def tell(self, name: str, val_acc: float) -> None:
        """The validation accuracy of ``name`` (NaN when training diverged)."""
