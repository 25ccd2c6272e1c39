"""Files that others may read: atomic writes, their temporary names, clean-up after killed writers, checksums.

Every file actbench (and ``generation/``) writes for others to read is written under a temporary name that
is unique to the writing process (and thread) and renamed over the real name only when it is complete, so
that a reader never sees half a file, and a writer killed at any moment leaves at most a temporary file
behind. The temporary names have one shape, which :func:`remove_stale_tmp` recognises whatever wrote them::

    <name>.<tag>-<host>-<pid>[.t<thread>]     e.g. act-bench-cnn.h5.tmp-node01-4711

``tag`` is ``tmp`` (a file being written) or ``unchecked`` (a complete file that is checked before it gets
its real name); a file written under an ``unchecked`` name has a temporary name of its own, so names can
chain (``.act-bench-cnn.h5.unchecked-node01-4711.tmp-node01-4711``). A leading dot hides the name from
globs such as ``*.json``. Files of processes that still run, and of other hosts (a shared file system), are
never removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["TMP_TAGS", "atomic_write", "check_target", "remove_stale_tmp", "sha256_file", "tmp_path", "write_atomic"]

#: The tags of temporary names (see the module docstring).
TMP_TAGS: tuple[str, ...] = ("tmp", "unchecked")
_SEGMENT = re.compile(r"\.(?:tmp|unchecked)-(?:(?P<host>[A-Za-z0-9_]+)-)?(?P<pid>\d+)(?:\.t\d+)?")


def _host() -> str:
    import socket

    return "".join(c if c.isalnum() else "_" for c in socket.gethostname()) or "host"


def tmp_path(path: str | os.PathLike, tag: str = "tmp", *, hidden: bool = False) -> Path:
    """``<path>.<tag>-<host>-<pid>`` (``.t<thread>`` added off the main thread): the name a writer uses until
    its file is complete; ``hidden`` puts a dot before it."""
    if tag not in TMP_TAGS:
        raise ValueError(f"tag must be one of {TMP_TAGS}, got {tag!r}")
    path = Path(path)
    thread = "" if threading.current_thread() is threading.main_thread() else f".t{threading.get_ident()}"
    return path.with_name(f"{'.' if hidden else ''}{path.name}.{tag}-{_host()}-{os.getpid()}{thread}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's live process, or not a pid we may judge: keep its file
    return True


def remove_stale_tmp(path: str | os.PathLike, tag: str | None = None) -> list[Path]:
    """Delete the temporary files that killed writers of ``path`` left (every name of the module docstring's
    shape, chained or not, hidden or not; ``tag``, when given, keeps only names that start with that tag; and
    ``<path>.<tag>-<pid>`` of releases before 0.3.0), whose processes are all gone. Files of live processes
    (this one included) and of other hosts are kept. Returns what was deleted."""
    path = Path(path)
    host = _host()
    removed = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for p in entries:
        for prefix in (path.name, "." + path.name):
            if not p.name.startswith(prefix + "."):
                continue
            rest = p.name[len(prefix):]
            segments = list(_SEGMENT.finditer(rest))
            if not segments or "".join(m.group(0) for m in segments) != rest:
                continue
            if tag is not None and not rest.startswith(f".{tag}-"):
                continue
            if any(m.group("host") not in (None, host) for m in segments):
                continue  # another host's writer: we cannot tell whether it runs
            pids = {int(m.group("pid")) for m in segments}
            if os.getpid() in pids or any(_alive(pid) for pid in pids):
                continue
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
            break
    return removed


def check_target(path: str | os.PathLike, *, inputs=()) -> Path:
    """``path`` as a place to write a file: refused when something other than a regular file is there (a
    folder, a device, a pipe, a socket: a write would replace it) or when it is one of ``inputs`` (a
    command must not replace what it reads).

    Raises:
        IsADirectoryError: a folder is there. ValueError: another non-regular file, or an input.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder; give the path of a file to write")
        if not path.is_file():
            raise ValueError(f"{path} is not a regular file (a device, a pipe or a socket); actbench writes only "
                             "regular files and will not replace it")
        for src in inputs:
            if Path(src).exists() and os.path.samefile(path, src):
                raise ValueError(f"{path} is the input of this command; write the output to another file")
    return path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, tag: str = "tmp", hidden: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed over ``path``, on any error (the rename's
    too) it is deleted, so nothing of the attempt stays. Leftovers of killed writers of ``path`` are removed
    first. The folder of ``path`` must exist (a missing one is an error, not created), and ``path`` must not be
    anything but a regular file (:func:`check_target`).

    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(target) as tmp:
    ...     _ = tmp.write_text("whole")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('whole', ['out.txt'])
    """
    path = check_target(path)
    remove_stale_tmp(path)
    tmp = tmp_path(path, tag, hidden=hidden)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, data: bytes | str, *, fsync: bool = False, hidden: bool = True) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` atomically (:func:`atomic_write`); ``fsync`` flushes it to
    the disk before the rename (results that a crash must not lose)."""
    with atomic_write(path, hidden=hidden) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
