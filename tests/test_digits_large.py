"""The shipped digits-large table: every function the large-space searches of docs/study.md trained (real
results of our own generation/ code on CPU, not the paper's data)."""

from importlib import resources
from pathlib import Path

from actbench import ActBench
from actbench.lang.ops import BASELINES
from actbench.table import validate_table

PATH = Path(str(resources.files("actbench").joinpath("data", "digits-large.h5")))


def test_shipped_by_name_valid_and_small():
    bench = ActBench("digits-large")
    assert bench.path == PATH and PATH.stat().st_size <= 8 * 2**20
    assert validate_table(PATH) == []
    assert bench.info.space == "large" and bench.seeds == [0, 1, 2]
    assert bench.provenance.source == "generation" and bench.provenance.config["name"] == "digits"
    assert "not the paper's data" in bench.info.description
    assert 500 <= len(bench) <= 1000


def test_answers_by_any_name_of_the_large_space_and_holds_the_baselines():
    bench = ActBench("digits-large")
    for b in BASELINES:  # every knr study trains the 8 baselines first
        assert 0 <= bench.query(b).val_acc <= 1
    best = bench.best(1)
    name = best.index[0]
    assert bench.query(name).val_acc == best.val_acc.iloc[0]
    assert bench.query(f"add({name},zero(x))").row == bench.query(name).row  # an equivalent spelling
