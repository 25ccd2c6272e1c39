"""Opening a table (:func:`read_table`, :class:`Table`): the part a query needs is loaded and checked at
open; features, per-seed values and curves are read on demand from the same open file.

>>> import numpy as np, tempfile, pathlib
>>> from actbench.table import TableWriter, TableInfo, Provenance, read_table
>>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.h5"
>>> info = TableInfo(benchmark="demo", space="act-bench", description="doctest fixture (synthetic)")
>>> prov = Provenance.now(source="test-fixture", description="synthetic doctest values")
>>> with TableWriter(path, info=info, provenance=prov) as w:
...     _ = w.add("add(relu(x),zero(x))", {"val_acc": 0.9}, equivalents=["add(zero(x),relu(x))"])
>>> t = read_table(path)
>>> list(t.names), t.row_of("add(zero(x),relu(x))"), float(t.metrics["val_acc"][0])
(['add(relu(x),zero(x))'], 0, 0.9)
"""

from __future__ import annotations

import functools
import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from actbench.base.errors import CorruptTableError, TableFormatError
from actbench.table._h5 import _attr_text, _corrupt_message, _guarded
from actbench.table.checks import _structure
from actbench.table import index as index_module
from actbench.table.index import AliasIndex, Names
from actbench.table import schema
from actbench.table.schema import (_RECORD_INFO_DEFAULTS, _SOURCES, CURVE_METRICS,
                                   FIM_CONVENTIONS, METRICS, FimLayer)

if TYPE_CHECKING:
    from actbench.table.provenance import Provenance, TableInfo

__all__ = ["Table", "fim_convention_of", "read_table"]


@dataclass(eq=False)
class Table:
    """An open table: the part a query needs (names, aliases, metrics, flags, keys) is loaded at open;
    features are read on demand with :meth:`fim` and :meth:`outputs` from the same open file, so a
    table replaced on disk meanwhile (an atomic rewrite) never mixes into what this object reads.

    Attributes:
        path: the file.
        info: the root attribute ``info`` (validated on first access).
        provenance: the root attribute ``provenance`` (validated on first access).
        names: row names (class representatives), by row: a read-only sequence decoded on access.
        aliases: every known name -> row: a read-only mapping, read from the file and checked on first use.
        metrics: column -> (n_rows,) float64.
        flags: column -> (n_rows,) uint8 (0 ok, 1 diverged, 2 missing).
        h1: (n_rows,) uint64 first output key of the rows.
        h2: (n_rows,) uint64 second output key of the rows.
        seeds: the per-seed axis, or None.
        n_fim: length of the FIM feature, 0 when the table has none.
        fim_layers: the per-layer layout, or None when unknown.
        fim_convention: the K-FAC normalisation of the FIM features (:data:`FIM_CONVENTIONS`), or None
            when unknown; see :func:`fim_convention_of`.
        fim_convention_stated: True when the file states it, False when it was inferred from the
            provenance (files written before actbench 0.2.0).
        integrity: ``"fletcher32"`` when every byte is under a checksum HDF5 verifies on read, None for
            files written before actbench 0.3.0 (unprotected: damage can go unnoticed).
        format_version: the file's format version (2 with learning curves, else 1).
    """

    path: Path
    info_json: str
    provenance_json: str
    names: Names
    aliases: AliasIndex
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
    format_version: int = 1  # the root attribute format_version
    _n_epochs: int | None = field(default=None, repr=False)
    _curve_chunk: int | None = field(default=None, repr=False)
    _curve_blocks: OrderedDict = field(default_factory=OrderedDict, repr=False)  # first row -> {column: array}

    @functools.cached_property
    def _alias_groups(self) -> tuple[np.ndarray, np.ndarray]:
        rows = self.aliases.rows
        order = np.argsort(rows, kind="stable")  # stable: each row's aliases keep their stored (sorted) order
        return order, np.searchsorted(rows[order], np.arange(len(self.names) + 1))

    def equivalents(self, row: int) -> tuple[str, ...]:
        """Every name of the alias index that resolves to ``row``, sorted."""
        order, starts = self._alias_groups
        keys = self.aliases.keys_raw
        return tuple(sorted(Names(keys[order[starts[row]:starts[row + 1]]])))

    @functools.cached_property
    def info(self) -> TableInfo:
        """The root attribute ``info``, validated on first access."""
        from actbench.table.provenance import TableInfo

        return _validated(TableInfo, self.info_json, "info", self.path)

    @functools.cached_property
    def provenance(self) -> Provenance:
        """The root attribute ``provenance``, validated on first access."""
        from actbench.table.provenance import Provenance

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
        """(n_rows, n_fim) float32 FIM CDFs, NaN rows where missing and NaN layers where a layer's Fisher
        log-eigenvalues had no finite value (docs/format.md); read from disk now."""
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
            if len(self._curve_blocks) > schema.CURVE_CACHE_BLOCKS:
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


def _load(f: h5py.File, path: Path) -> Table:
    problems, d = _structure(f)
    if problems:
        raise TableFormatError(f"{path} is not a valid actbench table:\n  - " + "\n  - ".join(problems))
    info, prov = _attr_text(f, "info"), _attr_text(f, "provenance")
    names = Names(d["names"][...])
    index = d["aliases/names"], d["aliases/rows"]

    def read_index() -> tuple[np.ndarray, np.ndarray]:  # on first use: a query, equivalents, the whole index
        if not f.id.valid:
            raise ValueError(f"{path.name}: the table has been closed; open it again to look names up")
        return _guarded(path, lambda: (index[0][...], index[1][...]))

    aliases = AliasIndex(read_index, names, size=int(index[0].shape[0]), where=str(path))
    if len(aliases) <= index_module.CHECK_AT_OPEN:
        aliases.rows  # noqa: B018 - read and check a small index now: a damaged one is refused at open
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
    return Table(path, info, prov, names, aliases, metrics, flags, h1, h2, seeds, n_fim, layers,
                 _attr_text(f, "fim_convention"), _attr_text(f, "integrity"), f, int(f.attrs["format_version"]))


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
