"""One answer of a query (:class:`Record`): immutable, with the pydantic model that defines its schema.

Records that a query builds come from values the table checked when it was opened, without pydantic;
records built from user input or JSON are validated through :func:`record_model`.
"""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError
from typing import Annotated, Any, Literal

from actbench._version import __version__
from actbench.base.text import printable
from actbench.table.schema import METRICS

__all__ = ["RECORD_FIELDS", "Record", "record_model"]


#: The fields of a :class:`Record`, in order.
RECORD_FIELDS: tuple[str, ...] = (
    "name", "representative", "row", "resolved_by", "benchmark", "seed", "epoch", "aggregation", *METRICS, "cost_s",
    "diverged", "missing", "equivalents", "train_split", "val_split", "test_split", "val_is_test", "source",
    "actbench_version")
_RECORD_MODEL = None
_NAN = object()


def record_model():
    """The pydantic model that defines and validates records (``extra="forbid"``, frozen, NaN written as JSON
    null and read back as NaN). Built on first use: a query never pays for pydantic's model machinery, whose
    import alone costs more than opening a full-size table; every record built from user input or JSON goes
    through it."""
    global _RECORD_MODEL
    if _RECORD_MODEL is None:
        from pydantic import BeforeValidator, ConfigDict, create_model

        metric = (Annotated[float, BeforeValidator(lambda v: math.nan if v is None else v)], ...)
        fields: dict[str, Any] = {
            "name": (str, ...), "representative": (str, ...), "row": (int, ...),
            "resolved_by": (Literal["name", "equivalent", "outputs"], ...), "benchmark": (str, ...),
            "seed": (int | None, ...), "epoch": (int | None, None), "aggregation": (str, ...),
            **{m: metric for m in METRICS},
            "cost_s": (Annotated[float, BeforeValidator(lambda v: math.nan if v is None else v)], math.nan),
            "diverged": (bool, ...), "missing": (tuple[str, ...], ...), "equivalents": (tuple[str, ...], ...),
            "train_split": (str, ...), "val_split": (str, ...), "test_split": (str, ...), "val_is_test": (bool, ...),
            "source": (str, ...), "actbench_version": (str, __version__)}
        _RECORD_MODEL = create_model("Record", __config__=ConfigDict(frozen=True, extra="forbid"), **fields)
    return _RECORD_MODEL


class Record:
    """One answer of :meth:`ActBench.query`: immutable. Metrics are NaN where the table has no value.

    Its schema is the pydantic model :func:`record_model` (``extra="forbid"``, frozen): building a record
    yourself (``Record(**fields)``, :meth:`model_validate`, :meth:`model_validate_json`) validates through it
    and raises ``pydantic.ValidationError``; :meth:`model_dump`, :meth:`model_dump_json`, :meth:`model_copy`
    and :meth:`model_json_schema` work as on a pydantic model. Records that a query builds come from values
    the table checked when it was opened, without pydantic.

    Attributes:
        name: the name as asked.
        representative: the table row that answered (its class representative).
        row: the row's index.
        resolved_by: ``"name"`` (the row's own name), ``"equivalent"`` (a name the table lists as
            equivalent), or ``"outputs"`` (an unlisted function with the same outputs).
        benchmark: the table's benchmark name.
        seed: the seed of the values, or None for the aggregate (see ``aggregation``).
        epoch: the epoch of the values (from the table's learning curves), or None for the end of training.
        aggregation: how the aggregate values were formed (e.g. "median of 3 runs").
        train_acc: training accuracy.
        val_acc: validation accuracy.
        test_acc: test accuracy.
        train_loss: training loss.
        val_loss: validation loss.
        test_loss: test loss.
        runtime_s: seconds of the run (training and its evaluations) as the table measured them, up to
            ``epoch``; NaN where the table has none.
        cost_s: the simulated seconds this function costs a search trained to ``epoch`` (the end of training
            when None), by the one cost rule of :mod:`actbench.query.cost`: what the budget charges a first
            query of it, never NaN (an unknown runtime costs the table's median). A record saved without it (by an
            earlier release) reads back with NaN here.
        diverged: training diverged (some metric is NaN in the source).
        missing: metric columns with no value.
        equivalents: every name the table lists for the row.
        train_split: what the training metrics were measured on.
        val_split: what the validation metrics were measured on.
        test_split: what the test metrics were measured on.
        val_is_test: validation and test metrics come from the same split.
        source: where the table's values came from (``official-json``, ``generation``, ``test-fixture``).
        actbench_version: the version that built the record.
    """

    __slots__ = RECORD_FIELDS

    def __init__(self, **fields: Any) -> None:
        model = record_model()(**fields)  # raises pydantic.ValidationError
        for k in RECORD_FIELDS:
            object.__setattr__(self, k, getattr(model, k))

    @classmethod
    def _trusted(cls, fields: dict[str, Any]) -> Record:
        rec = object.__new__(cls)
        for k in RECORD_FIELDS:
            object.__setattr__(rec, k, fields[k])
        return rec

    def __setattr__(self, key: str, value: Any) -> None:
        raise FrozenInstanceError(f"a Record is immutable; make a changed copy with rec.model_copy(update={{{key!r}: "
                                  f"...}})")

    def __delattr__(self, key: str) -> None:
        raise FrozenInstanceError("a Record is immutable")

    def _values(self) -> tuple:
        # NaN (no value) equals NaN here, so that a record equals its JSON round trip
        return tuple(_NAN if isinstance(v, float) and v != v else v for v in map(self.__getattribute__, RECORD_FIELDS))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __str__(self) -> str:
        """One field a line, as ``actbench query`` prints it, control characters escaped (``repr`` stays
        unambiguous)."""
        lines = []
        for k in RECORD_FIELDS:
            v = getattr(self, k)
            lines.append(f"{k:<18} {printable(' '.join(v) if k == 'equivalents' else v)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return "Record(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in RECORD_FIELDS) + ")"

    def model_dump(self) -> dict[str, Any]:
        """The fields as a dict."""
        return {k: getattr(self, k) for k in RECORD_FIELDS}

    def model_dump_json(self, *, indent: int | None = None) -> str:
        """Standard JSON (NaN written as null), as pydantic writes it."""
        data = {k: (None if isinstance(v, float) and v != v else v) for k, v in self.model_dump().items()}
        return json.dumps(data, indent=indent, separators=(",", ":") if indent is None else None,
                          ensure_ascii=False, allow_nan=True)

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Record:
        """A copy with ``update`` applied (validated)."""
        return Record(**{**self.model_dump(), **(update or {})}) if update else Record._trusted(self.model_dump())

    @classmethod
    def model_validate(cls, obj: Any) -> Record:
        """A record from a dict (validated) or a record."""
        if isinstance(obj, Record):
            return obj
        model = record_model().model_validate(obj)
        return cls._trusted({k: getattr(model, k) for k in RECORD_FIELDS})

    @classmethod
    def model_validate_json(cls, text: str | bytes) -> Record:
        """A record from its JSON (null read back as NaN), validated."""
        model = record_model().model_validate_json(text)
        return cls._trusted({k: getattr(model, k) for k in RECORD_FIELDS})

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        """The JSON schema of a record."""
        return record_model().model_json_schema()
