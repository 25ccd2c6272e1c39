"""A table's functions as optimiser parameters: Optuna distributions (:func:`search_space`), a ConfigSpace
(:func:`configspace`), and the way back from parameters to a row (:func:`name_of`, :func:`row_of_trial`,
:func:`params_of`). Needs the ``optuna`` extra.

A table's functions become parameters in one of two ways (:func:`search_space`):

- **slots**, for a table whose space has one schema and no literal names (Act-Bench:
  ``binary(unary(x),unary(x))``): one categorical parameter per operator placeholder, named by its
  kind and, where a kind repeats, its position: ``binary``, ``unary_1``, ``unary_2``. Every combination
  names a function; equivalent combinations name the same row. Samplers that model parameters one at a
  time (TPE) can learn which operators do well.
- **index**, for any other table (the large space, a feature table of sampled candidates): one integer
  parameter ``function``, the row in the table's order. It works with every sampler; its order means
  nothing to a sampler that assumes neighbouring integers are alike.

``bench`` below is an :class:`actbench.ActBench` or a :class:`actbench.search.SearchSpace`: only names, the
space and the resolver are read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from actbench.base.errors import MissingExtraError

try:
    from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
except ImportError as e:  # pragma: no cover - exercised by a test that hides optuna
    raise MissingExtraError("Optuna samplers need optuna: pip install 'actbench[optuna]'") from e

__all__ = ["INDEX_PARAM", "configspace", "name_of", "params_of", "row_of_trial", "search_space"]

INDEX_PARAM = "function"
OPTUNA_SAMPLERS = ("tpe", "random", "knr", "rf", "svr")


def _slots(bench) -> tuple[str, list[tuple[str, tuple[str, ...]]]] | None:
    """(schema, [(parameter, choices)]) of the table's space, or None when it has no slot form."""
    from actbench.lang.space import SPACES

    spec = SPACES.get(bench.info.space or "")
    if spec is None or len(spec.schemas) != 1 or spec.literals:
        return None
    schema = spec.schemas[0].replace("n-ary", "nary")
    kinds = re.findall(r"\b(unary|binary|nary)\(", schema)
    choices = {"unary": tuple(spec.unary), "binary": tuple(spec.binary), "nary": tuple(spec.nary)}
    counts = {k: kinds.count(k) for k in kinds}
    seen: dict[str, int] = {}
    params = []
    for k in kinds:
        seen[k] = seen.get(k, 0) + 1
        params.append((k if counts[k] == 1 else f"{k}_{seen[k]}", choices[k]))
    return schema, params


def search_space(bench, form: str = "auto") -> dict[str, BaseDistribution]:
    """The table's functions as Optuna distributions: ``form="auto"`` gives slots where the space allows,
    else the row index (module docstring); ``form="index"`` always the row index (for a table of sampled
    candidates, where most slot combinations name no row)."""
    if form not in ("auto", "index"):
        raise ValueError(f"form must be 'auto' or 'index', got {form!r}")
    slots = _slots(bench) if form == "auto" else None
    if slots is None:
        return {INDEX_PARAM: IntDistribution(0, len(bench) - 1)}
    return {name: CategoricalDistribution(choices) for name, choices in slots[1]}


def name_of(bench, params: Mapping[str, Any]) -> str:
    """The function a parameter set names (a table row's name for the index form).

    Raises:
        ValueError: parameters of another space, or an index outside the table.
    """
    if INDEX_PARAM in params:
        i = params[INDEX_PARAM]
        if not isinstance(i, (int, np.integer)) or not 0 <= i < len(bench):
            raise ValueError(f"{INDEX_PARAM}={i!r} is not a row of {bench.name!r} (0..{len(bench) - 1})")
        return bench.resolver.name(int(i))
    slots = _slots(bench)
    if slots is None or set(params) != {p for p, _ in slots[1]}:
        want = [p for p, _ in slots[1]] if slots else [INDEX_PARAM]
        raise ValueError(f"parameters {sorted(params)} do not name a function of {bench.name!r}; it takes {want}")
    schema, order = slots
    values = iter([params[p] for p, _ in order])
    return re.sub(r"\b(?:unary|binary|nary)(?=\()", lambda m: str(next(values)), schema)


def row_of_trial(bench, params: Mapping[str, Any]) -> int | None:
    """The table row a trial's parameters name, or None (a name the table cannot answer)."""
    if INDEX_PARAM in params:
        i = params[INDEX_PARAM]
        return int(i) if isinstance(i, (int, np.integer)) and 0 <= i < len(bench) else None
    try:
        hit = bench.resolver.find(name_of(bench, params))
    except ValueError:
        return None
    return None if hit is None else hit.row


def params_of(bench, row: int, form: str = "auto") -> dict[str, Any]:
    """Parameters that name table row ``row``: its own name's operators, or its index (see
    :func:`search_space` for ``form``)."""
    slots = _slots(bench) if form == "auto" else None
    if slots is None:
        return {INDEX_PARAM: int(row)}
    from actbench.lang.expr import parse

    schema, order = slots
    for name in (bench.resolver.name(row), *bench.resolver.equivalents(row)):
        ops = _operators(parse(name))
        if len(ops) == len(order) and all(o in choices for o, (_, choices) in zip(ops, order)):
            return {p: o for o, (p, _) in zip(ops, order)}
    raise ValueError(f"row {row} of {bench.name!r} has no name of the form {schema}")


def _operators(expr) -> list[str]:
    out: list[str] = []

    def walk(e) -> None:
        if e.args:
            out.append(e.op)
            for a in e.args:
                walk(a)

    walk(expr)
    return out


def configspace(bench, *, seed: int | None = None):
    """The table's space as a ConfigSpace ``ConfigurationSpace`` (for SMAC, DEHB and other ConfigSpace tools):
    the same parameters as :func:`search_space`, categorical slots or an integer ``function`` row index.
    :func:`name_of` turns a configuration (``dict(config)``) into the function it names."""
    try:
        from ConfigSpace import Categorical, ConfigurationSpace, Integer
    except ImportError as e:
        raise MissingExtraError("ConfigSpace export needs ConfigSpace: pip install 'actbench[optuna]'") from e
    cs = ConfigurationSpace(name=f"actbench-{bench.name}", seed=seed)
    for k, d in search_space(bench).items():
        if isinstance(d, CategoricalDistribution):
            cs.add(Categorical(k, list(d.choices)))
        else:
            cs.add(Integer(k, (d.low, d.high)))
    return cs
