"""The HDF5 table format: one benchmark per file, one row per equivalence class of activation functions.

The layout is specified in ``docs/format.md`` so that a table can be read with plain h5py; this package is
the one place that writes and reads it, split by job:

* :mod:`~actbench.table.schema`: the vocabulary (columns, flags, versions, FIM layout, dataset shapes);
* :mod:`~actbench.table.writer`: :class:`TableWriter`, atomic, row by row;
* :mod:`~actbench.table.reader`: :func:`read_table` and :class:`Table`, checked at open;
* :mod:`~actbench.table.checks`: the structural and deep checks;
* :mod:`~actbench.table.validate`: :func:`validate_table` and :func:`upgrade_table`;
* :mod:`~actbench.table.provenance`: the metadata models (what a table measures, where it came from);
* :mod:`~actbench.table.results`: tables from training results (aggregation over seeds).

Everything public is importable from ``actbench.table`` itself, as before the split.
"""

from actbench.base.errors import CorruptTableError, TableFormatError
from actbench.base.files import sha256_file
from actbench.table.reader import Table, fim_convention_of, read_table
from actbench.table.schema import (CURVE_CACHE_BLOCKS, CURVE_METRICS, DIVERGED, FIM_CONVENTIONS, FLAG_NAMES,
                                   FORMAT_NAME, FORMAT_VERSION, INTEGRITY, METRICS, MISSING, OK, FimConvention,
                                   FimLayer, fim_layout)
from actbench.table.validate import VALIDATE_TIMEOUT_S, upgrade_table, validate_table
from actbench.table.writer import TableWriter

__all__ = [
    "CURVE_CACHE_BLOCKS",
    "CURVE_METRICS",
    "DIVERGED",
    "FIM_CONVENTIONS",
    "FLAG_NAMES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "INTEGRITY",
    "METRICS",
    "MISSING",
    "OK",
    "CorruptTableError",
    "FimConvention",
    "FimLayer",
    "Provenance",
    "SourceFile",
    "Table",
    "TableFormatError",
    "TableInfo",
    "TableWriter",
    "fim_convention_of",
    "fim_layout",
    "read_table",
    "sha256_file",
    "upgrade_table",
    "validate_table",
]


def __getattr__(name: str):
    # the metadata models are built on first use: opening and querying a table never imports pydantic
    if name in ("Provenance", "SourceFile", "TableInfo"):
        from actbench.table import provenance

        return getattr(provenance, name)
    raise AttributeError(f"module 'actbench.table' has no attribute {name!r}")
