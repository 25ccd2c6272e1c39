"""Benchmark activation-function search algorithms offline.

A search strategy is anything with ``setup``, ``ask`` and ``tell`` (:class:`Strategy`); ``run_search``
drives it against a table, charging every new function to the table's budget, and returns the
trajectory. What a strategy may see before evaluating is :class:`SearchSpace`: the candidate
functions and their pre-training features (FIM and outputs, and their cached embeddings), never the
metrics.

A strategy of your own::

    import numpy as np
    from actbench import ActBench
    from actbench.search import run_search

    class Alphabetical:                     # evaluates functions in name order
        name = "alphabetical"
        def setup(self, space, rng):
            self.todo = sorted(space.names)
        def ask(self):
            return self.todo.pop(0)
        def tell(self, name, val_acc):
            pass

    result = run_search(ActBench("mini"), Alphabetical(), budget=50, seed=0)
    result.best_val[-1], result.regret[-1]

Shipped strategies: :class:`RandomSearch`, :class:`SurrogateSearch` (the paper's: the 8 baselines
first, then always the unevaluated function with the highest prediction of a regressor fitted on the
evaluated functions' embedding), and :class:`RegularizedEvolution` (Real et al. 2019) over the grammar.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from collections.abc import Collection
from typing import Protocol, runtime_checkable

import numpy as np

from actbench.errors import UnknownFunctionError, plural
from actbench.expr import Expr, parse
from actbench.ops import BASELINES, OPERATORS

__all__ = ["RandomSearch", "RegularizedEvolution", "SearchExhausted", "SearchResult", "SearchSpace", "Strategy",
           "SurrogateSearch", "make_strategy", "run_search"]


class SearchExhausted(IndexError):
    """Raised by a strategy's ``ask`` that has nothing left to propose: every function it could propose is
    evaluated or being evaluated. :func:`run_search` then waits for the evaluations still running (they
    may give it something to continue) and otherwise ends the search early (``SearchResult.exhausted``)."""


class SearchSpace:
    """What a strategy may look at without paying: the candidates and their pre-training features."""

    def __init__(self, bench) -> None:
        self._bench = bench
        self.names: list[str] = list(bench)  # one per row: every distinct function of the table

    def row(self, name: str) -> int:
        """Row index of any name (free); raises UnknownFunctionError when the table has none."""
        return self._bench._resolve(name)[0]

    def find(self, name: str) -> int | None:
        """Row index of any name, or None (free, and cheap: for strategies that try many names)."""
        hit = self._bench._find(name)
        return None if hit is None else hit[0]

    def embedding(self, features: str = "both", *, seed: int = 0) -> np.ndarray:
        """(n_rows, 2) cached UMAP embedding (see :func:`actbench.features.embedding`)."""
        from actbench.features import embedding

        return embedding(self._bench, features, seed=seed)

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


@dataclass
class SearchResult:
    """The trajectory of one search; arrays are indexed by evaluation (0 .. n-1).

    Attributes:
        names: the representative of each evaluated function.
        val_acc, test_acc: its validation and test accuracy.
        best_val: best validation accuracy so far; best_test: the test accuracy of that function.
        regret: table's best validation accuracy minus best_val.
        seconds: simulated training seconds spent so far (the table's runtimes of the functions finished).
        wall: simulated wall-clock seconds when each result arrived: with one worker the same as
            ``seconds``; with ``n_workers`` the time on the simulated clock (:func:`run_search`).
        n_workers: simulated workers.
        epochs: the epoch each evaluation was at (multi-fidelity strategies), 0 for the end of training.
        exhausted: the search ended before its budget because the strategy had nothing left to propose
            (:class:`SearchExhausted`): every function of the table evaluated, for instance.
    """

    strategy: str
    seed: int
    names: list[str] = field(default_factory=list)
    val_acc: np.ndarray = None
    test_acc: np.ndarray = None
    best_val: np.ndarray = None
    best_test: np.ndarray = None
    regret: np.ndarray = None
    seconds: np.ndarray = None
    wall_s: float = 0.0
    wall: np.ndarray = None
    n_workers: int = 1
    epochs: np.ndarray = None
    exhausted: bool = False

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"function": self.names, "val_acc": self.val_acc, "test_acc": self.test_acc,
                             "best_val": self.best_val, "best_test": self.best_test, "regret": self.regret,
                             "seconds": self.seconds, "wall": self.wall, "epoch": self.epochs})

    def regret_at(self, times) -> np.ndarray:
        """Regret at simulated wall-clock ``times`` (seconds): that of the last result arrived by then,
        NaN before the first."""
        idx = np.searchsorted(self.wall, np.asarray(times, dtype=float), side="right") - 1
        return np.where(idx >= 0, self.regret[np.maximum(idx, 0)], np.nan)


def run_search(bench, strategy, *, budget: int | None = None, seed: int = 0, n_workers: int = 1,
               max_seconds: float | None = None) -> SearchResult:
    """Run ``strategy`` on ``bench`` until ``budget`` distinct functions have been evaluated, or until
    ``max_seconds`` simulated training seconds are spent (give either or both).

    With ``n_workers`` > 1, ``n_workers`` simulated workers run asynchronously on a simulated clock: each
    idle worker is given the strategy's next function at the current time, which finishes after the
    table's runtime of that function (the median runtime where a row has none); results are told, and
    recorded, in the order they finish, and a worker that finishes is given the next function at its
    finish time. Strategies with a ``pending`` attribute (a set) find in it the rows being evaluated by
    other workers, and should not propose them (the shipped ones do not); a strategy that proposes one
    anyway is told its value when it finishes, and the asking worker stays idle for another ask. A
    strategy whose ``ask`` returns None is waiting for results: the worker idles until the next one.

    **Multi-fidelity.** On a table with learning curves (``bench.epochs``), ``ask`` may return
    ``(name, epoch)``: the function is evaluated after ``epoch`` epochs (``bench.query(name, epoch=...)``),
    which costs the seconds up to that epoch (``query``); asking for it again at a later epoch continues the
    training and costs only the seconds between. Every such evaluation is a step of the result;
    ``best_val`` (and so ``regret``) counts only evaluations at the end of training (the last epoch, or
    a plain name), so that strategies are compared on fully trained functions.

    ``strategy`` is a :class:`Strategy` or an Optuna sampler (wrapped in
    :class:`actbench.samplers.OptunaStrategy`; give a callable ``(bench, rng) -> sampler`` to OptunaStrategy
    for a sampler seeded per search).

    The table's budget counter is reset first and charged by every evaluation (an equivalent name at the
    same or an earlier epoch is not charged again). A function the table cannot answer is told as NaN and
    not charged.

    Raises:
        RuntimeError: the strategy asked ``10 * budget`` times (or 10 times the table's size) without
            reaching the budget (it keeps asking for functions already evaluated or not in the table).
        ValueError: neither budget nor max_seconds, budget < 1 or larger than the table, n_workers < 1.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers}")
    if budget is None and max_seconds is None:
        raise ValueError("give budget= (distinct functions) or max_seconds= (simulated training seconds), or both")
    if budget is not None and not 1 <= budget <= len(bench):
        raise ValueError(f"budget must be between 1 and the table's {plural(len(bench), 'function')}, got {budget}")
    if not isinstance(strategy, Strategy) and type(strategy).__module__.startswith("optuna"):
        from actbench.samplers import OptunaStrategy

        strategy = OptunaStrategy(strategy)
    t0 = time.perf_counter()
    bench.budget.reset()
    rng = np.random.default_rng(seed)
    strategy.setup(SearchSpace(bench), rng)
    limits = _Limits(bench, budget, max_seconds)
    if n_workers > 1:
        steps, wall = _run_async(bench, strategy, limits, n_workers)
    else:
        steps = _run_serial(bench, strategy, limits)
        wall = None
    recs = [r for r, _, _ in steps]
    val = np.array([r.val_acc for r in recs])
    test = np.array([r.test_acc for r in recs])
    secs = np.cumsum([c for _, c, _ in steps]) if steps else np.zeros(0)
    epochs = np.array([e for _, _, e in steps], dtype=int)
    final = (epochs == 0) | (epochs == (bench.epochs or 0))
    filled = np.where(np.isnan(val) | ~final, -np.inf, val)
    best_idx = np.array([int(np.argmax(filled[:i + 1])) for i in range(len(val))]) if len(val) else np.zeros(0, int)
    best_val = np.maximum.accumulate(filled) if len(val) else np.zeros(0)
    best_val = np.where(np.isinf(best_val), np.nan, best_val)
    table_best = float(np.nanmax(bench.metric("val_acc")))
    best_test = np.where(np.isnan(best_val), np.nan, test[best_idx]) if len(val) else np.zeros(0)
    return SearchResult(strategy.name, seed, [r.representative for r in recs], val, test, best_val, best_test,
                        table_best - best_val, secs, time.perf_counter() - t0,
                        secs.copy() if wall is None else np.array(wall), n_workers, epochs, limits.exhausted)


class _Limits:
    """When a search stops: ``budget`` distinct functions, ``max_seconds`` training seconds, and a cap on
    asks against strategies that repeat themselves."""

    def __init__(self, bench, budget: int | None, max_seconds: float | None) -> None:
        self.bench, self.budget, self.max_seconds = bench, budget, max_seconds
        self.max_asks = 10 * (budget if budget is not None else len(bench))
        self.asked = 0
        self.exhausted = False  # the strategy had nothing left to propose (SearchExhausted)

    def done(self, started_functions: int) -> bool:
        b = self.bench.budget
        return ((self.budget is not None and started_functions >= self.budget)
                or (self.max_seconds is not None and b.seconds >= self.max_seconds))

    def count_ask(self, strategy, evaluations: int) -> None:
        self.asked += 1
        if self.asked > self.max_asks:
            raise RuntimeError(f"strategy {strategy.name!r} asked {self.asked - 1} times but only "
                               f"{plural(evaluations, 'distinct function')} "
                               f"{'was' if evaluations == 1 else 'were'} new; it keeps repeating itself")


def _split(asked) -> tuple[str, int | None]:
    """(name, epoch) of what a strategy asked for: a name, or (name, epoch)."""
    if isinstance(asked, tuple):
        name, epoch = asked
        return name, int(epoch)
    return asked, None


def _query(bench, strategy, name: str, epoch: int | None = None):
    """(record, seconds charged, whether it was a new evaluation); (None, 0, False) for a name the table
    cannot answer, which is told NaN."""
    before_n, before_s = bench.budget.evaluations, bench.budget.seconds
    try:
        rec = bench.query(name, epoch=epoch)
    except UnknownFunctionError:
        strategy.tell(name, float("nan"))
        return None, 0.0, False
    cost = bench.budget.seconds - before_s
    return rec, cost, bench.budget.evaluations > before_n or cost > 0


def _run_serial(bench, strategy, limits: _Limits) -> list:
    steps = []
    while not limits.done(bench.budget.evaluations):
        limits.count_ask(strategy, bench.budget.evaluations)
        try:
            asked = strategy.ask()
        except SearchExhausted:
            limits.exhausted = True
            break
        if asked is None:
            raise RuntimeError(f"strategy {strategy.name!r} has nothing to ask with one worker: it waits for "
                               "results that only it can produce")
        name, epoch = _split(asked)
        rec, cost, new = _query(bench, strategy, name, epoch)
        if rec is None:
            continue
        strategy.tell(name, rec.val_acc)
        if new:
            steps.append((rec, cost, epoch or 0))
    return steps


def _run_async(bench, strategy, limits: _Limits, n_workers: int) -> tuple[list, list]:
    """The simulated clock of :func:`run_search` with several workers: (steps in finish order, finish times)."""
    import heapq

    runtimes = bench.metric("runtime_s")
    fallback = float(np.nanmedian(runtimes)) if np.isfinite(runtimes).any() else 1.0
    pending = getattr(strategy, "pending", None)
    running: list[tuple[float, int, int]] = []  # (finish time, start order, row): a heap
    waiting: dict[int, list[str]] = {}  # row -> the names asked for it, told when it finishes
    started: dict[int, tuple] = {}  # row -> (record, cost, epoch)
    steps, wall = [], []
    clock, n_started = 0.0, 0
    rows_started: set[int] = set()
    while True:
        while len(running) < n_workers and not limits.done(len(rows_started)):
            limits.count_ask(strategy, len(rows_started))
            try:
                asked = strategy.ask()
            except SearchExhausted:  # nothing to propose until a running evaluation finishes, if any does
                limits.exhausted = not running
                break
            if asked is None:  # the strategy waits for a result
                break
            name, epoch = _split(asked)
            hit = bench._find(name)
            if hit is not None and hit[0] in waiting:  # being evaluated by another worker
                waiting[hit[0]].append(name)
                continue
            rec, cost, new = _query(bench, strategy, name, epoch)
            if rec is None:
                continue
            if not new:  # evaluated earlier: its value is known, free
                strategy.tell(name, rec.val_acc)
                continue
            duration = cost if cost > 0 or epoch is not None else fallback
            heapq.heappush(running, (clock + duration, n_started, rec.row))
            waiting[rec.row], started[rec.row] = [name], (rec, cost, epoch or 0)
            rows_started.add(rec.row)
            n_started += 1
            if pending is not None:
                pending.add(rec.row)
        if not running:
            return steps, wall
        clock, _, row = heapq.heappop(running)
        step = started.pop(row)
        if pending is not None:
            pending.discard(row)
        for name in waiting.pop(row):
            strategy.tell(name, step[0].val_acc)
        steps.append(step)
        wall.append(clock)


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

    Raises:
        ValueError: an unknown regressor or feature set (checked here, not when the search starts).
    """

    def __init__(self, regressor: str = "knr", features: str = "both", *, embedding_seed: int = 0) -> None:
        from actbench.errors import did_you_mean
        from actbench.features import FEATURE_SETS
        from actbench.surrogate import REGRESSORS

        if regressor not in REGRESSORS:
            raise ValueError(f"unknown regressor {regressor!r}{did_you_mean(str(regressor), REGRESSORS)}; "
                             f"regressors: {', '.join(REGRESSORS)}")
        if features not in FEATURE_SETS:
            raise ValueError(f"unknown feature set {features!r}{did_you_mean(str(features), FEATURE_SETS)}; "
                             f"feature sets: {', '.join(FEATURE_SETS)}")
        self.regressor, self.features, self.embedding_seed = regressor, features, embedding_seed
        self.name = f"{regressor}-{features}"

    def setup(self, space: SearchSpace, rng: np.random.Generator) -> None:
        from actbench.surrogate import make_regressor

        self._space, self._rng = space, rng
        self.pending: set[int] = set()  # rows other (simulated) workers are evaluating
        from actbench.surrogate import IncrementalKNeighbors

        self._X = space.embedding(self.features, seed=self.embedding_seed)
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


def make_strategy(name: str, *, features: str = "both") -> Strategy:
    """``random``, ``evolution``, a regressor name (``knr``, ``rf``, ``svr``) for :class:`SurrogateSearch`,
    ``sh``, ``hyperband`` or ``asha`` (:mod:`actbench.multifidelity`; tables with learning curves), or
    ``optuna:<sampler>`` for an Optuna sampler (``optuna:tpe``, ``optuna:random``, ``optuna:knr`` ...; needs
    the ``optuna`` extra, see :mod:`actbench.samplers`)."""
    from actbench.errors import did_you_mean

    if name.startswith("optuna:"):
        from actbench.samplers import OptunaStrategy

        return OptunaStrategy(name.split(":", 1)[1], features=features)
    if name in ("sh", "hyperband", "asha"):
        from actbench.multifidelity import AsyncSuccessiveHalving, Hyperband, SuccessiveHalving

        return {"sh": SuccessiveHalving, "hyperband": Hyperband, "asha": AsyncSuccessiveHalving}[name]()
    if name == "random":
        return RandomSearch()
    if name == "evolution":
        return RegularizedEvolution()
    if name in ("knr", "rf", "svr"):
        return SurrogateSearch(name, features)
    known = ["random", "evolution", "knr", "rf", "svr", "sh", "hyperband", "asha", "optuna:tpe", "optuna:random",
             "optuna:knr"]
    raise ValueError(f"unknown strategy {name!r}{did_you_mean(name, known)}; strategies: {', '.join(known)}")
