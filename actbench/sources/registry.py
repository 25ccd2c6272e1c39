"""The benchmarks served by name: what each measured, where its official release lives, its FIM layout.

The lowest module of the sources that knows the benchmarks: ``convert``, ``hub``, ``official``, ``locate``
and ``ActBench`` all read it; it imports nothing of theirs.

* ``BENCHMARKS``: name -> :class:`BenchmarkSpec`, a plain dict filled here once.
* The FIM layouts (``actbench/data/fim_layouts.json``) are derived from ``generation.models`` by
  ``python -m generation.layouts``; a test checks that they still equal the models.
* The official files' checksums (``actbench/data/official_pins.json``) are empty until a maintainer
  has seen the real files and pinned them (``actbench pin``); a download is then verified.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from pathlib import Path

from actbench.base import settings
from actbench.table.schema import FimLayer, fim_layout

if TYPE_CHECKING:
    from actbench.table.provenance import TableInfo

__all__ = ["BENCHMARKS", "DEFAULT_BENCHMARK", "LICENCE", "OFFICIAL_BASE_URL", "BenchmarkSpec", "official_pin",
           "official_table_path", "pins_path"]

#: Where the authors publish the release (their repository's download-datasets.sh). Never re-hosted.
OFFICIAL_BASE_URL = "https://act-bench.s3.us-west-2.amazonaws.com/"

#: The licence of the official release, shown before the first download.
LICENCE = {
    "name": "Academic Public License (Act-Bench Datasets)",
    "restriction": "non-commercial use only: teaching and research at academic and non-profit institutions and "
                   "personal non-profit use; commercial use requires a commercial licence from Cognizant "
                   "Technology Solutions Corp",
    "url": "https://github.com/cognizant-ai-labs/act-bench/blob/main/LICENSE.txt",
}


@dataclass(frozen=True)
class BenchmarkSpec:
    """A benchmark served by name: what it measured and how its official file is named.

    Attributes:
        name: the short name (``ActBench(name)``).
        title: the paper's name for it.
        info_fields: what its table measures, the fields of :class:`TableInfo` (see :attr:`info`).
        json_name: the official release's file name, or None for a benchmark without one.
        shipped: file name under ``actbench/data/`` for a table that ships with the package.
        paper_rows: the number of functions the paper's release holds, when known.
    """

    name: str
    title: str
    info_fields: dict
    json_name: str | None = None
    shipped: str | None = None
    paper_rows: int | None = None

    @property
    def info(self) -> TableInfo:
        """What its table measures (written into converted tables). Built on use, not at import: a query
        never needs it, and pydantic's validators cost more than the query."""
        from actbench.table.provenance import TableInfo

        return TableInfo(**self.info_fields)

    @property
    def url(self) -> str | None:
        """The official file's URL: ``$ACTBENCH_OFFICIAL_URL`` (a mirror's base URL or a local folder) or
        the authors' location, plus the file name."""
        if self.json_name is None:
            return None
        base = settings.official_base_url(OFFICIAL_BASE_URL)
        if "://" not in base:  # a local folder
            return str(Path(base).expanduser() / self.json_name)
        return base.rstrip("/") + "/" + self.json_name

    def layout(self) -> list[FimLayer] | None:
        """The per-layer FIM layout of this benchmark's network, or None when unknown."""
        layers = _layouts().get(self.name)
        return fim_layout([(n, w) for n, w in layers]) if layers else None

    @property
    def fim_layers(self) -> tuple[tuple[str, int], ...] | None:
        layers = _layouts().get(self.name)
        return tuple((n, int(w)) for n, w in layers) if layers else None


@functools.cache
def _layouts() -> dict[str, list]:
    from importlib import resources

    text = resources.files("actbench").joinpath("data/fim_layouts.json").read_text(encoding="utf-8")
    return json.loads(text)["layouts"]


def pins_path() -> Path:
    """The pinned checksums of the official files: ``$ACTBENCH_OFFICIAL_PINS``, else the package's file."""
    return settings.pins_path()


def official_table_path(spec: BenchmarkSpec, cache: str | os.PathLike | None = None) -> Path:
    """Where the converted official table of ``spec`` lives in the cache (whether or not it is there yet):
    ``<cache>/official/<official file's stem>.h5``."""
    return settings.cache_dir(cache) / "official" / f"{Path(spec.json_name).stem}.h5"


def official_pin(bench: str) -> dict | None:
    """``{"sha256", "size", ...}`` pinned for ``bench``'s official file, or None (not pinned yet)."""
    path = pins_path()
    if not path.exists():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    return doc.get("files", {}).get(bench)


_CIFAR10 = dict(train_split="CIFAR-10 training data (as released)",
                val_split="validation split of the official release",
                test_split="CIFAR-10 test set")

#: The paper's three benchmarks and the shipped tables: the mini benchmark and the large-space searches' functions.
BENCHMARKS: dict[str, BenchmarkSpec] = {}


def _register(spec: BenchmarkSpec) -> None:
    if spec.name in BENCHMARKS:
        raise ValueError(f"benchmark {spec.name!r} is already registered")
    BENCHMARKS[spec.name] = spec


_register(BenchmarkSpec(
    "cnn", "Act-Bench-CNN",
    dict(benchmark="cnn", space="act-bench", description="All-CNN-C on CIFAR-10", n_seeds=3,
              aggregation="median of 3 runs", **_CIFAR10),
    "act-bench-cnn.json", paper_rows=2913))
_register(BenchmarkSpec(
    "resnet", "Act-Bench-ResNet",
    dict(benchmark="resnet", space="act-bench", description="ResNet-56 on CIFAR-10", n_seeds=3,
              aggregation="median of 3 runs", **_CIFAR10),
    "act-bench-resnet.json", paper_rows=2913))
_register(BenchmarkSpec(
    "vit", "Act-Bench-ViT",
    dict(benchmark="vit", space="act-bench", description="MobileViTv2-0.5 on Imagenette (160 px)",
              n_seeds=1, aggregation="single run", train_split="Imagenette training set",
              val_split="Imagenette validation set",
              test_split="Imagenette validation set (the same split as validation: the release has no "
                         "separate test set)",
              val_is_test=True),
    "act-bench-vit.json", paper_rows=2913))
_register(BenchmarkSpec(
    "mini", "actbench mini (digits)",
    dict(benchmark="mini", space="act-bench",
              description="small CNN on scikit-learn's 8x8 digits, generated on CPU by actbench's generation/ "
                          "(our own runs, not the paper's data)",
              n_seeds=3, aggregation="median of 3 runs (diverged runs count as worst)"),
    shipped="mini.h5"))

_register(BenchmarkSpec(
    "digits-large", "actbench digits, large-space searches",
    dict(benchmark="digits-large", space="large",
              description="small CNN on scikit-learn's 8x8 digits (the mini benchmark's recipe): every function "
                          "trained by the large-space searches of docs/study.md, generated on CPU by actbench's "
                          "generation/ (our own runs, not the paper's data)",
              n_seeds=3, aggregation="median of 3 runs (diverged runs count as worst)"),
    shipped="digits-large.h5"))

#: The benchmark ``ActBench()`` opens when no name is given: the one that ships with the package.
DEFAULT_BENCHMARK = "mini"
