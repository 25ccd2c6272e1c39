"""A table's functions as optimiser parameters, without any optimiser library: the **slot** form (one
categorical parameter per operator placeholder of the space's schema) or the **index** form (one integer
parameter, the row), and the way back from parameters to a function (:func:`name_of`, :func:`row_of_params`,
:func:`params_of`).

A table's functions become parameters in one of two ways (:func:`slot_params`):

- **slots**, for a table whose space has one schema and no literal names (Act-Bench:
  ``binary(unary(x),unary(x))``): one categorical parameter per operator placeholder, named by its
  kind and, where a kind repeats, its position: ``binary``, ``unary_1``, ``unary_2``. Every combination
  names a function; equivalent combinations name the same row. Optimisers that model parameters one at a
  time (TPE, SMAC's random forest) can learn which operators do well.
- **index**, for any other table (the large space, a feature table of sampled candidates): one integer
  parameter ``function``, the row in the table's order. It works with every optimiser; its order means
  nothing to one that assumes neighbouring integers are alike.

Optuna distributions (:mod:`actbench.search.params`), a ConfigSpace (:mod:`actbench.interop.configspace`) and a
syne-tune blackbox (:mod:`actbench.interop.synetune`) are built from these. ``bench`` below is an
:class:`actbench.ActBench` or a :class:`actbench.search.SearchSpace`: only names, the space and the resolver
are read, never a metric, and nothing is charged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from actbench.base.errors import ConfigurationError

__all__ = ["INDEX_PARAM", "Slots", "name_of", "params_of", "row_of_params", "slot_params"]

#: The parameter of the index form: a row of the table.
INDEX_PARAM = "function"

#: (schema with ``unary``/``binary``/``nary`` placeholders, [(parameter, choices)]) of a table in slot form.
Slots = tuple[str, list[tuple[str, tuple[str, ...]]]]


def slot_params(bench, form: str = "auto") -> Slots | None:
    """The slot form of the table's space, or None where it has none (the index form applies).

    ``form="auto"`` gives slots where the space allows; ``form="index"`` always None (for a table of sampled
    candidates, where most slot combinations name no row)."""
    if form not in ("auto", "index"):
        raise ValueError(f"form must be 'auto' or 'index', got {form!r}")
    if form == "index":
        return None
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


def name_of(bench, params: Mapping[str, Any]) -> str:
    """The function a parameter set names (a table row's name for the index form). ``params`` is a dict, a
    ConfigSpace configuration or any mapping; keys other than the space's (a fidelity, say) are refused, in
    either form.

    Raises:
        ConfigurationError: parameters of another space, an extra key, or an index outside the table (a
            ``ValueError``).
    """
    if INDEX_PARAM in params:
        if set(params) != {INDEX_PARAM}:
            raise ConfigurationError(f"parameters {sorted(params)} do not name a function of {bench.name!r}: the "
                                     f"index form takes only {INDEX_PARAM!r}")
        i = _index(params[INDEX_PARAM])
        if i is None or not 0 <= i < len(bench):
            raise ConfigurationError(f"{INDEX_PARAM}={params[INDEX_PARAM]!r} is not a row of {bench.name!r} "
                                     f"(0..{len(bench) - 1})")
        return bench.resolver.name(i)
    slots = slot_params(bench)
    if slots is None or set(params) != {p for p, _ in slots[1]}:
        want = [p for p, _ in slots[1]] if slots else [INDEX_PARAM]
        raise ConfigurationError(f"parameters {sorted(params)} do not name a function of {bench.name!r}; it "
                                 f"takes {want}")
    schema, order = slots
    for p, choices in order:
        if params[p] not in choices:
            raise ConfigurationError(f"{p}={params[p]!r} is not one of its {len(choices)} operators: "
                                     f"{', '.join(choices)}")
    values = iter([params[p] for p, _ in order])
    return re.sub(r"\b(?:unary|binary|nary)(?=\()", lambda m: str(next(values)), schema)


def _index(v) -> int | None:
    """An integer row from an int, a NumPy integer or a whole-number float (as optimisers send them)."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    return None


def row_of_params(bench, params: Mapping[str, Any]) -> int | None:
    """The table row a parameter set names, or None (a name the table cannot answer, an index outside it)."""
    if INDEX_PARAM in params:
        i = _index(params[INDEX_PARAM])
        return i if i is not None and 0 <= i < len(bench) else None
    try:
        hit = bench.resolver.find(name_of(bench, params))
    except ValueError:
        return None
    return None if hit is None else hit.row


def params_of(bench, row: int, form: str = "auto") -> dict[str, Any]:
    """Parameters that name table row ``row``: its own name's operators, or its index (see
    :func:`slot_params` for ``form``)."""
    slots = slot_params(bench, form)
    if slots is None:
        return {INDEX_PARAM: int(row)}
    schema, order = slots
    for name in (bench.resolver.name(row), *bench.resolver.equivalents(row)):
        ops = operators(name)
        if len(ops) == len(order) and all(o in choices for o, (_, choices) in zip(ops, order)):
            return {p: o for o, (p, _) in zip(ops, order)}
    raise ValueError(f"row {row} of {bench.name!r} has no name of the form {schema}")


def operators(name: str) -> list[str]:
    """The operators of a function name, outermost first, left to right (``binary, unary_1, unary_2``)."""
    from actbench.lang.expr import parse

    out: list[str] = []

    def walk(e) -> None:
        if e.args:
            out.append(e.op)
            for a in e.args:
                walk(a)

    walk(parse(name))
    return out
