"""Run a search strategy against a table (:func:`run_search`) and keep its trajectory (:class:`SearchResult`).

A search strategy is anything with ``setup``, ``ask`` and ``tell`` (:class:`Strategy`); ``run_search``
drives it against a table, charging every new function to the table's budget, and returns the
trajectory. What a strategy may see before evaluating is :class:`SearchSpace`: the candidate
functions and their pre-training features (FIM and outputs, and their cached embeddings), never the
metrics.

Shipped strategies (:mod:`actbench.search.strategies`): :class:`RandomSearch`, :class:`SurrogateSearch` (the
paper's: the 8 baselines first, then always the unevaluated function with the highest prediction of a
regressor fitted on the evaluated functions' embedding), and :class:`RegularizedEvolution` (Real et al. 2019)
over the grammar; multi-fidelity ones in :mod:`actbench.search.multifidelity`; Optuna's samplers through
:mod:`actbench.search.samplers`; all by name through :func:`make_strategy`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from actbench.base.errors import LimitError
from actbench.base.text import plural
from actbench.query.budget import check_limits
from actbench.search.base import SearchSpace, Strategy
from actbench.search.clock import Limits, run_async, run_serial

__all__ = ["SearchResult", "run_search"]


@dataclass
class SearchResult:
    """The trajectory of one search; arrays are indexed by evaluation (0 .. n-1).

    Attributes:
        names: the representative of each evaluated function.
        val_acc: its validation accuracy.
        test_acc: its test accuracy.
        best_val: best validation accuracy so far; best_test: the test accuracy of that function.
        regret: table's best validation accuracy minus best_val.
        seconds: simulated training seconds spent so far (what the functions finished cost, by the cost rule
            of :mod:`actbench.query.cost`).
        wall_s: real seconds the search took (keeping it in a storage included).
        wall: simulated wall-clock seconds when each result arrived: with one worker the same as
            ``seconds``; with ``n_workers`` the time on the simulated clock (:func:`run_search`).
        n_workers: simulated workers.
        epochs: the epoch each evaluation was at (multi-fidelity strategies), 0 for the end of training.
        exhausted: the search ended before its budget because the strategy had nothing left to propose
            (:class:`SearchExhausted`): every function of the table evaluated, for instance.
        study: the name of the Optuna study it was kept in (``run_search(..., storage=...)``), or None.
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
    study: str | None = None

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
               max_seconds: float | None = None, storage=None, study_name: str | None = None) -> SearchResult:
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

    ``strategy`` is a :class:`Strategy`, a strategy's name (:func:`actbench.search.make_strategy`) or an Optuna
    sampler (wrapped in
    :class:`actbench.samplers.OptunaStrategy`; give a callable ``(bench, rng) -> sampler`` to OptunaStrategy
    for a sampler seeded per search).

    **Keeping the trials.** With ``storage`` (an Optuna storage URL such as ``sqlite:///searches.db``, or a
    storage object) the search is written, when it ends, as a new Optuna study named ``study_name`` (default
    ``<table>-<strategy>-seed<seed>``): one trial per distinct function with its parameters, value and the
    function's name, test accuracy and cost as user attributes (:func:`actbench.search.storage.save_study`), so
    that the Optuna dashboard shows it. Needs the ``optuna`` extra.

    The table's budget counter is reset first and charged by every evaluation (an equivalent name at the
    same or an earlier epoch is not charged again). A function the table cannot answer is told as NaN and
    not charged.

    Raises:
        RuntimeError: the strategy asked ``10 * budget`` times (or 10 times the table's size) without
            reaching the budget (it keeps asking for functions already evaluated or not in the table).
        ValueError: neither budget nor max_seconds, budget < 1 or larger than the table, n_workers < 1, a
            study of that name in ``storage`` already.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers}")
    if budget is None and max_seconds is None:
        raise ValueError("give budget= (distinct functions) or max_seconds= (simulated training seconds), or both")
    if budget is not None and not 1 <= budget <= len(bench):
        raise LimitError(f"budget must be between 1 and the table's {plural(len(bench), 'function')}, got {budget!r}")
    check_limits(budget, max_seconds, evaluations_name="budget")
    if isinstance(strategy, str):
        from actbench.search.registry import make_strategy

        strategy = make_strategy(strategy)
    if not isinstance(strategy, Strategy) and type(strategy).__module__.startswith("optuna"):
        from actbench.search.samplers import OptunaStrategy  # optuna: imported for Optuna samplers only

        strategy = OptunaStrategy(strategy)
    if storage is not None:
        from actbench.search.storage import default_study_name, study_name_free  # optuna: only with a storage

        study_name = study_name or default_study_name(bench, strategy.name, seed)
        study_name_free(storage, study_name)
    t0 = time.perf_counter()
    bench.budget.reset()
    rng = np.random.default_rng(seed)
    strategy.setup(SearchSpace(bench), rng)
    limits = Limits(bench, budget, max_seconds)
    if n_workers > 1:
        steps, wall = run_async(bench, strategy, limits, n_workers)
    else:
        steps = run_serial(bench, strategy, limits)
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
    result = SearchResult(strategy.name, seed, [r.representative for r in recs], val, test, best_val, best_test,
                          table_best - best_val, secs, time.perf_counter() - t0,
                          secs.copy() if wall is None else np.array(wall), n_workers, epochs, limits.exhausted)
    if storage is not None:
        from actbench.search.storage import save_study  # optuna: imported when a storage is given

        result.study = save_study(result, bench, storage, study_name, budget=budget).study_name
        result.wall_s = time.perf_counter() - t0  # the real time of the search, keeping it included
    return result
