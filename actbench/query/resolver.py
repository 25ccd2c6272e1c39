"""Which row of a table answers a name (:class:`Resolver`): the one place where names become rows.

A name resolves, in order, by its spelling as the table stores it (the fast path: no parsing), by its
canonical spelling, and by its outputs on the sample points (a function equivalent to a row, though the
table does not list the name). ``ActBench`` queries through it, and search strategies, Optuna samplers
and the CLI use it publicly (``bench.resolver``); resolving is free, never charged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from actbench.base.errors import NotInSpaceError, UnknownFunctionError
from actbench.base.text import Suggester, did_you_mean, plural

if TYPE_CHECKING:
    from actbench.lang.expr import Expr
    from actbench.table.reader import Table

# actbench.lang.expr and actbench.lang.space are imported where a name must be parsed or evaluated: a
# query of a name the table lists needs neither, and importing them costs more than the query

__all__ = ["Hit", "Resolver"]

# The resolved-spelling cache holds at most this many characters of keys, each entry counted with an
# overhead for the dict slot and tuple (16 MiB of text: about 170,000 typical names, or 1,800 of 9 KB).
_RESOLVED_CHARS = 16 << 20
_ENTRY_OVERHEAD = 64


class Hit(NamedTuple):
    """Where a name landed: the row, and how (``"name"``: the row's own name; ``"equivalent"``: a name the
    table lists as equivalent; ``"outputs"``: an unlisted function with the same outputs)."""

    row: int
    how: str


class Resolver:
    """Names to rows of one open table.

    Args:
        table: the open :class:`actbench.table.Table`.
    """

    def __init__(self, table: Table) -> None:
        self._table = table
        self._resolved: dict[str, Hit] = {}  # spelling -> hit, bounded in size
        self._resolved_chars = 0
        self._suggester: Suggester | None = None  # built on the first unknown name

    @property
    def names(self) -> list[str]:
        """Row names (class representatives), by row. The table's own list: do not modify it."""
        return self._table.names

    @property
    def aliases(self) -> dict[str, int]:
        """Every name the table lists (representatives and equivalents) -> its row. Do not modify it."""
        return self._table.aliases

    def name(self, row: int) -> str:
        """The representative of ``row``."""
        return self._table.names[row]

    def equivalents(self, row: int) -> tuple[str, ...]:
        """Every name the table lists for ``row``, sorted."""
        return self._table.equivalents(row)

    def find(self, name: str | Expr) -> Hit | None:
        """The :class:`Hit` for a name, or None; raises only ``ParseError``. Cheap enough for search loops."""
        key = name if isinstance(name, str) else str(name)
        hit = self._resolved.get(key)
        if hit is not None:
            return hit
        t = self._table
        row = t.aliases.get(key)  # fast path: a name spelled as the table stores it needs no parsing
        expr = None
        if row is None:
            from actbench.lang.expr import parse

            expr = parse(name)
            row = t.aliases.get(str(expr))
        canon = key if expr is None else str(expr)
        if row is not None:
            hit = Hit(row, "name" if t.names[row] == canon else "equivalent")
        else:
            row = self._row_by_outputs(expr)
            if row is None:
                return None
            hit = Hit(row, "outputs")
        if self._resolved_chars + len(key) <= _RESOLVED_CHARS:
            self._resolved[key] = hit
            self._resolved_chars += len(key) + _ENTRY_OVERHEAD
        return hit

    def resolve(self, name: str | Expr) -> Hit:
        """The :class:`Hit` for a name.

        Raises:
            actbench.ParseError: the name is malformed.
            UnknownFunctionError: no row answers it; the message says whether the function is outside the
                table's space or only missing from the table, with "did you mean".
        """
        hit = self.find(name)
        if hit is None:
            from actbench.lang.expr import parse

            raise UnknownFunctionError(self._unknown_message(parse(name)))
        return hit

    def lookup(self, name: str | Expr) -> str:
        """The representative (row name) that answers for ``name``."""
        return self._table.names[self.resolve(name).row]

    def __contains__(self, name: object) -> bool:
        try:
            return self.find(name) is not None  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return False

    def _row_by_outputs(self, expr: Expr) -> int | None:
        t = self._table
        from actbench.lang.expr import evaluate
        from actbench.lang.points import output_keys

        h1, h2 = output_keys(evaluate(expr))
        rows = np.flatnonzero((t.h1 == h1[0]) & (t.h2 == h2[0])).tolist()  # vectorised: no map to build
        if not rows:
            return None
        return max(rows, key=lambda r: t.names[r])  # the greatest name, as for representatives

    def _unknown_message(self, expr: Expr) -> str:
        t = self._table
        space_name = t.info.space
        where = f"table {t.path.name!r} ({plural(t.n_rows, 'row')})"
        from actbench.lang.space import SPACES, get_space

        if self._suggester is None:
            self._suggester = Suggester(t.aliases)
        hint = did_you_mean(str(expr), self._suggester)
        if space_name in SPACES and space_name != "large":
            try:
                rep = get_space(space_name).canonical(expr)
                return (f"{str(expr)!r} is in the {space_name!r} search space (class {rep!r}) but {where} has "
                        f"no row for it{hint}")
            except NotInSpaceError:
                schemas = ", ".join(SPACES[space_name].schemas)
                return (f"{str(expr)!r} is outside the benchmark's search space {space_name!r} ({schemas}), "
                        f"and no function in {where} has the same outputs{hint}")
        return f"{str(expr)!r} is not in {where}, and no row has the same outputs{hint}"
