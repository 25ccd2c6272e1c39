"""A table's names and alias index, read as stored: fixed-length bytes that are decoded only where a name is
asked for, so that opening a table of a million names costs one array read, not a million Python strings.

:class:`Names` is the rows' names (a read-only sequence of ``str``). :class:`AliasIndex` is every listed name
-> its row (a read-only mapping), looked up by binary search in the stored array, which the format keeps
sorted. A large index is read and checked on first use, not at open (:data:`CHECK_AT_OPEN`): its invariants (strictly sorted, so every
name once; rows inside the table; every row's own name answering that row) are checked then, vectorised,
and a file that breaks them raises ``TableFormatError`` instead of answering from a wrong row.

>>> import numpy as np
>>> names = Names(np.array([b"relu(x)", b"tanh(x)"]))
>>> index = AliasIndex(lambda: (np.array([b"add(zero(x),relu(x))", b"relu(x)", b"tanh(x)"]), np.array([0, 0, 1])),
...                    names, size=3)
>>> names[1], index["add(zero(x),relu(x))"], index.get("swish(x)"), len(index)
('tanh(x)', 0, None, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from actbench.base.errors import TableFormatError
from actbench.base.text import plural

__all__ = ["CHECK_AT_OPEN", "AliasIndex", "Names"]

#: an index of at most this many names is read and checked when the table opens (milliseconds); a larger one
#: (the large space's 1,023,524 names: 0.36 s) on first use, so that opening stays fast
CHECK_AT_OPEN = 200_000


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TableFormatError(f"a stored name is not UTF-8 text ({raw[:40]!r}): the table is damaged") from e


def _encode(name: object) -> bytes | None:
    if not isinstance(name, str):
        return None
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return None if b"\0" in raw else raw  # a stored fixed-length name cannot hold NUL: nothing matches it


class Names(Sequence):
    """The rows' names as stored (fixed-length bytes), decoded when asked for. Compares equal to a list or
    tuple of the same names."""

    __slots__ = ("_raw",)

    def __init__(self, raw: np.ndarray):
        self._raw = raw

    @property
    def raw(self) -> np.ndarray:
        """The stored array (``S`` dtype); do not modify it."""
        return self._raw

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [_decode(b) for b in self._raw[i].tolist()]
        if isinstance(i, (int, np.integer)):
            return _decode(bytes(self._raw[i]))
        return [_decode(b) for b in self._raw[np.asarray(i)].tolist()]

    def __iter__(self) -> Iterator[str]:
        for b in self._raw.tolist():
            yield _decode(b)

    def __contains__(self, name: object) -> bool:
        raw = _encode(name)
        return raw is not None and bool(np.any(self._raw == raw))

    def index(self, name: Any, start: int = 0, stop: int | None = None) -> int:
        raw = _encode(name)
        hits = np.flatnonzero(self._raw[start:stop] == raw) if raw is not None else ()
        if not len(hits):
            raise ValueError(f"{name!r} is not a row name")
        return int(hits[0]) + start

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Names):
            return np.array_equal(self._raw, other._raw)
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = ", ".join(repr(n) for n in self[:3])
        return f"Names([{head}{', ...' if len(self) > 3 else ''}], {plural(len(self), 'name')})"


class AliasIndex(Mapping):
    """Every name a table lists -> its row, by binary search in the stored sorted array (read on first use by
    ``load``, which returns (names as ``S`` array, rows)). ``size`` is the stored length, so ``len()`` needs no read."""

    __slots__ = ("_load", "_names", "_size", "_keys", "_rows", "_where")

    def __init__(self, load: Callable[[], tuple[np.ndarray, np.ndarray]], names: Names, *, size: int,
                 where: str = "the table"):
        self._load, self._names, self._size, self._where = load, names, size, where
        self._keys: np.ndarray | None = None
        self._rows: np.ndarray | None = None

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._keys is None:
            keys, rows = self._load()
            problems = index_problems(self._names.raw, keys, rows)
            if problems:
                raise TableFormatError(f"{self._where} is not a valid actbench table (its index is damaged):\n  - "
                                       + "\n  - ".join(problems))
            self._keys, self._rows = keys, rows
        return self._keys, self._rows

    @property
    def rows(self) -> np.ndarray:
        """(n_aliases,) row of each name, in the stored (sorted) order; do not modify it."""
        return self._arrays()[1]

    @property
    def keys_raw(self) -> np.ndarray:
        """The stored names (``S`` dtype, sorted); do not modify it."""
        return self._arrays()[0]

    def get(self, name: object, default: Any = None) -> Any:
        raw = _encode(name)
        if raw is None:
            return default
        keys, rows = self._arrays()
        i = int(np.searchsorted(keys, raw))
        if i < len(keys) and keys[i] == raw:
            return int(rows[i])
        return default

    def __getitem__(self, name: object) -> int:
        row = self.get(name)
        if row is None:
            raise KeyError(name)
        return row

    def __contains__(self, name: object) -> bool:
        return self.get(name) is not None

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[str]:
        for b in self._arrays()[0].tolist():
            yield _decode(b)

    def values(self):  # type: ignore[override]
        return self.rows.tolist()

    def items(self):  # type: ignore[override]
        keys, rows = self._arrays()
        return list(zip((_decode(b) for b in keys.tolist()), rows.tolist()))


def index_problems(names: np.ndarray, keys: np.ndarray, rows: np.ndarray) -> list[str]:
    """The invariants a lookup relies on, vectorised over the stored arrays (``S`` dtype names): the index
    strictly sorted (so binary search finds every name and each is listed once), its rows inside the table,
    and every row's own name in it, answering that row (so row names are unique)."""
    p: list[str] = []
    n = len(names)
    if len(keys) != len(rows):
        return ["aliases/names and aliases/rows differ in length"]
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        bad = int(np.count_nonzero((rows < 0) | (rows >= n)))
        p.append(f"aliases/rows has {plural(bad, 'index', 'indices')} outside the table's {plural(n, 'row')}")
    if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
        repeated = bool(np.any(keys[1:] == keys[:-1]))
        p.append("aliases/names lists a name twice" if repeated else
                 "aliases/names is not sorted (the format stores it sorted; a lookup could miss a name)")
    if p or not n:
        return p
    own = keys == names[rows]  # the entries that are their row's own name (each row's at most once: sorted, unique)
    wrong = np.flatnonzero(np.bincount(rows[own], minlength=n) != 1)
    if wrong.size:
        if len(np.unique(names)) != n:
            p.append("row names are not unique")
        def answer(raw: bytes) -> str:
            i = int(np.searchsorted(keys, raw))
            return f"row {rows[i]}" if i < len(keys) and keys[i] == raw else "no row"

        shown = "; ".join(f"{_decode(bytes(names[i]))!r} (row {i}) answers {answer(bytes(names[i]))}" for i in wrong[:3])
        p.append(f"{plural(wrong.size, 'row name')} in the alias index not answering its own row: {shown}"
                 + (" ..." if wrong.size > 3 else ""))
    return p
