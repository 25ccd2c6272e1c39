"""Low-level HDF5 helpers of the table format: checksummed datasets, fixed-length text, root attributes,
walking a file without following links out of it, and the messages for files that are not tables.

Private to :mod:`actbench.table`: the writer, the reader, the checks and the upgrade share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from actbench.base.errors import ActBenchError, CorruptTableError, TableFormatError
from actbench.lang.points import EQUIVALENCE_BITS
from actbench.table.schema import _MAX_OBJECTS, FORMAT_NAME, INTEGRITY


def _append(ds: h5py.Dataset, lo: int, hi: int, block: np.ndarray) -> None:
    ds.resize((hi,) + ds.shape[1:])
    ds[lo:hi] = block


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


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _attr_text(f: h5py.File, key: str) -> str | None:
    """A text root attribute (fixed- or variable-length), or None when absent."""
    v = f.attrs.get(key)
    return None if v is None else _text(v.item() if isinstance(v, np.ndarray) and v.shape == () else v)


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


def _kind(dt: np.dtype) -> str:
    if h5py.check_string_dtype(dt) is not None:
        return "S"
    return {"i": "i", "u": "i", "f": "f", "b": "b"}.get(dt.kind, "?")


def _attr(f: h5py.File, key: str) -> str:
    v = f.attrs.get(key)
    return repr(v.item() if isinstance(v, np.generic) else v)
