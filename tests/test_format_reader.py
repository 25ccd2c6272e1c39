"""A reader of the table format written from docs/format.md alone (h5py and numpy; the function language
only to evaluate a name that must be found by its outputs), held against ActBench on the shipped mini: every
row's final values, every run, and every row at every epoch. If the page and the library disagree, this
fails: the page is the specification a reader in another language implements from.
"""

from __future__ import annotations

import json
import math
from importlib import resources

import h5py
import numpy as np
import pytest

from actbench import ActBench, evaluate

MINI = resources.files("actbench") / "data" / "mini.h5"
METRICS = ("train_acc", "val_acc", "test_acc", "train_loss", "val_loss", "test_loss", "runtime_s")


def _text(v):
    return v.decode() if isinstance(v, bytes) else v


class DocReader:
    """Implements docs/format.md: names, keys, the aggregate rule, FIM flags, answers at an epoch."""

    def __init__(self, path) -> None:
        with h5py.File(path, "r") as f:
            assert _text(f.attrs["format"]) == "actbench-table"
            self.version = int(f.attrs["format_version"])
            self.info = json.loads(_text(f.attrs["info"]))
            self.names = list(f["names"].asstr()[...])
            self.alias = dict(zip(f["aliases/names"].asstr()[...], f["aliases/rows"][...].tolist()))
            self.metrics = {m: f[f"metrics/{m}"][...] for m in METRICS}
            self.flags = {m: f[f"flags/{m}"][...] for m in METRICS}
            self.h1, self.h2 = f["outputs/h1"][...], f["outputs/h2"][...]
            self.seeds = f["per_seed/seeds"][...].tolist()
            self.per_seed = {m: f[f"per_seed/{m}"][...] for m in METRICS}
            self.run_diverged = f["per_seed/diverged"][...]
            self.curves = {c: f[f"curves/{c}"][...] for c in ("train_loss", "train_acc", "val_loss", "val_acc",
                                                               "epoch_s")}
            self.fim_missing = f["fim/missing"][...]
            self.cdf = f["fim/cdf"][...]
            self.layout = list(zip(f["fim/layout/offset"][...].tolist(), f["fim/layout/n_bins"][...].tolist()))

    # --- names: as stored, canonical spelling, outputs ---------------------------------------------

    @staticmethod
    def keys(values: np.ndarray) -> tuple[int, int]:
        drop = 52 - (32 - 1)
        v = np.asarray(values, dtype=np.float64) + 0.0
        b = v.view(np.uint64).copy()
        b[np.isnan(v)] = np.uint64(0x7FF8000000000000)
        q = (b + np.uint64(1 << (drop - 1))) >> np.uint64(drop)
        rs = np.random.RandomState(20231210)
        w1 = rs.randint(0, 2**63 - 1, size=1000, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
        w2 = rs.randint(0, 2**63 - 1, size=1000, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
        return int((q * w1).sum(dtype=np.uint64)), int((q * w2).sum(dtype=np.uint64))

    def row(self, name: str) -> int | None:
        if name in self.alias:
            return self.alias[name]
        canonical = "".join(name.split())  # the names used here are spelled with registered operator names
        if canonical in self.alias:
            return self.alias[canonical]
        h1, h2 = self.keys(evaluate(canonical))
        rows = [i for i in np.flatnonzero(self.h1 == np.uint64(h1)) if self.h2[i] == np.uint64(h2)]
        return max(rows, key=lambda i: self.names[i]) if rows else None

    # --- the aggregate rule ------------------------------------------------------------------------

    @staticmethod
    def aggregate(values: np.ndarray, diverged: np.ndarray, column: str) -> float:
        acc = column.endswith("_acc")
        worst = -math.inf if acc else math.inf
        x = sorted(worst if (d or v != v) else v for v, d in zip(values, diverged))
        k = len(x)
        m = x[k // 2] if k % 2 else (x[k // 2 - 1] if acc else x[k // 2])
        return math.nan if math.isinf(m) else m

    def final(self, row: int) -> dict:
        out = {}
        for m in METRICS:
            if m == "runtime_s":
                out[m] = float(np.median(self.per_seed[m][row]))
            else:
                out[m] = self.aggregate(self.per_seed[m][row], self.run_diverged[row], m)
        return out

    # --- answers at an epoch ------------------------------------------------------------------------

    def run_seconds(self, row: int, j: int, k: int) -> float:
        """A run's cost up to epoch k + 1 (the cost rule of docs/tables.md, as docs/format.md states it)."""
        ep = self.curves["epoch_s"][row, j]
        trained = ~np.isnan(ep)
        cum = np.cumsum(np.where(trained, ep, 0.0))
        runtimes = self.per_seed["runtime_s"][row]
        runtime = runtimes[j] if np.isfinite(runtimes).any() else self.metrics["runtime_s"][row]
        if math.isfinite(runtime) and runtime >= 0:
            return runtime * cum[k] / cum[-1] if cum[-1] > 0 else float(runtime)
        return float(cum[k]) if trained.any() else math.nan

    def at_epoch(self, row: int, epoch: int) -> dict:
        k = epoch - 1
        if epoch == self.curves["val_acc"].shape[2]:  # the last epoch: the table's row
            out = {m: float(self.metrics[m][row]) for m in METRICS}
            out["diverged"] = any(self.flags[m][row] == 1 for m in METRICS)
            return out
        reached = ~np.isnan(self.curves["val_acc"][row, :, k])
        out = {c: self.aggregate(self.curves[c][row, :, k], ~reached, c)
               for c in ("train_acc", "val_acc", "train_loss", "val_loss")}
        secs = [s for j in range(len(self.seeds)) if not math.isnan(s := self.run_seconds(row, j, k))]
        out["runtime_s"] = float(np.median(secs)) if secs else math.nan
        for c in ("test_acc", "test_loss"):
            out[c] = math.nan
        out["diverged"] = math.isnan(out["train_acc"]) or math.isnan(out["val_acc"])
        return out


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b) or math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


@pytest.fixture(scope="module")
def doc():
    return DocReader(MINI)


@pytest.fixture(scope="module")
def bench():
    return ActBench("mini")


def test_names_resolve_as_the_page_says(doc, bench):
    assert doc.names == bench.names
    for name in ("swish(x)", "relu(x)", "min( square(x), selu(x) )", "add(zero(x),relu(x))", "erf(tanh(x))"):
        hit = bench.resolver.find(name)
        assert doc.row(name) == (None if hit is None else hit.row), name
    assert "swish(x)" not in doc.alias and doc.row("swish(x)") is not None  # found by its outputs
    for i, name in enumerate(doc.names):  # a row's own name always answers that row
        assert doc.alias[name] == i
    for i in range(0, len(doc.names), 97):  # the stored keys are the page's keys of the stored outputs
        assert doc.keys(evaluate(doc.names[i])) == (int(doc.h1[i]), int(doc.h2[i]))


def test_final_values_follow_the_aggregate_rule(doc, bench):
    for row, name in enumerate(doc.names):
        want = doc.final(row)
        rec = bench.query(name)
        for m in METRICS:
            assert _same(want[m], doc.metrics[m][row]), (name, m)  # the stored aggregate is the rule's
            assert _same(getattr(rec, m), float(doc.metrics[m][row])), (name, m)
            assert (doc.flags[m][row] == 1) == (m != "runtime_s" and math.isnan(want[m])), (name, m)
        assert rec.diverged == any(doc.flags[m][row] == 1 for m in METRICS)
        for j, seed in enumerate(doc.seeds):
            one = bench.query(name, seed=seed)
            assert one.diverged == bool(doc.run_diverged[row, j])
            assert all(_same(getattr(one, m), float(doc.per_seed[m][row, j])) for m in METRICS)
    assert not doc.flags["runtime_s"].any()


def test_the_pages_counts_of_the_mini(doc):
    finite_but_diverged = doc.run_diverged & np.isfinite(doc.per_seed["val_acc"]) & np.isfinite(doc.per_seed["test_acc"])
    assert int(finite_but_diverged.sum()) == 9
    naive = [DocReader.aggregate(doc.per_seed["val_acc"][r], np.zeros(3, bool), "val_acc") for r in range(len(doc.names))]
    assert sum(not _same(a, b) for a, b in zip(naive, doc.metrics["val_acc"])) == 8
    out = h5py.File(MINI, "r")["outputs/values"][...]
    assert (int(np.isnan(out).sum()), int(np.isnan(out).any(axis=1).sum())) == (151_730, 295)
    assert (int(np.isinf(out).sum()), int(np.isinf(out).any(axis=1).sum())) == (26_260, 89)


def test_answers_at_every_epoch_follow_the_page(doc, bench):
    n_epochs = doc.curves["val_acc"].shape[2]
    for row, name in enumerate(doc.names):
        for epoch in range(1, n_epochs + 1):
            want = doc.at_epoch(row, epoch)
            rec = bench.query(name, epoch=epoch)
            for m in METRICS:
                assert _same(getattr(rec, m), want[m]), (name, epoch, m, getattr(rec, m), want[m])
            assert rec.diverged == want["diverged"], (name, epoch)


def test_fim_flags_and_values_agree(doc):
    nan = np.isnan(doc.cdf)
    assert nan[doc.fim_missing].all()
    for offset, n_bins in doc.layout:
        block = nan[:, offset:offset + n_bins]
        assert (block.all(axis=1) | ~block.any(axis=1)).all()  # a layer is all NaN or all finite
    all_nan = nan.all(axis=1) & ~doc.fim_missing
    partly = nan.any(axis=1) & ~nan.all(axis=1)
    assert (int(all_nan.sum()), int(partly.sum())) == (632, 31)
