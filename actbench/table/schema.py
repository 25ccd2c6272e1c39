"""The table format's vocabulary: its name and version, its columns, flags, FIM layout and the shape of
every dataset (``docs/format.md`` describes the same for readers in other languages).

Nothing here opens a file: the writer, the reader and the checks all build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["CURVE_CACHE_BLOCKS", "CURVE_METRICS", "DIVERGED", "FIM_CONVENTIONS", "FLAG_NAMES", "FORMAT_NAME",
           "FORMAT_VERSION", "INTEGRITY", "METRICS", "MISSING", "OK", "FimConvention", "FimLayer", "fim_layout"]

FORMAT_NAME = "actbench-table"
#: The newest format version this actbench reads and writes. Version 2 is version 1 plus the optional
#: ``curves/`` group (learning curves); a table without curves is written as version 1, so that older
#: readers open it, and one with curves as version 2, which older readers refuse naming the upgrade.
FORMAT_VERSION = 2
#: Per-epoch columns of the optional ``curves/`` group, each (n_rows, n_seeds, n_epochs) float64.
CURVE_METRICS: tuple[str, ...] = ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_s")
#: Blocks of curve rows :meth:`Table.curve_row` keeps decompressed (a block is a chunk: 64 rows, 77 KB for
#: 3 seeds x 10 epochs x 5 columns).
CURVE_CACHE_BLOCKS = 256

#: The metric columns, the same names in HDF5, DataFrames and records.
METRICS: tuple[str, ...] = ("train_acc", "val_acc", "test_acc", "train_loss", "val_loss", "test_loss", "runtime_s")
#: The K-FAC normalisations a table's FIM features can be in (root attribute ``fim_convention``):
#: ``"reference"`` is the official release's scale, ``"kfac"`` the textbook one (docs/generation.md).
FIM_CONVENTIONS: tuple[str, ...] = ("reference", "kfac")
FimConvention = Literal["reference", "kfac"]
_SOURCES = ("official-json", "generation", "test-fixture")
# the TableInfo fields a query record carries, with TableInfo's defaults (a test holds them equal)
_RECORD_INFO_DEFAULTS = {"benchmark": None, "aggregation": "single run", "train_split": "training set",
                         "val_split": "validation split", "test_split": "test set", "val_is_test": False}
#: Per-value flags in ``flags/<metric>``.
OK, DIVERGED, MISSING = 0, 1, 2
FLAG_NAMES = {OK: "ok", DIVERGED: "diverged", MISSING: "missing"}


@dataclass(frozen=True)
class FimLayer:
    """One layer's slice of the concatenated FIM CDF: ``cdf[:, offset:offset + n_bins]``."""

    name: str
    n_weights: int
    offset: int
    n_bins: int


def fim_layout(layers: Sequence[tuple[str, int]]) -> list[FimLayer]:
    """Layout of the concatenated per-layer CDFs for ``(name, n_weights)`` pairs (docs/format.md):
    each layer has ``n_weights // 100 - 1`` bins (edges ``np.linspace(-100, 100, n_weights // 100)``)."""
    out, offset = [], 0
    for name, n_weights in layers:
        n_bins = max(n_weights // 100 - 1, 0)
        out.append(FimLayer(name, int(n_weights), offset, n_bins))
        offset += n_bins
    return out


# Integrity (docs/format.md): files are written with HDF5 1.10's checksummed metadata (superblock, object
# headers, chunk indexes), every dataset carries HDF5's fletcher32 filter, and all text is stored as
# fixed-length UTF-8 (inside checksummed chunks or object headers), so no byte of a table lies outside a
# checksum that the library verifies on read. Variable-length strings would live in the global heap,
# which HDF5 neither checksums nor parses robustly.
INTEGRITY = "fletcher32"
_LIBVER = ("v110", "latest")

# datasets read whole at open (their declared sizes are checked against the bytes actually stored)
_EAGER = ("names", "aliases/names", "aliases/rows", "outputs/h1", "outputs/h2", "per_seed/seeds",
          "fim/layout/names", "fim/layout/n_weights", "fim/layout/offset", "fim/layout/n_bins",
          *(f"metrics/{c}" for c in METRICS), *(f"flags/{c}" for c in METRICS))
_MAX_OBJECTS = 256  # a table has about 40; more means this is not one
_MAX_FIM = 1 << 24

_MAX_EPOCHS = 10_000  # an epoch count a file may declare (more is not a training recipe)

# (dtype kinds, ndim) of each dataset: "S" text, "i" integer, "f" float, "b" boolean
_SCHEMA = {"names": ("S", 1), "aliases/names": ("S", 1), "aliases/rows": ("i", 1), "outputs/points": ("f", 1),
           "outputs/values": ("f", 2), "outputs/h1": ("i", 1), "outputs/h2": ("i", 1), "fim/missing": ("b", 1),
           "fim/cdf": ("f", 2), "fim/layout/names": ("S", 1), "fim/layout/n_weights": ("i", 1),
           "fim/layout/offset": ("i", 1), "fim/layout/n_bins": ("i", 1), "per_seed/seeds": ("i", 1),
           "per_seed/diverged": ("b", 2), **{f"metrics/{c}": ("f", 1) for c in METRICS},
           **{f"flags/{c}": ("i", 1) for c in METRICS}, **{f"per_seed/{c}": ("f", 2) for c in METRICS},
           **{f"curves/{c}": ("f", 3) for c in CURVE_METRICS}}
_KINDS = {"S": "text", "i": "integers", "f": "floats", "b": "booleans"}
