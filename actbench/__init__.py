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
from actbench.expr import Expr, evaluate, parse
from actbench.ops import BASELINES, OPERATORS
from actbench.space import Space, get_space, sample_points
from actbench.bench import ActBench, Budget, Record

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
