"""A table's functions as Optuna distributions (:func:`search_space`). Needs the ``optuna`` extra.

The parameters are those of :mod:`actbench.query.slots` (one categorical parameter per operator slot, or the
row index ``function``), which also turns parameters back into a function (:func:`name_of`, :func:`params_of`,
:func:`row_of_trial`); :func:`configspace` is the same space for ConfigSpace tools
(:mod:`actbench.interop.configspace`). All are importable from here.

``bench`` below is an :class:`actbench.ActBench` or a :class:`actbench.search.SearchSpace`: only names, the
space and the resolver are read.
"""

from __future__ import annotations

from actbench.base.errors import MissingExtraError
from actbench.interop.configspace import configspace
from actbench.query.slots import INDEX_PARAM, name_of, params_of, row_of_params, slot_params

try:
    from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
except ImportError as e:  # pragma: no cover - exercised by a test that hides optuna
    raise MissingExtraError("Optuna samplers need optuna: pip install 'actbench[optuna]'") from e

__all__ = ["INDEX_PARAM", "configspace", "name_of", "params_of", "row_of_trial", "search_space"]

#: The table row a trial's parameters name, or None (:func:`actbench.query.slots.row_of_params`).
row_of_trial = row_of_params


def search_space(bench, form: str = "auto") -> dict[str, BaseDistribution]:
    """The table's functions as Optuna distributions: ``form="auto"`` gives slots where the space allows,
    else the row index (:mod:`actbench.query.slots`); ``form="index"`` always the row index (for a table of
    sampled candidates, where most slot combinations name no row)."""
    slots = slot_params(bench, form)
    if slots is None:
        return {INDEX_PARAM: IntDistribution(0, len(bench) - 1)}
    return {name: CategoricalDistribution(choices) for name, choices in slots[1]}
