"""The shipped mini table: real results of our own generation/ code (not the paper's data)."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actbench import BASELINES, ActBench
from actbench.table import validate_table

MINI = Path(__file__).resolve().parents[1] / "actbench" / "data" / "mini.h5"


def test_default_table_is_the_shipped_mini():
    bench = ActBench()
    assert bench.name == "mini" and bench.path.name == "mini.h5"
    assert len(bench) == 2791  # every unique function of the Act-Bench schema
    assert bench.provenance.source == "generation" and bench.provenance.config["name"] == "digits"
    assert bench.seeds == [0, 1, 2] and bench.info.space == "act-bench"
    assert "not the paper's data" in bench.info.description
    assert [l.name for l in bench.fim_layers] == ["conv1", "conv2", "fc1", "fc2"]
    assert bench.features("fim").shape == (2791, 377)


def test_shipped_file_is_valid_and_small():
    assert MINI.stat().st_size <= 15 * 2**20
    assert validate_table(MINI) == []


def test_queries_answer_for_every_name_of_the_space():
    from actbench import get_space

    bench = ActBench("mini")
    space = get_space("act-bench")
    for name in space.names[::97]:
        assert bench.lookup(name) == space.canonical(name)
    for b in BASELINES:  # not names of the schema: answered by outputs
        assert bench.query(b).resolved_by == "outputs"


def test_works_offline_in_a_fresh_process(tmp_path):
    env = {**os.environ, "ACTBENCH_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "ACTBENCH_CACHE": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", "from actbench import ActBench; print(ActBench().query('relu(x)'))"],
                         capture_output=True, text=True, env=env, check=True, cwd=tmp_path).stdout
    assert "representative     sub(relu(x),zero(x))" in out and "benchmark          mini" in out


@pytest.mark.torch
def test_rows_regenerate_with_the_shipped_recipe():
    """Retrain three functions with the recipe stored in the table and compare.

    Tolerance: accuracies within 0.03 (9 of 297 validation images) and losses within 0.1 absolute.
    The table was made with torch 2.13.0 on one CPU thread per worker; the same torch on the same kind
    of CPU reproduces it exactly, but another torch version or CPU (different float kernels, summation
    order) changes rounding, which ten epochs of SGD amplify into a few different predictions.
    """
    torch = pytest.importorskip("torch")
    from generation.data import load_digits
    from generation.recipes import Recipe
    from generation.train import fim_for, train_run

    bench = ActBench("mini")
    recipe = Recipe.model_validate(bench.provenance.config)
    data = load_digits(**recipe.data_kwargs)
    df = bench.table()
    good = df["val_acc"].idxmax()
    mid = df["val_acc"].dropna().sort_values().index[len(df["val_acc"].dropna()) // 2]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name in (good, mid):
            for seed in recipe.seeds[:2]:
                run = train_run(recipe, name, data, seed=seed)
                rec = bench.query(name, seed=seed)
                assert run.diverged == rec.diverged
                if not run.diverged:
                    assert abs(run.val_acc - rec.val_acc) <= 0.03 and abs(run.test_acc - rec.test_acc) <= 0.03
                    assert abs(run.val_loss - rec.val_loss) <= 0.1
            cdf, _ = fim_for(recipe, name, data)
            row = bench.features("fim", rows=[bench._table.aliases[name]])[0]
            np.testing.assert_allclose(cdf, row, atol=0.02, equal_nan=True)
    finally:
        torch.set_num_threads(threads)
    assert not math.isnan(df.loc[good, "val_acc"])


def test_values_are_those_of_the_released_table():
    """The shipped table against the values actbench 0.3.0 shipped (tests/data/mini-0.3-values.json, 311
    rows): a regenerated mini must reproduce them bit for bit, runtimes aside."""
    import json
    import math
    from pathlib import Path

    doc = json.loads((Path(__file__).parent / "data" / "mini-0.3-values.json").read_text())
    b = ActBench("mini")
    assert b.seeds == doc["seeds"] and len(doc["rows"]) == 311
    t = b._table
    div = t.seed_diverged()
    per = {c: t.per_seed(c) for c in doc["columns"]}
    differ = []
    for r in doc["rows"]:
        row = t.row_of(r["name"])
        assert row is not None, f"{r['name']} is not a row of the shipped mini any more"
        if [bool(x) for x in div[row]] != r["diverged"]:
            differ.append(f"{r['name']}: diverged")
        for c in doc["columns"]:
            have = [None if math.isnan(v) else float(v) for v in per[c][row]]
            if have != r[c]:
                differ.append(f"{r['name']} {c}: {have} != {r[c]}")
    assert not differ, f"{len(differ)} values differ from the released table, e.g. {differ[:3]}"
