"""Every exception actbench raises on purpose, in one module (``actbench.errors``).

Every exception subclasses a built-in so that callers can catch the broad kind (``ValueError``,
``KeyError``, ``ImportError``, ``OSError``) without importing actbench, and :class:`ActBenchError`, so that
they can catch all of ours. The modules that raise them re-export them under their earlier import paths
(``actbench.table.CorruptTableError``, ``actbench.hub.DownloadError``, ``actbench.search.SearchExhausted``
...): those are the same classes.
"""

from __future__ import annotations

from collections.abc import Iterable

from actbench.base.text import Suggester, did_you_mean, plural, printable  # noqa: F401  (re-exported: earlier paths)

__all__ = [
    "ActBenchError",
    "ArityError",
    "BudgetExhausted",
    "ChecksumError",
    "ConfigurationError",
    "ConversionError",
    "CorruptTableError",
    "DownloadError",
    "FidelityError",
    "LimitError",
    "LicenseNotAcceptedError",
    "MissingExtraError",
    "NotInSpaceError",
    "OfficialDataError",
    "ParseError",
    "SearchExhausted",
    "ManifestError",
    "SourceMismatchError",
    "StudyRecordError",
    "StudyStorageError",
    "TableFormatError",
    "TableNotAvailableError",
    "UnknownBenchmarkError",
    "UnknownFunctionError",
    "UnknownOperatorError",
    "UnknownSpaceError",
    "UnsafeNameError",
]


class ActBenchError(Exception):
    """Base class of every error that actbench raises on purpose."""


class ParseError(ActBenchError, ValueError):
    """A function name that does not follow the grammar.

    Attributes:
        text: the input as given.
        position: 0-based character offset of the problem in ``text``.
        reason: the message without the caret diagram.
    """

    def __init__(self, reason: str, text: str, position: int) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        super().__init__(_with_caret(reason, text, position))


class UnknownOperatorError(ParseError):
    """An operator name that is not in the registry (a :class:`ParseError`)."""

    def __init__(self, op: str, text: str, position: int, known: Iterable[str], *, meant: str | None = None) -> None:
        self.op = op
        hint = f" (did you mean {meant!r}? {op!r} is called {meant!r} here)" if meant else did_you_mean(op, known)
        reason = f"unknown operator {op!r}{hint}; `actbench ops` lists the operators"
        super().__init__(reason, text, position)


class ArityError(ParseError):
    """An operator called with the wrong number of arguments (a :class:`ParseError`)."""


class UnknownSpaceError(ActBenchError, KeyError):
    """A search-space name that is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class NotInSpaceError(ActBenchError, KeyError):
    """A function that is neither named in a space nor equivalent to one of its functions."""

    def __str__(self) -> str:
        return str(self.args[0])


class MissingExtraError(ActBenchError, ImportError):
    """An optional dependency is missing; the message names the pip extra that installs it."""


def _with_caret(reason: str, text: str, position: int) -> str:
    """The reason, the text (control characters escaped, so that it cannot move the cursor or spoof a line) and
    a caret under the position; a window of long texts."""
    start = 0 if len(text) <= 200 else max(0, position - 80)
    window = text if len(text) <= 200 else text[start: position + 80]
    lead = "..." if start else ""
    shown = lead + printable(window) + ("..." if len(text) > 200 else "")
    caret_at = len(lead) + len(printable(window[: position - start]))
    return f"{reason}\n  {shown}\n  {' ' * caret_at}^ (position {position})"


class UnknownFunctionError(ActBenchError, KeyError):
    """A function that a benchmark table has no row for; the message says whether it is outside the
    benchmark's search space or only missing from the table, with "did you mean"."""

    def __str__(self) -> str:
        return str(self.args[0])


class DownloadError(ActBenchError, ConnectionError):
    """A download failed: unreachable, refused, interrupted or too slow (``actbench.hub.DownloadError``)."""


class UnsafeNameError(ActBenchError, ValueError):
    """A revision, benchmark or file name that could lead outside the cache folder."""


class UnknownBenchmarkError(ActBenchError, KeyError):
    """A benchmark name that is not registered (and not a path to a table file)."""

    def __str__(self) -> str:
        return str(self.args[0])


# --- tables ----------------------------------------------------------------------------------


class TableFormatError(ActBenchError, ValueError):
    """A file that is HDF5 but not a valid actbench table; the message lists every problem."""


class CorruptTableError(ActBenchError, OSError):
    """A table file that cannot be read at all (truncated, not HDF5, or a checksum mismatch)."""


# --- sources ---------------------------------------------------------------------------------


class TableNotAvailableError(ActBenchError, FileNotFoundError):
    """A benchmark table that is neither cached nor downloadable right now."""


class ManifestError(ActBenchError, ValueError):
    """A Hub manifest (the package's, or ``ACTBENCH_MANIFEST``) that is not valid; the message says where."""


class ChecksumError(ActBenchError, OSError):
    """A downloaded or cached file whose sha256 does not match the manifest; it was deleted."""


class ConversionError(ActBenchError, ValueError):
    """The input is not in the official Act-Bench JSON shape; the message says where and why.
    The output file is not written (nothing half-done is left under its name)."""


class SourceMismatchError(ActBenchError, ValueError):
    """A ``source=`` given for a benchmark whose cached table was converted from another source; the message
    says how to replace the cached table (or to keep it)."""


class LicenseNotAcceptedError(ActBenchError, PermissionError):
    """The official release's licence has not been accepted on this machine; the message says how."""


class OfficialDataError(ActBenchError, ValueError):
    """A downloaded official file that converts but is not a complete Act-Bench table (e.g. names of the
    schema that no row answers); nothing was cached."""


class StudyStorageError(ActBenchError, OSError):
    """A search study's storage that cannot be read: missing, damaged, unreachable, without its driver, or
    without the study; the message says which (credentials masked) and what to check."""


class StudyRecordError(ActBenchError, ValueError):
    """A recorded trial of a search study that does not hold a valid result; the message names the trial."""


# --- search ----------------------------------------------------------------------------------


class FidelityError(ActBenchError, ValueError):
    """A fidelity (an epoch) that a table cannot answer: outside 1..epochs, not a whole number (without
    ``round_fidelity``), not a number, or asked of a table without learning curves."""


class ConfigurationError(ActBenchError, ValueError):
    """A configuration that names no function of the table's space: unknown or missing slot parameters,
    a value outside a slot's choices, a row index out of range."""


class LimitError(ActBenchError, ValueError):
    """A search or objective limit that cannot be honoured: ``max_evaluations`` that is not a whole number
    of at least 1, ``max_seconds`` that is not a positive finite number of seconds, and the like."""


class SearchExhausted(IndexError):
    """Raised by a strategy's ``ask`` that has nothing left to propose: every function it could propose is
    evaluated or being evaluated. :func:`actbench.search.run_search` then waits for the evaluations still
    running (they may give it something to continue) and otherwise ends the search early
    (``SearchResult.exhausted``).

    An ``IndexError`` (not an :class:`ActBenchError`): it is a strategy's signal to the search loop, not a
    failure."""


class BudgetExhausted(ActBenchError):
    """Raised by :class:`actbench.interop.Objective` when asked for a new evaluation after its budget is spent
    (``max_evaluations`` distinct functions, or ``max_seconds`` simulated training seconds): the signal that
    stops an external optimiser on the table's budget rather than on its own count of trials or its wall
    clock. Functions already evaluated are still answered (free). ``evaluations`` and ``seconds`` say what
    was spent."""

    def __init__(self, message: str, *, evaluations: int, seconds: float) -> None:
        super().__init__(message)
        self.evaluations, self.seconds = evaluations, seconds
