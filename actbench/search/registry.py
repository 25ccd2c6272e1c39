"""Strategies by name (``actbench search --strategy NAME``): the one list of names, and the factory that
knows every implementation (it sits above them all, as Optuna's does)."""

from __future__ import annotations

from actbench.base.text import did_you_mean
from actbench.search.base import Strategy
from actbench.search.strategies import RandomSearch, RegularizedEvolution, SurrogateSearch

__all__ = ["MULTI_FIDELITY", "OPTUNA_STRATEGIES", "STRATEGIES", "SURROGATE_REGRESSORS", "make_strategy"]

#: The paper's surrogate search, by regressor (``knr``, ``rf``, ``svr``).
SURROGATE_REGRESSORS: tuple[str, ...] = ("knr", "rf", "svr")
#: Multi-fidelity strategies (tables with learning curves).
MULTI_FIDELITY: tuple[str, ...] = ("sh", "hyperband", "asha")
#: Optuna's samplers and ours as an Optuna sampler (``optuna:<sampler>``; needs the optuna extra).
OPTUNA_STRATEGIES: tuple[str, ...] = ("optuna:tpe", "optuna:random", "optuna:knr", "optuna:rf", "optuna:svr")
#: Every strategy name :func:`make_strategy` knows.
STRATEGIES: tuple[str, ...] = ("random", "evolution", *SURROGATE_REGRESSORS, *MULTI_FIDELITY, *OPTUNA_STRATEGIES)


def make_strategy(name: str, *, features: str = "both") -> Strategy:
    """``random``, ``evolution``, a regressor name (``knr``, ``rf``, ``svr``) for :class:`SurrogateSearch`,
    ``sh``, ``hyperband`` or ``asha`` (:mod:`actbench.multifidelity`; tables with learning curves), or
    ``optuna:<sampler>`` for an Optuna sampler (``optuna:tpe``, ``optuna:random``, ``optuna:knr`` ...; needs
    the ``optuna`` extra, see :mod:`actbench.samplers`)."""
    if name.startswith("optuna:"):
        from actbench.search.samplers import OptunaStrategy

        return OptunaStrategy(name.split(":", 1)[1], features=features)
    if name in MULTI_FIDELITY:
        from actbench.search.multifidelity import AsyncSuccessiveHalving, Hyperband, SuccessiveHalving

        return {"sh": SuccessiveHalving, "hyperband": Hyperband, "asha": AsyncSuccessiveHalving}[name]()
    if name == "random":
        return RandomSearch()
    if name == "evolution":
        return RegularizedEvolution()
    if name in SURROGATE_REGRESSORS:
        return SurrogateSearch(name, features)
    raise ValueError(f"unknown strategy {name!r}{did_you_mean(name, STRATEGIES)}; strategies: {', '.join(STRATEGIES)}")
