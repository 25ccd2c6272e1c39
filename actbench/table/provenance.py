"""What a table measures and where its values came from: the metadata models of the table format.

Stored as JSON in a table's root attributes ``info`` and ``provenance`` (docs/format.md). They live
apart from ``actbench.table`` so that opening and querying a table, which reads these attributes as
plain JSON and validates them on first use, does not build them; ``actbench.table`` re-exports them.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from actbench._version import __version__

__all__ = ["Provenance", "SourceFile", "TableInfo"]


class _Frozen(BaseModel):
    # defer_build: the validators are built on first use, so that opening a table and querying it (which
    # read these models' JSON lazily) never pay for pydantic's schema generation
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class SourceFile(_Frozen):
    """An input file a table was built from."""

    name: str
    sha256: str
    size: int


class Provenance(_Frozen):
    """Where a table's values came from. Stored as JSON in the root attribute ``provenance``.

    Attributes:
        source: ``official-json`` (converted from the paper's release), ``generation`` (our own
            training runs), or ``test-fixture`` (synthetic values made by tests; never shipped).
        description: one human sentence.
        actbench_version: the package version that wrote the table.
        created: ISO 8601 UTC time of writing.
        command: the command line that produced it, when known.
        inputs: the input files with their sha256.
        config: the generation recipe, for ``source="generation"``.
        notes: anything else a reader must know (e.g. how outputs were computed).
    """

    source: Literal["official-json", "generation", "test-fixture"]
    description: str
    actbench_version: str = __version__
    created: str
    command: str | None = None
    inputs: tuple[SourceFile, ...] = ()
    config: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()

    @classmethod
    def now(cls, **fields: Any) -> Provenance:
        """A provenance stamped with the current UTC time."""
        created = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        return cls(created=created, **fields)


class TableInfo(_Frozen):
    """What a table measures. Stored as JSON in the root attribute ``info``.

    Attributes:
        benchmark: short name, e.g. ``"resnet"``.
        space: the search space its functions come from (a key of :data:`actbench.space.SPACES`),
            or None when the rows are not from a registered space.
        description: e.g. ``"ResNet-56 on CIFAR-10"``.
        n_seeds: training runs per function.
        aggregation: how the ``metrics/`` values combine the runs, e.g. ``"median of 3 runs"``.
        train_split: which data the training metrics are computed on.
        val_split: which data the validation metrics are computed on.
        test_split: which data the test metrics are computed on.
        val_is_test: True when the validation and test metrics come from the same split (Act-Bench-ViT).
        accuracy_unit: ``"fraction"`` (0-1) or ``"percent"``.
    """

    benchmark: str
    space: str | None = None
    description: str = ""
    n_seeds: int = Field(default=1, ge=1)
    aggregation: str = "single run"
    train_split: str = "training set"
    val_split: str = "validation split"
    test_split: str = "test set"
    val_is_test: bool = False
    accuracy_unit: Literal["fraction", "percent"] = "fraction"
