"""Benchmark activation-function search algorithms offline (``actbench.search``).

The package, bottom to top: :mod:`~actbench.search.base` (the :class:`Strategy` protocol and the
:class:`SearchSpace` a strategy sees), :mod:`~actbench.search.clock` (the simulated clock of one or several
workers), :mod:`~actbench.search.driver` (:func:`run_search` and :class:`SearchResult`), the strategies
(:mod:`~actbench.search.strategies`, :mod:`~actbench.search.multifidelity`, and the Optuna adapters in
:mod:`~actbench.search.samplers`), and :mod:`~actbench.search.registry` (every strategy by name).

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

Optuna is imported only for the Optuna strategies (``optuna:tpe`` ...; :mod:`actbench.search.samplers`).
"""

from actbench.base.errors import SearchExhausted
from actbench.search.base import SearchSpace, Strategy
from actbench.search.driver import SearchResult, run_search
from actbench.search.registry import STRATEGIES, make_strategy
from actbench.search.strategies import RandomSearch, RegularizedEvolution, SurrogateSearch

__all__ = ["STRATEGIES", "RandomSearch", "RegularizedEvolution", "SearchExhausted", "SearchResult", "SearchSpace",
           "Strategy", "SurrogateSearch", "make_strategy", "run_search"]
