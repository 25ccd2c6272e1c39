"""actbench.compare and `actbench compare` on SYNTHETIC tables written by the test with known differences."""

from __future__ import annotations

import json

import numpy as np
import pytest

from actbench import ActBench, get_space
from actbench.cli import main
from actbench.compare import agreement
from actbench.provenance import Provenance, TableInfo
from actbench.table import TableWriter

NAMES = get_space("act-bench").representatives[:12]


def _table(path, values: dict[str, list[float]], seeds=(0, 1, 2)):
    """values: name -> per-seed val_acc (NaN: that run diverged); the aggregate is their median."""
    with TableWriter(path, info=TableInfo(benchmark="cmp", description="test fixture (synthetic)"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic"),
                     seeds=list(seeds)) as w:
        for name, per in values.items():
            div = [bool(np.isnan(v)) for v in per]
            agg = float(np.median([-np.inf if d else v for v, d in zip(per, div)]))
            w.add(name, {"val_acc": agg if np.isfinite(agg) else None},
                  per_seed={"val_acc": [None if d else v for v, d in zip(per, div)]}, seed_diverged=div)
    return ActBench(path)


def test_agreement_counts(tmp_path):
    base = {n: [0.5 + 0.03 * i, 0.5 + 0.03 * i + 0.01, 0.5 + 0.03 * i + 0.02] for i, n in enumerate(NAMES[:10])}
    other = {n: list(v) for n, v in base.items()}
    other[NAMES[0]][1] += 0.1  # one run differs by 0.1: the median moves from 0.51 to 0.52
    other[NAMES[1]][0] = np.nan  # the lowest run diverged in B only: counted as worst, the median stays
    other[NAMES[11]] = [0.9, 0.9, 0.9]  # a row B only has
    del other[NAMES[9]]  # a row A only has
    a, b = _table(tmp_path / "a.h5", base), _table(tmp_path / "b.h5", other)
    res = agreement(a, b)
    assert (res["rows"], res["a_only"], res["b_only"]) == (9, 1, 1)
    runs = res["runs"]
    assert runs.values == 27 and runs.finite == 26 and runs.diverged_b_only == 1 and runs.diverged_a_only == 0
    assert runs.identical == 25 and runs.max_abs == pytest.approx(0.1) and runs.median_abs == 0
    agg = res["aggregate"]
    assert agg.values == agg.finite == 9 and agg.identical == 8  # row 0 moved
    assert agg.max_abs == pytest.approx(0.01) and agg.spearman == pytest.approx(1.0)
    assert "8 of 9 identical (88.9%)" in str(agg) and "in B only 1 (of 27)" in str(runs)
    same = agreement(a, a)
    assert same["runs"].identical == same["runs"].finite == 30 and same["aggregate"].max_abs == 0


def test_agreement_without_common_seeds_and_errors(tmp_path):
    a = _table(tmp_path / "a.h5", {n: [0.5, 0.6] for n in NAMES[:3]}, seeds=(0, 1))
    b = _table(tmp_path / "b.h5", {n: [0.5, 0.6] for n in NAMES[:3]}, seeds=(5, 6))
    res = agreement(a, b)
    assert res["runs"] is None and res["aggregate"].identical == 3 and np.isnan(res["aggregate"].spearman)
    c = _table(tmp_path / "c.h5", {n: [0.5] for n in NAMES[5:7]}, seeds=(0,))
    with pytest.raises(ValueError, match="share no row: are they tables of the same space"):
        agreement(a, c)
    with pytest.raises(ValueError, match="unknown metric 'acc'; metrics are train_acc"):
        agreement(a, b, "acc")
    d = _table(tmp_path / "d.h5", {NAMES[0]: [np.nan]}, seeds=(0,))
    e = _table(tmp_path / "e.h5", {NAMES[0]: [0.4]}, seeds=(0,))
    assert "no pair has values in both tables (0 diverged in A only, 1 in B only)" in str(agreement(e, d)["runs"])


def test_cli(tmp_path, capsys):
    a = _table(tmp_path / "a.h5", {n: [0.5, 0.6, 0.7] for n in NAMES[:4]})
    b = _table(tmp_path / "b.h5", {n: [0.5, 0.6, 0.75] for n in NAMES[:4]})
    assert main(["compare", str(a.path), str(b.path)]) == 0
    out = capsys.readouterr().out
    assert "rows in both: 4 (A only 0, B only 0)" in out and "val_acc (runs, seeds 0, 1, 2): 8 of 12 identical" in out
    assert main(["compare", str(a.path), str(b.path), "--json", "--metric", "val_acc"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runs"]["identical"] == 8 and doc["aggregate"]["identical"] == 4
    assert main(["compare", str(a.path), str(b.path), "--metric", "nope"]) == 2
    assert "unknown metric 'nope'" in capsys.readouterr().err
