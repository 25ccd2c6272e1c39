"""The paper's tables on a user's machine: fetch the authors' official release and convert it once.

``ActBench("resnet")`` (and ``actbench download resnet``) end here when the table is neither in the
cache nor published on the Hub: the official JSON file is downloaded from the authors' own location
(never re-hosted by us), with resume and a progress bar, converted in bounded memory into the cache,
checked, and opened; later calls open the cached table offline.

* Licence: the release is under the authors' Academic Public License (non-commercial). The first
  download prints it and needs an acceptance, which is recorded in the cache: ``accept_license=True``,
  ``actbench download --accept-license``, ``ACTBENCH_ACCEPT_LICENSE=1``, or answering the prompt (only
  when standard input is a terminal; a script is never blocked by a prompt).
* Integrity: the authors publish no checksums. The downloaded file's size and sha256 are recorded in the
  table's provenance; once a maintainer has pinned them (``actbench pin``), downloads are verified
  against them and a mismatch is refused. The converted table is checked (every name parses, every
  name of the Act-Bench schema resolves) before it is moved to its name in the cache: a failed
  download or conversion leaves nothing there that a later offline open would trust.
* Sources: the authors' URL (``actbench.registry``), ``$ACTBENCH_OFFICIAL_URL`` (a mirror's base URL
  or a local folder), or ``source=`` per call (a URL or a local file, e.g. on a cluster without
  internet: ``ActBench("resnet", source="/data/act-bench-resnet.json")``).

Files under the cache (``$ACTBENCH_CACHE``, default ``~/.cache/actbench``)::

    official/act-bench-<bench>.h5          the converted table (opened offline afterwards)
    official/downloads/<file>.json.part    an interrupted download (resumed by the next call)
    official/downloads/<file>.json         kept after conversion only with keep_json=True
    official/LICENSE-ACCEPTED.json         when and which licence was accepted
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

from actbench._version import __version__
from actbench.base.errors import (ChecksumError, DownloadError, LicenseNotAcceptedError,  # noqa: F401 (re-exported)
                                  OfficialDataError, SourceMismatchError, TableNotAvailableError)
from actbench.base.files import remove_stale_tmp, sha256_file, tmp_path, write_atomic
from actbench.base.settings import cache_dir, is_offline, max_download
from actbench.base.text import mask_url, plural
from actbench.sources.download import LOCK_TIMEOUT_S, download, forget, locked
from actbench.sources.licence import (accept_license, license_accepted, official_benchmarks,  # noqa: F401
                                      require_license)
from actbench.sources.licence import official_spec as _spec
from actbench.sources.registry import official_pin, official_table_path

__all__ = ["LicenseNotAcceptedError", "OfficialDataError", "accept_license", "cached_table", "ensure_official",
           "license_accepted", "official_benchmarks", "pin"]

_TIMEOUT_S = 60.0  # a single read that takes longer than this fails (the download can be resumed)


def _root(cache: str | os.PathLike | None) -> Path:
    return cache_dir(cache) / "official"


def cached_table(bench: str, cache: str | os.PathLike | None = None) -> Path | None:
    """The converted official table of ``bench`` in the cache, or None."""
    path = official_table_path(_spec(bench), cache)
    return path if path.exists() else None


# --- the whole chain -----------------------------------------------------------------------------


def ensure_official(
    bench: str,
    *,
    source: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    offline: bool | None = None,
    accept_license: bool | None = None,
    keep_json: bool = False,
    force: bool = False,
    progress: bool = True,
    timeout: float = _TIMEOUT_S,
    lock_timeout: float = LOCK_TIMEOUT_S,
) -> Path:
    """Path of the converted official table of ``bench`` in the cache, fetching and converting it first
    when it is not there (or when ``force``).

    Args:
        bench: ``"cnn"``, ``"resnet"`` or ``"vit"``.
        source: the official file's URL or a local path (default: ``$ACTBENCH_OFFICIAL_URL`` or the authors').
        cache: the cache folder (default ``$ACTBENCH_CACHE`` or ``~/.cache/actbench``).
        offline: never use the network (a local ``source`` still works).
        accept_license: accept the release's licence (None: ask on a terminal, else refuse).
        keep_json: keep the downloaded JSON in the cache after converting it.
        force: download and convert again even when a converted table is cached.
        progress: progress bars for the download and the conversion.
        timeout: seconds a single network read may take.
        lock_timeout: seconds to wait while another process fetches the same benchmark into the same cache.

    Raises:
        LicenseNotAcceptedError: the licence has not been accepted (the message says how).
        DownloadError: nothing cached; an interrupted download resumes on the next call.
        ChecksumError: the file differs from its pinned sha256 (deleted).
        OfficialDataError: not a complete official file; nothing cached.
        ConversionError: not in the official shape; nothing cached.
        SourceMismatchError: ``source`` differs from the one the cached table was converted from.
        TableNotAvailableError: offline and not cached.
    """
    spec = _spec(bench)
    root = _root(cache)
    final = official_table_path(spec, cache)
    if final.exists() and not force:
        return _same_source(final, bench, spec, source)
    # one fetch per benchmark and cache at a time: the array jobs of a cluster that all open the same
    # benchmark in a shared cache wait for the first one instead of converting it together
    # (the lock file's name is the one earlier releases used, so that they and this one wait for each other)
    with locked(final, timeout=lock_timeout, what=repr(bench), lock_file=root / f".{final.stem}.lock"):
        if final.exists() and not force:  # the process we waited for has made it
            return _same_source(final, bench, spec, source)
        return _fetch_and_convert(bench, spec, root, final, source=source, offline=offline,
                                  accept_license=accept_license, keep_json=keep_json, force=force,
                                  progress=progress, timeout=timeout, cache=cache)


def _fetch_and_convert(bench, spec, root: Path, final: Path, *, source, offline, accept_license, keep_json, force,
                       progress, timeout, cache) -> Path:
    from actbench.sources.convert import convert_official_json

    src_text = os.fspath(source) if source is not None else spec.url
    remote = "://" in src_text and not src_text.startswith("file://")
    if remote and is_offline(offline):
        raise TableNotAvailableError(
            f"the {bench!r} table is not in the cache ({final}) and offline mode is on (ACTBENCH_OFFLINE / "
            f"HF_HUB_OFFLINE). Convert a local copy of the official file instead: ActBench({bench!r}, "
            f"source='/path/to/{spec.json_name}')")
    require_license(bench, cache, accept_license)
    if remote:
        local = root / "downloads" / spec.json_name
        if force:
            forget(local)
        # a leftover of another source (a killed earlier call) is fetched again, never converted for this one
        download(src_text, local, progress=progress, timeout=timeout, held=True,  # ensure_official holds the lock
                 max_bytes=max_download(), hint="Or give a local copy: ActBench(..., source='/path/to/file.json')")
        ours = True
    else:
        local = Path(src_text[len("file://"):] if src_text.startswith("file://") else src_text).expanduser()
        if not local.is_file():
            raise FileNotFoundError(f"no official file at {local} (source of {bench!r})")
        ours = False
    size = local.stat().st_size
    pin = official_pin(bench)
    if pin:
        digest = sha256_file(local)
        if digest != pin["sha256"] or size != pin.get("size", size):
            if ours:
                forget(local)
            raise ChecksumError(
                f"{local.name} has sha256 {digest} ({size:,} bytes); this actbench pinned {pin['sha256']} "
                f"({pin.get('size', '?'):,} bytes) for the official {spec.json_name}. "
                + ("The download was deleted; run again. " if ours else "")
                + "If the authors replaced the file, a maintainer re-pins it with `actbench pin`.")
        verification = f"verified: sha256 {digest} pinned by this actbench release"
    else:
        verification = "unverified (first download): the authors publish no checksum and none is pinned yet"
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(final)  # what a killed conversion left (its unchecked table, and that one's own temp file)
    unchecked = tmp_path(final, "unchecked", hidden=True)
    where = _where(src_text, local, remote)
    t0 = time.perf_counter()
    try:
        report = convert_official_json(
            local, unchecked, bench=bench, progress=progress,
            notes=(f"official file from {where}, {size:,} bytes", f"input {verification}"))
        _check_complete(unchecked, bench, report)
        os.replace(unchecked, final)
    except Exception:
        if ours:  # a download that does not convert is not kept: the next call fetches it again
            forget(local)
        raise
    finally:
        unchecked.unlink(missing_ok=True)
    if ours and not keep_json:
        forget(local)
    if progress:
        print(f"converted {spec.json_name} into {final} in {time.perf_counter() - t0:.0f} s "
              f"({plural(report['rows'], 'row')})", file=sys.stderr)
    return final


def _where(src_text: str, local: Path, remote: bool) -> str:
    """How the provenance names a source: its URL (credentials masked), or ``local file PATH``."""
    return mask_url(src_text) if remote else f"local file {local}"


def _same_source(final: Path, bench: str, spec, source) -> Path:
    """``final``, unless ``source`` was given and the cached table was converted from another source: a source
    given explicitly is never silently ignored."""
    if source is None:
        return final
    src_text = os.fspath(source)
    remote = "://" in src_text and not src_text.startswith("file://")
    local = Path(src_text[len("file://"):] if src_text.startswith("file://") else src_text).expanduser()
    want = _where(src_text, local if remote else local.resolve(), remote)
    from actbench.table.reader import read_table

    table = read_table(final)
    try:
        notes = table.provenance.notes
    finally:
        table.close()
    made = [n[len("official file from "):].rsplit(", ", 1)[0] for n in notes if n.startswith("official file from ")]
    if made and made[0] in (want, f"local file {local}"):
        return final
    raise SourceMismatchError(
        f"the cached {bench!r} table ({final}) was converted from {made[0] if made else 'an unrecorded source'}, not "
        f"from {mask_url(src_text)}. To replace it with a conversion of this source: `actbench download {bench} "
        f"--source {mask_url(src_text)} --force` (or ensure_official({bench!r}, source=..., force=True)); to keep "
        f"it, leave source= out")


def _check_complete(path: Path, bench: str, report: dict) -> None:
    """Every name of the benchmark's space must answer a row: a file that lacks records is refused."""
    from actbench.lang.space import get_space
    from actbench.query.resolver import Resolver
    from actbench.table.reader import read_table

    table = read_table(path)
    try:
        space = table.info.space
        if space is None:
            return
        resolver = Resolver(table)
        missing = [n for n in get_space(space).names if resolver.find(n) is None]
    finally:
        table.close()
    if missing:
        raise OfficialDataError(
            f"the official {bench!r} file converts, but {len(missing):,} names of the {space!r} space answer no row "
            f"(e.g. {', '.join(missing[:3])}): it is incomplete ({plural(report['rows'], 'row')}). Nothing was cached; "
            "download it again (force=True) or check the source")


def pin(bench: str, file: str | os.PathLike, *, pins: str | os.PathLike | None = None) -> dict:
    """Maintainers: record the sha256 and size of a real official file in the pins file (the package's
    ``actbench/data/official_pins.json``, or ``pins``), so that later downloads are verified against it."""
    from actbench.sources.registry import pins_path

    spec = _spec(bench)
    path = Path(file)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}")
    target = Path(pins) if pins is not None else pins_path()
    doc = json.loads(target.read_text()) if target.exists() else {"format": "actbench-official-pins", "version": 1}
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    entry = {"file": spec.json_name, "sha256": sha256_file(path), "size": path.stat().st_size, "pinned": now,
             "actbench": __version__}
    doc.setdefault("files", {})[bench] = entry
    write_atomic(target, json.dumps(doc, indent=2) + "\n")
    return entry
