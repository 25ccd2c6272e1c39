"""Query a benchmark table: ``ActBench("resnet").query("swish(x)")``.

A runnable manual, on a small synthetic table that this example writes itself (the real tables
come from ``actbench download`` or ``actbench convert``; see ``docs/tables.md``):

>>> import pathlib, tempfile
>>> from actbench import ActBench
>>> from actbench.table import TableWriter, TableInfo, Provenance
>>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.h5"
>>> info = TableInfo(benchmark="demo", space="act-bench", n_seeds=1)
>>> prov = Provenance.now(source="test-fixture", description="synthetic values for this manual")
>>> with TableWriter(path, info=info, provenance=prov) as w:
...     _ = w.add("add(relu(x),zero(x))", {"val_acc": 0.91, "test_acc": 0.90, "runtime_s": 60.0},
...               equivalents=["add(zero(x),relu(x))"])
...     _ = w.add("mul(tanh(x),sigmoid(x))", {"val_acc": 0.85, "test_acc": 0.84, "runtime_s": 55.0})

Open a table by benchmark name (``"cnn"``, ``"resnet"``, ``"vit"``: cached or downloaded) or by path:

>>> bench = ActBench(path)
>>> len(bench), "add(zero(x), relu(x))" in bench
(2, True)

``query`` accepts any spelling, any name the table lists as equivalent, and any function with the
same outputs on the sample points; the record says which row answered and how:

>>> r = bench.query("relu(x)")
>>> r.representative, r.resolved_by, r.val_acc
('add(relu(x),zero(x))', 'outputs', 0.91)

Queries are what a search algorithm pays for: each distinct row is charged once, with its runtime
as simulated training time. Analysis calls (``table``, ``metric``, ``features``, ``best``) are free
and are not for search algorithms:

>>> _ = bench.query("add(zero(x),relu(x))")          # same row: not charged again
>>> bench.budget.evaluations, bench.budget.seconds
(1, 60.0)
>>> bench.budget.reset()
>>> bench.best(1)["val_acc"].tolist()
[0.91]
"""

from __future__ import annotations

import os
from collections.abc import Iterator
import json
import math
from dataclasses import FrozenInstanceError, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np

from actbench._version import __version__
from actbench.errors import (
    NotInSpaceError,
    Suggester,
    UnknownBenchmarkError,
    UnknownFunctionError,
    did_you_mean,
    plural,
)
# actbench.expr and actbench.space are imported where a name must be parsed or evaluated: a query of a
# name the table lists needs neither, and importing them costs more than the query
if TYPE_CHECKING:
    from actbench.expr import Expr
    from actbench.provenance import TableInfo
from actbench.registry import BENCHMARKS, DEFAULT_BENCHMARK, BenchmarkSpec
from actbench.table import DIVERGED, METRICS, MISSING, FimLayer, read_table

__all__ = ["BENCHMARKS", "DEFAULT_BENCHMARK", "RECORD_FIELDS", "ActBench", "BenchmarkSpec", "Budget", "Record",
           "record_model"]


#: The fields of a :class:`Record`, in order.
RECORD_FIELDS: tuple[str, ...] = (
    "name", "representative", "row", "resolved_by", "benchmark", "seed", "epoch", "aggregation", *METRICS, "diverged",
    "missing", "equivalents", "train_split", "val_split", "test_split", "val_is_test", "source", "actbench_version")
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
        train_acc, val_acc, test_acc, train_loss, val_loss, test_loss, runtime_s: the metrics.
        diverged: training diverged (some metric is NaN in the source).
        missing: metric columns with no value.
        equivalents: every name the table lists for the row.
        train_split, val_split, test_split: what the metrics were measured on.
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
        """One field a line, as ``actbench query`` prints it (``repr`` stays unambiguous)."""
        lines = []
        for k in RECORD_FIELDS:
            v = getattr(self, k)
            lines.append(f"{k:<18} {' '.join(v) if k == 'equivalents' else v}")
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

    def paid(self, row: int) -> float | None:
        """Seconds charged for ``row`` so far, or None when it was never evaluated."""
        return self._paid.get(row)

    def reset(self) -> None:
        """Start counting from zero again."""
        self.evaluations, self.seconds = 0, 0.0
        self._paid.clear()


# The resolved-spelling cache holds at most this many characters of keys, each entry counted with an
# overhead for the dict slot and tuple (16 MiB of text: about 170,000 typical names, or 1,800 of 9 KB).
_RESOLVED_CHARS = 16 << 20
_ENTRY_OVERHEAD = 64


class ActBench:
    """A benchmark table, opened by benchmark name or by path.

    A benchmark name resolves, in order, to the shipped table (``"mini"``), the converted official table
    in the cache, the Hub (when this release's manifest lists the table), or the authors' official
    release, downloaded (after its licence is accepted), converted into the cache once and opened from
    there afterwards, offline (``docs/tables.md``).

    Args:
        name_or_path: ``"mini"`` (the default: shipped with the package, works offline), ``"cnn"``,
            ``"resnet"``, ``"vit"``, the path of a table file (``.h5``), or a search study folder.
        revision: Hub revision (default: the one pinned in the package's manifest).
        cache_dir: where downloaded tables live (default ``$ACTBENCH_CACHE`` or ``~/.cache/actbench``).
        offline: never use the network (default: ``ACTBENCH_OFFLINE`` / ``HF_HUB_OFFLINE``).
        source: the official file to convert, a URL or a local path (default: ``$ACTBENCH_OFFICIAL_URL``
            or the authors' location); converted once into the cache.
        accept_license: accept the official release's licence for this machine (default: ask on a
            terminal, else refuse with instructions; ``ACTBENCH_ACCEPT_LICENSE=1`` accepts too).

    Raises:
        UnknownBenchmarkError: neither a registered benchmark nor an existing file.
        actbench.official.LicenseNotAcceptedError: the licence must be accepted first (the message says how).
        actbench.hub.TableNotAvailableError: offline and not cached; the message says how to get it.
        actbench.hub.DownloadError: the download failed (an interrupted one resumes on the next call).
        actbench.table.CorruptTableError, actbench.table.TableFormatError: the file is damaged or invalid.
    """

    def __init__(
        self,
        name_or_path: str | os.PathLike = DEFAULT_BENCHMARK,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        offline: bool | None = None,
        source: str | os.PathLike | None = None,
        accept_license: bool | None = None,
    ) -> None:
        self._table = read_table(_resolve(name_or_path, revision=revision, cache_dir=cache_dir, offline=offline,
                                          source=source, accept_license=accept_license))
        self.name: str = self._table.info_fields["benchmark"]
        self.budget = Budget()
        self._resolved: dict[str, tuple[int, str]] = {}  # spelling -> (row, how), bounded in size
        self._resolved_chars = 0
        self._by_h1: dict[int, list[int]] | None = None
        self._suggester: Suggester | None = None  # built on the first unknown name
        self._per_seed: dict[str, np.ndarray] | None = None
        self._epoch_views: dict[int, dict] = {}  # first row of a block of curves -> what epoch queries read
        self._row_missing = np.stack([self._table.flags[c] == MISSING for c in METRICS], axis=1)
        self._row_diverged = np.any(np.stack([self._table.flags[c] == DIVERGED for c in METRICS]), axis=0)
        self._base = dict(self._table.info_fields)

    # --- what the table is -------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._table.path

    @property
    def info(self) -> TableInfo:
        return self._table.info

    @property
    def provenance(self):
        """Where the values came from (:class:`actbench.table.Provenance`)."""
        return self._table.provenance

    @property
    def seeds(self) -> list[int] | None:
        """Seeds with per-seed values, or None when the table holds only aggregates."""
        return self._table.seeds

    @property
    def fim_layers(self) -> list[FimLayer] | None:
        """Per-layer layout of the FIM feature, or None when unknown."""
        return self._table.fim_layers

    @property
    def fim_convention(self) -> str | None:
        """The K-FAC normalisation of the FIM features: ``"reference"`` (the official release's scale),
        ``"kfac"`` (textbook), or None when unknown. Features of different conventions must not be
        compared or embedded together."""
        return self._table.fim_convention

    @property
    def integrity(self) -> str | None:
        """``"fletcher32"`` when every byte of the file is under a checksum that HDF5 verifies as it reads
        (tables written by actbench 0.3.0 or later); None for older files, where damage can go unnoticed
        (``actbench upgrade FILE`` rewrites one with checksums)."""
        return self._table.integrity

    def close(self) -> None:
        """Close the table's file. Features are read from the file opened here, never from whatever is at
        the path later; after ``close()`` they can no longer be read. Closed on exit of a ``with`` block."""
        self._table.close()

    def __enter__(self) -> ActBench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._table.n_rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._table.names)

    def __contains__(self, name: object) -> bool:
        try:
            return self._find(name) is not None  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return False

    def __repr__(self) -> str:
        return f"<ActBench {self.name!r}: {plural(len(self), 'function')}, {self.info.description or self.path.name}>"

    # --- queries (charged) ---------------------------------------------------------------------

    def query(self, name: str | Expr, *, seed: int | None = None, epoch: int | None = None) -> Record:
        """The results of training with function ``name``; charged to :attr:`budget`.

        Args:
            name: any spelling of any function; equivalent names answer with the same row.
            seed: a seed of :attr:`seeds` for that run's values instead of the aggregate.
            epoch: answer after this many epochs (1 .. :attr:`epochs`) from the table's learning curves:
                training and validation loss and accuracy at that epoch (test values are NaN before
                the last epoch, not recorded per epoch; at the last they are the run's final test
                values), and ``runtime_s`` the seconds up to it: the run's runtime times
                the share of its training seconds spent by that epoch, so that the last epoch costs what
                the whole run cost (evaluations included), however a search reaches it. Charges those
                seconds; the same function at a later epoch is charged only the difference.

        Raises:
            actbench.ParseError: the name is malformed.
            UnknownFunctionError: the table has no equivalent row; says whether the function is
                outside the benchmark's space or only missing from the table.
            ValueError: ``seed`` is not one of the table's seeds; ``epoch`` is out of range, or the table
                has no learning curves.
        """
        row, how = self._resolve(name)
        t = self._table
        if epoch is not None:
            return self._query_epoch(name, row, how, seed, epoch)
        self.budget.charge(row, t.metrics["runtime_s"][row])
        if seed is None:
            vals = {c: float(t.metrics[c][row]) for c in METRICS}
            diverged = bool(self._row_diverged[row])
            missing = tuple(c for c, m in zip(METRICS, self._row_missing[row]) if m)
        else:
            j = self._seed_index(seed)
            vals = {c: float(self._per_seed[c][row, j]) for c in METRICS}
            diverged = bool(self._per_seed["diverged"][row, j])
            missing = tuple(c for c in METRICS if vals[c] != vals[c] and not diverged)
        base = self._base if seed is None else {**self._base, "aggregation": f"seed {seed} (one run)"}
        # every value comes from the table's arrays or its checked attributes: constructed, not re-validated
        return Record._trusted(dict(name=str(name), representative=t.names[row], row=row, resolved_by=how,
                                    seed=seed, epoch=None, diverged=diverged, missing=missing,
                                    equivalents=self._equivalents_of(row), **vals, **base,
                                    actbench_version=__version__))

    @property
    def epochs(self) -> int | None:
        """Epochs of the table's learning curves (``query(..., epoch=k)`` answers for k in 1..epochs), or
        None when the table holds only final values."""
        return self._table.n_epochs or None

    def _query_epoch(self, name, row: int, how: str, seed: int | None, epoch: int) -> Record:
        e = self._table.n_epochs
        if not e:
            raise ValueError(f"{self.name!r} has no learning curves: only the values at the end of training "
                             "(query without epoch=); tables written from results with curves have them "
                             "(ActBench.epochs says how many)")
        if not (isinstance(epoch, (int, np.integer)) and 1 <= epoch <= e):
            raise ValueError(f"epoch must be between 1 and {e} (the table's epochs), got {epoch!r}")
        view, i = self._epoch_view(row)
        k = epoch - 1
        if seed is not None:
            j = self._seed_index(seed)
            vals = {c: float(view["seed"][c][i, j, k]) for c in METRICS}
            diverged = bool(not view["reached"][i, j, k])
            aggregation = f"seed {seed} (one run), at epoch {epoch} of {e}"
        else:
            vals = {c: float(view["median"][c][i, k]) for c in METRICS}
            diverged = bool(view["diverged"][i, k])
            aggregation = f"{self._base['aggregation']}, at epoch {epoch} of {e}"
        if epoch == e:  # the end of training: the test split was evaluated, and its values are the final ones
            t = self._table
            for c in ("test_acc", "test_loss"):
                vals[c] = float(t.metrics[c][row]) if seed is None else float(self._per_seed[c][row, j])
        self.budget.charge(row, float(view["median"]["runtime_s"][i, k]))  # the runs' median time to the epoch
        missing = tuple(c for c in METRICS
                        if (c.startswith("test_") and epoch < e) or (vals[c] != vals[c] and not diverged))
        base = {**self._base, "aggregation": aggregation}
        return Record._trusted(dict(name=str(name), representative=self._table.names[row], row=row, resolved_by=how,
                                    seed=seed, epoch=int(epoch), diverged=diverged, missing=missing,
                                    equivalents=self._equivalents_of(row), **vals, **base,
                                    actbench_version=__version__))

    def _epoch_view(self, row: int) -> tuple[dict, int]:
        """What an epoch query of ``row`` reads, derived once per block of curve rows (vectorised) and
        kept as long as the table keeps the block: per seed, each metric at each epoch (test values NaN:
        not recorded per epoch; ``runtime_s`` the seconds up to the epoch: the run's ``runtime_s`` times its
        share of training seconds, ``epoch_s``, up to the epoch; the plain running sum of ``epoch_s`` where
        the run has no runtime), whether the run reached the epoch, and the aggregate over seeds by
        :func:`actbench.results.aggregate`'s rule (``runtime_s``: the median over the runs that reached it).
        Returns (the view, the row's index in it)."""
        from actbench.results import aggregate_seeds

        start, block = self._table.curve_block(row)
        view = self._epoch_views.get(start)
        if view is None or view["block"] is not block:
            reached = ~np.isnan(block["val_acc"])  # (rows, seeds, epochs)
            nan = np.full(reached.shape, np.nan)
            cum = np.cumsum(np.nan_to_num(block["epoch_s"]), axis=2)  # training seconds up to each epoch
            # the run's recorded runtime (evaluations and set-up included) spread over its epochs in
            # proportion to their training seconds: the last epoch costs the whole run, however reached
            total = np.take_along_axis(cum, np.maximum(reached.sum(axis=2, keepdims=True) - 1, 0), axis=2)
            runtime = self._table.per_seed("runtime_s", slice(start, start + len(cum)))[:, :, None]
            fair = np.isfinite(runtime) & (runtime > 0) & (total > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                seconds = np.where(fair, runtime * (cum / np.where(total > 0, total, 1.0)), cum)
            seconds = np.where(np.isnan(block["epoch_s"]), np.nan, seconds)
            per = {"train_acc": block["train_acc"], "val_acc": block["val_acc"], "test_acc": nan,
                   "train_loss": block["train_loss"], "val_loss": block["val_loss"], "test_loss": nan,
                   "runtime_s": seconds}
            median, flagged = {}, {}
            for c in METRICS:
                if c != "runtime_s":
                    # aggregate_seeds works over the last axis: seeds last
                    m, bad = aggregate_seeds(per[c].transpose(0, 2, 1), ~reached.transpose(0, 2, 1), c)
                    median[c], flagged[c] = m, bad
            t = np.sort(np.where(reached, seconds, np.inf), axis=1)  # runs that reached the epoch first
            n = reached.sum(axis=1)  # (rows, epochs)
            lo = np.take_along_axis(t, np.maximum((n - 1) // 2, 0)[:, None, :], axis=1)[:, 0, :]
            hi = np.take_along_axis(t, np.maximum(n // 2, 0)[:, None, :].clip(max=t.shape[1] - 1), axis=1)[:, 0, :]
            median["runtime_s"] = np.where(n > 0, (lo + hi) / 2, np.nan)
            view = {"block": block, "seed": per, "reached": reached, "median": median,
                    "diverged": flagged["train_acc"] | flagged["val_acc"]}
            self._epoch_views[start] = view
            if len(self._epoch_views) > len(self._table._curve_blocks):
                self._epoch_views = {k: v for k, v in self._epoch_views.items() if k in self._table._curve_blocks}
        return view, row - start

    def _seed_index(self, seed: int) -> int:
        seeds = self._table.seeds
        if seeds is None:
            raise ValueError(f"this table holds only aggregated values ({self.info.aggregation}); "
                             "query without seed=")
        if seed not in seeds:
            raise ValueError(f"seed {seed} is not in this table; its seeds are {seeds}")
        if self._per_seed is None:
            self._per_seed = {c: self._table.per_seed(c) for c in METRICS}
            self._per_seed["diverged"] = self._table.seed_diverged()
        return seeds.index(seed)

    # --- resolution ----------------------------------------------------------------------------

    def lookup(self, name: str | Expr) -> str:
        """The representative (row name) that answers for ``name``; free, not charged."""
        return self._table.names[self._resolve(name)[0]]

    def _resolve(self, name: str | Expr) -> tuple[int, str]:
        hit = self._find(name)
        if hit is None:
            from actbench.expr import parse

            raise UnknownFunctionError(self._unknown_message(parse(name)))
        return hit

    def _find(self, name: str | Expr) -> tuple[int, str] | None:
        """(row, how) for a name, or None; raises only ParseError. Cheap enough for search loops."""
        key = name if isinstance(name, str) else str(name)
        hit = self._resolved.get(key)
        if hit is not None:
            return hit
        t = self._table
        row = t.aliases.get(key)  # fast path: a name spelled as the table stores it needs no parsing
        if row is None:
            from actbench.expr import parse
        expr = parse(name) if row is None else None
        canon = key if expr is None else str(expr)
        if row is None:
            row = t.aliases.get(canon)
        if row is not None:
            hit = (row, "name" if t.names[row] == canon else "equivalent")
        else:
            row = self._row_by_outputs(expr)
            if row is None:
                return None
            hit = (row, "outputs")
        if self._resolved_chars + len(key) <= _RESOLVED_CHARS:
            self._resolved[key] = hit
            self._resolved_chars += len(key) + _ENTRY_OVERHEAD
        return hit

    def _row_by_outputs(self, expr: Expr) -> int | None:
        if self._by_h1 is None:
            self._by_h1 = {}
            for i, h in enumerate(self._table.h1.tolist()):
                self._by_h1.setdefault(h, []).append(i)
        from actbench.expr import evaluate
        from actbench.space import output_keys

        h1, h2 = output_keys(evaluate(expr))
        rows = [r for r in self._by_h1.get(int(h1[0]), []) if self._table.h2[r] == h2[0]]
        if not rows:
            return None
        return max(rows, key=lambda r: self._table.names[r])  # the greatest name, as for representatives

    def _unknown_message(self, expr: Expr) -> str:
        space_name = self.info.space
        where = f"table {self.path.name!r} ({plural(len(self), 'row')})"
        from actbench.space import SPACES, get_space

        if self._suggester is None:
            self._suggester = Suggester(self._table.aliases)
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

    def _equivalents_of(self, row: int) -> tuple[str, ...]:
        return self._table.equivalents(row)

    # --- analysis (free; not for search algorithms) --------------------------------------------

    def metric(self, column: str) -> np.ndarray:
        """(n_rows,) values of one metric for every row, in row order. Free: not charged."""
        if column not in METRICS:
            raise KeyError(f"unknown metric {column!r}{did_you_mean(column, METRICS)}; metrics: {', '.join(METRICS)}")
        return self._table.metrics[column].copy()

    def table(self):
        """All rows as a pandas DataFrame (index: representative names). Free: not charged."""
        import pandas as pd

        t = self._table
        df = pd.DataFrame({c: t.metrics[c] for c in METRICS}, index=pd.Index(t.names, name="function"))
        df["diverged"] = self._row_diverged
        rows = np.fromiter(t.aliases.values(), dtype=np.int64, count=len(t.aliases))
        df["n_equivalents"] = np.bincount(rows, minlength=len(self))
        return df

    def best(self, k: int = 10, *, metric: str = "val_acc"):
        """The ``k`` best rows by ``metric`` (highest accuracy; lowest loss or runtime), as a
        DataFrame. NaN sorts last. Free: not charged."""
        df = self.table()
        if metric not in METRICS:
            raise KeyError(f"unknown metric {metric!r}{did_you_mean(metric, METRICS)}; metrics: {', '.join(METRICS)}")
        ascending = not metric.endswith("_acc")
        return df.sort_values(metric, ascending=ascending, na_position="last", kind="stable").head(k)

    def features(self, kind: Literal["fim", "outputs"], rows=None) -> np.ndarray:
        """(n_rows, d) float32 features read from disk now: ``"fim"`` (the concatenated per-layer
        FIM CDFs; NaN rows where missing) or ``"outputs"`` (values on the 1000 sample points).
        Free: not charged."""
        sel = slice(None) if rows is None else np.asarray(rows)
        if kind == "fim":
            return self._table.fim(sel)
        if kind == "outputs":
            return self._table.outputs(sel)
        raise ValueError(f"features kind must be 'fim' or 'outputs', got {kind!r}")


def _resolve(name_or_path, *, revision, cache_dir, offline, source=None, accept_license=None) -> Path:
    text = os.fspath(name_or_path)
    spec = BENCHMARKS.get(text)
    if spec is not None and spec.shipped:
        from importlib import resources

        from actbench import hub

        path = Path(str(resources.files("actbench").joinpath("data", spec.shipped)))
        if not path.exists():
            raise hub.TableNotAvailableError(
                f"the shipped {text!r} table is missing from this installation ({path}); reinstall actbench, or "
                f"rebuild it with generation/ (docs/mini.md)")
        return path
    if spec is not None:
        return _resolve_benchmark(spec, revision=revision, cache_dir=cache_dir, offline=offline, source=source,
                                  accept_license=accept_license)
    if source is not None:
        raise ValueError(f"source= converts an official release, but {text!r} is not a benchmark with one; "
                         f"benchmarks: {', '.join(b for b, s in BENCHMARKS.items() if s.json_name)}")
    path = Path(text).expanduser()
    if path.is_dir() and (path / "study.json").exists():  # a search study (generation.study): its table
        from actbench.study import study_table

        return study_table(path)  # brought up to date with the study's storage first
    if path.is_dir():
        raise FileNotFoundError(f"{path} is a folder, not a table file (nor a study folder with study.json)")
    if path.exists() or path.suffix in (".h5", ".hdf5") or os.sep in text:
        if not path.exists():
            raise FileNotFoundError(f"no table at {path}")
        return path
    raise UnknownBenchmarkError(
        f"unknown benchmark {text!r}{did_you_mean(text, BENCHMARKS)}; benchmarks: {', '.join(BENCHMARKS)} "
        "(or give the path of a table file)")


def _resolve_benchmark(spec: BenchmarkSpec, *, revision, cache_dir, offline, source, accept_license) -> Path:
    """The chain for a benchmark name: the converted official table in the cache, then the Hub (when this
    release's manifest lists the table), then the official release (download, convert, cache)."""
    from actbench import hub, official

    if source is None and revision is None:
        cached = official.cached_table(spec.name, cache_dir)
        if cached is not None:
            return cached
    if source is None and spec.name in hub.load_manifest().files:
        return hub.ensure_table(spec.name, revision=revision, cache=cache_dir, offline=offline)
    if revision is not None:
        raise hub.TableNotAvailableError(
            f"revision={revision!r} selects a Hub revision, but the {spec.name!r} table is not published on the Hub "
            f"for this actbench release; leave revision out to use the official release")
    return official.ensure_official(spec.name, source=source, cache=cache_dir, offline=offline,
                                    accept_license=accept_license)
