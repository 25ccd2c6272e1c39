"""Writing a table row by row, atomically (:class:`TableWriter`).

Writing is atomic: :class:`TableWriter` writes ``<path>.tmp-<host>-<pid>`` and renames it over ``path``
only when everything is written, so an interrupted run never leaves a half table under the real name
(and the next writer of ``path`` deletes what a killed one left; :mod:`actbench.base.files`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from actbench.base.errors import TableFormatError
from actbench.base.files import check_target, remove_stale_tmp, tmp_path
from actbench.lang.points import N_POINTS
from actbench.table._h5 import _append, _create, _fixed_strings, _put, _set_root_attrs
from actbench.table.schema import _LIBVER, CURVE_METRICS, DIVERGED, FIM_CONVENTIONS, METRICS, MISSING, OK, FimLayer

if TYPE_CHECKING:
    from actbench.table.provenance import Provenance, TableInfo

# The function language (actbench.lang.expr, actbench.lang.space) is imported where rows are written, not
# at import: opening and querying a table never parses or evaluates a stored name.

__all__ = ["TableWriter"]

_BATCH = 256


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
        strict_aliases: refuse (``TableFormatError``, naming both rows) a name listed under two rows, where
            the default keeps a row's own name for that row (else the first listing) and notes the conflict
            in the provenance.

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
        strict_aliases: bool = False,
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
        self._tmp = tmp_path(self.path)
        self._file: h5py.File | None = None
        self._rows: list[dict] = []
        self._names: dict[str, int] = {}
        self._aliases: dict[str, int] = {}
        self._conflicts: list[str] = []
        self.strict_aliases = strict_aliases
        self._n = 0
        # a layout of layers too small for a histogram (under 200 weights each) means no FIM feature
        self._n_fim: int | None = (sum(l.n_bins for l in self.fim_layers) or None) if self.fim_layers else None

    def __enter__(self) -> TableWriter:
        check_target(self.path)
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
        from actbench.lang.points import sample_points

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
        from actbench.lang.expr import parse

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
        if self.strict_aliases:
            self._refuse_conflicts(key, aliases)
        # every check passed: only now does the row exist (a refused row leaves the writer as it was)
        if fim_arr is not None and self._n_fim is None:
            self._flush()
            self._create_fim(fim_arr.size)
        row = self._n
        self._names[key] = row
        for alias in aliases:
            prev = self._aliases.setdefault(alias, row)
            if prev == row:
                continue
            if alias == key:  # a row's own name always answers that row
                self._aliases[alias] = row
                self._conflicts.append(f"{alias!r} listed under rows {prev} and {row}; kept {row}, its own name")
            else:
                self._conflicts.append(f"{alias!r} listed under rows {prev} and {row}; kept {prev}"
                                       + (", its own name" if self._names.get(alias) == prev else ""))
        self._rows.append({"name": key, "vals": vals, "flags": flg, "fim": fim_arr,
                           "per_seed": per_seed, "seed_diverged": seed_diverged, "curves": curve_block})
        self._n += 1
        if len(self._rows) >= _BATCH:
            self._flush()
        return row

    def _refuse_conflicts(self, key: str, aliases: list[str]) -> None:
        rows = list(self._names)  # insertion order is row order
        for alias in aliases:
            prev = self._aliases.get(alias)
            if prev is not None:
                what = "the row's own name" if alias in self._names else "listed as an equivalent"
                raise TableFormatError(f"{alias!r} is claimed by two rows: {rows[prev]!r} ({what}) and {key!r}")

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
        from actbench.lang.expr import evaluate
        from actbench.lang.points import output_keys

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
                self._file.close()
                self._file = None
                os.replace(self._tmp, self.path)
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None
            self._tmp.unlink(missing_ok=True)  # gone after the rename; whatever failed leaves nothing

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
