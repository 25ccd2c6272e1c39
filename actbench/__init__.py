"""actbench: a benchmark-dataset package for activation-function search.

The package façade: ``__all__`` below is the public API. The modules are arranged in layers, each importing
only those below it (``docs/architecture.md``): ``base`` (errors, settings, files), ``lang`` (the function
language), ``table`` (the HDF5 format), ``query`` (records, budgets, name resolution), ``sources`` (where
tables come from), ``bench`` (``ActBench``), ``analysis`` and ``nn``, ``search``, and ``cli``.
"""

from actbench import _legacy
from actbench._version import __version__
from actbench.base.errors import (
    ActBenchError,
    ArityError,
    MissingExtraError,
    NotInSpaceError,
    ParseError,
    UnknownBenchmarkError,
    UnknownFunctionError,
    UnknownOperatorError,
    UnknownSpaceError,
)

# The public names below are imported on first use (PEP 562), so that `from actbench import ActBench`
# followed by a query loads neither the operator table nor the search spaces: a fresh process that
# opens a table and queries it starts about as fast as one that imports numpy, h5py and pydantic.
_LAZY = {
    "Expr": "actbench.lang.expr", "evaluate": "actbench.lang.expr", "parse": "actbench.lang.expr",
    "BASELINES": "actbench.lang.ops", "OPERATORS": "actbench.lang.ops",
    "Space": "actbench.lang.space", "get_space": "actbench.lang.space", "sample_points": "actbench.lang.points",
    "ActBench": "actbench.bench", "Budget": "actbench.query.budget", "Record": "actbench.query.record",
}

_legacy.install()  # earlier module paths (actbench.ops, actbench.hub, ...) name the modules they moved to


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'actbench' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ActBench",
    "BASELINES",
    "Budget",
    "Record",
    "OPERATORS",
    "ActBenchError",
    "ArityError",
    "Expr",
    "MissingExtraError",
    "NotInSpaceError",
    "ParseError",
    "Space",
    "UnknownBenchmarkError",
    "UnknownFunctionError",
    "UnknownOperatorError",
    "UnknownSpaceError",
    "__version__",
    "evaluate",
    "get_space",
    "parse",
    "sample_points",
]
