"""One HTTP download into the cache: resumable, with a progress bar, and never endless.

Used for the Hub's tables and the official release alike. A download that stalls is stopped by two
limits: one read may take at most ``timeout`` seconds, and over every window of ``RATE_WINDOW_S``
seconds at least ``min_rate`` bytes per second must arrive (``ACTBENCH_MIN_RATE``, default
``MIN_RATE_BPS``), so a server that drips a byte at a time cannot hold a process forever. What arrived
is kept in ``<dest>.part`` and resumed by the next call (HTTP Range); ``dest`` appears only whole.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from actbench._version import __version__
from actbench.errors import DownloadError

_CHUNK = 1 << 20
#: Default minimum transfer rate in bytes per second (``ACTBENCH_MIN_RATE`` overrides it; 0 disables).
MIN_RATE_BPS = 10_000.0
#: Seconds over which the rate is measured.
RATE_WINDOW_S = 60.0


def min_rate(override: float | None = None) -> float:
    """``override``, else ``$ACTBENCH_MIN_RATE``, else :data:`MIN_RATE_BPS` (bytes per second)."""
    if override is not None:
        return float(override)
    env = os.environ.get("ACTBENCH_MIN_RATE")
    if env:
        try:
            return float(env)
        except ValueError as e:
            raise ValueError(f"ACTBENCH_MIN_RATE={env!r} is not a number of bytes per second (0 disables the "
                             f"check)") from e
    return MIN_RATE_BPS


def download(url: str, dest: Path, *, progress: bool, timeout: float, rate: float | None = None,
             hint: str = "") -> None:
    """Fetch ``url`` into ``dest``, resuming ``dest.part`` with an HTTP Range request when one exists.

    Raises:
        DownloadError: HTTP error, unreachable host, an interrupted or too slow transfer (the part is kept
            and resumed by the next call). ``hint`` is appended to the messages (what else the user can do).
    """
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
            return download(url, dest, progress=progress, timeout=timeout, rate=rate, hint=hint)
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
