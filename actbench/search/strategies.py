"""The shipped search strategies: :class:`RandomSearch`, :class:`SurrogateSearch` (the paper's) and
:class:`RegularizedEvolution`. Each imports only the protocol below it (:mod:`actbench.search.base`)."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from actbench.base.errors import SearchExhausted
from actbench.lang.expr import Expr, parse
from actbench.lang.ops import BASELINES, OPERATORS
from actbench.search.base import SearchSpace

__all__ = ["RandomSearch", "RegularizedEvolution", "SurrogateSearch"]


class RandomSearch:
    """Uniformly random functions, without repetition."""

    name = "random"

    def setup(self, space: SearchSpace, rng: np.random.Generator) -> None:
        self._order = [space.names[i] for i in rng.permutation(len(space.names))]
        self._i = 0

    def ask(self) -> str:
        if self._i >= len(self._order):
            raise SearchExhausted("random: every function of the table has been proposed")
        name = self._order[self._i]
        self._i += 1
        return name

    def tell(self, name: str, val_acc: float) -> None:
        pass


class SurrogateSearch:
    """The paper's search: baselines first, then the best prediction of a surrogate on an embedding.

    Args:
        regressor: ``"knr"``, ``"rf"`` or ``"svr"`` (:func:`actbench.surrogate.make_regressor`).
        features: ``"fim"``, ``"outputs"`` or ``"both"``.
        embedding_seed: the UMAP seed (the embedding is cached per table and seed).
        embedding_method: ``"auto"``, ``"exact"`` or ``"fast"`` (:func:`actbench.analysis.features.embedding`;
            auto is the paper's UMAP up to 50,000 functions).

    Raises:
        ValueError: an unknown regressor or feature set (checked here, not when the search starts).
    """

    def __init__(self, regressor: str = "knr", features: str = "both", *, embedding_seed: int = 0,
                 embedding_method: str = "auto") -> None:
        from actbench.base.text import did_you_mean
        from actbench.analysis.features import FEATURE_SETS
        from actbench.analysis.surrogate import REGRESSORS

        if regressor not in REGRESSORS:
            raise ValueError(f"unknown regressor {regressor!r}{did_you_mean(str(regressor), REGRESSORS)}; "
                             f"regressors: {', '.join(REGRESSORS)}")
        if features not in FEATURE_SETS:
            raise ValueError(f"unknown feature set {features!r}{did_you_mean(str(features), FEATURE_SETS)}; "
                             f"feature sets: {', '.join(FEATURE_SETS)}")
        from actbench.analysis.features import EMBEDDING_METHODS

        if embedding_method not in EMBEDDING_METHODS:
            raise ValueError(f"unknown embedding method {embedding_method!r}; methods: {', '.join(EMBEDDING_METHODS)}")
        self.regressor, self.features, self.embedding_seed = regressor, features, embedding_seed
        self.embedding_method = embedding_method
        self.name = f"{regressor}-{features}"

    def setup(self, space: SearchSpace, rng: np.random.Generator) -> None:
        from actbench.analysis.surrogate import make_regressor

        self._space, self._rng = space, rng
        self.pending: set[int] = set()  # rows other (simulated) workers are evaluating
        from actbench.analysis.surrogate import IncrementalKNeighbors

        self._X = space.embedding(self.features, seed=self.embedding_seed, method=self.embedding_method)
        self._model = make_regressor(self.regressor, seed=int(rng.integers(2**31)))
        # k-NN gets the same predictions incrementally (no refit per step); other regressors are refitted
        self._knn = IncrementalKNeighbors(self._X, self._model.n_neighbors) if self.regressor == "knr" else None
        self._evaluated = np.zeros(len(space.names), dtype=bool)
        self._rows: list[int] = []
        self._y: list[float] = []
        self._queue = []
        for b in BASELINES:
            r = space.find(b)
            if r is not None and r not in self._queue:
                self._queue.append(r)

    def ask(self) -> str:
        return self._space.names[self.next_row(self.pending)]

    def next_row(self, pending: Collection[int] = ()) -> int:
        """The row :meth:`ask` names; rows in ``pending`` (being evaluated elsewhere) are never chosen.

        Raises:
            SearchExhausted: (an IndexError) every row is evaluated or pending.
        """
        for r in self._queue:  # the baselines first, in order; a pending one stays queued
            if not self._evaluated[r] and r not in pending:
                self._queue.remove(r)
                return r
        mask = ~self._evaluated
        if pending:
            mask = mask.copy()
            mask[np.fromiter(pending, dtype=np.int64)] = False
        free = np.flatnonzero(mask)
        if not len(free):
            raise SearchExhausted(f"{self.name}: every candidate is evaluated or being evaluated")
        if not self._rows:
            return int(self._rng.choice(free))
        if self._knn is not None:
            pred = self._knn.predict()[free]
        else:
            self._model.fit(self._X[self._rows], np.asarray(self._y))
            pred = self._model.predict(self._X[free])
        best = np.flatnonzero(pred >= pred.max() - 1e-12)  # break ties at random, not by table order
        return int(free[self._rng.choice(best)])

    def tell(self, name: str, val_acc: float) -> None:
        r = self._space.find(name)
        if r is not None and not self._evaluated[r]:
            self._evaluated[r] = True
            self._rows.append(r)
            self._y.append(0.0 if np.isnan(val_acc) else float(val_acc))
            if self._knn is not None:
                self._knn.add(r, self._y[-1])


class RegularizedEvolution:
    """Regularized (aging) evolution over the grammar (Real et al. 2019).

    A population of ``population`` functions starts at random; each step samples ``sample`` members,
    mutates the best (one operator replaced by another of the same kind), and the oldest member dies.
    """

    name = "evolution"

    def __init__(self, population: int = 20, sample: int = 5) -> None:
        self.population, self.sample = population, sample

    def setup(self, space: SearchSpace, rng: np.random.Generator) -> None:
        self._space, self._rng = space, rng
        self.pending: set[int] = set()  # rows other (simulated) workers are evaluating
        self._pop: list[tuple[str, float]] = []
        self._seen: set[int] = set()
        self._init = [space.names[i] for i in rng.permutation(len(space.names))[: self.population]]
        self._by_kind = {k: [n for n, op in OPERATORS.items() if op.kind == k and not op.extra]
                         for k in ("unary", "binary", "nary")}

    def ask(self) -> str:
        if self._init:
            return self._init.pop(0)
        if not self._pop:  # several workers and no result yet: another random function
            return self._random_free()
        idx = self._rng.choice(len(self._pop), size=min(self.sample, len(self._pop)), replace=False)
        parent = parse(max((self._pop[i] for i in idx), key=lambda p: -1.0 if np.isnan(p[1]) else p[1])[0])
        for _ in range(100):  # a child the table has and that is not evaluated yet
            child = str(self._mutate(parent))
            row = self._space.find(child)
            if row is not None and row not in self._seen and row not in self.pending:
                return child
        return self._random_free()

    def _random_free(self) -> str:
        free = [n for i, n in enumerate(self._space.names) if i not in self._seen and i not in self.pending]
        if not free:
            raise SearchExhausted("evolution: every function is evaluated or being evaluated")
        return free[int(self._rng.integers(len(free)))]

    def _mutate(self, expr: Expr) -> Expr:
        nodes = []

        def walk(e: Expr, path: tuple[int, ...]) -> None:
            if e.args:
                nodes.append(path)
                for i, a in enumerate(e.args):
                    walk(a, path + (i,))

        walk(expr, ())
        path = nodes[int(self._rng.integers(len(nodes)))]

        def replace(e: Expr, p: tuple[int, ...]) -> Expr:
            if not p:
                kind = OPERATORS[e.op].kind
                choices = [o for o in self._by_kind[kind] if o != e.op]
                return Expr(choices[int(self._rng.integers(len(choices)))], e.args)
            args = list(e.args)
            args[p[0]] = replace(args[p[0]], p[1:])
            return Expr(e.op, tuple(args))

        return replace(expr, path)

    def tell(self, name: str, val_acc: float) -> None:
        row = self._space.find(name)
        if row is None:
            return
        self._seen.add(row)
        self._pop.append((name, val_acc))
        if len(self._pop) > self.population:
            self._pop.pop(0)
