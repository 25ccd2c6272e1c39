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

from actbench._download import download
from actbench._version import __version__
from actbench.errors import ActBenchError, UnknownBenchmarkError, did_you_mean, plural
from actbench.hub import ChecksumError, DownloadError, TableNotAvailableError, cache_dir, is_offline
from actbench.registry import BENCHMARKS, LICENCE, official_pin
from actbench.table import _tmp_path, remove_stale_tmp, sha256_file

__all__ = ["LicenseNotAcceptedError", "OfficialDataError", "accept_license", "cached_table", "ensure_official",
           "license_accepted", "official_benchmarks", "pin"]

_TIMEOUT_S = 60.0  # a single read that takes longer than this fails (the download can be resumed)


class LicenseNotAcceptedError(ActBenchError, PermissionError):
    """The official release's licence has not been accepted on this machine; the message says how."""


class OfficialDataError(ActBenchError, ValueError):
    """A downloaded official file that converts but is not a complete Act-Bench table (e.g. names of the
    schema that no row answers); nothing was cached."""


def official_benchmarks() -> list[str]:
    """The benchmarks with an official release."""
    return [b for b, s in BENCHMARKS.items() if s.json_name]


def _spec(bench: str):
    spec = BENCHMARKS.get(bench)
    if spec is None or spec.json_name is None:
        raise UnknownBenchmarkError(f"{bench!r} has no official release{did_you_mean(bench, official_benchmarks())}; "
                                    f"those are: {', '.join(official_benchmarks())}")
    return spec


def _root(cache: str | os.PathLike | None) -> Path:
    return cache_dir(cache) / "official"


def cached_table(bench: str, cache: str | os.PathLike | None = None) -> Path | None:
    """The converted official table of ``bench`` in the cache, or None."""
    path = _root(cache) / f"{Path(_spec(bench).json_name).stem}.h5"
    return path if path.exists() else None


# --- the licence ---------------------------------------------------------------------------------


def _licence_file(cache) -> Path:
    return _root(cache) / "LICENSE-ACCEPTED.json"


def license_accepted(cache: str | os.PathLike | None = None) -> bool:
    """Whether the official release's licence was accepted on this machine (recorded in the cache) or by
    ``ACTBENCH_ACCEPT_LICENSE``."""
    if os.environ.get("ACTBENCH_ACCEPT_LICENSE", "").lower() in ("1", "true", "yes", "on"):
        return True
    path = _licence_file(cache)
    try:
        return json.loads(path.read_text()).get("license") == LICENCE["name"]
    except (OSError, ValueError):
        return False


def accept_license(cache: str | os.PathLike | None = None, *, how: str = "accept_license()") -> Path:
    """Record in the cache that the user accepted the official release's licence; returns the record."""
    path = _licence_file(cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    path.write_text(json.dumps({"license": LICENCE["name"], "url": LICENCE["url"], "accepted": now, "how": how,
                                "actbench": __version__}, indent=1))
    return path


def _notice(bench: str) -> str:
    spec = _spec(bench)
    return (f"{spec.title} is the authors' official release ({spec.json_name}, fetched from their own location, "
            f"never re-hosted by actbench). It is under the {LICENCE['name']}: {LICENCE['restriction']}. "
            f"Read it at {LICENCE['url']}.")


def _require_license(bench: str, cache, accept: bool | None) -> None:
    if license_accepted(cache):
        return
    print(_notice(bench), file=sys.stderr)
    if accept:
        accept_license(cache, how="accepted by flag")
        print("Licence accepted (recorded in the cache).", file=sys.stderr)
        return
    if accept is None and sys.stdin is not None and sys.stdin.isatty():
        answer = input("Accept this licence and download? [y/N] ").strip().lower()
        if answer in ("y", "yes"):
            accept_license(cache, how="accepted at the prompt")
            return
    raise LicenseNotAcceptedError(
        f"the licence of {_spec(bench).title} has not been accepted on this machine. {_notice(bench)} To accept "
        f"it: ActBench({bench!r}, accept_license=True), `actbench download {bench} --accept-license`, or set "
        "ACTBENCH_ACCEPT_LICENSE=1 (clusters, scripts).")


# --- download ------------------------------------------------------------------------------------


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
    lock_timeout: float = 6 * 3600.0,
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
        LicenseNotAcceptedError, DownloadError (nothing cached; an interrupted download resumes on the next
        call), ChecksumError (the file differs from its pinned sha256; deleted), OfficialDataError and
        actbench.convert.ConversionError (not a complete official file; nothing cached),
        TableNotAvailableError (offline and not cached).
    """
    from filelock import FileLock, Timeout

    spec = _spec(bench)
    root = _root(cache)
    final = root / f"{Path(spec.json_name).stem}.h5"
    if final.exists() and not force:
        return final
    root.mkdir(parents=True, exist_ok=True)
    # one fetch per benchmark and cache at a time: the array jobs of a cluster that all open the same
    # benchmark in a shared cache wait for the first one instead of writing one .part together
    lock = FileLock(root / f".{final.stem}.lock")
    try:
        lock.acquire(timeout=lock_timeout)
    except Timeout:
        raise DownloadError(f"another process has been fetching {bench!r} into {root} for {lock_timeout:.0f} s; "
                            "wait for it, or remove the stale lock file if no such process runs") from None
    try:
        if final.exists() and not force:  # the process we waited for has made it
            return final
        return _fetch_and_convert(bench, spec, root, final, source=source, offline=offline,
                                  accept_license=accept_license, keep_json=keep_json, force=force,
                                  progress=progress, timeout=timeout, cache=cache)
    finally:
        lock.release()


def _fetch_and_convert(bench, spec, root: Path, final: Path, *, source, offline, accept_license, keep_json, force,
                       progress, timeout, cache) -> Path:
    from actbench.convert import convert_official_json

    src_text = os.fspath(source) if source is not None else spec.url
    remote = "://" in src_text and not src_text.startswith("file://")
    if remote and is_offline(offline):
        raise TableNotAvailableError(
            f"the {bench!r} table is not in the cache ({final}) and offline mode is on (ACTBENCH_OFFLINE / "
            f"HF_HUB_OFFLINE). Convert a local copy of the official file instead: ActBench({bench!r}, "
            f"source='/path/to/{spec.json_name}')")
    _require_license(bench, cache, accept_license)
    if remote:
        local = root / "downloads" / spec.json_name
        if force:
            local.unlink(missing_ok=True)
        if not local.exists():
            download(src_text, local, progress=progress, timeout=timeout,
                     hint="Or give a local copy: ActBench(..., source='/path/to/file.json')")
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
                local.unlink()
            raise ChecksumError(
                f"{local.name} has sha256 {digest} ({size:,} bytes); this actbench pinned {pin['sha256']} "
                f"({pin.get('size', '?'):,} bytes) for the official {spec.json_name}. "
                + ("The download was deleted; run again. " if ours else "")
                + "If the authors replaced the file, a maintainer re-pins it with `actbench pin`.")
        verification = f"verified: sha256 {digest} pinned by this actbench release"
    else:
        verification = "unverified (first download): the authors publish no checksum and none is pinned yet"
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(root / f".{final.name}", "unchecked")  # what a killed conversion left
    unchecked = _tmp_path(root / f".{final.name}", "unchecked")
    where = src_text if remote else f"local file {local}"
    t0 = time.perf_counter()
    try:
        report = convert_official_json(
            local, unchecked, bench=bench, progress=progress,
            notes=(f"official file from {where}, {size:,} bytes", f"input {verification}"))
        _check_complete(unchecked, bench, report)
        os.replace(unchecked, final)
    except Exception:
        if ours:  # a download that does not convert is not kept: the next call fetches it again
            local.unlink(missing_ok=True)
        raise
    finally:
        unchecked.unlink(missing_ok=True)
    if ours and not keep_json:
        local.unlink(missing_ok=True)
    if progress:
        print(f"converted {spec.json_name} into {final} in {time.perf_counter() - t0:.0f} s "
              f"({plural(report['rows'], 'row')})", file=sys.stderr)
    return final


def _check_complete(path: Path, bench: str, report: dict) -> None:
    """Every name of the benchmark's space must answer a row: a file that lacks records is refused."""
    from actbench.bench import ActBench
    from actbench.space import get_space

    with ActBench(path) as b:
        space = b.info.space
        if space is None:
            return
        missing = [n for n in get_space(space).names if b._find(n) is None]
    if missing:
        raise OfficialDataError(
            f"the official {bench!r} file converts, but {len(missing):,} names of the {space!r} space answer no row "
            f"(e.g. {', '.join(missing[:3])}): it is incomplete ({plural(report['rows'], 'row')}). Nothing was cached; "
            "download it again (force=True) or check the source")


def pin(bench: str, file: str | os.PathLike, *, pins: str | os.PathLike | None = None) -> dict:
    """Maintainers: record the sha256 and size of a real official file in the pins file (the package's
    ``actbench/data/official_pins.json``, or ``pins``), so that later downloads are verified against it."""
    from actbench.registry import pins_path

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
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, target)
    return entry
