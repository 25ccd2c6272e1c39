"""The checks of a table file: structural ones cheap enough for every open (format, links, shapes against
stored bytes, dtypes, integrity, the index a query relies on), and the deep ones of ``actbench validate``
that read every value (so every checksum is verified) and recompute the names' outputs.
"""

from __future__ import annotations

import json

import h5py
import numpy as np

from actbench.base.errors import ParseError
from actbench.base.text import plural
from actbench.lang.points import EQUIVALENCE_BITS, N_POINTS
from actbench.table.index import index_problems
from actbench.table._h5 import _attr, _attr_text, _kind, _walk
from actbench.table.schema import (_EAGER, _KINDS, _MAX_EPOCHS, _MAX_FIM, _SCHEMA, CURVE_METRICS, FIM_CONVENTIONS,
                                   FLAG_NAMES, FORMAT_NAME, FORMAT_VERSION, INTEGRITY, METRICS, OK)


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


def _deep_problems(f: h5py.File) -> list[str]:
    """Value checks that read every dataset whole (``actbench validate``): every checksum is verified."""
    from actbench.lang.expr import evaluate, parse
    from pydantic import ValidationError

    from actbench.table.provenance import Provenance, TableInfo
    from actbench.lang.points import output_keys, sample_points

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
    p += index_problems(f["names"][...], f["aliases/names"][...], f["aliases/rows"][...])
    p += _fim_problems(f)
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


def _fim_problems(f: h5py.File) -> list[str]:
    """``fim/missing`` and ``fim/cdf`` agree (docs/format.md): a missing row is NaN everywhere, and where
    the layout is known every layer of a row is either entirely NaN or entirely finite."""
    if "fim/cdf" not in f:
        return []
    missing = f["fim/missing"][...]
    ds = f["fim/cdf"]
    layers = []
    if "fim/layout/n_bins" in f:
        layers = [(int(o), int(b)) for o, b in zip(f["fim/layout/offset"][...], f["fim/layout/n_bins"][...]) if b]
    held, mixed = [], []
    step = max(1, (64 << 20) // max(1, 4 * ds.shape[1]))
    for lo in range(0, ds.shape[0], step):
        nan = np.isnan(ds[lo:lo + step])
        held += (lo + np.flatnonzero(missing[lo:lo + step] & ~nan.all(axis=1))).tolist()
        for o, b in layers:
            block = nan[:, o:o + b]
            mixed += (lo + np.flatnonzero(block.any(axis=1) & ~block.all(axis=1))).tolist()
    p = []
    if held:
        p.append(f"fim/missing is true for {plural(len(held), 'row')} that {'holds' if len(held) == 1 else 'hold'} FIM "
                 f"values (e.g. row {held[0]}); a missing row is NaN everywhere")
    if mixed:
        p.append(f"fim/cdf has {plural(len(set(mixed)), 'row')} with a layer partly NaN (e.g. row {mixed[0]}): a "
                 "layer's bins are all NaN or all finite")
    return p
