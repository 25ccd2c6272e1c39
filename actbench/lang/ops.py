"""The operator registry: every operator of the function language, in one place.

Each :class:`Operator` carries

* ``numpy``: a NumPy/SciPy implementation that preserves its input dtype. Called on
  float64 arrays it is the **reference** (the semantics equivalence is decided on);
  called on float32 arrays it is the float32 path.
* ``torch``: the same function on ``torch.Tensor`` (used by :class:`actbench.nn.Activation`).
  Torch is imported only when a torch implementation is called.

Semantics are stated in docs/language.md; where TensorFlow 2.8 and PyTorch disagree, TF 2.8 Keras wins
(``hard_sigmoid(x) = clip(0.2 x + 0.5, 0, 1)``). ``max``/``min`` propagate NaN
(``np.maximum``), ``pow`` is IEEE ``pow`` (NaN for a negative base with a non-integer
exponent), division by zero gives ±inf or NaN. Callers evaluate under
``np.errstate(all="ignore")``: IEEE values are the answer, never a warning.

>>> from actbench.lang.ops import OPERATORS, UNARY
>>> OPERATORS["swish"].kind, len(UNARY)
('unary', 27)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


@functools.cache
def _special():
    """scipy.special, imported on first evaluation: a query of a table never needs it, and importing it
    costs more than numpy, h5py and pydantic together."""
    from scipy import special

    return special


def _scipy_ufunc(name: str) -> Callable[[np.ndarray], np.ndarray]:
    def f(a: np.ndarray) -> np.ndarray:
        return getattr(_special(), name)(a)

    f.__name__ = name
    return f

__all__ = [
    "BASELINES",
    "BINARY",
    "EXTRA_UNARY",
    "NARY",
    "OPERATORS",
    "Operator",
    "UNARY",
    "register",
]

Kind = Literal["unary", "binary", "nary"]
Style = Literal["func", "const", "identity", "neg", "abs", "recip", "square", "infix", "pow", "bracket"]

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
_SQRT2 = float(np.sqrt(2.0))


@dataclass(frozen=True)
class Operator:
    """One operator of the function language.

    Attributes:
        name: the name used in function strings, e.g. ``"hard_sigmoid"``.
        kind: ``"unary"`` (1 argument), ``"binary"`` (2) or ``"nary"`` (2 or more).
        numpy: dtype-preserving NumPy implementation; float64 input gives the reference.
        torch: implementation on ``torch.Tensor`` arguments.
        pretty: display name in the paper's style (``"HardSigmoid"``) or the infix symbol.
        latex: LaTeX for the name or the infix symbol.
        style: how :meth:`actbench.Expr.pretty` lays the operator out.
        extra: True for the operators outside the Act-Bench reference set (CoAtNet experiment).
    """

    name: str
    kind: Kind
    numpy: Callable[..., Any]
    torch: Callable[..., Any]
    pretty: str
    latex: str
    style: Style = "func"
    extra: bool = False

    @property
    def arity(self) -> tuple[int, int | None]:
        """(minimum, maximum) number of arguments; maximum is None for n-ary operators."""
        return {"unary": (1, 1), "binary": (2, 2), "nary": (2, None)}[self.kind]


OPERATORS: dict[str, Operator] = {}
"""Every operator of the function language by its name (filled once, here; :func:`register` adds one)."""

#: Names other libraries and papers use for our operators (lower case) -> our name: an unknown operator
#: spelled one of these gets "did you mean" the operator it is. Not accepted as spellings: a name has one
#: canonical form.
OTHER_NAMES: dict[str, str] = {
    "silu": "swish", "sigmoid_linear_unit": "swish", "swish1": "swish", "leaky_relu": "leakyrelu",
    "lrelu": "leakyrelu", "logsigmoid": "log_sigmoid", "hardsigmoid": "hard_sigmoid",
    "neg": "negative", "recip": "reciprocal", "inverse": "reciprocal", "asinh": "arcsinh", "atan": "arctan",
    "sqr": "square", "i0e": "bessel_i0e", "i1e": "bessel_i1e", "id": "identity", "linear": "identity",
    "minimum": "min", "maximum": "max", "multiply": "mul", "times": "mul", "plus": "add", "subtract": "sub",
    "minus": "sub", "divide": "div", "power": "pow", "sum": "sum_n", "prod": "prod_n", "softrelu": "softplus",
    "gaussian_error_linear_unit": "gelu", "exponential_linear_unit": "elu", "scaled_elu": "selu",
}


def register(op: Operator) -> Operator:
    """Add ``op`` to :data:`OPERATORS`; a name that is already taken raises ``ValueError``."""
    if op.name in OPERATORS:
        raise ValueError(f"operator {op.name!r} is already registered; pick another name")
    if op.name == "x" or not op.name.isidentifier():
        raise ValueError(f"operator name {op.name!r} must be an identifier other than 'x'")
    OPERATORS[op.name] = op
    return op


def _torch():
    import torch  # deferred: torch is an optional extra

    return torch


def _tf():
    import torch.nn.functional as F

    return F


# --- NumPy implementations that need more than one ufunc --------------------------------


def _elu(a):
    return np.where(a > 0, a, np.expm1(a))


def _selu(a):
    return SELU_SCALE * np.where(a > 0, a, SELU_ALPHA * np.expm1(a))


def _hard_sigmoid(a):
    return np.clip(0.2 * a + 0.5, 0, 1)


def _elish(a):
    return np.where(a > 0, a, np.expm1(a)) * _special().expit(a)


def _gelu(a):
    return 0.5 * a * _special().erfc(-a / _SQRT2)


def _t_elish(a):
    t = _torch()
    return t.where(a > 0, a, t.expm1(a)) * t.sigmoid(a)


# --- the reference set (docs/language.md) -----------------------------------------------------------

_UNARY_TABLE: list[tuple[str, Callable, Callable, str, str, Style]] = [
    ("zero", np.zeros_like, lambda a: _torch().zeros_like(a), "0", "0", "const"),
    ("one", np.ones_like, lambda a: _torch().ones_like(a), "1", "1", "const"),
    ("identity", lambda a: a, lambda a: a, "x", "x", "identity"),
    ("negative", np.negative, lambda a: -a, "−", "-", "neg"),
    ("abs", np.abs, lambda a: a.abs(), "|·|", "|·|", "abs"),
    ("reciprocal", np.reciprocal, lambda a: _torch().reciprocal(a), "1/", "\\frac{1}", "recip"),
    ("square", np.square, lambda a: _torch().square(a), "²", "^{2}", "square"),
    ("exp", np.exp, lambda a: a.exp(), "exp", "\\exp", "func"),
    ("erf", _scipy_ufunc("erf"), lambda a: _torch().special.erf(a), "erf", "\\operatorname{erf}", "func"),
    ("erfc", _scipy_ufunc("erfc"), lambda a: _torch().special.erfc(a), "erfc", "\\operatorname{erfc}", "func"),
    ("sinh", np.sinh, lambda a: a.sinh(), "sinh", "\\sinh", "func"),
    ("cosh", np.cosh, lambda a: a.cosh(), "cosh", "\\cosh", "func"),
    ("tanh", np.tanh, lambda a: a.tanh(), "tanh", "\\tanh", "func"),
    ("expm1", np.expm1, lambda a: a.expm1(), "expm1", "\\operatorname{expm1}", "func"),
    ("sigmoid", _scipy_ufunc("expit"), lambda a: a.sigmoid(), "Sigmoid", "\\sigma", "func"),
    ("log_sigmoid", _scipy_ufunc("log_expit"), lambda a: _tf().logsigmoid(a), "LogSigmoid",
     "\\log\\sigma", "func"),
    ("arcsinh", np.arcsinh, lambda a: a.asinh(), "arcsinh", "\\operatorname{arcsinh}", "func"),
    ("arctan", np.arctan, lambda a: a.atan(), "arctan", "\\arctan", "func"),
    ("bessel_i0e", _scipy_ufunc("i0e"), lambda a: _torch().special.i0e(a), "BesselI0e",
     "\\operatorname{BesselI0e}", "func"),
    ("bessel_i1e", _scipy_ufunc("i1e"), lambda a: _torch().special.i1e(a), "BesselI1e",
     "\\operatorname{BesselI1e}", "func"),
    ("relu", lambda a: np.maximum(a, 0), lambda a: _torch().relu(a), "ReLU", "\\operatorname{ReLU}",
     "func"),
    ("elu", _elu, lambda a: _tf().elu(a), "ELU", "\\operatorname{ELU}", "func"),
    ("selu", _selu, lambda a: _tf().selu(a), "SELU", "\\operatorname{SELU}", "func"),
    ("swish", lambda a: a * _special().expit(a), lambda a: _tf().silu(a), "Swish",
     "\\operatorname{Swish}", "func"),
    # logaddexp(x, 0) rather than F.softplus: torch's default threshold=20 returns x itself
    # above 20, which would make the torch path differ from the reference.
    ("softplus", lambda a: np.logaddexp(a, 0), lambda a: _torch().logaddexp(a, _torch().zeros_like(a)),
     "Softplus", "\\operatorname{Softplus}", "func"),
    ("softsign", lambda a: a / (1 + np.abs(a)), lambda a: _tf().softsign(a), "Softsign",
     "\\operatorname{Softsign}", "func"),
    ("hard_sigmoid", _hard_sigmoid, lambda a: (0.2 * a + 0.5).clamp(0, 1), "HardSigmoid",
     "\\operatorname{HardSigmoid}", "func"),
]

_EXTRA_TABLE: list[tuple[str, Callable, Callable, str, str, Style]] = [
    ("elish", _elish, _t_elish, "ELiSH", "\\operatorname{ELiSH}", "func"),
    ("leakyrelu", lambda a: np.where(a >= 0, a, 0.01 * a), lambda a: _tf().leaky_relu(a, 0.01),
     "LeakyReLU", "\\operatorname{LeakyReLU}", "func"),
    ("mish", lambda a: a * np.tanh(np.logaddexp(a, 0)), lambda a: _tf().mish(a), "Mish",
     "\\operatorname{Mish}", "func"),
    ("gelu", _gelu, lambda a: _tf().gelu(a), "GELU", "\\operatorname{GELU}", "func"),
]

_BINARY_TABLE: list[tuple[str, Callable, Callable, str, str, Style]] = [
    ("add", np.add, lambda a, b: a + b, "+", "+", "infix"),
    ("sub", np.subtract, lambda a, b: a - b, "−", "-", "infix"),
    ("mul", np.multiply, lambda a, b: a * b, "·", "\\cdot", "infix"),
    ("div", np.divide, lambda a, b: a / b, "/", "\\frac", "infix"),
    ("pow", np.power, lambda a, b: _torch().pow(a, b), "^", "^", "pow"),
    ("max", np.maximum, lambda a, b: _torch().maximum(a, b), "max", "\\max", "bracket"),
    ("min", np.minimum, lambda a, b: _torch().minimum(a, b), "min", "\\min", "bracket"),
]


def _reduce(fn: Callable) -> Callable:
    return lambda *args: functools.reduce(fn, args)


_NARY_TABLE: list[tuple[str, Callable, Callable, str, str, Style]] = [
    ("sum_n", _reduce(np.add), _reduce(lambda a, b: a + b), "+", "+", "infix"),
    ("prod_n", _reduce(np.multiply), _reduce(lambda a, b: a * b), "·", "\\cdot", "infix"),
    ("max_n", _reduce(np.maximum), _reduce(lambda a, b: _torch().maximum(a, b)), "max", "\\max",
     "bracket"),
    ("min_n", _reduce(np.minimum), _reduce(lambda a, b: _torch().minimum(a, b)), "min", "\\min",
     "bracket"),
]

for _kind, _table, _extra in (
    ("unary", _UNARY_TABLE, False),
    ("unary", _EXTRA_TABLE, True),
    ("binary", _BINARY_TABLE, False),
    ("nary", _NARY_TABLE, False),
):
    for _name, _np, _th, _pretty, _latex, _style in _table:
        register(Operator(_name, _kind, _np, _th, _pretty, _latex, _style, _extra))

#: The 27 unary operators of the reference set, in the reference's order.
UNARY: tuple[str, ...] = tuple(row[0] for row in _UNARY_TABLE)
#: The extra unary operators of the CoAtNet experiment.
EXTRA_UNARY: tuple[str, ...] = tuple(row[0] for row in _EXTRA_TABLE)
#: The 7 binary operators.
BINARY: tuple[str, ...] = tuple(row[0] for row in _BINARY_TABLE)
#: The 4 n-ary operators.
NARY: tuple[str, ...] = tuple(row[0] for row in _NARY_TABLE)
BASELINES: tuple[str, ...] = (
    "elu(x)", "relu(x)", "selu(x)", "sigmoid(x)", "softplus(x)", "softsign(x)", "swish(x)", "tanh(x)",
)
"""The paper's 8 baseline functions."""
