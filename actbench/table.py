"""The HDF5 table format, version 1: writer, reader and validator.

A table holds one benchmark: one row per equivalence class of activation functions, with its
metrics, its Fisher-information feature, and its outputs on the sample points. The layout is
specified in ``docs/format.md`` so that a table can be read with plain h5py; this module is the one
place that writes and reads it.

Writing is atomic: :class:`TableWriter` writes ``<path>.tmp-<host>-<pid>`` and renames it over ``path``
only when everything is written, so an interrupted run never leaves a half table under the real name
(and the next writer of ``path`` deletes what a killed one left).

>>> import numpy as np, tempfile, pathlib
>>> from actbench.table import TableWriter, TableInfo, Provenance, read_table
>>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.h5"
>>> info = TableInfo(benchmark="demo", space="act-bench", description="doctest fixture (synthetic)")
>>> prov = Provenance.now(source="test-fixture", description="synthetic doctest values")
>>> with TableWriter(path, info=info, provenance=prov) as w:
...     _ = w.add("add(relu(x),zero(x))", {"val_acc": 0.9}, equivalents=["add(zero(x),relu(x))"])
>>> t = read_table(path)
>>> t.names, t.row_of("add(zero(x),relu(x))"), float(t.metrics["val_acc"][0])
(['add(relu(x),zero(x))'], 0, 0.9)
"""

from __future__ import annotations

import functools
import json
import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import h5py
import numpy as np

from actbench._constants import EQUIVALENCE_BITS, N_POINTS

if TYPE_CHECKING:
    from actbench.provenance import Provenance, TableInfo
from actbench.errors import ActBenchError, ParseError, plural

# The function language (actbench.expr, actbench.space) is imported where rows are written or deeply
# validated, not at import: opening and querying a table never parses or evaluates a stored name.

__all__ = [
    "FIM_CONVENTIONS",
    "CURVE_METRICS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "INTEGRITY",
    "METRICS",
    "CorruptTableError",
    "FimLayer",
    "Provenance",
    "Table",
    "TableFormatError",
    "TableInfo",
    "TableWriter",
    "read_table",
    "upgrade_table",
    "validate_table",
]

FORMAT_NAME = "actbench-table"
#: The newest format version this actbench reads and writes. Version 2 is version 1 plus the optional
#: ``curves/`` group (learning curves); a table without curves is written as version 1, so that older
#: readers open it, and one with curves as version 2, which older readers refuse naming the upgrade.
FORMAT_VERSION = 2
#: Per-epoch columns of the optional ``curves/`` group, each (n_rows, n_seeds, n_epochs) float64.
CURVE_METRICS: tuple[str, ...] = ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_s")
#: Blocks of curve rows :meth:`Table.curve_row` keeps decompressed (a block is a chunk: 64 rows, 77 KB for
#: 3 seeds x 10 epochs x 5 columns).
CURVE_CACHE_BLOCKS = 256

#: The metric columns, the same names in HDF5, DataFrames and records.
METRICS: tuple[str, ...] = ("train_acc", "val_acc", "test_acc", "train_loss", "val_loss", "test_loss", "runtime_s")
#: The K-FAC normalisations a table's FIM features can be in (root attribute ``fim_convention``):
#: ``"reference"`` is the official release's scale, ``"kfac"`` the textbook one (docs/generation.md).
FIM_CONVENTIONS: tuple[str, ...] = ("reference", "kfac")
FimConvention = Literal["reference", "kfac"]
_SOURCES = ("official-json", "generation", "test-fixture")
# the TableInfo fields a query record carries, with TableInfo's defaults (a test holds them equal)
_RECORD_INFO_DEFAULTS = {"benchmark": None, "aggregation": "single run", "train_split": "training set",
                         "val_split": "validation split", "test_split": "test set", "val_is_test": False}
#: Per-value flags in ``flags/<metric>``.
OK, DIVERGED, MISSING = 0, 1, 2
FLAG_NAMES = {OK: "ok", DIVERGED: "diverged", MISSING: "missing"}

_BATCH = 256


class TableFormatError(ActBenchError, ValueError):
    """A file that is HDF5 but not a valid actbench table; the message lists every problem."""


class CorruptTableError(ActBenchError, OSError):
    """A table file that cannot be read at all (truncated, not HDF5, or a checksum mismatch)."""


@dataclass(frozen=True)
class FimLayer:
    """One layer's slice of the concatenated FIM CDF: ``cdf[:, offset:offset + n_bins]``."""

    name: str
    n_weights: int
    offset: int
    n_bins: int


def fim_layout(layers: Sequence[tuple[str, int]]) -> list[FimLayer]:
    """Layout of the concatenated per-layer CDFs for ``(name, n_weights)`` pairs (docs/format.md):
    each layer has ``n_weights // 100 - 1`` bins (edges ``np.linspace(-100, 100, n_weights // 100)``)."""
    out, offset = [], 0
    for name, n_weights in layers:
        n_bins = max(n_weights // 100 - 1, 0)
        out.append(FimLayer(name, int(n_weights), offset, n_bins))
        offset += n_bins
    return out


def __getattr__(name: str):
    # the metadata models live in actbench.provenance (not built when a table is only opened and queried)
    if name in ("Provenance", "SourceFile", "TableInfo"):
        from actbench import provenance

        return getattr(provenance, name)
    raise AttributeError(f"module 'actbench.table' has no attribute {name!r}")


# --- writing ----------------------------------------------------------------------------------


class TableWriter:
    """Write a table row by row, atomically.

    Use as a context manager; rows are buffered and flushed in batches, so memory stays bounded
    for any number of rows. Outputs on the sample points are computed from each row's name.

    Args:
        path: destination; written under a temporary name and renamed on success.
        info: what the table measures.
        provenance: where the values came from.
        seeds: the seeds of the per-seed metrics, if rows carry them.
        fim_layers: the per-layer FIM layout, if known.
        fim_convention: the K-FAC normalisation of the FIM features (:data:`FIM_CONVENTIONS`), if known.
        epochs: the number of epochs of the learning curves that rows carry (needs ``seeds``); None: no
            curves (the table is written as format version 1).

    Raises:
        ValueError: an unknown ``fim_convention``, or ``epochs`` without ``seeds`` or below 1.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        info: TableInfo,
        provenance: Provenance,
        seeds: Sequence[int] | None = None,
        fim_layers: Sequence[FimLayer] | None = None,
        fim_convention: str | None = None,
        epochs: int | None = None,
    ) -> None:
        if epochs is not None and (seeds is None or int(epochs) < 1):
            raise ValueError(f"learning curves need seeds= and epochs >= 1, got seeds={seeds!r}, epochs={epochs!r}")
        self.epochs = None if epochs is None else int(epochs)
        if fim_convention is not None and fim_convention not in FIM_CONVENTIONS:
            raise ValueError(f"fim_convention must be one of {FIM_CONVENTIONS} or None, got {fim_convention!r}")
        self.fim_convention = fim_convention
        self.path = Path(path)
        self.info = info
        self.provenance = provenance
        self.seeds = list(seeds) if seeds is not None else None
        self.fim_layers = list(fim_layers) if fim_layers is not None else None
        self._tmp = _tmp_path(self.path)
        self._file: h5py.File | None = None
        self._rows: list[dict] = []
        self._names: dict[str, int] = {}
        self._aliases: dict[str, int] = {}
        self._conflicts: list[str] = []
        self._n = 0
        # a layout of layers too small for a histogram (under 200 weights each) means no FIM feature
        self._n_fim: int | None = (sum(l.n_bins for l in self.fim_layers) or None) if self.fim_layers else None

    def __enter__(self) -> TableWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(self.path)
        self._file = h5py.File(self._tmp, "w", libver=_LIBVER)
        f = self._file
        for col in METRICS:
            _create(f, f"metrics/{col}", shape=(0,), maxshape=(None,), dtype="f8", chunks=(1024,))
            _create(f, f"flags/{col}", shape=(0,), maxshape=(None,), dtype="u1", chunks=(1024,))
        if self.seeds is not None:
            k = len(self.seeds)
            _put(f, "per_seed/seeds", np.asarray(self.seeds, dtype=np.int64))
            for col in METRICS:
                _create(f, f"per_seed/{col}", shape=(0, k), maxshape=(None, k), dtype="f8", chunks=(256, max(k, 1)))
            _create(f, "per_seed/diverged", shape=(0, k), maxshape=(None, k), dtype="?", chunks=(256, max(k, 1)))
            if self.epochs is not None:
                e = self.epochs
                for col in CURVE_METRICS:
                    # compressed (shuffle + gzip: accuracies are multiples of 1/n and compress well); chunks of
                    # at most 64 rows keep what a query decompresses small
                    _create(f, f"curves/{col}", shape=(0, k, e), maxshape=(None, k, e), dtype="f8",
                            chunks=(max(1, min(64, (1 << 14) // max(k * e, 1))), max(k, 1), e), fillvalue=np.nan,
                            compression="gzip", compression_opts=4, shuffle=True)
        from actbench.space import sample_points

        _put(f, "outputs/points", sample_points())
        _create(f, "outputs/values", shape=(0, N_POINTS), maxshape=(None, N_POINTS), dtype="f4",
                chunks=(64, N_POINTS), compression="gzip", compression_opts=4, shuffle=True)
        for h in ("h1", "h2"):
            _create(f, f"outputs/{h}", shape=(0,), maxshape=(None,), dtype="u8", chunks=(1024,))
        _create(f, "fim/missing", shape=(0,), maxshape=(None,), dtype="?", chunks=(1024,))
        if self._n_fim is not None:
            self._create_fim(self._n_fim)
        return self

    def _create_fim(self, n_fim: int) -> None:
        f = self._file
        chunk_rows = max(1, min(64, (1 << 20) // (4 * max(n_fim, 1))))
        _create(f, "fim/cdf", shape=(self._n, n_fim), maxshape=(None, n_fim), dtype="f4",
                chunks=(chunk_rows, max(n_fim, 1)), compression="gzip", compression_opts=4,
                shuffle=True, fillvalue=np.nan)
        self._n_fim = n_fim

    def add(
        self,
        name: str,
        metrics: Mapping[str, float | None],
        *,
        flags: Mapping[str, int] | None = None,
        per_seed: Mapping[str, Sequence[float | None]] | None = None,
        seed_diverged: Sequence[bool] | None = None,
        fim: Sequence[float] | np.ndarray | None = None,
        equivalents: Iterable[str] = (),
        curves: Mapping[str, Sequence[Sequence[float] | None]] | None = None,
    ) -> int:
        """Append one row; returns its index.

        Args:
            name: the row's function name (any spelling; stored canonically).
            metrics: aggregate values by column (:data:`METRICS`); an absent column is stored as NaN
                flagged ``missing``, a NaN value is flagged ``diverged`` unless ``flags`` says otherwise.
            flags: explicit per-column flags (``0`` ok, ``1`` diverged, ``2`` missing).
            per_seed: per-seed values by column, in the order of ``seeds``.
            seed_diverged: per-seed divergence flags.
            fim: the concatenated per-layer FIM CDF; None or empty when missing.
            equivalents: other names of the same function; they resolve to this row.
            curves: per-epoch values by :data:`CURVE_METRICS` column: one list per seed (in the order of
                ``seeds``), each of up to ``epochs`` values (a run that stopped early, diverged, has fewer;
                the rest is NaN). Needs ``epochs=``.

        Raises:
            ParseError: a name does not parse.
            TableFormatError: a duplicate row name, an unknown metric, a FIM of the wrong length, or curves
                the writer was not made for.
        """
        from actbench.expr import parse

        if self._file is None:
            raise RuntimeError("TableWriter.add() outside its `with` block")
        key = str(parse(name))
        if key in self._names:
            raise TableFormatError(f"duplicate row {key!r} (rows {self._names[key]} and {self._n})")
        unknown = set(metrics) - set(METRICS)
        if unknown:
            raise TableFormatError(f"unknown metric column(s) {sorted(unknown)}; columns are {list(METRICS)}")
        vals, flg = {}, {}
        for col in METRICS:
            v = metrics.get(col)
            vals[col] = np.nan if v is None else float(v)
            default = MISSING if col not in metrics or v is None else (DIVERGED if np.isnan(vals[col]) else OK)
            flg[col] = int(flags[col]) if flags and col in flags else default
        fim_arr = None if fim is None else np.asarray(fim, dtype=np.float32).ravel()
        if fim_arr is not None and fim_arr.size == 0:
            fim_arr = None
        if fim_arr is not None and self._n_fim is not None and fim_arr.size != self._n_fim:
            raise TableFormatError(f"row {key!r} has a FIM feature of length {fim_arr.size}, "
                                   f"the table's is {self._n_fim}")
        if per_seed is not None and self.seeds is None:
            raise TableFormatError("per-seed values given, but the writer was created without seeds=")
        curve_block = None if curves is None else self._curve_block(key, curves)
        aliases = [key, *(str(parse(e)) for e in equivalents)]
        # every check passed: only now does the row exist (a refused row leaves the writer as it was)
        if fim_arr is not None and self._n_fim is None:
            self._flush()
            self._create_fim(fim_arr.size)
        row = self._n
        self._names[key] = row
        for alias in aliases:
            prev = self._aliases.setdefault(alias, row)
            if prev != row:
                self._conflicts.append(f"{alias!r} listed under rows {prev} and {row}; kept {prev}")
        self._rows.append({"name": key, "vals": vals, "flags": flg, "fim": fim_arr,
                           "per_seed": per_seed, "seed_diverged": seed_diverged, "curves": curve_block})
        self._n += 1
        if len(self._rows) >= _BATCH:
            self._flush()
        return row

    def _curve_block(self, key: str, curves: Mapping[str, Sequence[Sequence[float] | None]]) -> np.ndarray:
        """(len(CURVE_METRICS), n_seeds, epochs) float64, NaN where a run has no value."""
        if self.epochs is None:
            raise TableFormatError("curves given, but the writer was created without epochs=")
        unknown = set(curves) - set(CURVE_METRICS)
        if unknown:
            raise TableFormatError(f"unknown curve column(s) {sorted(unknown)}; columns are {list(CURVE_METRICS)}")
        k, e = len(self.seeds), self.epochs
        block = np.full((len(CURVE_METRICS), k, e), np.nan)
        for i, col in enumerate(CURVE_METRICS):
            runs = curves.get(col)
            if runs is None:
                continue
            if len(runs) != k:
                raise TableFormatError(f"row {key!r}: curves[{col!r}] has {len(runs)} runs, the table {k} seeds")
            for j, run in enumerate(runs):
                v = np.asarray([np.nan if x is None else x for x in (run or [])], dtype=np.float64)
                if v.size > e:
                    raise TableFormatError(f"row {key!r}: curves[{col!r}] seed {self.seeds[j]} has {v.size} epochs, "
                                           f"the table {e}")
                block[i, j, :v.size] = v
        return block

    def _flush(self) -> None:
        if not self._rows:
            return
        f, rows = self._file, self._rows
        lo, hi = self._n - len(rows), self._n
        for col in METRICS:
            _append(f[f"metrics/{col}"], lo, hi, np.array([r["vals"][col] for r in rows]))
            _append(f[f"flags/{col}"], lo, hi, np.array([r["flags"][col] for r in rows], dtype=np.uint8))
        if self.seeds is not None:
            k = len(self.seeds)
            for col in METRICS:
                block = np.full((len(rows), k), np.nan)
                for i, r in enumerate(rows):
                    if r["per_seed"] and col in r["per_seed"]:
                        block[i] = [np.nan if v is None else v for v in r["per_seed"][col]]
                _append(f[f"per_seed/{col}"], lo, hi, block)
            div = np.array([r["seed_diverged"] if r["seed_diverged"] is not None else [False] * k for r in rows],
                           dtype=bool)
            _append(f["per_seed/diverged"], lo, hi, div)
            if self.epochs is not None:
                blank = np.full((len(CURVE_METRICS), k, self.epochs), np.nan)
                blocks = np.stack([r["curves"] if r["curves"] is not None else blank for r in rows], axis=1)
                for i, col in enumerate(CURVE_METRICS):
                    _append(f[f"curves/{col}"], lo, hi, blocks[i])
        from actbench.expr import evaluate
        from actbench.space import output_keys

        outs = np.stack([evaluate(r["name"]) for r in rows])
        h1, h2 = output_keys(outs)
        with np.errstate(over="ignore"):  # values beyond float32's range are stored as ±inf
            outs32 = outs.astype(np.float32)
        _append(f["outputs/values"], lo, hi, outs32)
        _append(f["outputs/h1"], lo, hi, h1)
        _append(f["outputs/h2"], lo, hi, h2)
        _append(f["fim/missing"], lo, hi, np.array([r["fim"] is None for r in rows]))
        if self._n_fim is not None:
            block = np.full((len(rows), self._n_fim), np.nan, dtype=np.float32)
            for i, r in enumerate(rows):
                if r["fim"] is not None:
                    block[i] = r["fim"]
            _append(f["fim/cdf"], lo, hi, block)
        self._rows = []

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finish()
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None
            if exc_type is not None:
                self._tmp.unlink(missing_ok=True)
        if exc_type is None:
            os.replace(self._tmp, self.path)

    def _finish(self) -> None:
        self._flush()
        f = self._file
        if "fim/cdf" in f:
            ds = f["fim/cdf"]
            if ds.shape[0] < self._n:
                ds.resize((self._n, ds.shape[1]))
        _put(f, "names", _fixed_strings(list(self._names)))  # insertion order is row order
        alias_names = sorted(self._aliases)
        _put(f, "aliases/names", _fixed_strings(alias_names))
        _put(f, "aliases/rows", np.array([self._aliases[a] for a in alias_names], dtype=np.int32))
        if self.fim_layers:
            _put(f, "fim/layout/names", _fixed_strings([l.name for l in self.fim_layers]))
            for attr in ("n_weights", "offset", "n_bins"):
                _put(f, f"fim/layout/{attr}", np.array([getattr(l, attr) for l in self.fim_layers], dtype=np.int64))
        notes = tuple(self.provenance.notes) + tuple(f"alias conflict: {c}" for c in self._conflicts)
        prov = self.provenance.model_copy(update={"notes": notes})
        _set_root_attrs(f, n_rows=self._n, fim_convention=self.fim_convention, info=self.info.model_dump_json(),
                        provenance=prov.model_dump_json(), version=1 if self.epochs is None else 2)


def _tmp_path(path: Path, tag: str = "tmp") -> Path:
    """``<path>.<tag>-<host>-<pid>``: the name a writer uses until its file is complete."""
    import socket  # writers only: not imported with the reader

    host = "".join(c if c.isalnum() else "_" for c in socket.gethostname()) or "host"
    return path.with_name(f"{path.name}.{tag}-{host}-{os.getpid()}")


def remove_stale_tmp(path: str | os.PathLike, tag: str = "tmp") -> list[Path]:
    """Delete the temporary files that killed writers of ``path`` left (``<path>.<tag>-<host>-<pid>``, or
    ``<path>.<tag>-<pid>`` before 0.3.0) whose process is gone; files of live processes and of other hosts
    (a shared file system) are kept. Returns what was deleted."""
    import glob

    path = Path(path)
    host = _tmp_path(path, tag).name.rsplit("-", 1)[0]
    removed = []
    for p in path.parent.glob(f"{glob.escape(path.name)}.{tag}-*"):
        stem, _, pid = p.name.rpartition("-")
        if not pid.isdigit() or int(pid) == os.getpid() or stem not in (host, f"{path.name}.{tag}"):
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError, OSError):
            continue  # someone else's live process, or not a pid: leave it
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def _append(ds: h5py.Dataset, lo: int, hi: int, block: np.ndarray) -> None:
    ds.resize((hi,) + ds.shape[1:])
    ds[lo:hi] = block


# Integrity (docs/format.md): files are written with HDF5 1.10's checksummed metadata (superblock, object
# headers, chunk indexes), every dataset carries HDF5's fletcher32 filter, and all text is stored as
# fixed-length UTF-8 (inside checksummed chunks or object headers), so no byte of a table lies outside a
# checksum that the library verifies on read. Variable-length strings would live in the global heap,
# which HDF5 neither checksums nor parses robustly.
INTEGRITY = "fletcher32"
_LIBVER = ("v110", "latest")


def _create(f: h5py.Group, key: str, **kwargs: Any) -> h5py.Dataset:
    return f.create_dataset(key, fletcher32=True, **kwargs)


def _put(f: h5py.Group, key: str, data: np.ndarray) -> h5py.Dataset:
    """A whole dataset at once: chunked (fletcher32 needs chunks), growable along rows."""
    data = np.asarray(data)
    chunks = (max(1, min(len(data), 4096)),) + tuple(max(1, d) for d in data.shape[1:])
    return _create(f, key, data=data, chunks=chunks, maxshape=(None,) + data.shape[1:])


def _fixed_strings(values: Sequence[str]) -> np.ndarray:
    encoded = [v.encode("utf-8") for v in values]
    width = max((len(b) for b in encoded), default=1) or 1
    return np.array(encoded, dtype=h5py.string_dtype("utf-8", width))


def _set_text(attrs: h5py.AttributeManager, key: str, text: str) -> None:
    b = text.encode("utf-8")
    attrs.create(key, np.array(b, dtype=h5py.string_dtype("utf-8", max(len(b), 1))))


def _set_root_attrs(f: h5py.File, *, n_rows: int, fim_convention: str | None, info: str, provenance: str,
                    version: int = 1) -> None:
    _set_text(f.attrs, "format", FORMAT_NAME)
    f.attrs["format_version"] = version
    _set_text(f.attrs, "integrity", INTEGRITY)
    f.attrs["n_rows"] = n_rows
    f.attrs["equivalence_bits"] = EQUIVALENCE_BITS
    if fim_convention is not None:
        _set_text(f.attrs, "fim_convention", fim_convention)
    _set_text(f.attrs, "info", info)
    _set_text(f.attrs, "provenance", provenance)


# --- reading ----------------------------------------------------------------------------------


@dataclass(eq=False)
class Table:
    """An open table: the part a query needs (names, aliases, metrics, flags, keys) is loaded at open;
    features are read on demand with :meth:`fim` and :meth:`outputs` from the same open file, so a
    table replaced on disk meanwhile (an atomic rewrite) never mixes into what this object reads.

    Attributes:
        path: the file.
        info, provenance: the root attributes.
        names: row names (class representatives), by row.
        aliases: every known name -> row.
        metrics: column -> (n_rows,) float64.
        flags: column -> (n_rows,) uint8 (0 ok, 1 diverged, 2 missing).
        h1, h2: (n_rows,) uint64 output keys of the rows.
        seeds: the per-seed axis, or None.
        n_fim: length of the FIM feature, 0 when the table has none.
        fim_layers: the per-layer layout, or None when unknown.
        fim_convention: the K-FAC normalisation of the FIM features (:data:`FIM_CONVENTIONS`), or None
            when unknown; see :func:`fim_convention_of`.
        fim_convention_stated: True when the file states it, False when it was inferred from the
            provenance (files written before actbench 0.2.0).
        integrity: ``"fletcher32"`` when every byte is under a checksum HDF5 verifies on read, None for
            files written before actbench 0.3.0 (unprotected: damage can go unnoticed).
    """

    path: Path
    info_json: str
    provenance_json: str
    names: list[str]
    aliases: dict[str, int]
    metrics: dict[str, np.ndarray]
    flags: dict[str, np.ndarray]
    h1: np.ndarray
    h2: np.ndarray
    seeds: list[int] | None
    n_fim: int
    fim_layers: list[FimLayer] | None
    fim_convention_attr: str | None = None
    integrity: str | None = None
    _file: h5py.File | None = field(default=None, repr=False)
    alias_names: list[str] = field(default_factory=list, repr=False)  # the alias index as stored, sorted
    alias_rows: np.ndarray | None = field(default=None, repr=False)  # (n_aliases,) row of each
    _n_epochs: int | None = field(default=None, repr=False)
    _curve_chunk: int | None = field(default=None, repr=False)
    _curve_blocks: OrderedDict = field(default_factory=OrderedDict, repr=False)  # first row -> {column: array}

    @functools.cached_property
    def _alias_groups(self) -> tuple[np.ndarray, np.ndarray]:
        rows = self.alias_rows if self.alias_rows is not None else np.fromiter(self.aliases.values(), np.int64)
        order = np.argsort(rows, kind="stable")  # stable: each row's aliases keep their stored (sorted) order
        return order, np.searchsorted(rows[order], np.arange(len(self.names) + 1))

    def equivalents(self, row: int) -> tuple[str, ...]:
        """Every name of the alias index that resolves to ``row``, sorted."""
        order, starts = self._alias_groups
        names = self.alias_names or list(self.aliases)
        return tuple(sorted(names[i] for i in order[starts[row]:starts[row + 1]]))

    @functools.cached_property
    def info(self) -> TableInfo:
        """The root attribute ``info``, validated on first access."""
        from actbench.provenance import TableInfo

        return _validated(TableInfo, self.info_json, "info", self.path)

    @functools.cached_property
    def provenance(self) -> Provenance:
        """The root attribute ``provenance``, validated on first access."""
        from actbench.provenance import Provenance

        return _validated(Provenance, self.provenance_json, "provenance", self.path)

    @functools.cached_property
    def info_fields(self) -> dict[str, Any]:
        """The ``info`` and provenance ``source`` values a query record carries, read without pydantic (whose
        validators cost more than opening the table) and type-checked here."""
        info, prov = json.loads(self.info_json), json.loads(self.provenance_json)
        out = {k: info.get(k, default) for k, default in _RECORD_INFO_DEFAULTS.items()}
        out["source"] = prov.get("source")
        bad = [k for k, v in out.items() if not isinstance(v, bool if k == "val_is_test" else str)]
        if bad or out["source"] not in _SOURCES:
            self.info  # noqa: B018 - raises TableFormatError with pydantic's explanation
            self.provenance  # noqa: B018
            raise TableFormatError(f"{self.path}: root attributes hold invalid values for {bad or ['source']}")
        return out

    @property
    def fim_convention(self) -> str | None:
        """The K-FAC normalisation of the FIM features (:data:`FIM_CONVENTIONS`), or None when unknown;
        see :func:`fim_convention_of`."""
        return self.fim_convention_attr if self.fim_convention_attr is not None else fim_convention_of(self.provenance)

    @property
    def fim_convention_stated(self) -> bool:
        """True when the file states its FIM convention, False when it is inferred from the provenance
        (files written before actbench 0.2.0)."""
        return self.fim_convention_attr is not None

    @property
    def n_rows(self) -> int:
        return len(self.names)

    def row_of(self, name: str) -> int | None:
        """Row of a name as spelled in the alias index, or None."""
        return self.aliases.get(name)

    def per_seed(self, column: str, rows: Any = slice(None)) -> np.ndarray:
        """(n_rows, n_seeds) per-seed values of ``column``; raises if the table has none."""
        if self.seeds is None:
            raise TableFormatError(f"{self.path.name} holds only aggregated values ({self.info.aggregation})")
        return self._read(f"per_seed/{column}", rows)

    def seed_diverged(self, rows: Any = slice(None)) -> np.ndarray:
        return self._read("per_seed/diverged", rows)

    def fim(self, rows: Any = slice(None)) -> np.ndarray:
        """(n_rows, n_fim) float32 FIM CDFs, NaN rows where missing; read from disk now."""
        if not self.n_fim:
            raise TableFormatError(f"{self.path.name} has no FIM features")
        return self._read("fim/cdf", rows)

    def fim_missing(self) -> np.ndarray:
        return self._read("fim/missing", slice(None))

    @property
    def n_epochs(self) -> int:
        """Epochs of the learning curves; 0 when the table has none."""
        if self._n_epochs is None:
            f = self._file
            if f is None or not f.id.valid:
                return 0
            self._n_epochs = int(f["curves/val_acc"].shape[2]) if "curves" in f else 0
        return self._n_epochs

    def curve_block(self, row: int) -> tuple[int, dict[str, np.ndarray]]:
        """The block of curve rows that holds ``row``: (its first row, column -> (block_rows, n_seeds,
        n_epochs)). A block is the datasets' chunk, each column's read and decompressed once; the last
        :data:`CURVE_CACHE_BLOCKS` blocks are kept, so that a search's many epoch queries cost array indexing,
        not an HDF5 read each."""
        if not self.n_epochs:
            raise TableFormatError(f"{self.path.name} has no learning curves (only final values)")
        f = self._file
        if f is None or not f.id.valid:
            raise ValueError(f"{self.path.name}: the table has been closed; open it again to read its curves")
        if self._curve_chunk is None:
            chunks = f["curves/val_acc"].chunks
            self._curve_chunk = max(1, min(chunks[0] if chunks else 64, 1024))
        start = row - row % self._curve_chunk
        block = self._curve_blocks.get(start)
        if block is None:
            rows = slice(start, start + self._curve_chunk)
            block = {c: self._read(f"curves/{c}", rows) for c in CURVE_METRICS}
            self._curve_blocks[start] = block
            if len(self._curve_blocks) > CURVE_CACHE_BLOCKS:
                self._curve_blocks.popitem(last=False)
        else:
            self._curve_blocks.move_to_end(start)
        return start, block

    def curves(self, column: str, rows: Any = slice(None)) -> np.ndarray:
        """(n_rows, n_seeds, n_epochs) per-epoch values of a :data:`CURVE_METRICS` column, NaN where a run has
        none (it diverged before); read from disk now. Raises if the table has no curves."""
        if column not in CURVE_METRICS:
            raise ValueError(f"unknown curve column {column!r}; columns are {list(CURVE_METRICS)}")
        if not self.n_epochs:
            raise TableFormatError(f"{self.path.name} has no learning curves (only final values)")
        return self._read(f"curves/{column}", rows)

    def outputs(self, rows: Any = slice(None)) -> np.ndarray:
        """(n_rows, 1000) float32 outputs on the sample points; read from disk now."""
        return self._read("outputs/values", rows)

    def close(self) -> None:
        """Close the file; later feature reads raise. Idempotent."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _read(self, key: str, rows: Any) -> np.ndarray:
        f = self._file
        if f is None or not f.id.valid:
            raise ValueError(f"{self.path.name}: the table has been closed; open it again to read its features")
        try:
            return f[key][rows]
        except (OSError, RuntimeError) as e:  # a checksum mismatch or unreadable chunk
            raise CorruptTableError(_corrupt_message(self.path, e)) from e


def read_table(path: str | os.PathLike) -> Table:
    """Open and check a table; loads everything but the features, and keeps the file open for them.

    Every structural, shape and index invariant is checked here (vectorised, milliseconds), so that no
    query can land on a row other than its own; files that store data outside themselves (external
    storage, external links, virtual datasets) are refused. Values are verified by HDF5's checksums as
    they are read (tables written by actbench 0.3.0 or later).

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptTableError: not a readable HDF5 file (truncated, damaged, not HDF5, or a checksum mismatch).
        TableFormatError: HDF5, but not a valid table; the message lists the problems.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no table at {path}")
    try:
        f = h5py.File(path, "r")
    except Exception as e:  # noqa: BLE001 - h5py raises OSError for most damage, others for some
        raise CorruptTableError(_corrupt_message(path, e)) from e
    try:
        return _guarded(path, lambda: _load(f, path))
    except BaseException:
        f.close()
        raise


def _guarded(path: Path, fn):
    """Run ``fn`` and turn whatever h5py or numpy raise on a damaged or foreign file into the table errors."""
    try:
        return fn()
    except ActBenchError:
        raise
    except (OSError, RuntimeError) as e:
        raise CorruptTableError(_corrupt_message(path, e)) from e
    except (KeyError, AttributeError, IndexError, TypeError, ValueError, UnicodeError, OverflowError) as e:
        raise TableFormatError(f"{path} is not a valid actbench table: its structure cannot be read "
                               f"({type(e).__name__}: {e}); run `actbench validate {path}` for details") from e


def _load(f: h5py.File, path: Path) -> Table:
    problems, d = _structure(f)
    if problems:
        raise TableFormatError(f"{path} is not a valid actbench table:\n  - " + "\n  - ".join(problems))
    info, prov = _attr_text(f, "info"), _attr_text(f, "provenance")
    names = d["names"].asstr()[...].tolist()
    alias_names = d["aliases/names"].asstr()[...].tolist()
    alias_rows = d["aliases/rows"][...]
    problems = _index_problems(names, alias_names, alias_rows)
    if problems:
        raise TableFormatError(f"{path} is not a valid actbench table (its index is damaged):\n  - "
                               + "\n  - ".join(problems))
    metrics = {c: d[f"metrics/{c}"][...] for c in METRICS}
    flags = {c: d[f"flags/{c}"][...] for c in METRICS}
    h1, h2 = d["outputs/h1"][...], d["outputs/h2"][...]
    seeds = d["per_seed/seeds"][...].tolist() if "per_seed/seeds" in d else None
    n_fim = int(d["fim/cdf"].shape[1]) if "fim/cdf" in d else 0
    layers = None
    if "fim/layout/names" in d:
        layers = [FimLayer(n, int(w), int(o), int(b)) for n, w, o, b in zip(
            d["fim/layout/names"].asstr()[...], d["fim/layout/n_weights"][...], d["fim/layout/offset"][...],
            d["fim/layout/n_bins"][...])]
    return Table(path, info, prov, names, dict(zip(alias_names, alias_rows.tolist())), metrics, flags, h1, h2,
                 seeds, n_fim, layers, _attr_text(f, "fim_convention"), _attr_text(f, "integrity"), f, alias_names,
                 alias_rows)


def _index_problems(names: list[str], alias_names: list[str], alias_rows: np.ndarray) -> list[str]:
    """The invariants a query relies on: every alias points at a row of the table, names are unique."""
    p = []
    n = len(names)
    if alias_rows.size and (alias_rows.min() < 0 or alias_rows.max() >= n):
        bad = int(np.count_nonzero((alias_rows < 0) | (alias_rows >= n)))
        p.append(f"aliases/rows has {plural(bad, 'index', 'indices')} outside the table's {plural(n, 'row')}")
    if len(set(names)) != n:
        p.append("row names are not unique")
    if len(set(alias_names)) != len(alias_names):
        p.append("aliases/names lists a name twice")
    return p


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _attr_text(f: h5py.File, key: str) -> str | None:
    """A text root attribute (fixed- or variable-length), or None when absent."""
    v = f.attrs.get(key)
    return None if v is None else _text(v.item() if isinstance(v, np.ndarray) and v.shape == () else v)


def _validated(model, text: str, key: str, path: Path):
    from pydantic import ValidationError

    try:
        return model.model_validate_json(text)
    except ValidationError as e:
        raise TableFormatError(f"{path}: root attribute {key!r} is not valid: {e.errors()[0]['msg']} at "
                               f"{e.errors()[0]['loc']}") from e


def fim_convention_of(provenance: Provenance) -> str | None:
    """The FIM convention of a table that does not state it (written before actbench 0.2.0), from its
    provenance: the official release is the reference's scale by definition; our generation runs
    before 0.2.0 had only the textbook normalisation, unless their recipe says otherwise; else None."""
    if provenance.source == "official-json":
        return "reference"
    if provenance.source == "generation" and provenance.config:
        conv = provenance.config.get("fim_convention", "kfac")
        return conv if conv in FIM_CONVENTIONS else None
    return None


#: Seconds :func:`validate_table` gives a child process by default before calling the file damaged.
VALIDATE_TIMEOUT_S = 600.0


def validate_table(path: str | os.PathLike, *, timeout: float | None = None) -> list[str]:
    """Every problem found in the file at ``path`` (an empty list for a valid table).

    Reads every value (so every checksum is verified) and checks the values against the names.

    Args:
        path: the file.
        timeout: when given, validate in a child process and report the file as damaged if that takes
            longer than ``timeout`` seconds: libhdf5 can loop forever on some damaged files (a damaged
            global heap in files written before actbench 0.3.0), and a child can be stopped where a
            thread cannot. ``actbench validate`` always does this.
    """
    if timeout is not None:
        return _validate_in_child(Path(path), timeout)
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except Exception as e:  # noqa: BLE001
        return [_corrupt_message(path, e)]
    with f:
        try:
            return _guarded(path, lambda: _problems(f) or _deep_problems(f))
        except ActBenchError as e:
            return [str(e)]


def _validate_in_child(path: Path, timeout: float) -> list[str]:
    import subprocess
    import sys

    code = ("import json, sys; from actbench.table import validate_table; "
            "print(json.dumps(validate_table(sys.argv[1])))")
    try:
        done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return [f"{path}: reading it did not finish within {timeout:g} s. libhdf5 loops forever on some damaged "
                f"files (a damaged string heap, in tables written before actbench 0.3.0): treat the file as damaged "
                f"and do not open it; get or write it again."]
    try:
        problems = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
    except (ValueError, IndexError):
        problems = None
    if not isinstance(problems, list):
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no message"]
        return [f"{path}: the process that read it failed (exit code {done.returncode}: {tail[0]}); "
                f"treat the file as damaged"]
    return [str(p) for p in problems]


def _corrupt_message(path: Path, e: Exception) -> str:
    kind = _file_kind(path)
    if kind == "json":
        return (f"{path} is a JSON file, not an actbench table. If it is an official Act-Bench release, convert it "
                f"with `actbench convert {path} --bench NAME` (NAME: cnn, resnet or vit), or open it with "
                f"ActBench(NAME, source={str(path)!r}), which converts it once into the cache.")
    if kind == "other":
        return (f"{path} is not an actbench table (not an HDF5 file). Tables are .h5 files written by actbench; an "
                f"official JSON release is converted with `actbench convert FILE --bench NAME`.")
    return (f"{path} is not a readable HDF5 file (truncated or damaged: {e}). Do not use it: if it came from the "
            f"cache, download it again (`actbench download BENCH --force`); if you made it, convert or write it again.")


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _file_kind(path: Path) -> str:
    """"hdf5" (the signature at offset 0 or a power-of-two user-block offset), "json", or "other"."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
            if any(head[o:o + 8] == _HDF5_SIGNATURE for o in (0, 512, 1024, 2048, 4096, 8192, 16384, 32768)):
                return "hdf5"
    except OSError:
        return "hdf5"  # unreadable: say it is damaged
    text = head.lstrip()
    return "json" if text[:1] in (b"{", b"[") else "other"


# datasets read whole at open (their declared sizes are checked against the bytes actually stored)
_EAGER = ("names", "aliases/names", "aliases/rows", "outputs/h1", "outputs/h2", "per_seed/seeds",
          "fim/layout/names", "fim/layout/n_weights", "fim/layout/offset", "fim/layout/n_bins",
          *(f"metrics/{c}" for c in METRICS), *(f"flags/{c}" for c in METRICS))
_MAX_OBJECTS = 256  # a table has about 40; more means this is not one
_MAX_FIM = 1 << 24


def _walk(f: h5py.File) -> tuple[dict[str, h5py.Dataset], list[str]]:
    """Every dataset by path, and the problems of links and storage that point outside the file."""
    datasets: dict[str, h5py.Dataset] = {}
    p: list[str] = []
    stack: list[tuple[str, h5py.Group]] = [("", f)]
    seen = 0
    while stack:
        prefix, g = stack.pop()
        for key in g:
            seen += 1
            if seen > _MAX_OBJECTS:
                return datasets, p + [f"more than {_MAX_OBJECTS} objects: not an actbench table"]
            name = prefix + key
            kind = g.id.links.get_info(key.encode()).type
            if kind != h5py.h5l.TYPE_HARD:
                link = {h5py.h5l.TYPE_SOFT: "SoftLink", h5py.h5l.TYPE_EXTERNAL: "ExternalLink"}.get(kind, "user link")
                p.append(f"{name} is a {link}; tables keep all their data in the file")
                continue
            obj = g[key]
            if isinstance(obj, h5py.Group):
                stack.append((name + "/", obj))
            elif isinstance(obj, h5py.Dataset):
                if obj.is_virtual:
                    p.append(f"{name} is a virtual dataset (data in other files); tables keep all their data in "
                             "the file")
                elif obj.external:
                    p.append(f"{name} stores its data in external files; tables keep all their data in the file")
                else:
                    datasets[name] = obj
            else:
                p.append(f"{name} is a named datatype or unknown object")
    return datasets, p


def _problems(f: h5py.File) -> list[str]:
    """Structural checks, cheap enough for every open: format, links, shapes against stored bytes, integrity."""
    return _structure(f)[0]


def _structure(f: h5py.File) -> tuple[list[str], dict[str, h5py.Dataset]]:
    """(problems, every dataset by path): :func:`_problems`, keeping the dataset objects for the reader."""
    fmt = _attr_text(f, "format")
    if fmt != FORMAT_NAME:
        return [f"root attribute 'format' is {fmt!r}, expected {FORMAT_NAME!r} (is this an actbench table?)"], {}
    version = f.attrs.get("format_version")
    if version is None or int(version) > FORMAT_VERSION:
        return [f"format_version {version!r} is newer than this actbench reads ({FORMAT_VERSION}); "
                f"upgrade actbench (pip install -U actbench)"], {}
    datasets, p = _walk(f)
    if p:
        return p, datasets
    return _shape_problems(f, datasets), datasets


def _shape_problems(f: h5py.File, datasets: dict[str, h5py.Dataset]) -> list[str]:
    p: list[str] = []
    for key, required in (("info", "benchmark"), ("provenance", "source")):
        try:  # cheap at open: JSON with the key a query needs; the models validate on first use (and in validate)
            doc = json.loads(_attr_text(f, key) or "")
            ok = isinstance(doc, dict) and isinstance(doc.get(required), str)
        except (ValueError, TypeError):
            ok = False
        if not ok:
            p.append(f"root attribute {key!r} is not a JSON object with a {required!r} string")
    required = ["names", "aliases/names", "aliases/rows", "outputs/points", "outputs/values", "outputs/h1",
                "outputs/h2", "fim/missing"] + [f"metrics/{c}" for c in METRICS] + [f"flags/{c}" for c in METRICS]
    missing = [k for k in required if k not in datasets]
    if missing:
        p.append(f"missing datasets: {', '.join(missing)}")
        return p
    p += _dtype_problems(f, datasets)
    p += _integrity_problems(f, datasets)
    p += _storage_problems(datasets)
    if p:
        return p
    n = datasets["names"].shape[0] if datasets["names"].ndim == 1 else -1
    if int(f.attrs.get("n_rows", -1)) != n:
        p.append(f"root attribute n_rows={_attr(f, 'n_rows')} but 'names' has {plural(n, 'row')}")
    for k in required[3:]:
        if k != "outputs/points" and (not datasets[k].shape or datasets[k].shape[0] != n):
            p.append(f"{k} has shape {datasets[k].shape}, expected {plural(n, 'row')}")
    if datasets["outputs/values"].shape != (n, N_POINTS):
        p.append(f"outputs/values has shape {datasets['outputs/values'].shape}, expected ({n}, {N_POINTS})")
    if "fim/cdf" in datasets:
        shape = datasets["fim/cdf"].shape
        if len(shape) != 2 or shape[0] != n or shape[1] > _MAX_FIM:
            p.append(f"fim/cdf has shape {shape}, expected ({n}, n_fim) with n_fim up to {_MAX_FIM}")
    if datasets["aliases/names"].shape != datasets["aliases/rows"].shape:
        p.append("aliases/names and aliases/rows differ in length")
    if datasets["outputs/points"].shape != (N_POINTS,):
        p.append(f"outputs/points has shape {datasets['outputs/points'].shape}, expected ({N_POINTS},)")
    conv = _attr_text(f, "fim_convention")
    if conv is not None and conv not in FIM_CONVENTIONS:
        p.append(f"root attribute fim_convention is {conv!r}; known: {', '.join(FIM_CONVENTIONS)}")
    if int(f.attrs.get("equivalence_bits", -1)) != EQUIVALENCE_BITS:
        p.append(f"equivalence_bits is {_attr(f, 'equivalence_bits')}; this actbench uses {EQUIVALENCE_BITS}")
    if "per_seed/seeds" in datasets or "per_seed" in f:
        k = datasets["per_seed/seeds"].shape[0] if "per_seed/seeds" in datasets else -1
        for c in (*METRICS, "diverged"):
            if f"per_seed/{c}" not in datasets or datasets[f"per_seed/{c}"].shape != (n, k):
                p.append(f"per_seed/{c} missing or not of shape ({n}, {k})")
    if "fim/layout/n_bins" in datasets:
        p += _layout_problems(datasets, datasets["fim/cdf"].shape[1] if "fim/cdf" in datasets else None)
    if "curves" in f:
        p += _curve_problems(f, datasets, n)
    return p


def _curve_problems(f: h5py.File, datasets: dict[str, h5py.Dataset], n: int) -> list[str]:
    """The optional learning curves: every column present, (n_rows, n_seeds, n_epochs) alike, format 2."""
    if int(f.attrs.get("format_version", 1)) < 2:
        return ["the file has learning curves (curves/) but states format_version 1; curves need version 2"]
    if "per_seed/seeds" not in datasets:
        return ["curves/ needs per_seed/ (a curve per seed)"]
    k = datasets["per_seed/seeds"].shape[0]
    shapes = {c: datasets[f"curves/{c}"].shape if f"curves/{c}" in datasets else None for c in CURVE_METRICS}
    e = next((s[2] for s in shapes.values() if s is not None and len(s) == 3), None)
    bad = [c for c, s in shapes.items() if s is None or e is None or s != (n, k, e) or not 1 <= e <= _MAX_EPOCHS]
    if bad:
        return [f"curves/{c} missing or not of shape ({n}, {k}, n_epochs) with 1 <= n_epochs <= {_MAX_EPOCHS}"
                for c in bad]
    return []


_MAX_EPOCHS = 10_000  # an epoch count a file may declare (more is not a training recipe)

# (dtype kinds, ndim) of each dataset: "S" text, "i" integer, "f" float, "b" boolean
_SCHEMA = {"names": ("S", 1), "aliases/names": ("S", 1), "aliases/rows": ("i", 1), "outputs/points": ("f", 1),
           "outputs/values": ("f", 2), "outputs/h1": ("i", 1), "outputs/h2": ("i", 1), "fim/missing": ("b", 1),
           "fim/cdf": ("f", 2), "fim/layout/names": ("S", 1), "fim/layout/n_weights": ("i", 1),
           "fim/layout/offset": ("i", 1), "fim/layout/n_bins": ("i", 1), "per_seed/seeds": ("i", 1),
           "per_seed/diverged": ("b", 2), **{f"metrics/{c}": ("f", 1) for c in METRICS},
           **{f"flags/{c}": ("i", 1) for c in METRICS}, **{f"per_seed/{c}": ("f", 2) for c in METRICS},
           **{f"curves/{c}": ("f", 3) for c in CURVE_METRICS}}
_KINDS = {"S": "text", "i": "integers", "f": "floats", "b": "booleans"}


def _kind(dt: np.dtype) -> str:
    if h5py.check_string_dtype(dt) is not None:
        return "S"
    return {"i": "i", "u": "i", "f": "f", "b": "b"}.get(dt.kind, "?")


def _dtype_problems(f: h5py.File, datasets: dict[str, h5py.Dataset]) -> list[str]:
    p = []
    for key, ds in datasets.items():
        want = _SCHEMA.get(key)
        if want is not None and (_kind(ds.dtype) != want[0] or ds.ndim != want[1]):
            p.append(f"{key} holds {ds.ndim}-D {ds.dtype} values; a table stores {want[1]}-D {_KINDS[want[0]]} there")
    for group in ("metrics", "flags", "outputs", "aliases", "fim", "fim/layout", "per_seed", "curves"):
        if group in f and not isinstance(f[group], h5py.Group):
            p.append(f"{group} is not a group")
    return p


def _integrity_problems(f: h5py.File, datasets: dict[str, h5py.Dataset]) -> list[str]:
    """A file that states ``integrity="fletcher32"`` must have the filter on every dataset and no
    variable-length text (which HDF5 stores outside its checksums)."""
    scheme = _attr_text(f, "integrity")
    if scheme is None:
        return []
    if scheme != INTEGRITY:
        return [f"root attribute integrity is {scheme!r}; this actbench knows {INTEGRITY!r} (upgrade actbench)"]
    p = [f"{k} has no fletcher32 checksum although the table states integrity={INTEGRITY!r}"
         for k, ds in datasets.items() if not ds.fletcher32]
    p += [f"{k} holds variable-length data, which no checksum covers" for k, ds in datasets.items()
          if ds.dtype.kind == "O" or h5py.check_vlen_dtype(ds.dtype) is not None]
    for key in f.attrs:
        dt = f.attrs.get_id(key).dtype
        info = h5py.check_string_dtype(dt)
        if dt.kind == "O" or (info is not None and info.length is None):
            p.append(f"root attribute {key!r} is variable-length text, which no checksum covers")
    return p


def _storage_problems(datasets: dict[str, h5py.Dataset]) -> list[str]:
    """Datasets read whole at open must hold at least one stored byte per declared element, so that a
    declared shape can never make opening cost more than the file's own size."""
    p = []
    for key in _EAGER:
        ds = datasets.get(key)
        if ds is None:
            continue
        if ds.compression is not None:
            p.append(f"{key} is compressed; actbench stores the columns read at open uncompressed")
        elif ds.size and ds.id.get_storage_size() < ds.size:
            p.append(f"{key} declares {ds.size:,} values but stores {ds.id.get_storage_size():,} bytes")
    return p


def _layout_problems(datasets: dict[str, h5py.Dataset], n_fim: int | None) -> list[str]:
    keys = ("names", "n_weights", "offset", "n_bins")
    if any(f"fim/layout/{k}" not in datasets for k in keys):
        return ["fim/layout lacks one of names, n_weights, offset, n_bins"]
    shapes = {datasets[f"fim/layout/{k}"].shape for k in keys}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        return ["fim/layout datasets differ in length"]
    bins = datasets["fim/layout/n_bins"][...].astype(np.int64)
    offsets = datasets["fim/layout/offset"][...].astype(np.int64)
    p = []
    if bins.size and (bins.min() < 0 or not np.array_equal(offsets, np.concatenate([[0], np.cumsum(bins)[:-1]]))):
        p.append("fim/layout offsets are not the running sum of n_bins")
    if n_fim is not None and int(bins.sum()) != n_fim:
        p.append(f"fim/layout has {int(bins.sum())} bins in all, fim/cdf has {n_fim} columns")
    return p


def _attr(f: h5py.File, key: str) -> str:
    v = f.attrs.get(key)
    return repr(v.item() if isinstance(v, np.generic) else v)


def _deep_problems(f: h5py.File) -> list[str]:
    """Value checks that read every dataset whole (``actbench validate``): every checksum is verified."""
    from actbench.expr import evaluate, parse
    from pydantic import ValidationError

    from actbench.provenance import Provenance, TableInfo
    from actbench.space import output_keys, sample_points

    p: list[str] = []
    for key in ("info", "provenance"):
        try:
            (TableInfo if key == "info" else Provenance).model_validate_json(_attr_text(f, key) or "")
        except ValidationError as e:
            p.append(f"root attribute {key!r} is not valid: {e.errors()[0]['msg']} at {e.errors()[0]['loc']}")
    datasets, _ = _walk(f)
    for key, ds in datasets.items():  # in blocks of rows, so memory stays bounded for the feature matrices
        step = max(1, (64 << 20) // max(1, ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64))))
        try:
            for lo in range(0, ds.shape[0] if ds.shape else 1, step):
                ds[lo:lo + step] if ds.shape else ds[()]
        except OSError as e:
            p.append(f"{key} cannot be read ({e}): the file is damaged")
    if p:
        return p
    n = f["names"].shape[0]
    if not np.array_equal(f["outputs/points"][...], sample_points()):
        p.append("outputs/points are not the reference sample points")
    names = f["names"].asstr()[...]
    p += _index_problems(names.tolist(), f["aliases/names"].asstr()[...].tolist(), f["aliases/rows"][...])
    parsed = []
    for i, name in enumerate(names):
        try:
            parsed.append(str(parse(name)))
            if parsed[-1] != name:
                p.append(f"row {i} name {name!r} is not in canonical spelling")
        except ParseError as e:
            p.append(f"row {i} name {name!r} does not parse: {e.reason}")
    for c in METRICS:
        fl = f[f"flags/{c}"][...]
        if not np.isin(fl, list(FLAG_NAMES)).all():
            p.append(f"flags/{c} has values outside {sorted(FLAG_NAMES)}")
        vals = f[f"metrics/{c}"][...]
        if np.any(np.isnan(vals) & (fl == OK)):
            p.append(f"metrics/{c} has NaN values flagged ok")
    if n and len(parsed) == n:
        outs = np.stack([evaluate(nm) for nm in parsed[:64]])
        h1, _ = output_keys(outs)
        if not np.array_equal(h1, f["outputs/h1"][: len(h1)]):
            p.append("outputs/h1 does not match the names' outputs (written by another equivalence rule?)")
    return p


def upgrade_table(src: str | os.PathLike, dst: str | os.PathLike | None = None) -> Path:
    """Rewrite a table written before actbench 0.3.0 with integrity checks; every value is copied unchanged.

    The source is validated in full first (a child process with :data:`VALIDATE_TIMEOUT_S`), so damage
    is never sealed under fresh checksums. The result states its FIM convention (inferred from the
    provenance when the source did not state it) and notes the upgrade in its provenance.

    Args:
        src: the table to upgrade.
        dst: where to write; default: replace ``src`` atomically.

    Returns:
        the path written.

    Raises:
        TableFormatError, CorruptTableError: ``src`` is not a valid, undamaged table.
    """
    from actbench import __version__

    src = Path(src)
    dst = Path(dst) if dst is not None else src
    table = read_table(src)
    problems = validate_table(src, timeout=VALIDATE_TIMEOUT_S)
    if problems:
        table.close()
        raise TableFormatError(f"{src} fails validation, not upgrading it:\n  - " + "\n  - ".join(problems))
    note = f"rewritten with integrity checks by actbench {__version__} from a file of sha256 {sha256_file(src)}"
    prov = table.provenance.model_copy(update={"notes": (*table.provenance.notes, note)})
    convention = table.fim_convention
    table.close()
    tmp = _tmp_path(dst)
    remove_stale_tmp(dst)
    try:
        with h5py.File(src, "r") as fin, h5py.File(tmp, "w", libver=_LIBVER) as fout:
            datasets, _ = _walk(fin)
            for key, ds in datasets.items():
                _copy_dataset(ds, fout, key)
            _set_root_attrs(fout, n_rows=int(fin.attrs["n_rows"]), fim_convention=convention,
                            info=_attr_text(fin, "info") or "", provenance=prov.model_dump_json(),
                            version=2 if "curves" in fin else 1)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def _copy_dataset(ds: h5py.Dataset, out: h5py.File, key: str) -> None:
    if h5py.check_string_dtype(ds.dtype) is not None:
        _put(out, key, _fixed_strings(ds.asstr()[...].tolist()))
    elif ds.chunks is None or not ds.shape:
        _put(out, key, ds[...])
    else:
        new = _create(out, key, shape=ds.shape, dtype=ds.dtype, chunks=ds.chunks, maxshape=(None,) + ds.shape[1:],
                      compression=ds.compression, compression_opts=ds.compression_opts, shuffle=ds.shuffle,
                      fillvalue=ds.fillvalue)
        step = max(ds.chunks[0], 1) * 16
        for lo in range(0, ds.shape[0], step):
            new[lo:lo + step] = ds[lo:lo + step]


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()

