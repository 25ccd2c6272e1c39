"""What queries have cost a search algorithm (:class:`Budget`)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Budget"]


@dataclass
class Budget:
    """What queries have cost: distinct functions evaluated and simulated training seconds.

    A row is charged once however many equivalent names ask for it; rows whose runtime is unknown
    (NaN) add no seconds. A query at an epoch (tables with learning curves) charges the seconds up to that
    epoch (:meth:`ActBench.query`); asking the same function at a later epoch charges only the seconds
    between (the training continues), at an earlier one nothing.
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
