"""What queries have cost a search algorithm (:class:`Budget`)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from actbench.base.errors import LimitError

__all__ = ["Budget", "check_limits"]


def check_limits(max_evaluations, max_seconds, *, evaluations_name: str = "max_evaluations") -> None:
    """Refuse limits that cannot be honoured (:class:`actbench.errors.LimitError`, a ``ValueError``):
    ``max_evaluations`` (called ``evaluations_name`` in the message: ``budget`` for ``run_search``) must be None
    or a whole number of at least 1 (an int, or a float with a whole value), ``max_seconds`` None or a finite
    number of seconds above 0. NaN, infinities, booleans, fractions and strings are refused."""
    if max_evaluations is not None:
        whole = (isinstance(max_evaluations, numbers.Real) and not isinstance(max_evaluations, bool)
                 and math.isfinite(max_evaluations) and float(max_evaluations).is_integer())
        if not whole or max_evaluations < 1:
            raise LimitError(f"{evaluations_name} must be a whole number of distinct functions, at least 1, got "
                             f"{max_evaluations!r}")
    if max_seconds is not None:
        ok = (isinstance(max_seconds, numbers.Real) and not isinstance(max_seconds, bool)
              and math.isfinite(max_seconds) and max_seconds > 0)
        if not ok:
            raise LimitError(f"max_seconds must be a finite number of simulated seconds above 0, got {max_seconds!r}"
                             " (None for no limit)")


@dataclass
class Budget:
    """What queries have cost: distinct functions evaluated and simulated training seconds.

    A row is charged once however many equivalent names ask for it, its cost by the one rule of
    :mod:`actbench.query.cost` (``record.cost_s``; an unknown runtime costs the table's median). A query at an
    epoch (tables with learning curves) charges the cost up to that epoch (:meth:`ActBench.query`); asking the
    same function at a later epoch charges only the seconds between (the training continues), at an earlier
    one nothing.
    """

    evaluations: int = 0
    seconds: float = 0.0
    _paid: dict[int, float] = field(default_factory=dict, repr=False)  # row -> seconds charged so far

    def charge(self, row: int, runtime_s: float) -> None:
        """Charge ``row`` up to ``runtime_s`` seconds of its training (the first charge also counts it)."""
        paid = self._paid.get(row)
        if paid is None:
            self.evaluations += 1
            paid = self._paid[row] = 0.0
        if runtime_s > paid:  # False for NaN (unknown runtime) and for what is paid already
            self.seconds += float(runtime_s) - paid
            self._paid[row] = float(runtime_s)

    def refund(self, row: int, to: float | None) -> None:
        """Undo charges of ``row`` back to ``to`` seconds (what :meth:`paid` said before), or to never evaluated
        (``to=None``): for a caller that refuses an evaluation after it was charged (an objective whose budget
        is spent)."""
        paid = self._paid.get(row)
        if paid is None:
            return
        if to is None:
            self.evaluations -= 1
            self.seconds -= paid
            del self._paid[row]
        elif to < paid:
            self.seconds -= paid - to
            self._paid[row] = float(to)

    def paid(self, row: int) -> float | None:
        """Seconds charged for ``row`` so far, or None when it was never evaluated."""
        return self._paid.get(row)

    def reset(self) -> None:
        """Start counting from zero again."""
        self.evaluations, self.seconds = 0, 0.0
        self._paid.clear()
