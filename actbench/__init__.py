"""actbench: a benchmark-dataset package for activation-function search."""

from actbench._version import __version__
from actbench.errors import (
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
    "Expr": "actbench.expr", "evaluate": "actbench.expr", "parse": "actbench.expr",
    "BASELINES": "actbench.ops", "OPERATORS": "actbench.ops",
    "Space": "actbench.space", "get_space": "actbench.space", "sample_points": "actbench.space",
    "ActBench": "actbench.bench", "Budget": "actbench.bench", "Record": "actbench.bench",
}


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
