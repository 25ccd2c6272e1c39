"""From a name or a path to a table file: the one chain that ``ActBench(...)`` and the ``actbench`` command
line both follow.

* ``"mini"`` (a shipped benchmark): the file inside the package.
* ``"cnn"``, ``"resnet"``, ``"vit"``: the converted official table in the cache, then the Hub (when this
  release's manifest publishes the table), then the authors' official release (downloaded after its licence
  is accepted, converted once into the cache).
* a folder with ``study.json``: the table of a search study, brought up to date with its storage.
* anything else: a table file's path.
"""

from __future__ import annotations

import os
from pathlib import Path

from actbench.base.errors import TableNotAvailableError, UnknownBenchmarkError
from actbench.base.text import did_you_mean
from actbench.sources.registry import BENCHMARKS, BenchmarkSpec, official_table_path

__all__ = ["fetch", "locate"]


def locate(name_or_path: str | os.PathLike, *, revision: str | None = None,
           cache_dir: str | os.PathLike | None = None, offline: bool | None = None,
           source: str | os.PathLike | None = None, accept_license: bool | None = None) -> Path:
    """The table file that a benchmark name, a table path or a study folder stands for, fetched first when
    needed (the arguments are :class:`actbench.ActBench`'s).

    Raises:
        UnknownBenchmarkError: neither a benchmark nor an existing file.
        FileNotFoundError: no table at that path.
        TableNotAvailableError: offline and not cached (and the other errors of :func:`fetch`).
    """
    text = os.fspath(name_or_path)
    spec = BENCHMARKS.get(text)
    if spec is not None and spec.shipped:
        from importlib import resources

        path = Path(str(resources.files("actbench").joinpath("data", spec.shipped)))
        if not path.exists():
            raise TableNotAvailableError(
                f"the shipped {text!r} table is missing from this installation ({path}); reinstall actbench, or "
                f"rebuild it with generation/ (docs/mini.md)")
        return path
    if spec is not None:
        return _locate_benchmark(spec, revision=revision, cache_dir=cache_dir, offline=offline, source=source,
                                  accept_license=accept_license)
    if source is not None:
        raise ValueError(f"source= converts an official release, but {text!r} is not a benchmark with one; "
                         f"benchmarks: {', '.join(b for b, s in BENCHMARKS.items() if s.json_name)}")
    path = Path(text).expanduser()
    if path.is_dir() and (path / "study.json").exists():  # a search study (generation.study): its table
        from actbench.sources.study import study_table  # Optuna: imported for study folders only

        return study_table(path)  # brought up to date with the study's storage first
    if path.is_dir():
        raise FileNotFoundError(f"{path} is a folder, not a table file (nor a study folder with study.json)")
    if path.exists() or path.suffix in (".h5", ".hdf5") or os.sep in text:
        if not path.exists():
            raise FileNotFoundError(f"no table at {path}")
        return path
    raise UnknownBenchmarkError(
        f"unknown benchmark {text!r}{did_you_mean(text, BENCHMARKS)}; benchmarks: {', '.join(BENCHMARKS)} "
        "(or give the path of a table file)")


def _locate_benchmark(spec: BenchmarkSpec, *, revision, cache_dir, offline, source, accept_license) -> Path:
    return fetch(spec.name, revision=revision, cache_dir=cache_dir, offline=offline, source=source,
                 accept_license=accept_license)


def fetch(bench: str, *, revision: str | None = None, cache_dir: str | os.PathLike | None = None,
          offline: bool | None = None, source: str | os.PathLike | None = None, accept_license: bool | None = None,
          force: bool = False, keep_json: bool = False, progress: bool = True) -> Path:
    """The cached table of a benchmark served by download (``cnn``, ``resnet``, ``vit``), fetched when it is
    not cached (or when ``force``): the converted official table in the cache, then the Hub (when this
    release's manifest publishes the table), then the authors' official release (download, convert, cache).
    The first step reads only the file system: a cached table is found without importing the network code.
    ``actbench download`` runs this.

    Raises:
        UnknownBenchmarkError: not a benchmark served by download.
        TableNotAvailableError: ``revision`` for a table the Hub does not publish, or offline and not cached.
        and what the Hub and official routes raise (:func:`actbench.sources.hub.ensure_table`,
        :func:`actbench.sources.official.ensure_official`).
    """
    spec = BENCHMARKS.get(bench)
    if spec is None or spec.shipped:
        served = [b for b, s in BENCHMARKS.items() if not s.shipped]
        raise UnknownBenchmarkError(f"{bench!r} is not a benchmark served by download"
                                    f"{did_you_mean(bench, served) if spec is None else ' (it ships with actbench)'}"
                                    f"; those are: {', '.join(served)}")
    if source is None and revision is None and not force:
        cached = official_table_path(spec, cache_dir)
        if cached.exists():
            return cached
    from actbench.sources import hub, official

    if source is None and spec.name in hub.load_manifest().files:
        return hub.ensure_table(spec.name, revision=revision, cache=cache_dir, offline=offline, force=force,
                                progress=progress)
    if revision is not None:
        raise TableNotAvailableError(
            f"revision={revision!r} selects a Hub revision, but the {spec.name!r} table is not published on the Hub "
            f"for this actbench release; leave revision out to use the official release")
    return official.ensure_official(spec.name, source=source, cache=cache_dir, offline=offline,
                                    accept_license=accept_license, keep_json=keep_json, force=force,
                                    progress=progress)
