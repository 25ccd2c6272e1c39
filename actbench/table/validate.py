"""Validating a table in full (:func:`validate_table`, in a child process when asked) and rewriting one
written before actbench 0.3.0 with integrity checks (:func:`upgrade_table`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py

from actbench.base.errors import ActBenchError, TableFormatError
from actbench.base.files import atomic_write, sha256_file
from actbench.table._h5 import _attr_text, _corrupt_message, _create, _fixed_strings, _guarded, _put, _set_root_attrs, _walk
from actbench.table.checks import _deep_problems, _problems
from actbench.table.reader import read_table
from actbench.table.schema import _LIBVER

__all__ = ["VALIDATE_TIMEOUT_S", "upgrade_table", "validate_table"]


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
    from actbench._version import __version__

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
    with atomic_write(dst) as tmp:
        with h5py.File(src, "r") as fin, h5py.File(tmp, "w", libver=_LIBVER) as fout:
            datasets, _ = _walk(fin)
            for key, ds in datasets.items():
                _copy_dataset(ds, fout, key)
            _set_root_attrs(fout, n_rows=int(fin.attrs["n_rows"]), fim_convention=convention,
                            info=_attr_text(fin, "info") or "", provenance=prov.model_dump_json(),
                            version=2 if "curves" in fin else 1)
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
