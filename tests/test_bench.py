import json
import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from actbench import ActBench, ParseError, Record, UnknownBenchmarkError, UnknownFunctionError
from actbench.bench import RECORD_FIELDS
from actbench.hub import TableNotAvailableError
from actbench.table import Provenance, TableInfo, TableWriter


@pytest.fixture()
def bench_path(tmp_path):
    """A SYNTHETIC 4-row table with per-seed values (test fixture, not the paper's data)."""
    path = tmp_path / "fixture.h5"
    info = TableInfo(benchmark="fixture", space="act-bench", n_seeds=2, aggregation="median of 2 runs")
    prov = Provenance.now(source="test-fixture", description="synthetic values written by tests")
    with TableWriter(path, info=info, provenance=prov, seeds=[7, 8]) as w:
        w.add("sub(relu(x),zero(x))", {"val_acc": 0.9, "test_acc": 0.88, "train_loss": 0.2, "runtime_s": 100.0},
              per_seed={"val_acc": [0.89, 0.91], "runtime_s": [99.0, 101.0]}, fim=np.full(6, 0.5),
              equivalents=["add(relu(x),zero(x))", "max(relu(x),zero(x))"])
        w.add("mul(tanh(x),sigmoid(x))", {"val_acc": 0.7, "test_acc": 0.69, "train_loss": 0.5, "runtime_s": 50.0},
              per_seed={"val_acc": [0.6, 0.8]}, fim=np.full(6, 0.25))
        w.add("pow(exp(x),exp(x))", {"val_acc": math.nan, "test_acc": math.nan, "train_loss": math.nan,
                                      "runtime_s": 10.0},
              per_seed={"val_acc": [math.nan, math.nan]}, seed_diverged=[True, True])
        w.add("add(swish(x),elu(x))", {"val_acc": 0.95, "test_acc": 0.93, "train_loss": 0.1},
              per_seed={"val_acc": [0.95, 0.95]}, fim=np.full(6, 0.75))
    return path


def test_query_by_name_equivalent_and_outputs(bench_path):
    b = ActBench(bench_path)
    r = b.query("sub(relu(x),zero(x))")
    assert (r.representative, r.resolved_by, r.row, r.val_acc) == ("sub(relu(x),zero(x))", "name", 0, 0.9)
    assert r.equivalents == ("add(relu(x),zero(x))", "max(relu(x),zero(x))", "sub(relu(x),zero(x))")
    assert b.query(" add( relu(x), zero(x) )").resolved_by == "equivalent"
    r = b.query("relu(x)")  # not named anywhere in the table: found by its outputs
    assert r.name == "relu(x)" and r.representative == "sub(relu(x),zero(x))" and r.resolved_by == "outputs"
    assert b.query("mul(sigmoid(x),tanh(x))").representative == "mul(tanh(x),sigmoid(x))"
    assert r.source == "test-fixture" and r.aggregation == "median of 2 runs" and r.seed is None
    assert b.lookup("max(zero(x),relu(x))") == "sub(relu(x),zero(x))"


def test_record_flags_and_shape(bench_path):
    b = ActBench(bench_path)
    r = b.query("pow(exp(x),exp(x))")
    assert r.diverged and math.isnan(r.val_acc) and "val_loss" in r.missing
    r = b.query("add(swish(x),elu(x))")
    assert not r.diverged and math.isnan(r.runtime_s) and "runtime_s" in r.missing
    with pytest.raises(AttributeError, match="immutable"):
        r.val_acc = 1.0  # frozen
    with pytest.raises(AttributeError):
        del r.val_acc
    with pytest.raises(ValidationError):
        Record(**{**r.model_dump(), "surprise": 1})  # extra="forbid", through the pydantic schema
    with pytest.raises(ValidationError):
        Record(**{**r.model_dump(), "resolved_by": "guess"})
    with pytest.raises(ValidationError):
        Record.model_validate({k: v for k, v in r.model_dump().items() if k != "row"})
    assert '"runtime_s":null' in r.model_dump_json()  # standard JSON: NaN is written as null
    back = Record.model_validate_json(r.model_dump_json())
    assert back.representative == r.representative and math.isnan(back.runtime_s)
    assert back == r and hash(back) == hash(r) and Record(**r.model_dump()) == r
    assert Record.model_validate(r) is r and Record.model_validate(r.model_dump()) == r
    assert json.loads(r.model_dump_json(indent=2)) == json.loads(r.model_dump_json())
    changed = r.model_copy(update={"val_acc": 0.5})
    assert changed.val_acc == 0.5 and changed != r and r.model_copy() == r
    with pytest.raises(ValidationError):
        r.model_copy(update={"row": "first"})
    assert set(Record.model_json_schema()["properties"]) == set(RECORD_FIELDS) == set(r.model_dump())
    assert repr(r).startswith("Record(name='add(swish(x),elu(x))', representative=")


def test_a_query_never_imports_pydantic(bench_path):
    """Records a query builds skip pydantic (its import alone costs more than opening a full-size table)."""
    import subprocess
    import sys

    code = ("import sys; from actbench import ActBench; r = ActBench(sys.argv[1]).query('relu(x)'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))")
    out = subprocess.run([sys.executable, "-c", code, str(bench_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_seeds(bench_path):
    b = ActBench(bench_path)
    assert b.seeds == [7, 8]
    r = b.query("relu(x)", seed=8)
    assert r.seed == 8 and r.val_acc == 0.91 and r.runtime_s == 101.0
    assert b.query("pow(exp(x),exp(x))", seed=7).diverged
    with pytest.raises(ValueError, match="seed 3 is not in this table; its seeds are \\[7, 8\\]"):
        b.query("relu(x)", seed=3)


def test_budget_charges_each_row_once(bench_path):
    b = ActBench(bench_path)
    b.query("sub(relu(x),zero(x))")
    b.query("relu(x)")
    b.query("add(relu(x),zero(x))", seed=7)
    assert (b.budget.evaluations, b.budget.seconds) == (1, 100.0)
    b.query("mul(tanh(x),sigmoid(x))")
    r = b.query("add(swish(x),elu(x))")  # runtime unknown: the median of the known costs (100, 50 and 10)
    assert math.isnan(r.runtime_s) and r.cost_s == 50.0 == b.cost("add(swish(x),elu(x))")
    assert (b.budget.evaluations, b.budget.seconds) == (3, 200.0)
    b.table(), b.metric("val_acc"), b.best(2), b.features("fim"), ("relu(x)" in b)  # free
    assert b.budget.evaluations == 3
    b.budget.reset()
    assert (b.budget.evaluations, b.budget.seconds) == (0, 0.0)
    b.query("relu(x)")
    assert b.budget.evaluations == 1


def test_container_protocol(bench_path):
    b = ActBench(bench_path)
    assert len(b) == 4
    assert list(b) == ["sub(relu(x),zero(x))", "mul(tanh(x),sigmoid(x))", "pow(exp(x),exp(x))",
                       "add(swish(x),elu(x))"]
    assert "relu(x)" in b and "max(relu(x), zero(x))" in b
    assert "tanh(x)" not in b and "relu(x" not in b and 42 not in b
    assert repr(b).startswith("<ActBench 'fixture': 4 functions")


def test_analysis_calls(bench_path):
    b = ActBench(bench_path)
    df = b.table()
    assert isinstance(df, pd.DataFrame) and df.index.name == "function" and len(df) == 4
    assert df.loc["sub(relu(x),zero(x))", "n_equivalents"] == 3
    assert df["diverged"].tolist() == [False, False, True, False]
    np.testing.assert_array_equal(b.metric("test_acc")[[0, 1, 3]], [0.88, 0.69, 0.93])
    m = b.metric("val_acc")
    m[0] = -1  # a copy: the table is not changed
    assert b.metric("val_acc")[0] == 0.9
    assert b.best(2).index.tolist() == ["add(swish(x),elu(x))", "sub(relu(x),zero(x))"]
    assert b.best(4, metric="train_loss").index.tolist()[-1] == "pow(exp(x),exp(x))"  # NaN last
    assert b.best(1, metric="train_loss").index.tolist() == ["add(swish(x),elu(x))"]
    fim = b.features("fim")
    assert fim.shape == (4, 6) and fim.dtype == np.float32 and np.isnan(fim[2]).all()
    assert b.features("fim", rows=[3])[0, 0] == 0.75
    assert b.features("outputs").shape == (4, 1000)
    with pytest.raises(KeyError, match="did you mean 'val_acc'"):
        b.metric("val_accc")
    with pytest.raises(KeyError, match="unknown metric"):
        b.best(1, metric="accuracy")
    with pytest.raises(ValueError, match="'fim' or 'outputs'"):
        b.features("eigen")  # type: ignore[arg-type]
    assert b.provenance.source == "test-fixture" and b.fim_layers is None and b.path == bench_path


def test_unknown_functions(bench_path):
    b = ActBench(bench_path)
    with pytest.raises(UnknownFunctionError, match="is in the 'act-bench' search space .* has no row for it") as info:
        b.query("add(tanh(x),erf(x))")
    assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownFunctionError, match="outside the benchmark's search space 'act-bench'"):
        b.query("tanh(tanh(tanh(x)))")
    with pytest.raises(UnknownFunctionError, match="did you mean 'mul\\(tanh\\(x\\),sigmoid\\(x\\)\\)'"):
        b.query("mul(tanh(x),sigmoid(sigmoid(x)))")
    with pytest.raises(ParseError):
        b.query("mul(tanh(x)")
    assert b.budget.evaluations == 0


def test_unknown_function_without_space(tmp_path):
    path = tmp_path / "nospace.h5"
    with TableWriter(path, info=TableInfo(benchmark="free"), provenance=Provenance.now(
            source="test-fixture", description="synthetic")) as w:
        w.add("relu(x)", {"val_acc": 0.5})
    with pytest.raises(UnknownFunctionError, match="is not in table 'nospace.h5'"):
        ActBench(path).query("tanh(x)")


def test_opening_errors(tmp_path, monkeypatch):
    with pytest.raises(UnknownBenchmarkError, match="did you mean 'resnet'") as info:
        ActBench("resnt")
    assert isinstance(info.value, KeyError)
    with pytest.raises(FileNotFoundError, match="no table at"):
        ActBench(tmp_path / "absent.h5")
    monkeypatch.setenv("ACTBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(TableNotAvailableError) as info:  # offline: say how to convert a local copy
        ActBench("resnet", offline=True)
    assert "source='/path/to/act-bench-resnet.json'" in str(info.value)
    from actbench.official import LicenseNotAcceptedError

    with pytest.raises(LicenseNotAcceptedError) as info:  # online: the licence first, and never a prompt here
        ActBench("resnet")
    msg = str(info.value)
    assert "Academic Public License" in msg and "accept_license=True" in msg and "ACTBENCH_ACCEPT_LICENSE=1" in msg
    assert not (tmp_path / "cache" / "official" / "act-bench-resnet.h5").exists()
    with pytest.raises(ValueError, match="not a benchmark with one"):
        ActBench(tmp_path / "absent.h5", source="x.json")


def test_seed_query_on_an_aggregate_only_table(tmp_path):
    path = tmp_path / "agg.h5"
    with TableWriter(path, info=TableInfo(benchmark="agg", space="act-bench"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic")) as w:
        w.add("sub(relu(x),zero(x))", {"val_acc": 0.5})
    with pytest.raises(ValueError, match="holds only aggregated values"):
        ActBench(path).query("relu(x)", seed=0)


def test_missing_shipped_table(monkeypatch):
    from dataclasses import replace

    from actbench import bench as bench_mod

    monkeypatch.setitem(bench_mod.BENCHMARKS, "mini", replace(bench_mod.BENCHMARKS["mini"], shipped="absent.h5"))
    with pytest.raises(TableNotAvailableError, match="missing from this installation"):
        ActBench()


def test_features_of_a_file_damaged_after_opening(bench_path):
    from actbench.table import CorruptTableError

    b = ActBench(bench_path)
    data = bench_path.read_bytes()
    bench_path.write_bytes(data[:2048])
    with pytest.raises(CorruptTableError, match="truncated or damaged"):
        b.features("fim")
