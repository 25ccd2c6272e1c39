"""A table as ConfigSpace spaces, for SMAC, DEHB, HpBandSter and every other ConfigSpace tool:
:func:`configspace` (the functions: categorical operator slots, or the integer row ``function``, as
:mod:`actbench.query.slots` describes) and :func:`fidelity_space` (the epochs of a table with learning
curves). Needs ``ConfigSpace`` (the ``optuna`` extra has it).

>>> from actbench import ActBench
>>> from actbench.interop import configspace, fidelity_space
>>> bench = ActBench("mini")
>>> list(configspace(bench, seed=0))
['binary', 'unary_1', 'unary_2']
>>> fidelity_space(bench)["epoch"].upper
10
"""

from __future__ import annotations

from actbench.base.errors import MissingExtraError
from actbench.query.slots import INDEX_PARAM, slot_params

__all__ = ["FIDELITY", "configspace", "fidelity_space"]

#: The name of the fidelity parameter: epochs of training (1 .. ``bench.epochs``).
FIDELITY = "epoch"


def _cs():
    try:
        import ConfigSpace
    except ImportError as e:
        raise MissingExtraError("the ConfigSpace export needs ConfigSpace: pip install ConfigSpace "
                                "(or pip install 'actbench[optuna]')") from e
    return ConfigSpace


def configspace(bench, *, seed: int | None = None, form: str = "auto"):
    """The table's functions as a ConfigSpace ``ConfigurationSpace``: categorical operator slots, or an integer
    ``function`` row index (``form``: :func:`actbench.query.slots.slot_params`). Every configuration names
    a function (:func:`actbench.query.slots.name_of`, or :class:`actbench.interop.Objective` directly)."""
    CS = _cs()
    cs = CS.ConfigurationSpace(name=f"actbench-{bench.name}", seed=seed)
    slots = slot_params(bench, form)
    if slots is None:
        cs.add(CS.Integer(INDEX_PARAM, (0, len(bench) - 1)))
    else:
        cs.add([CS.Categorical(p, list(choices)) for p, choices in slots[1]])
    return cs


def fidelity_space(bench, *, seed: int | None = None):
    """The fidelity of a table with learning curves as a ConfigSpace: one integer ``epoch`` from 1 to
    ``bench.epochs``, default the last (HPOBench's ``get_fidelity_space``).

    Raises:
        ValueError: the table has no learning curves (only the values at the end of training)."""
    if not bench.epochs:
        raise ValueError(f"{bench.name!r} has no learning curves, so no fidelity: only the values at the end "
                         "of training")
    CS = _cs()
    cs = CS.ConfigurationSpace(name=f"actbench-{bench.name}-fidelity", seed=seed)
    cs.add(CS.Integer(FIDELITY, (1, int(bench.epochs)), default=int(bench.epochs)))
    return cs
