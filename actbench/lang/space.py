"""Search spaces: schemas, enumeration, sample points and equivalence.

A space is a list of *schemas*, strings in the function language whose operators are the
placeholders ``unary``, ``binary`` and ``n-ary`` (e.g. ``"binary(unary(x),unary(x))"``), plus
optional literal names (the paper's 8 baselines). Enumerating a schema substitutes every
registered operator of the placeholder's kind, in registry order.

**Equivalence.** Two functions are equivalent when their float64 outputs on the 1000 sample
points (:func:`sample_points`) are the same after rounding each value to
:data:`EQUIVALENCE_BITS` significant bits (a relative tolerance of about 2**-33 ≈ 1.2e-10), with
NaN and ±inf in the same places (all NaNs are alike; ``-0.0 == 0.0``). The representative of a
class is its lexicographically greatest name, as in the reference's ``MAX(fn_name)``.

>>> from actbench import get_space
>>> s = get_space("act-bench")
>>> s.n_names, s.n_classes
(5103, 2791)
>>> s.canonical("min(selu(x), square(x))")
'min(square(x),selu(x))'
>>> s.canonical("relu(x)")      # not named in the space, equivalent by outputs
'sub(relu(x),zero(x))'

Enumeration never evaluates names one by one: each schema node evaluates its operators on the
*distinct* outputs of its children (so ``unary(unary(unary(unary(x))))`` costs 27 × the number of
distinct depth-3 functions, not 27**4 rows), and rows are deduplicated by two 64-bit hashes of
their rounded outputs (the second one checks the first; a collision raises).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from actbench.base.errors import NotInSpaceError, ParseError, UnknownSpaceError
from actbench.base.text import Suggester, did_you_mean
from actbench.lang.expr import Expr, evaluate, parse, tokenize
from actbench.lang.ops import BASELINES, BINARY, EXTRA_UNARY, NARY, OPERATORS, UNARY
from actbench.lang.points import (  # noqa: F401  (re-exported: earlier paths)
    EQUIVALENCE_BITS, N_POINTS, _dedupe, output_keys, sample_points)

__all__ = [
    "EQUIVALENCE_BITS",
    "SPACES",
    "Space",
    "SpaceSpec",
    "get_space",
    "output_keys",
    "register_space",
    "sample_points",
]

_CHUNK_ELEMENTS = 4_000_000  # float64 values per evaluated chunk (32 MB)


# --- schemas ---------------------------------------------------------------------------------

_PLACEHOLDERS = {"unary": "unary", "binary": "binary", "nary": "nary"}


@dataclass(frozen=True)
class _Node:
    kind: str  # "x", "unary", "binary", "nary"
    children: tuple[_Node, ...] = ()


def _parse_schema(schema: str) -> _Node:
    text = schema.replace("n-ary", "nary")
    tokens = tokenize(text)
    pos = 0

    def node() -> _Node:
        nonlocal pos
        kind, value, at = tokens[pos]
        pos += 1
        if kind != "name" or (value != "x" and value not in _PLACEHOLDERS):
            raise ParseError("expected 'x', 'unary', 'binary' or 'n-ary' in a schema", schema, at)
        if value == "x":
            return _Node("x")
        if tokens[pos][0] != "(":
            raise ParseError(f"expected '(' after {value!r}", schema, tokens[pos][2])
        pos += 1
        children = [node()]
        while tokens[pos][0] == ",":
            pos += 1
            children.append(node())
        if tokens[pos][0] != ")":
            raise ParseError("expected ')' or ','", schema, tokens[pos][2])
        pos += 1
        want = {"unary": (1, 1), "binary": (2, 2), "nary": (2, 99)}[value]
        if not want[0] <= len(children) <= want[1]:
            raise ParseError(f"{value} takes {want[0]} arguments, got {len(children)}", schema, at)
        return _Node(value, tuple(children))

    root = node()
    if tokens[pos][0] != "end":
        raise ParseError("unexpected text after the schema", schema, tokens[pos][2])
    return root


@dataclass
class _Enum:
    """One schema node enumerated: names, and for inner nodes their distinct outputs."""

    names: list[str]
    cls: np.ndarray  # (n_names,) index into the distinct rows
    rows: np.ndarray | None  # (n_distinct, n_points) outputs, None at the top
    h1: np.ndarray | None = None  # (n_distinct,) keys, set at the top
    h2: np.ndarray | None = None


class _Enumerator:
    def __init__(self, ops: dict[str, Sequence[str]]) -> None:
        self.ops = ops

    def run(self, node: _Node, *, top: bool) -> _Enum:
        if node.kind == "x":
            pts = sample_points()[None, :]
            res = _Enum(["x"], np.zeros(1, dtype=np.int64), pts)
            if top:
                res.h1, res.h2 = output_keys(pts)
            return res
        kids = [self.run(c, top=False) for c in node.children]
        ops = self.ops[node.kind]
        names = [f"{op}({','.join(parts)})" for op in ops for parts in itertools.product(*(k.names for k in kids))]
        # raw row index of each name: (op, distinct child rows...) in C order
        dims = [len(ops)] + [len(k.rows) for k in kids]
        grids = np.ix_(np.arange(len(ops)), *(k.cls for k in kids))
        raw_of_name = np.ravel_multi_index(grids, dims).ravel()
        h1, h2, rows = self._evaluate(ops, kids, keep_rows=not top)
        if top:
            return _Enum(names, raw_of_name, None, h1, h2)
        first, inverse = _dedupe(h1, h2)
        return _Enum(names, inverse[raw_of_name], rows[first])

    def _evaluate(self, ops: Sequence[str], kids: list[_Enum], *, keep_rows: bool):
        """Evaluate every (op, distinct child rows...) combination, chunked along the first child."""
        n_first = len(kids[0].rows)
        rest = [len(k.rows) for k in kids[1:]]
        per_first = int(np.prod(rest, dtype=np.int64)) * N_POINTS
        step = max(1, _CHUNK_ELEMENTS // max(per_first, 1))
        h1s, h2s, kept = [], [], []
        with np.errstate(all="ignore"):
            for op in ops:
                fn = OPERATORS[op].numpy
                for lo in range(0, n_first, step):
                    args = _broadcast_args([kids[0].rows[lo : lo + step]] + [k.rows for k in kids[1:]])
                    out = fn(*args).reshape(-1, N_POINTS)
                    a, b = output_keys(out)
                    h1s.append(a)
                    h2s.append(b)
                    if keep_rows:
                        kept.append(out)
        h1 = np.concatenate(h1s)
        h2 = np.concatenate(h2s)
        rows = np.concatenate(kept) if keep_rows else None
        # h1 is laid out op-major, then first-child chunk: the same C order as ravel_multi_index
        return h1, h2, rows


def _broadcast_args(blocks: list[np.ndarray]) -> list[np.ndarray]:
    """Reshape k blocks of shape (n_i, P) so that they broadcast to (n_1, ..., n_k, P)."""
    k = len(blocks)
    out = []
    for i, b in enumerate(blocks):
        shape = [1] * k + [N_POINTS]
        shape[i] = b.shape[0]
        out.append(b.reshape(shape))
    if k > 1:
        full = tuple(b.shape[0] for b in blocks) + (N_POINTS,)
        out = [np.broadcast_to(a, full) for a in out]
    return out


# --- spaces ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpaceSpec:
    """The definition of a search space.

    Attributes:
        name: registry key, e.g. ``"act-bench"``.
        schemas: schema strings with placeholders ``unary``, ``binary``, ``n-ary``.
        literals: extra names included as they are (e.g. the 8 baselines).
        unary: the operators that fill the ``unary`` placeholder, in order.
        binary: the operators that fill the ``binary`` placeholder, in order.
        nary: the operators that fill the ``n-ary`` placeholder, in order.
        paper_unique: the unique count the paper reports (TF 2.8 float32 equality), for comparison.
        description: one line for ``actbench space --list``.
    """

    name: str
    schemas: tuple[str, ...]
    literals: tuple[str, ...] = ()
    unary: tuple[str, ...] = UNARY
    binary: tuple[str, ...] = BINARY
    nary: tuple[str, ...] = NARY
    paper_unique: int | None = None
    description: str = ""


SPACES: dict[str, SpaceSpec] = {}


def register_space(spec: SpaceSpec) -> SpaceSpec:
    """Add a space definition; a name that is already taken raises ``ValueError``."""
    if spec.name in SPACES:
        raise ValueError(f"space {spec.name!r} is already registered; pick another name")
    for schema in spec.schemas:
        _parse_schema(schema)
    for op in spec.unary + spec.binary + spec.nary:
        if op not in OPERATORS:
            raise ValueError(f"space {spec.name!r} uses unknown operator {op!r}")
    SPACES[spec.name] = spec
    return spec


register_space(SpaceSpec(
    "act-bench",
    ("binary(unary(x),unary(x))",),
    paper_unique=2913,
    description="Act-Bench-CNN/-ResNet/-ViT: binary(unary(x),unary(x)), 7·27·27 names",
))
register_space(SpaceSpec(
    "large",
    (
        "unary(unary(unary(unary(x))))",
        "n-ary(unary(x),unary(x),unary(x))",
        "binary(unary(unary(x)),unary(x))",
        "binary(unary(x),unary(unary(x)))",
        "unary(binary(unary(x),unary(x)))",
    ),
    literals=BASELINES,
    paper_unique=425_896,
    description="the paper's CIFAR-100/ImageNet search space, 1,023,524 names",
))
register_space(SpaceSpec(
    "large-extra",
    SPACES["large"].schemas,
    literals=BASELINES + tuple(f"{op}(x)" for op in EXTRA_UNARY),
    unary=UNARY + EXTRA_UNARY,
    description="the large space with the CoAtNet experiment's extra unary operators (elish, leakyrelu, mish, "
                "gelu): 31 unary operators, 1,668,308 names, 654,358 classes (our construction)",
))


@dataclass
class Space:
    """An enumerated search space with its equivalence classes.

    Attributes:
        spec: the definition.
        names: every name, in enumeration order (schemas in order, then literals).
        class_of: (n_names,) int64, the class index of each name.
        representatives: one name per class (the lexicographically greatest), by class index.
        class_h1: (n_classes,) uint64 first output key of each class (see :func:`output_keys`).
        class_h2: (n_classes,) uint64 second output key of each class.
    """

    spec: SpaceSpec
    names: list[str]
    class_of: np.ndarray
    representatives: list[str]
    class_h1: np.ndarray
    class_h2: np.ndarray
    _index: dict[str, int] | None = field(default=None, repr=False)
    _members: np.ndarray | None = field(default=None, repr=False)
    _suggesters: dict[str, Suggester] = field(default_factory=dict, repr=False)  # by leading operator
    _member_starts: np.ndarray | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def n_names(self) -> int:
        return len(self.names)

    @property
    def n_classes(self) -> int:
        return len(self.representatives)

    def __repr__(self) -> str:
        return f"<Space {self.name!r}: {self.n_names:,} names, {self.n_classes:,} classes>"

    def __contains__(self, name: object) -> bool:
        """True when ``name`` (any spelling) is one of the space's names."""
        try:
            return str(parse(name)) in self._name_index()  # type: ignore[arg-type]
        except (ParseError, TypeError):
            return False

    def index(self, name: str | Expr) -> int:
        """Position of a name in :attr:`names`; raises :class:`NotInSpaceError` if absent."""
        key = str(parse(name))
        i = self._name_index().get(key)
        if i is None:
            raise NotInSpaceError(self._missing_message(key))
        return i

    def class_index(self, name: str | Expr) -> int:
        """The class of ``name``: by spelling if the space names it, else by its outputs.

        Raises:
            ParseError: ``name`` is not a valid function name.
            NotInSpaceError: no function of the space is equivalent to ``name``.
        """
        expr = parse(name)
        i = self._name_index().get(str(expr))
        if i is not None:
            return int(self.class_of[i])
        h1, h2 = output_keys(evaluate(expr))
        j = int(np.searchsorted(self._sorted_h1[0], h1[0]))
        if j < self.n_classes and self._sorted_h1[0][j] == h1[0]:
            c = int(self._sorted_h1[1][j])
            if self.class_h2[c] == h2[0]:
                return c
        raise NotInSpaceError(self._missing_message(str(expr), evaluated=True))

    def canonical(self, name: str | Expr) -> str:
        """The representative of the class of ``name`` (any spelling, or any equivalent function)."""
        return self.representatives[self.class_index(name)]

    def equivalents(self, name: str | Expr) -> list[str]:
        """All names of the space in the class of ``name``, sorted."""
        return self.members(self.class_index(name))

    def members(self, class_index: int) -> list[str]:
        """All names of class ``class_index``, sorted."""
        if self._members is None:
            order = np.argsort(self.class_of, kind="stable")
            starts = np.searchsorted(self.class_of[order], np.arange(self.n_classes + 1))
            self._members, self._member_starts = order, starts
        lo, hi = self._member_starts[class_index], self._member_starts[class_index + 1]
        return sorted(self.names[i] for i in self._members[lo:hi])

    def classes(self) -> Iterator[tuple[str, list[str]]]:
        """Yield ``(representative, sorted members)`` for every class, representatives sorted."""
        for c in np.argsort(np.array(self.representatives, dtype=object), kind="stable"):
            yield self.representatives[c], self.members(int(c))

    @functools.cached_property
    def _sorted_h1(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.class_h1, kind="stable")
        return self.class_h1[order], order

    def _name_index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {n: i for i, n in enumerate(self.names)}
        return self._index

    def _missing_message(self, key: str, *, evaluated: bool = False) -> str:
        head = key.split("(", 1)[0]
        sugg = self._suggesters.get(head)
        if sugg is None:  # built once per leading operator (a few hundred ms), then milliseconds per miss
            pool = [n for n in itertools.islice((n for n in self.names if n.startswith(head)), 20000)]
            sugg = Suggester(pool or self.names[:20000])
            if len(self._suggesters) >= 16:
                self._suggesters.pop(next(iter(self._suggesters)))
            self._suggesters[head] = sugg
        hint = did_you_mean(key, sugg)
        why = "and no function of the space has the same outputs" if evaluated else ""
        return (f"{key!r} is not a name of space {self.name!r} {why}{hint}; "
                f"`actbench space {self.name} -o names.tsv` lists its names").replace("  ", " ")


def build_space(spec: SpaceSpec) -> Space:
    """Enumerate, evaluate and deduplicate a space (uncached; see :func:`get_space`)."""
    en = _Enumerator({"unary": spec.unary, "binary": spec.binary, "nary": spec.nary})
    names: list[str] = []
    h1_parts, h2_parts = [], []
    for schema in spec.schemas:
        res = en.run(_parse_schema(schema), top=True)
        names.extend(res.names)
        h1_parts.append(res.h1[res.cls])
        h2_parts.append(res.h2[res.cls])
    if spec.literals:
        lit = [str(parse(n)) for n in spec.literals]
        a, b = output_keys(np.stack([evaluate(n) for n in lit]))
        names.extend(lit)
        h1_parts.append(a)
        h2_parts.append(b)
    h1 = np.concatenate(h1_parts)
    h2 = np.concatenate(h2_parts)
    first, class_of = _dedupe(h1, h2)
    reps = _representatives(names, class_of, len(first))
    return Space(spec, names, class_of, reps, h1[first], h2[first])


def _representatives(names: list[str], class_of: np.ndarray, n_classes: int) -> list[str]:
    order = np.array(sorted(range(len(names)), key=names.__getitem__), dtype=np.int64)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    best = np.full(n_classes, -1, dtype=np.int64)
    np.maximum.at(best, class_of, rank)
    return [names[i] for i in order[best]]


@functools.lru_cache(maxsize=None)
def get_space(name: str) -> Space:
    """The enumerated space ``name`` (``"act-bench"`` or ``"large"``), built once per process.

    Raises:
        UnknownSpaceError: no space of that name is registered.
    """
    spec = SPACES.get(name)
    if spec is None:
        raise UnknownSpaceError(
            f"unknown space {name!r}{did_you_mean(name, SPACES)}; known spaces: {', '.join(SPACES)}"
        )
    return build_space(spec)
