"""Download tables from the Hugging Face Hub, verify them, cache them, and publish them.

The package ships a manifest (``actbench/data/manifest.json``) naming the Hub dataset repository,
the pinned revision, and the sha256 and size of every published table. A table is downloaded
once into the cache (``$ACTBENCH_CACHE``, default ``~/.cache/actbench``), checked against the
manifest, and opened from there afterwards without any network access. A file that fails the
check is deleted, never opened; downloading again repairs it.

Environment variables:

* ``ACTBENCH_CACHE``: the cache folder.
* ``ACTBENCH_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``): never touch the network.
* ``ACTBENCH_MANIFEST``: a manifest file to use instead of the shipped one (mirrors, tests).
* ``ACTBENCH_HUB_ENDPOINT``: the Hub endpoint (default: huggingface_hub's, i.e. ``HF_ENDPOINT``).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from actbench.base import settings
from actbench.base.errors import ChecksumError, DownloadError, ManifestError, TableNotAvailableError, UnsafeNameError
from actbench.base.text import clip, plural
from actbench.base.files import sha256_file, write_atomic
from actbench.base.settings import cache_dir, is_offline  # noqa: F401  (re-exported: earlier paths)
from actbench.sources.download import LOCK_TIMEOUT_S, locked
from actbench.table.validate import validate_table

__all__ = [
    "ChecksumError",
    "DownloadError",
    "Manifest",
    "ManifestEntry",
    "TableNotAvailableError",
    "UnsafeNameError",
    "cache_dir",
    "ensure_table",
    "is_offline",
    "load_manifest",
    "publish",
]


class ManifestEntry(BaseModel):
    """One published table."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    filename: str
    sha256: str
    size: int


class Manifest(BaseModel):
    """The published tables: where they are and what they must hash to."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    format: str = "actbench-manifest"
    version: int = 1
    repo_id: str
    revision: str | None = None
    files: dict[str, ManifestEntry] = {}
    note: str = ""


def load_manifest(path: str | os.PathLike | None = None) -> Manifest:
    """The manifest at ``path``, else ``$ACTBENCH_MANIFEST``, else the one shipped in the package."""
    path = settings.manifest_path(path)
    if path:
        text = path.read_text(encoding="utf-8")
    else:
        text = resources.files("actbench").joinpath("data/manifest.json").read_text(encoding="utf-8")
    from pydantic import ValidationError

    try:
        return Manifest.model_validate_json(text)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "the top level"
        raise ManifestError(f"the manifest {path or 'shipped with actbench'} is not valid: {first['msg']} at "
                            f"{clip(where)} ({plural(e.error_count(), 'problem')}); reinstall actbench, or fix the "
                            "file that ACTBENCH_MANIFEST names") from None


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def safe_name(value: object, what: str) -> str:
    """``value`` if it can be one path component inside the cache (letters, digits, ``.``, ``_``, ``-``; no
    ``..``, no separator), else :class:`UnsafeNameError`. Revisions, benchmark names and the file names of a
    manifest all pass through here before they become paths."""
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value) or ".." in value:
        raise UnsafeNameError(f"{what} {value!r} is not allowed: use a commit hash, a tag or a branch name made of "
                              f"letters, digits, '.', '_' and '-' (no '/', no '..')")
    return value


def inside(root: Path, path: Path) -> Path:
    """``path``, after checking that it resolves inside ``root`` (no user string may leave the cache)."""
    if not path.resolve().is_relative_to(root.resolve()):
        raise UnsafeNameError(f"{path} resolves outside the cache folder {root}; refusing to touch it")
    return path


def _how_to_get(bench: str) -> str:
    return (f"Get it with `actbench download {bench}` (needs the network), or convert the official release: "
            f"`actbench convert act-bench-{bench}.json --bench {bench}` (then open the .h5 file by path).")


def ensure_table(
    bench: str,
    *,
    revision: str | None = None,
    cache: str | os.PathLike | None = None,
    offline: bool | None = None,
    force: bool = False,
    progress: bool = True,
    manifest: Manifest | None = None,
    timeout: float = 60.0,
    min_rate: float | None = None,
    lock_timeout: float = LOCK_TIMEOUT_S,
) -> Path:
    """Path of the verified local copy of benchmark ``bench``'s table, downloading it if needed.

    ``timeout`` bounds one network read; ``min_rate`` (bytes/s, default ``$ACTBENCH_MIN_RATE`` or
    10,000) bounds a transfer that trickles (:mod:`actbench.sources.download`); ``lock_timeout`` is how long to
    wait for another process that fetches the same table into the same cache.

    Raises:
        UnsafeNameError: a revision, benchmark or manifest file name that could leave the cache folder.
        TableNotAvailableError: not published, or not cached while offline.
        DownloadError: the Hub could not be reached, or another process held the download's lock for
            ``lock_timeout`` seconds.
        ChecksumError: the file does not match the manifest (it has been deleted).
    """
    man = manifest or load_manifest()
    safe_name(bench, "benchmark name")
    entry = man.files.get(bench)
    if entry is None:
        raise TableNotAvailableError(
            f"the {bench!r} table is not published for this actbench release (the manifest of {man.repo_id} has "
            f"no entry for it), so `actbench download {bench}` cannot fetch it yet. Convert the official release "
            f"instead: `actbench convert act-bench-{bench}.json --bench {bench}`, then open the .h5 file by path.")
    rev = safe_name(revision or man.revision or "main", "revision")
    pinned = rev == (man.revision or "main")
    root = cache_dir(cache)
    dest = inside(root, root / bench / rev / safe_name(entry.filename, "file name in the manifest"))
    # checked, fetched and verified under the download's lock: a process that waited for another one fetching
    # the same table into the same cache finds it there, verified
    with locked(dest, timeout=lock_timeout, what=f"the {bench!r} table"):
        return _ensure(bench, man, entry, rev, dest, pinned=pinned, force=force, offline=offline,
                       progress=progress, timeout=timeout, min_rate=min_rate)


def _ensure(bench: str, man: Manifest, entry: ManifestEntry, rev: str, dest: Path, *, pinned: bool, force: bool,
            offline: bool | None, progress: bool, timeout: float, min_rate: float | None) -> Path:
    if dest.exists() and not force:
        if _verified(dest, entry, pinned=pinned):
            return dest
        dest.unlink()
        _marker(dest).unlink(missing_ok=True)
        if is_offline(offline):
            raise ChecksumError(f"the cached {bench!r} table at {dest} did not match its checksum and was deleted. "
                                + _how_to_get(bench))
    if is_offline(offline):
        raise TableNotAvailableError(f"the {bench!r} table is not in the cache ({dest}) and offline mode is on "
                                     "(ACTBENCH_OFFLINE / HF_HUB_OFFLINE). " + _how_to_get(bench))
    _download(bench, man, entry, rev, dest, progress=progress, timeout=timeout, min_rate=min_rate)
    if not _verified(dest, entry, pinned=pinned, fresh=True):
        got = sha256_file(dest)
        dest.unlink()
        raise ChecksumError(f"the downloaded {bench!r} table has sha256 {got}, the manifest expects {entry.sha256}; "
                            "the file was deleted. Run the download again; if this repeats, the Hub copy differs "
                            "from this actbench release (upgrade actbench).")
    return dest


def _download(bench: str, man: Manifest, entry: ManifestEntry, rev: str, dest: Path, *, progress: bool,
              timeout: float, min_rate: float | None) -> None:
    """GET the file from the Hub's resolve endpoint with actbench's downloader (resumable, rate-bounded)."""
    from huggingface_hub import hf_hub_url

    from actbench.sources.download import download

    url = hf_hub_url(man.repo_id, entry.filename, repo_type="dataset", revision=rev,
                     endpoint=settings.hub_endpoint())
    download(url, dest, progress=progress, timeout=timeout, rate=min_rate, hint=_how_to_get(bench), replace=True,
             max_bytes=entry.size, held=True)  # ensure_table holds the lock


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _verified(path: Path, entry: ManifestEntry, *, pinned: bool, fresh: bool = False) -> bool:
    """True when ``path`` matches the manifest. The full sha256 runs once; afterwards a marker file
    holding (size, mtime) vouches for it, so that opening a cached table stays fast."""
    st = path.stat()
    stamp = {"sha256": entry.sha256 if pinned else None, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    marker = _marker(path)
    if not fresh and marker.exists():
        try:
            if json.loads(marker.read_text()) == stamp:
                if not pinned:
                    _warn_unverified(path)
                return True
        except (OSError, ValueError):
            pass
    if not pinned:
        problems = validate_table(path, timeout=600.0)
        if problems:
            return False
        _warn_unverified(path)
        write_atomic(marker, json.dumps(stamp))
        return True
    if st.st_size != entry.size or sha256_file(path) != entry.sha256:
        return False
    write_atomic(marker, json.dumps(stamp))
    return True


def _warn_unverified(path: Path) -> None:
    warnings.warn(f"{path}: downloaded at a revision that is not the manifest's pinned one, so no checksum is known "
                  "for it; the file passed the format validator but is NOT verified (said on every open)",
                  stacklevel=4)


def publish(
    folder: str | os.PathLike, *, repo_id: str, dry_run: bool = False, token: str | None = None
) -> Manifest:
    """Maintainers: validate every ``*.h5`` table in ``folder``, write ``folder/manifest.json``, and
    (unless ``dry_run``) upload the folder to the Hub dataset repository ``repo_id``.

    The returned manifest pins the uploaded commit; copy it to ``actbench/data/manifest.json`` for
    the next release.

    Raises:
        FileNotFoundError: the folder holds no ``.h5`` file.
        ValueError: a table fails the validator (its problems are listed).
    """
    from actbench.table.reader import read_table

    folder = Path(folder)
    tables = sorted(folder.glob("*.h5"))
    if not tables:
        raise FileNotFoundError(f"no .h5 tables in {folder}")
    files = {}
    for path in tables:
        problems = validate_table(path)
        if problems:
            raise ValueError(f"{path} fails validation, not publishing:\n  - " + "\n  - ".join(problems))
        bench = read_table(path).info.benchmark
        files[bench] = ManifestEntry(filename=path.name, sha256=sha256_file(path), size=path.stat().st_size)
    man = Manifest(repo_id=repo_id, files=files)
    (folder / "manifest.json").write_text(man.model_dump_json(indent=2) + "\n")
    if dry_run:
        return man
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset",
                             commit_message=f"actbench tables: {', '.join(sorted(files))}")
    man = man.model_copy(update={"revision": info.oid})
    (folder / "manifest.json").write_text(man.model_dump_json(indent=2) + "\n")
    return man
