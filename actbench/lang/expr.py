"""The function language: parse names such as ``min(square(x),selu(x))`` into trees.

Grammar (whitespace is ignored)::

    expr := "x" | op "(" expr ("," expr)* ")"

>>> from actbench import parse
>>> e = parse("mul( hard_sigmoid(hard_sigmoid(x)), elu(x) )")
>>> str(e)                       # canonical spelling, round-trips through parse
'mul(hard_sigmoid(hard_sigmoid(x)),elu(x))'
>>> e.pretty()
'HardSigmoid(HardSigmoid(x)) · ELU(x)'
>>> print(parse("div(x,relu(x))").latex())
\\frac{x}{\\operatorname{ReLU}\\left(x\\right)}

Nothing is ever passed to ``eval``: the parser is a small recursive-descent reader with
limits on length (:data:`MAX_LENGTH`) and nesting depth (:data:`MAX_DEPTH`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from actbench.base.errors import ArityError, ParseError, UnknownOperatorError
from actbench.lang.ops import OPERATORS, OTHER_NAMES

__all__ = ["Expr", "MAX_DEPTH", "MAX_LENGTH", "X", "apply", "evaluate", "parse", "tokenize"]

#: Longest accepted input, in characters (the large space's longest name has 66).
MAX_LENGTH = 10_000
#: Deepest accepted nesting of operators (the large space is 4 deep).
MAX_DEPTH = 64


@dataclass(frozen=True, eq=False)
class Expr:
    """An immutable expression tree; ``str(expr)`` is the canonical spelling.

    Attributes:
        op: operator name, or ``"x"`` for the input variable.
        args: the argument subtrees (empty for ``"x"``).
    """

    op: str
    args: tuple[Expr, ...] = ()
    _text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # validated here too, so that a hand-built tree is as safe as a parsed one
        if not isinstance(self.args, tuple):
            object.__setattr__(self, "args", tuple(self.args))
        if not all(isinstance(a, Expr) for a in self.args):
            raise TypeError(f"Expr arguments must be Expr objects, got {[type(a).__name__ for a in self.args]}")
        if self.op == "x":
            if self.args:
                raise ArityError("'x' is the input variable and takes no arguments", self.op, 0)
        else:
            op = OPERATORS.get(self.op) if isinstance(self.op, str) else None
            if op is None:
                raise UnknownOperatorError(str(self.op), str(self.op), 0, OPERATORS)
            lo, hi = op.arity
            if len(self.args) < lo or (hi is not None and len(self.args) > hi):
                want = f"exactly {lo}" if lo == hi else f"at least {lo}"
                raise ArityError(f"{op.kind} operator {self.op!r} takes {want} argument{'s' * (lo != 1)}, got "
                                 f"{len(self.args)}", self.op, 0)
        text = self.op if not self.args else f"{self.op}({','.join(a._text for a in self.args)})"
        object.__setattr__(self, "_text", text)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Expr({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expr) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    @property
    def depth(self) -> int:
        """Number of operators on the longest path from the root to ``x`` (``x`` alone is 0)."""
        return 0 if not self.args else 1 + max(a.depth for a in self.args)

    def operators(self) -> list[str]:
        """Operator names in prefix order, e.g. ``['mul', 'elu', 'relu']``."""
        if not self.args:
            return []
        return [self.op] + [name for a in self.args for name in a.operators()]

    def evaluate(self, x: ArrayLike | None = None, *, dtype: DTypeLike = np.float64) -> np.ndarray:
        """Evaluate on ``x`` (default: the 1000 sample points); see :func:`evaluate`."""
        return evaluate(self, x, dtype=dtype)

    def pretty(self) -> str:
        """The paper's display style, e.g. ``HardSigmoid(HardSigmoid(x)) · ELU(x)``."""
        return _format(self, _PRETTY)[0]

    def latex(self) -> str:
        """A LaTeX math-mode form (without surrounding ``$``)."""
        return _format(self, _LATEX)[0]


X = Expr("x")


def parse(text: str | Expr) -> Expr:
    """Parse a function name into an :class:`Expr`.

    Args:
        text: a name such as ``"min(square(x), selu(x))"``; an :class:`Expr` is returned as is.

    Raises:
        ParseError: the text does not follow the grammar; the message shows where, with a caret.
        UnknownOperatorError: an operator that is not registered, with "did you mean".
        ArityError: an operator with the wrong number of arguments.
        TypeError: ``text`` is neither a string nor an :class:`Expr`.
    """
    if isinstance(text, Expr):
        return text
    if not isinstance(text, str):
        raise TypeError(f"a function name must be a str, got {type(text).__name__}: {text!r}")
    if len(text) > MAX_LENGTH:
        raise ParseError(
            f"function name is {len(text):,} characters long, more than the limit of {MAX_LENGTH:,}",
            text, MAX_LENGTH,
        )
    tokens = tokenize(text)
    parser = _Parser(text, tokens)
    return parser.parse()


# --- tokenizer and parser ----------------------------------------------------------------

_Token = tuple[str, str, int]  # (kind, value, position); kind in {"name", "(", ")", ",", "end"}


def tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            tokens.append((c, c, i))
            i += 1
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            tokens.append(("name", text[i:j], i))
            i = j
        else:
            raise ParseError(f"unexpected character {c!r}", text, i)
    tokens.append(("end", "", n))
    return tokens


class _Parser:
    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0

    def parse(self) -> Expr:
        if self.tokens[0][0] == "end":
            raise ParseError("empty function name; write e.g. 'relu(x)'", self.text, self.tokens[0][2])
        expr = self._expr(0)
        kind, value, pos = self.tokens[self.i]
        if kind != "end":
            raise ParseError(f"unexpected {_describe(kind, value)} after the end of the expression",
                             self.text, pos)
        return expr

    def _expect(self, kind: str, context: str) -> _Token:
        tok = self.tokens[self.i]
        if tok[0] != kind:
            raise ParseError(f"expected {kind!r} {context}, found {_describe(tok[0], tok[1])}",
                             self.text, tok[2])
        self.i += 1
        return tok

    def _expr(self, depth: int) -> Expr:
        kind, name, pos = self.tokens[self.i]
        if kind != "name":
            raise ParseError(f"expected 'x' or an operator, found {_describe(kind, name)}", self.text, pos)
        self.i += 1
        if name == "x":
            if self.tokens[self.i][0] == "(":
                raise ParseError("'x' is the input variable and takes no arguments", self.text, pos)
            return X
        op = OPERATORS.get(name)
        if op is None:
            if self.tokens[self.i][0] != "(" and OTHER_NAMES.get(name.lower()) is None:
                raise ParseError(f"unknown variable {name!r}: the input variable is always 'x' (e.g. swish(x))",
                                 self.text, pos)
            raise UnknownOperatorError(name, self.text, pos, OPERATORS, meant=OTHER_NAMES.get(name.lower()))
        if depth >= MAX_DEPTH:
            raise ParseError(f"nesting deeper than the limit of {MAX_DEPTH} operators", self.text, pos)
        self._expect("(", f"after operator {name!r}")
        args = [self._expr(depth + 1)]
        while self.tokens[self.i][0] == ",":
            self.i += 1
            args.append(self._expr(depth + 1))
        self._expect(")", f"to close the arguments of {name!r}")
        lo, hi = op.arity
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = f"exactly {lo}" if lo == hi else f"at least {lo}"
            noun = "argument" if lo == 1 else "arguments"
            raise ArityError(f"{op.kind} operator {name!r} takes {want} {noun}, got {len(args)}",
                             self.text, pos)
        return Expr(name, tuple(args))


def _describe(kind: str, value: str) -> str:
    if kind == "end":
        return "the end of the input"
    if kind == "name":
        return f"name {value!r}"
    return repr(value)


# --- evaluation ----------------------------------------------------------------------------


def evaluate(
    name_or_expr: str | Expr, x: ArrayLike | None = None, *, dtype: DTypeLike = np.float64
) -> np.ndarray:
    """Evaluate a function elementwise.

    Args:
        name_or_expr: a function name or a parsed :class:`Expr`.
        x: input values; default the 1000 reference sample points (:func:`actbench.sample_points`).
        dtype: ``float64`` (the reference semantics, default) or ``float32`` (the float32 path).

    Returns:
        An array of ``dtype`` with the shape of ``x``. Overflow, division by zero and invalid
        operations give IEEE values (±inf, NaN) and never warn or raise.

    Raises:
        ParseError: see :func:`parse`.
        ValueError: ``dtype`` is not float32 or float64.
    """
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    expr = parse(name_or_expr)
    if x is None:
        from actbench.lang.points import sample_points

        x = sample_points()
    with np.errstate(all="ignore"):  # the cast too: 1e300 in float32 is inf, without a warning
        xs = np.asarray(x, dtype=dt)
        out = apply(expr, xs, {})
    return np.asarray(out, dtype=dt)


def apply(expr: Expr, x, memo: dict | None = None, impl: str = "numpy"):
    """Evaluate ``expr`` on ``x`` with each operator's ``impl`` implementation (``"numpy"`` on arrays, as
    :func:`evaluate` does after its dtype handling, or ``"torch"`` on tensors, as :mod:`actbench.nn` does),
    computing every distinct subexpression once (``memo``: subexpression -> value, shared between calls)."""
    memo = {} if memo is None else memo
    if not expr.args:
        return x
    key = str(expr)
    hit = memo.get(key)
    if hit is None:
        fn = getattr(OPERATORS[expr.op], impl)
        hit = memo[key] = fn(*(apply(a, x, memo, impl) for a in expr.args))
    return hit


# --- pretty and LaTeX ------------------------------------------------------------------------

# precedence levels: the larger, the tighter an operand binds
_ADD, _MUL, _POW, _ATOM = 1, 2, 3, 4
_Formatted = tuple[str, int]


class _Style:
    def __init__(self, *, latex: bool) -> None:
        self.latex = latex

    def paren(self, s: str) -> str:
        return f"\\left({s}\\right)" if self.latex else f"({s})"

    def wrap(self, item: _Formatted, min_prec: int) -> str:
        s, prec = item
        if prec < min_prec or s.startswith(("−", "-")):
            return self.paren(s)
        return s


_PRETTY = _Style(latex=False)
_LATEX = _Style(latex=True)


def _format(expr: Expr, st: _Style) -> _Formatted:
    if not expr.args:
        return "x", _ATOM
    op = OPERATORS[expr.op]
    args = [_format(a, st) for a in expr.args]
    name = op.latex if st.latex else op.pretty
    style = op.style
    if style == "const":
        return name, _ATOM
    if style == "identity":
        return args[0]
    if style == "func":
        return f"{name}{st.paren(args[0][0])}", _ATOM
    if style == "neg":
        return ("-" if st.latex else "−") + st.wrap(args[0], _POW), _MUL
    if style == "abs":
        return (f"\\left|{args[0][0]}\\right|" if st.latex else f"|{args[0][0]}|"), _ATOM
    if style == "recip":
        if st.latex:
            return f"\\frac{{1}}{{{args[0][0]}}}", _ATOM
        return "1/" + st.wrap(args[0], _POW), _MUL
    if style == "square":
        base = st.wrap(args[0], _ATOM)
        return (f"{{{base}}}^{{2}}" if st.latex else f"{base}²"), _POW
    if style == "pow":
        base = st.wrap(args[0], _ATOM)
        if st.latex:
            return f"{{{base}}}^{{{args[1][0]}}}", _POW
        return f"{base}^{st.wrap(args[1], _ATOM)}", _POW
    if style == "bracket":
        inner = ", ".join(a[0] for a in args)
        return (f"{name}\\left\\{{{inner}\\right\\}}" if st.latex else f"{name}{{{inner}}}"), _ATOM
    return _format_infix(expr.op, name, args, st)


def _format_infix(op: str, symbol: str, args: list[_Formatted], st: _Style) -> _Formatted:
    if op == "div" and st.latex:
        return f"\\frac{{{args[0][0]}}}{{{args[1][0]}}}", _ATOM
    prec = _ADD if op in ("add", "sub", "sum_n") else _MUL
    # left-associative: the right operand of sub/div needs a tighter binding
    right_min = prec + 1 if op in ("sub", "div") else prec
    parts = [st.wrap(args[0], prec)] + [st.wrap(a, right_min) for a in args[1:]]
    return f" {symbol} ".join(parts), prec
