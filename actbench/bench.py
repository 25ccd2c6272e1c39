"""Query a benchmark table: ``ActBench("resnet").query("swish(x)")``.

A runnable manual, on a small synthetic table that this example writes itself (the real tables
come from ``actbench download`` or ``actbench convert``; see ``docs/tables.md``):

>>> import pathlib, tempfile
>>> from actbench import ActBench
>>> from actbench.table import TableWriter, TableInfo, Provenance
>>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.h5"
>>> info = TableInfo(benchmark="demo", space="act-bench", n_seeds=1)
>>> prov = Provenance.now(source="test-fixture", description="synthetic values for this manual")
>>> with TableWriter(path, info=info, provenance=prov) as w:
...     _ = w.add("add(relu(x),zero(x))", {"val_acc": 0.91, "test_acc": 0.90, "runtime_s": 60.0},
...               equivalents=["add(zero(x),relu(x))"])
...     _ = w.add("mul(tanh(x),sigmoid(x))", {"val_acc": 0.85, "test_acc": 0.84, "runtime_s": 55.0})

Open a table by benchmark name (``"cnn"``, ``"resnet"``, ``"vit"``: cached or downloaded) or by path:

>>> bench = ActBench(path)
>>> len(bench), "add(zero(x), relu(x))" in bench
(2, True)

``query`` accepts any spelling, any name the table lists as equivalent, and any function with the
same outputs on the sample points; the record says which row answered and how:

>>> r = bench.query("relu(x)")
>>> r.representative, r.resolved_by, r.val_acc
('add(relu(x),zero(x))', 'outputs', 0.91)

Queries are what a search algorithm pays for: each distinct row is charged once, with its runtime
as simulated training time. Analysis calls (``table``, ``metric``, ``features``, ``best``) are free
and are not for search algorithms:

>>> _ = bench.query("add(zero(x),relu(x))")          # same row: not charged again
>>> bench.budget.evaluations, bench.budget.seconds
(1, 60.0)
>>> bench.budget.reset()
>>> bench.best(1)["val_acc"].tolist()
[0.91]
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from actbench._version import __version__
from actbench.base.text import did_you_mean, plural
from actbench.query.budget import Budget
from actbench.query.answers import Answers
from actbench.query.record import RECORD_FIELDS, Record, record_model
from actbench.query.resolver import Resolver
from actbench.sources.locate import locate
from actbench.sources.registry import BENCHMARKS, DEFAULT_BENCHMARK, BenchmarkSpec
from actbench.table.reader import Table, read_table
from actbench.table.schema import CURVE_METRICS, METRICS, FimLayer

if TYPE_CHECKING:
    from actbench.lang.expr import Expr
    from actbench.table.provenance import TableInfo

__all__ = ["BENCHMARKS", "DEFAULT_BENCHMARK", "RECORD_FIELDS", "ActBench", "BenchmarkSpec", "Budget", "Record",
           "record_model"]


class ActBench:
    """A benchmark table, opened by benchmark name or by path.

    A benchmark name resolves, in order, to the shipped table (``"mini"``), the converted official table
    in the cache, the Hub (when this release's manifest lists the table), or the authors' official
    release, downloaded (after its licence is accepted), converted into the cache once and opened from
    there afterwards, offline (``docs/tables.md``).

    Args:
        name_or_path: ``"mini"`` (the default: shipped with the package, works offline), ``"cnn"``,
            ``"resnet"``, ``"vit"``, the path of a table file (``.h5``), or a search study folder.
        revision: Hub revision (default: the one pinned in the package's manifest).
        cache_dir: where downloaded tables live (default ``$ACTBENCH_CACHE`` or ``~/.cache/actbench``).
        offline: never use the network (default: ``ACTBENCH_OFFLINE`` / ``HF_HUB_OFFLINE``).
        source: the official file to convert, a URL or a local path (default: ``$ACTBENCH_OFFICIAL_URL``
            or the authors' location); converted once into the cache.
        accept_license: accept the official release's licence for this machine (default: ask on a
            terminal, else refuse with instructions; ``ACTBENCH_ACCEPT_LICENSE=1`` accepts too).

    Raises:
        UnknownBenchmarkError: neither a registered benchmark nor an existing file.
        actbench.official.LicenseNotAcceptedError: the licence must be accepted first (the message says how).
        actbench.hub.TableNotAvailableError: offline and not cached; the message says how to get it.
        actbench.hub.DownloadError: the download failed (an interrupted one resumes on the next call).
        actbench.table.CorruptTableError, actbench.table.TableFormatError: the file is damaged or invalid.
    """

    def __init__(
        self,
        name_or_path: str | os.PathLike = DEFAULT_BENCHMARK,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        offline: bool | None = None,
        source: str | os.PathLike | None = None,
        accept_license: bool | None = None,
    ) -> None:
        self._table: Table = read_table(locate(name_or_path, revision=revision, cache_dir=cache_dir,
                                               offline=offline, source=source, accept_license=accept_license))
        self.name: str = self._table.info_fields["benchmark"]
        self.budget = Budget()
        #: Names to rows (free, never charged): what search strategies and samplers use to resolve names.
        self.resolver = Resolver(self._table)
        self._answers = Answers(self._table, benchmark=self.name)  # values and costs (the one cost rule)

    # --- what the table is -------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._table.path

    @property
    def info(self) -> TableInfo:
        return self._table.info

    @property
    def provenance(self):
        """Where the values came from (:class:`actbench.table.Provenance`)."""
        return self._table.provenance

    @property
    def seeds(self) -> list[int] | None:
        """Seeds with per-seed values, or None when the table holds only aggregates."""
        return self._table.seeds

    @property
    def fim_layers(self) -> list[FimLayer] | None:
        """Per-layer layout of the FIM feature, or None when unknown."""
        return self._table.fim_layers

    @property
    def fim_convention(self) -> str | None:
        """The K-FAC normalisation of the FIM features: ``"reference"`` (the official release's scale),
        ``"kfac"`` (textbook), or None when unknown. Features of different conventions must not be
        compared or embedded together."""
        return self._table.fim_convention

    @property
    def integrity(self) -> str | None:
        """``"fletcher32"`` when every byte of the file is under a checksum that HDF5 verifies as it reads
        (tables written by actbench 0.3.0 or later); None for older files, where damage can go unnoticed
        (``actbench upgrade FILE`` rewrites one with checksums)."""
        return self._table.integrity

    def close(self) -> None:
        """Close the table's file. Features are read from the file opened here, never from whatever is at
        the path later; after ``close()`` they can no longer be read. Closed on exit of a ``with`` block."""
        self._table.close()

    def __enter__(self) -> ActBench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._table.n_rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._table.names)

    def __contains__(self, name: object) -> bool:
        try:
            return self.resolver.find(name) is not None  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return False

    def __repr__(self) -> str:
        return f"<ActBench {self.name!r}: {plural(len(self), 'function')}, {self.info.description or self.path.name}>"

    # --- queries (charged) ---------------------------------------------------------------------

    def query(self, name: str | Expr, *, seed: int | None = None, epoch: int | None = None) -> Record:
        """The results of training with function ``name``; charged to :attr:`budget`.

        What it costs is ``record.cost_s``, by the one rule of :mod:`actbench.query.cost` (docs/tables.md):
        a run trained to an epoch costs its runtime times its share of training seconds by then (all it ran if
        it stopped earlier); the function, the median over its runs; an unknown cost, the table's median. The
        budget is charged that, once per function: the same function at a later epoch is charged only the
        difference, at an earlier epoch or again nothing.

        Args:
            name: any spelling of any function; equivalent names answer with the same row.
            seed: a seed of :attr:`seeds` for that run's values (and cost) instead of the aggregate.
            epoch: answer after this many epochs (1 .. :attr:`epochs`; an int, or a float with a whole value
                such as ``3.0``, as optimisers send fidelities) from the table's learning curves:
                training and validation loss and accuracy at that epoch (test values are NaN before
                the last epoch, not recorded per epoch; at the last they are the run's final test
                values), and ``runtime_s`` the seconds up to it. The last epoch costs what the whole run
                cost (evaluations included), however a search reaches it: ``epoch=epochs`` and no epoch are
                the same query.

        Raises:
            actbench.ParseError: the name is malformed.
            UnknownFunctionError: the table has no equivalent row; says whether the function is
                outside the benchmark's space or only missing from the table.
            ValueError: ``seed`` is not one of the table's seeds; ``epoch`` is out of range, or the table
                has no learning curves (:class:`actbench.errors.FidelityError`).
        """
        row, how = self.resolver.resolve(name)
        fields = self._answers.answer(row, seed, epoch)
        self.budget.charge(row, fields["cost_s"])
        # every value comes from the table's arrays or its checked attributes: constructed, not re-validated
        return Record._trusted(dict(name=str(name), representative=self._table.names[row], row=row, resolved_by=how,
                                    equivalents=self.resolver.equivalents(row), actbench_version=__version__,
                                    **fields))

    def cost(self, name: str | Expr, *, seed: int | None = None, epoch: int | None = None) -> float:
        """The simulated seconds that a first query of ``name`` (of ``seed``, at ``epoch``) costs, by the one
        cost rule (:mod:`actbench.query.cost`; ``query(...).cost_s``). Free: not charged.

        Raises:
            the errors of :meth:`query`."""
        return self._answers.cost(self.resolver.resolve(name).row, seed, epoch)

    @property
    def epochs(self) -> int | None:
        """Epochs of the table's learning curves (``query(..., epoch=k)`` answers for k in 1..epochs), or
        None when the table holds only final values."""
        return self._table.n_epochs or None

    # --- analysis (free; not for search algorithms) --------------------------------------------

    @property
    def data(self) -> Table:
        """The open :class:`actbench.table.Table` behind this benchmark: names, the alias index, metric
        columns and flags, per-seed values, curves and features as arrays. Free: not charged. Read it, do not
        modify it; it is closed with this object."""
        return self._table

    @property
    def names(self) -> list[str]:
        """Row names (class representatives), by row (a copy). Free: not charged."""
        return list(self._table.names)

    def lookup(self, name: str | Expr) -> str:
        """The representative (row name) that answers for ``name``. Free: not charged."""
        return self.resolver.lookup(name)

    def per_seed(self, column: str) -> np.ndarray:
        """(n_rows, n_seeds) float64 values of a metric for every run, in the order of :attr:`seeds` (NaN where a
        run has none). Free: not charged.

        Raises:
            KeyError: an unknown metric. ValueError: the table holds only aggregated values."""
        _check_metric(column, METRICS)
        return self._answers.per_seed()[column].copy()

    def seed_diverged(self) -> np.ndarray:
        """(n_rows, n_seeds) bool: whether each run diverged (some metric NaN). Free: not charged."""
        return self._answers.per_seed()["diverged"].copy()

    def curves(self, column: str, rows=None, *, aggregate: bool = False) -> np.ndarray:
        """(n_rows, n_seeds, n_epochs) float64 learning curve of a column (``train_loss``, ``train_acc``,
        ``val_loss``, ``val_acc``, ``epoch_s``), NaN after a run stopped; read from disk now. With ``aggregate``,
        (n_rows, n_epochs): over seeds as ``query(name, epoch=k)`` aggregates (a diverged run counts as the
        worst; NaN where the median run diverged; not for ``epoch_s``). Free: not charged.

        Raises:
            KeyError: an unknown column. ValueError: the table has no learning curves."""
        _check_metric(column, CURVE_METRICS, "curve column")
        if not self._table.n_epochs:
            raise ValueError(f"{self.name!r} has no learning curves: only the values at the end of training")
        sel = np.arange(len(self)) if rows is None else np.asarray(rows)
        if aggregate:
            if column == "epoch_s":
                raise ValueError("epoch_s has no aggregate over seeds: elapsed(aggregate=True) gives the seconds")
            return self._answers.views.gather(sel, "median", column).astype(np.float64)
        return self._table.curves(column, slice(None) if rows is None else sel)

    def metric(self, column: str) -> np.ndarray:
        """(n_rows,) values of one metric for every row, in row order. Free: not charged."""
        _check_metric(column, METRICS)
        return self._table.metrics[column].copy()

    def table(self, *, per_seed: bool = False, params: bool = False, equivalents: bool = False):
        """All rows as a pandas DataFrame (index: representative names): the aggregated metrics, ``diverged``
        and ``n_equivalents``; with ``per_seed=True`` each metric per seed (``val_acc_seed0`` ...) and
        ``diverged_seed0`` ...; with ``params=True`` the operator slots that name each row (``binary``,
        ``unary_1``, ``unary_2`` on Act-Bench: :mod:`actbench.query.slots`; the row index ``function`` on a
        space without slots); with ``equivalents=True`` the names the table lists as equivalent to each row
        (a tuple). Free: not charged.

        Raises:
            ValueError: ``per_seed=True`` on a table that holds only aggregated values."""
        from actbench.query.frames import summary_frame
        from actbench.query.slots import params_of

        t = self._table
        rows = t.aliases.rows
        each_seed = self._answers.per_seed() if per_seed else None
        cols = None
        if params:
            each = [params_of(self, r) for r in range(len(self))]
            cols = {p: [e[p] for e in each] for p in each[0]} if each else {}
        eq = [tuple(self.resolver.equivalents(r)) for r in range(len(self))] if equivalents else None
        return summary_frame(t.names, t.metrics, self._answers.row_diverged, np.bincount(rows, minlength=len(self)),
                             per_seed=each_seed, seeds=t.seeds if per_seed else None, params=cols, equivalents=eq)

    def elapsed(self, rows=None, *, aggregate: bool = False) -> np.ndarray:
        """(n_rows, n_seeds, n_epochs) simulated seconds from the start of each run to the end of each epoch,
        by the cost rule (:mod:`actbench.query.cost`): what a first ``query(name, seed=s, epoch=k)`` charges.
        After a run stopped (it diverged) it stays at what the run cost; where the table has no runtime for a
        run, the fallback that the query charges. With ``aggregate``, (n_rows, n_epochs): what
        ``query(name, epoch=k)`` charges (the median over runs). Free: not charged.

        Raises:
            ValueError: the table has no learning curves."""
        if not self._table.n_epochs:
            raise ValueError(f"{self.name!r} has no learning curves: only the values at the end of training")
        return self._answers.views.elapsed(np.arange(len(self)) if rows is None else np.asarray(rows),
                                           aggregate=aggregate)

    def curves_frame(self, columns=None, rows=None):
        """The learning curves as a long pandas DataFrame: ``function``, ``row``, ``seed``, ``epoch``, one
        column per curve (default every curve column, and ``elapsed_s``: :meth:`elapsed`) and ``diverged``
        (the run had stopped by that epoch: it diverged, and its values there are NaN), one row per function,
        seed and epoch. Free: not charged.

        To aggregate over seeds as the table does, count a diverged run as the worst value (the median of
        NaN-skipped values is not the table's): ``query(name, epoch=k)`` or ``best(epoch=k)`` do.

        Raises:
            KeyError: an unknown column. ValueError: the table has no learning curves."""
        from actbench.query.frames import curves_frame

        sel = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        columns = [*CURVE_METRICS, "elapsed_s"] if columns is None else list(columns)
        data = {c: (self.elapsed(sel) if c == "elapsed_s" else self.curves(c, sel)) for c in columns}
        data["diverged"] = ~self._answers.views.gather(sel, "reached")
        return curves_frame(self._table.names, sel, self._table.seeds or [0], data)

    def best(self, k: int = 10, *, metric: str = "val_acc", epoch: int | None = None):
        """The ``k`` best rows by ``metric`` (highest accuracy; lowest loss or runtime), as a
        DataFrame. NaN sorts last. Free: not charged.

        With ``epoch`` (tables with learning curves), ranked by the values at that epoch, aggregated over
        seeds as :meth:`query` at that epoch aggregates them (a diverged run counts as the worst; test values
        exist only at the last epoch): columns are the metrics, ``diverged`` and ``cost_s``.

        Raises:
            KeyError: an unknown metric. ValueError: ``epoch`` outside 1..epochs, or no learning curves."""
        _check_metric(metric, METRICS)
        df = self.table() if epoch is None else self._epoch_frame(epoch)
        ascending = not metric.endswith("_acc")
        return df.sort_values(metric, ascending=ascending, na_position="last", kind="stable").head(k)

    def _epoch_frame(self, epoch):
        from actbench.query.frames import epoch_frame

        return epoch_frame(self._table.names, *self._answers.at_epoch(epoch))

    def features(self, kind: Literal["fim", "outputs"], rows=None) -> np.ndarray:
        """(n_rows, d) float32 features read from disk now: ``"fim"`` (the concatenated per-layer
        FIM CDFs: NaN rows where missing, and NaN in a layer's bins where that layer's Fisher
        log-eigenvalues had no finite value; docs/format.md) or ``"outputs"`` (values on the 1000 sample
        points). Free: not charged."""
        sel = slice(None) if rows is None else np.asarray(rows)
        if kind == "fim":
            return self._table.fim(sel)
        if kind == "outputs":
            return self._table.outputs(sel)
        raise ValueError(f"features kind must be 'fim' or 'outputs', got {kind!r}")


def _check_metric(column: str, known: tuple[str, ...], what: str = "metric") -> None:
    if column not in known:
        raise KeyError(f"unknown {what} {column!r}{did_you_mean(column, known)}; {what}s: {', '.join(known)}")
