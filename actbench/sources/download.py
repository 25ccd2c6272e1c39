"""The one HTTP downloader of actbench: locked, resumable, with a progress bar, and never endless.

Used for the Hub's tables and the official release alike. One process at a time downloads a file: the
download holds a lock beside its destination (``.<dest>.lock``, :func:`locked`), so that the array jobs of a
cluster sharing a cache wait for the first one instead of writing one file together; a process that waited
finds the file there and downloads nothing. What arrived is kept in ``<dest>.part`` (written only by the
lock's holder) and resumed by the next call (HTTP Range); ``dest`` appears only whole. A download that
stalls is stopped by two limits: one read may take at most ``timeout`` seconds, and over every window of
``RATE_WINDOW_S`` seconds at least ``min_rate`` bytes per second must arrive (``ACTBENCH_MIN_RATE``, default
10,000), so a server that drips a byte at a time cannot hold a process forever; ``max_bytes`` stops a body
larger than its source declared.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from actbench._version import __version__
from actbench.base.errors import DownloadError
from actbench.base.settings import MIN_RATE_BPS, min_rate  # noqa: F401  (re-exported: earlier paths)

__all__ = ["LOCK_TIMEOUT_S", "RATE_WINDOW_S", "download", "locked"]

_CHUNK = 1 << 20
#: Seconds over which the rate is measured.
RATE_WINDOW_S = 60.0
#: Seconds a process waits for another that downloads (or converts) the same file into the same cache.
LOCK_TIMEOUT_S = 6 * 3600.0


@contextlib.contextmanager
def locked(path: Path, *, timeout: float = LOCK_TIMEOUT_S, what: str | None = None,
           lock_file: Path | None = None) -> Iterator[None]:
    """Hold the lock of ``path`` (the file ``.<name>.lock`` beside it, or ``lock_file``) while the block runs:
    one process at a time fetches or builds that file.

    Raises:
        DownloadError: another process held it for ``timeout`` seconds.
    """
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_file if lock_file is not None else path.with_name(f".{path.name}.lock"))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise DownloadError(f"another process has been fetching {what or path.name} into {path.parent} for "
                            f"{timeout:.0f} s; wait for it, or remove the stale lock file "
                            f"{lock.lock_file} if no such process runs") from None
    try:
        yield
    finally:
        lock.release()


def download(url: str, dest: Path, *, progress: bool, timeout: float, rate: float | None = None,
             hint: str = "", replace: bool = False, max_bytes: int | None = None,
             lock_timeout: float = LOCK_TIMEOUT_S, held: bool = False) -> None:
    """Fetch ``url`` into ``dest`` under ``dest``'s lock, resuming ``dest.part`` with an HTTP Range request
    when one exists. A ``dest`` that exists once the lock is held (another process fetched it meanwhile) is
    kept, unless ``replace``. ``held``: the caller holds ``locked(dest)`` already (to check and verify the
    file under the same lock).

    Raises:
        DownloadError: HTTP error, unreachable host, an interrupted or too slow transfer (the part is kept
            and resumed by the next call), a body larger than ``max_bytes`` (the part is deleted), or another
            process holding the lock for ``lock_timeout`` seconds. ``hint`` is appended to the messages (what
            else the user can do).
    """
    with contextlib.nullcontext() if held else locked(dest, timeout=lock_timeout):
        if dest.exists() and not replace:
            return None
        return _download(url, dest, progress=progress, timeout=timeout, rate=rate, hint=hint, max_bytes=max_bytes)


def _download(url: str, dest: Path, *, progress: bool, timeout: float, rate: float | None, hint: str,
              max_bytes: int | None) -> None:
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    floor = min_rate(rate)
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"actbench/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()  # the error holds the response's socket
        if e.code == 416 and have:  # nothing left to send: the partial file is stale; start again
            part.unlink()
            return _download(url, dest, progress=progress, timeout=timeout, rate=rate, hint=hint, max_bytes=max_bytes)
        raise DownloadError(f"{url} answered HTTP {e.code} ({e.reason}); nothing was cached. {hint}".rstrip()) from e
    except (urllib.error.URLError, OSError, HTTPException) as e:
        raise DownloadError(f"could not reach {url}: {e}. Nothing was cached; run again when the network is "
                            f"back. {hint}".rstrip()) from e
    with resp:
        resumed = have > 0 and resp.status == 206
        if not resumed:
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=f"download {dest.name}")
        got = have
        window_start, window_bytes = time.monotonic(), 0
        try:
            with open(part, "ab" if resumed else "wb") as fh:
                while True:
                    block = resp.read1(_CHUNK)  # returns what has arrived, so a drip is seen as one
                    if not block:
                        break
                    fh.write(block)
                    got += len(block)
                    if max_bytes is not None and got > max_bytes:
                        raise _TooLarge(got)
                    window_bytes += len(block)
                    if bar is not None:
                        bar.update(len(block))
                    elapsed = time.monotonic() - window_start
                    if elapsed >= RATE_WINDOW_S:
                        if window_bytes / elapsed < floor:
                            raise DownloadError(
                                f"the download of {url} is too slow: {window_bytes / elapsed:,.0f} bytes/s over the "
                                f"last {elapsed:.0f} s, below the minimum of {floor:,.0f} (ACTBENCH_MIN_RATE; 0 "
                                f"disables the check). {got:,} bytes are kept; run the same call again to resume. "
                                f"{hint}".rstrip())
                        window_start, window_bytes = time.monotonic(), 0
        except _TooLarge:
            part.unlink(missing_ok=True)
            raise DownloadError(f"the download of {url} sent more than the {max_bytes:,} bytes its source "
                                f"declared; it was stopped and deleted. {hint}".rstrip()) from None
        except (OSError, HTTPException) as e:
            raise DownloadError(f"the download of {url} was interrupted after {got:,} bytes"
                                f"{f' of {total:,}' if total else ''} ({type(e).__name__}: {e}); run the same call "
                                "again to resume it") from e
        finally:
            if bar is not None:
                bar.close()
    if total is not None and got != total:
        raise DownloadError(f"the download of {url} ended after {got:,} of {total:,} bytes; run the same call again "
                            "to resume it")
    os.replace(part, dest)
    return None


class _TooLarge(Exception):
    pass
