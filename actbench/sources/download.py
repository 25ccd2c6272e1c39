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
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.client import HTTPException
from pathlib import Path

from actbench._version import __version__
from actbench.base.errors import DownloadError
from actbench.base.settings import MIN_RATE_BPS, min_rate  # noqa: F401 (re-exported: earlier paths)
from actbench.base.text import mask_url

__all__ = ["LOCK_TIMEOUT_S", "RATE_WINDOW_S", "download", "forget", "locked", "source_of"]

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
    kept, unless ``replace`` or unless it came from another URL. ``held``: the caller holds
    ``locked(dest)`` already (to check and verify the file under the same lock).

    What is downloaded belongs to its source: the URL (and the server's validators, ETag or Last-Modified)
    is recorded beside the part and the file (``source_of``), a part of another URL is discarded rather than
    resumed, and a resumed request asks the server (``If-Range``) to send the whole file again if it changed.

    Bounded: the response headers must arrive within ``timeout`` seconds; one read may take at most
    ``timeout`` seconds; over every ``RATE_WINDOW_S`` at least ``rate`` bytes per second must arrive
    (``ACTBENCH_MIN_RATE``), checked by a watchdog even while a read is held up by a dripping server;
    ``max_bytes`` stops a body larger than that (refused before any byte when the server declares it).

    Raises:
        DownloadError: HTTP error, unreachable host, an interrupted or too slow transfer (the part is kept
            and resumed by the next call), a body larger than ``max_bytes`` (the part is deleted), a URL with
            credentials in it (not supported: they would be sent in the clear and shown in messages), or
            another process holding the lock for ``lock_timeout`` seconds. ``hint`` is appended to the
            messages (what else the user can do).
    """
    _refuse_credentials(url)
    with contextlib.nullcontext() if held else locked(dest, timeout=lock_timeout):
        if dest.exists() and not replace and source_of(dest).get("url") == url:
            return None
        return _download(url, dest, progress=progress, timeout=timeout, rate=rate, hint=hint, max_bytes=max_bytes)


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.source.json")


def source_of(path: Path) -> dict:
    """What ``path`` (a download, or its ``.part``) was fetched from: ``{"url", "etag", "last_modified"}``, or
    ``{}`` when that is not known (a file not downloaded by this downloader)."""
    try:
        doc = json.loads(_sidecar(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def forget(dest: Path) -> None:
    """Delete a download, its part and what records their source."""
    for p in (dest, dest.with_name(dest.name + ".part"), _sidecar(dest), _sidecar(dest.with_name(dest.name + ".part"))):
        p.unlink(missing_ok=True)


def _record_source(path: Path, url: str, resp) -> None:
    from actbench.base.files import write_atomic

    doc = {"url": url, "etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified")}
    write_atomic(_sidecar(path), json.dumps(doc))


def _refuse_credentials(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise DownloadError(f"{mask_url(url)} carries credentials (user:password@), which actbench does not send: "
                            "they would travel in the clear and show in messages and provenance. Put the file on a "
                            "server or a mirror that needs none, or download it yourself and give its local path "
                            "(source='/path/to/file.json', ACTBENCH_OFFICIAL_URL=/folder)")


def _download(url: str, dest: Path, *, progress: bool, timeout: float, rate: float | None, hint: str,
              max_bytes: int | None) -> None:
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shown = mask_url(url)
    known = source_of(part)
    if part.exists() and known.get("url") != url:  # another source's leftover: never resumed into this one
        part.unlink()
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"actbench/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
        validator = known.get("etag") or known.get("last_modified")
        if validator:
            headers["If-Range"] = validator  # changed since: the server sends the whole file again (200)
    watch = _Watch(timeout, min_rate(rate))
    try:
        resp = _opener(watch).open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()  # the error holds the response's socket
        watch.stop()
        if e.code == 416 and have:  # nothing left to send: the partial file is stale; start again
            part.unlink()
            return _download(url, dest, progress=progress, timeout=timeout, rate=rate, hint=hint, max_bytes=max_bytes)
        raise DownloadError(f"{shown} answered HTTP {e.code} ({e.reason}); nothing was cached. {hint}".rstrip()) from e
    except (urllib.error.URLError, OSError, HTTPException) as e:
        watch.stop()
        why = watch.expired or f"could not reach it: {e}"
        raise DownloadError(f"{shown}: {why}. Nothing was cached; run again when the network is back. "
                            f"{hint}".rstrip()) from e
    try:
        with resp:
            _receive(resp, url, part, have, watch, progress=progress, hint=hint, max_bytes=max_bytes, name=dest.name)
    finally:
        watch.stop()
    os.replace(part, dest)
    os.replace(_sidecar(part), _sidecar(dest))


def _receive(resp, url: str, part: Path, have: int, watch: _Watch, *, progress: bool, hint: str,
             max_bytes: int | None, name: str) -> None:
    shown = mask_url(url)
    resumed = have > 0 and resp.status == 206
    if not resumed:
        have = 0
    length = resp.headers.get("Content-Length")
    total = have + int(length) if length is not None and length.isdigit() else None
    if max_bytes is not None and total is not None and total > max_bytes:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{shown} declares {total:,} bytes, more than the {max_bytes:,} its source allows; "
                            f"nothing was downloaded. {hint}".rstrip())
    if not resumed:
        _record_source(part, url, resp)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=f"download {name}")
    got = have
    watch.body()
    try:
        with open(part, "ab" if resumed else "wb") as fh:
            while True:
                block = resp.read1(_CHUNK)  # returns what has arrived, so a drip is seen as one
                if not block:
                    break
                fh.write(block)
                got += len(block)
                watch.arrived(len(block))
                if max_bytes is not None and got > max_bytes:
                    raise _TooLarge(got)
                if bar is not None:
                    bar.update(len(block))
    except _TooLarge:
        forget(part.with_name(part.name[:-len(".part")]))
        raise DownloadError(f"{shown} sent more than the {max_bytes:,} bytes its source allows; it was stopped and "
                            f"deleted. {hint}".rstrip()) from None
    except (OSError, HTTPException, ValueError) as e:
        if watch.expired:
            raise DownloadError(f"the download of {shown} {watch.expired}. {got:,} bytes are kept; run the same call "
                                f"again to resume. {hint}".rstrip()) from None
        raise DownloadError(f"the download of {shown} was interrupted after {got:,} bytes"
                            f"{f' of {total:,}' if total else ''} ({type(e).__name__}: {e}); run the same call "
                            "again to resume it") from e
    finally:
        if bar is not None:
            bar.close()
    if watch.expired:  # the watchdog closed the connection, and the read saw its end
        raise DownloadError(f"the download of {shown} {watch.expired}. {got:,} bytes are kept; run the same call "
                            f"again to resume. {hint}".rstrip())
    if total is not None and got != total:
        raise DownloadError(f"the download of {shown} ended after {got:,} of {total:,} bytes; run the same call "
                            "again to resume it")


class _TooLarge(Exception):
    pass


class _Watch(threading.Thread):
    """Ends a request that takes too long: no complete response headers within ``timeout`` seconds, or, in the
    body, fewer than ``floor`` bytes per second over a window of ``RATE_WINDOW_S`` (0 disables that). It
    shuts the connection's socket down, which ends a read held up by a server that drips bytes (a read's own
    timeout does not: each byte restarts it)."""

    def __init__(self, timeout: float, floor: float) -> None:
        super().__init__(daemon=True)
        self.timeout, self.floor = timeout, floor
        self.sock: socket.socket | None = None
        self.expired: str | None = None
        self._phase, self._t0 = "headers", time.monotonic()
        self._window_start, self._window_bytes = self._t0, 0
        self._done = threading.Event()
        self.start()

    def body(self) -> None:
        self._phase, self._window_start, self._window_bytes = "body", time.monotonic(), 0

    def arrived(self, n: int) -> None:
        self._window_bytes += n

    def stop(self) -> None:
        self._done.set()

    def run(self) -> None:
        while not self._done.wait(min(0.5, max(self.timeout / 4, 0.05))):
            now = time.monotonic()
            if self._phase == "headers" and now - self._t0 > self.timeout:
                self._expire(f"sent no complete response within {self.timeout:g} s")
            elif self._phase == "body" and now - self._window_start >= RATE_WINDOW_S:
                elapsed = now - self._window_start
                if self.floor > 0 and self._window_bytes / elapsed < self.floor:
                    self._expire(f"is too slow: {self._window_bytes / elapsed:,.0f} bytes/s over the last "
                                 f"{elapsed:.0f} s, below the minimum of {self.floor:,.0f} (ACTBENCH_MIN_RATE; 0 "
                                 "disables the check)")
                self._window_start, self._window_bytes = now, 0

    def _expire(self, why: str) -> None:
        self.expired = why
        self._done.set()
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


def _opener(watch: _Watch) -> urllib.request.OpenerDirector:
    """urllib's opener whose connections tell ``watch`` their socket (so that it can end them)."""
    import http.client

    def watched(base):
        class Connection(base):
            def connect(self) -> None:
                super().connect()
                watch.sock = self.sock

        return Connection

    class Http(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(watched(http.client.HTTPConnection), req)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(watched(http.client.HTTPSConnection), req, context=self._context)

    return urllib.request.build_opener(Http, Https)
