"""The HDF5 table format, version 1: writer, reader and validator.

A table holds one benchmark: one row per equivalence class of activation functions, with its
metrics, its Fisher-information feature, and its outputs on the sample points. The layout is
specified in ``docs/format.md`` so that a table can be read with plain h5py; this module is the one
place that writes and reads it.

Writing is atomic: :class:`TableWriter` writes ``<path>.tmp-<pid>`` and renames it over ``path``
only when everything is written, so an interrupted run never leaves a half table under the real name.

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
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import h5py
import numpy as np
from pydantic import ValidationError

from actbench._constants import EQUIVALENCE_BITS, N_POINTS

if TYPE_CHECKING:
    from actbench.provenance import Provenance, TableInfo
from actbench.errors import ActBenchError, ParseError

# The function language (actbench.expr, actbench.space) is imported where rows are written or deeply
# validated, not at import: opening and querying a table never parses or evaluates a stored name.

__all__ = [
    "FIM_CONVENTIONS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "METRICS",
    "CorruptTableError",
    "FimLayer",
    "Provenance",
    "Table",
    "TableFormatError",
    "TableInfo",
    "TableWriter",
    "read_table",
    "validate_table",
]

FORMAT_NAME = "actbench-table"
FORMAT_VERSION = 1

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

_STR = h5py.string_dtype("utf-8")
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
    """Layout of the concatenated per-layer CDFs for ``(name, n_weights)`` pairs (SPEC §5):
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

    Raises:
        ValueError: an unknown ``fim_convention``.
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
    ) -> None:
        if fim_convention is not None and fim_convention not in FIM_CONVENTIONS:
            raise ValueError(f"fim_convention must be one of {FIM_CONVENTIONS} or None, got {fim_convention!r}")
        self.fim_convention = fim_convention
        self.path = Path(path)
        self.info = info
        self.provenance = provenance
        self.seeds = list(seeds) if seeds is not None else None
        self.fim_layers = list(fim_layers) if fim_layers is not None else None
        self._tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
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
        self._file = h5py.File(self._tmp, "w")
        f = self._file
        f.create_dataset("names", shape=(0,), maxshape=(None,), dtype=_STR, chunks=(1024,))
        for col in METRICS:
            f.create_dataset(f"metrics/{col}", shape=(0,), maxshape=(None,), dtype="f8", chunks=(1024,))
            f.create_dataset(f"flags/{col}", shape=(0,), maxshape=(None,), dtype="u1", chunks=(1024,))
        if self.seeds is not None:
            k = len(self.seeds)
            f.create_dataset("per_seed/seeds", data=np.asarray(self.seeds, dtype=np.int64))
            for col in METRICS:
                f.create_dataset(f"per_seed/{col}", shape=(0, k), maxshape=(None, k), dtype="f8", chunks=(256, k))
            f.create_dataset("per_seed/diverged", shape=(0, k), maxshape=(None, k), dtype="?", chunks=(256, k))
        from actbench.space import sample_points

        f.create_dataset("outputs/points", data=sample_points())
        f.create_dataset("outputs/values", shape=(0, N_POINTS), maxshape=(None, N_POINTS), dtype="f4",
                         chunks=(64, N_POINTS), compression="gzip", compression_opts=4, shuffle=True)
        for h in ("h1", "h2"):
            f.create_dataset(f"outputs/{h}", shape=(0,), maxshape=(None,), dtype="u8", chunks=(1024,))
        f.create_dataset("fim/missing", shape=(0,), maxshape=(None,), dtype="?", chunks=(1024,))
        if self._n_fim is not None:
            self._create_fim(self._n_fim)
        return self

    def _create_fim(self, n_fim: int) -> None:
        f = self._file
        chunk_rows = max(1, min(64, (1 << 20) // (4 * max(n_fim, 1))))
        f.create_dataset("fim/cdf", shape=(self._n, n_fim), maxshape=(None, n_fim), dtype="f4",
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

        Raises:
            ParseError: a name does not parse.
            TableFormatError: a duplicate row name, an unknown metric, or a FIM of the wrong length.
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
        row = self._n
        self._names[key] = row
        for alias in [key, *(str(parse(e)) for e in equivalents)]:
            prev = self._aliases.setdefault(alias, row)
            if prev != row:
                self._conflicts.append(f"{alias!r} listed under rows {prev} and {row}; kept {prev}")
        vals, flg = {}, {}
        for col in METRICS:
            v = metrics.get(col)
            vals[col] = np.nan if v is None else float(v)
            default = MISSING if col not in metrics or v is None else (DIVERGED if np.isnan(vals[col]) else OK)
            flg[col] = int(flags[col]) if flags and col in flags else default
        fim_arr = None if fim is None else np.asarray(fim, dtype=np.float32).ravel()
        if fim_arr is not None and fim_arr.size == 0:
            fim_arr = None
        if fim_arr is not None:
            if self._n_fim is None:
                self._flush()
                self._create_fim(fim_arr.size)
            elif fim_arr.size != self._n_fim:
                raise TableFormatError(f"row {key!r} has a FIM feature of length {fim_arr.size}, "
                                       f"the table's is {self._n_fim}")
        if per_seed is not None and self.seeds is None:
            raise TableFormatError("per-seed values given, but the writer was created without seeds=")
        self._rows.append({"name": key, "vals": vals, "flags": flg, "fim": fim_arr,
                           "per_seed": per_seed, "seed_diverged": seed_diverged})
        self._n += 1
        if len(self._rows) >= _BATCH:
            self._flush()
        return row

    def _flush(self) -> None:
        if not self._rows:
            return
        f, rows = self._file, self._rows
        lo, hi = self._n - len(rows), self._n
        _append(f["names"], lo, hi, np.array([r["name"] for r in rows], dtype=object))
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
        alias_names = sorted(self._aliases)
        f.create_dataset("aliases/names", data=np.array(alias_names, dtype=object), dtype=_STR)
        f.create_dataset("aliases/rows", data=np.array([self._aliases[a] for a in alias_names], dtype=np.int32))
        if self.fim_layers:
            g = f.create_group("fim/layout")
            g.create_dataset("names", data=np.array([l.name for l in self.fim_layers], dtype=object), dtype=_STR)
            for attr in ("n_weights", "offset", "n_bins"):
                g.create_dataset(attr, data=np.array([getattr(l, attr) for l in self.fim_layers], dtype=np.int64))
        notes = tuple(self.provenance.notes) + tuple(f"alias conflict: {c}" for c in self._conflicts)
        prov = self.provenance.model_copy(update={"notes": notes})
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["n_rows"] = self._n
        f.attrs["equivalence_bits"] = EQUIVALENCE_BITS
        if self.fim_convention is not None:
            f.attrs["fim_convention"] = self.fim_convention
        f.attrs["info"] = self.info.model_dump_json()
        f.attrs["provenance"] = prov.model_dump_json()


def _append(ds: h5py.Dataset, lo: int, hi: int, block: np.ndarray) -> None:
    ds.resize((hi,) + ds.shape[1:])
    ds[lo:hi] = block


# --- reading ----------------------------------------------------------------------------------


@dataclass
class Table:
    """The eagerly loaded part of a table (names, aliases, metrics, flags, keys); features are
    read lazily with :meth:`fim` and :meth:`outputs`.

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

    def outputs(self, rows: Any = slice(None)) -> np.ndarray:
        """(n_rows, 1000) float32 outputs on the sample points; read from disk now."""
        return self._read("outputs/values", rows)

    def _read(self, key: str, rows: Any) -> np.ndarray:
        try:
            with h5py.File(self.path, "r") as f:
                return f[key][rows]
        except OSError as e:
            raise CorruptTableError(_corrupt_message(self.path, e)) from e


def read_table(path: str | os.PathLike) -> Table:
    """Open and validate a table; loads everything but the features.

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptTableError: not a readable HDF5 file (truncated, damaged, or not HDF5).
        TableFormatError: HDF5, but not a valid table; the message lists the problems.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no table at {path}")
    try:
        with h5py.File(path, "r") as f:
            problems = _problems(f)
            if problems:
                raise TableFormatError(f"{path} is not a valid actbench table:\n  - " + "\n  - ".join(problems))
            info, prov = _text(f.attrs["info"]), _text(f.attrs["provenance"])
            names = f["names"].asstr()[...].tolist()
            alias_names = f["aliases/names"].asstr()[...].tolist()
            alias_rows = f["aliases/rows"][...].tolist()
            metrics = {c: f[f"metrics/{c}"][...] for c in METRICS}
            flags = {c: f[f"flags/{c}"][...] for c in METRICS}
            h1, h2 = f["outputs/h1"][...], f["outputs/h2"][...]
            seeds = f["per_seed/seeds"][...].tolist() if "per_seed" in f else None
            n_fim = int(f["fim/cdf"].shape[1]) if "fim/cdf" in f else 0
            stated = f.attrs.get("fim_convention")
            layers = None
            if "fim/layout" in f:
                g = f["fim/layout"]
                layers = [FimLayer(n, int(w), int(o), int(b)) for n, w, o, b in zip(
                    g["names"].asstr()[...], g["n_weights"][...], g["offset"][...], g["n_bins"][...])]
    except OSError as e:
        raise CorruptTableError(_corrupt_message(path, e)) from e
    return Table(path, info, prov, names, dict(zip(alias_names, alias_rows)), metrics, flags, h1, h2,
                 seeds, n_fim, layers, None if stated is None else str(stated))


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _validated(model, text: str, key: str, path: Path):
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


def validate_table(path: str | os.PathLike) -> list[str]:
    """Every problem found in the file at ``path`` (an empty list for a valid table)."""
    try:
        with h5py.File(path, "r") as f:
            problems = _problems(f)
            if not problems:
                problems += _deep_problems(f)
            return problems
    except OSError as e:
        return [_corrupt_message(Path(path), e)]


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


def _problems(f: h5py.File) -> list[str]:
    """Structural checks, cheap enough for every open."""
    p: list[str] = []
    fmt = f.attrs.get("format")
    if fmt != FORMAT_NAME:
        return [f"root attribute 'format' is {fmt!r}, expected {FORMAT_NAME!r} (is this an actbench table?)"]
    version = f.attrs.get("format_version")
    if version is None or int(version) > FORMAT_VERSION:
        return [f"format_version {version!r} is newer than this actbench reads ({FORMAT_VERSION}); "
                f"upgrade actbench (pip install -U actbench)"]
    for key, required in (("info", "benchmark"), ("provenance", "source")):
        try:  # cheap at open: JSON with the key a query needs; the models validate on first use (and in validate)
            doc = json.loads(f.attrs.get(key, ""))
            ok = isinstance(doc, dict) and isinstance(doc.get(required), str)
        except (ValueError, TypeError):
            ok = False
        if not ok:
            p.append(f"root attribute {key!r} is not a JSON object with a {required!r} string")
    required = ["names", "aliases/names", "aliases/rows", "outputs/points", "outputs/values", "outputs/h1",
                "outputs/h2", "fim/missing"] + [f"metrics/{c}" for c in METRICS] + [f"flags/{c}" for c in METRICS]
    missing = [k for k in required if k not in f]
    if missing:
        p.append(f"missing datasets: {', '.join(missing)}")
        return p
    n = f["names"].shape[0]
    if int(f.attrs.get("n_rows", -1)) != n:
        p.append(f"root attribute n_rows={_attr(f, 'n_rows')} but 'names' has {n} rows")
    for k in required[3:]:
        if k != "outputs/points" and f[k].shape[0] != n:
            p.append(f"{k} has {f[k].shape[0]} rows, expected {n}")
    if "fim/cdf" in f and f["fim/cdf"].shape[0] != n:
        p.append(f"fim/cdf has {f['fim/cdf'].shape[0]} rows, expected {n}")
    if f["aliases/names"].shape != f["aliases/rows"].shape:
        p.append("aliases/names and aliases/rows differ in length")
    if f["outputs/points"].shape != (N_POINTS,):
        p.append(f"outputs/points has shape {f['outputs/points'].shape}, expected ({N_POINTS},)")
    conv = f.attrs.get("fim_convention")
    if conv is not None and conv not in FIM_CONVENTIONS:
        p.append(f"root attribute fim_convention is {_attr(f, 'fim_convention')}; known: {', '.join(FIM_CONVENTIONS)}")
    if int(f.attrs.get("equivalence_bits", -1)) != EQUIVALENCE_BITS:
        p.append(f"equivalence_bits is {_attr(f, 'equivalence_bits')}; this actbench uses {EQUIVALENCE_BITS}")
    if "per_seed" in f:
        k = f["per_seed/seeds"].shape[0]
        for c in METRICS:
            if f"per_seed/{c}" not in f or f[f"per_seed/{c}"].shape != (n, k):
                p.append(f"per_seed/{c} missing or not of shape ({n}, {k})")
    if "fim/layout" in f and "fim/cdf" in f:
        g = f["fim/layout"]
        total = int(np.sum(g["n_bins"][...]))
        if total != f["fim/cdf"].shape[1]:
            p.append(f"fim/layout has {total} bins in all, fim/cdf has {f['fim/cdf'].shape[1]} columns")
    return p


def _attr(f: h5py.File, key: str) -> str:
    v = f.attrs.get(key)
    return repr(v.item() if isinstance(v, np.generic) else v)


def _deep_problems(f: h5py.File) -> list[str]:
    """Value checks that read whole columns (``actbench validate``)."""
    from actbench.expr import evaluate, parse
    from actbench.provenance import Provenance, TableInfo
    from actbench.space import output_keys, sample_points

    p: list[str] = []
    for key in ("info", "provenance"):
        try:
            (TableInfo if key == "info" else Provenance).model_validate_json(f.attrs.get(key, ""))
        except ValidationError as e:
            p.append(f"root attribute {key!r} is not valid: {e.errors()[0]['msg']} at {e.errors()[0]['loc']}")
    n = f["names"].shape[0]
    if not np.array_equal(f["outputs/points"][...], sample_points()):
        p.append("outputs/points are not the reference sample points")
    rows = f["aliases/rows"][...]
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        p.append("aliases/rows has indices outside the table")
    names = f["names"].asstr()[...]
    parsed = []
    for i, name in enumerate(names):
        try:
            parsed.append(str(parse(name)))
            if parsed[-1] != name:
                p.append(f"row {i} name {name!r} is not in canonical spelling")
        except ParseError as e:
            p.append(f"row {i} name {name!r} does not parse: {e.reason}")
    if len(set(names.tolist())) != n:
        p.append("row names are not unique")
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


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()

