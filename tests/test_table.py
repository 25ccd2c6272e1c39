import json

import h5py
import numpy as np
import pytest

from actbench import ParseError, evaluate
from actbench.table._h5 import _set_text
from actbench.table import (
    DIVERGED,
    METRICS,
    MISSING,
    OK,
    CorruptTableError,
    Provenance,
    TableFormatError,
    TableInfo,
    TableWriter,
    fim_layout,
    read_table,
    validate_table,
)

INFO = TableInfo(benchmark="fixture", space="act-bench", description="synthetic test table", n_seeds=2,
                 aggregation="median of 2 runs")


def _prov():
    return Provenance.now(source="test-fixture", description="synthetic values written by tests")


def _write(path, *, n_fim=None, seeds=(1, 2), layers=None):
    with TableWriter(path, info=INFO, provenance=_prov(), seeds=seeds, fim_layers=layers) as w:
        w.add("add(relu(x), zero(x))", {"val_acc": 0.9, "test_acc": 0.8, "runtime_s": 10.0},
              per_seed={"val_acc": [0.89, 0.91]}, seed_diverged=[False, False],
              fim=None if n_fim is None else np.linspace(0, 1, n_fim), equivalents=["add(zero(x),relu(x))"])
        w.add("mul(tanh(x),sigmoid(x))", {"val_acc": float("nan"), "runtime_s": 5.0},
              per_seed={"val_acc": [float("nan"), None]}, seed_diverged=[True, False])
    return path


def test_round_trip(tmp_path):
    layers = fim_layout([("conv1", 1000), ("fc", 550)])
    assert [(l.offset, l.n_bins) for l in layers] == [(0, 9), (9, 4)]
    path = _write(tmp_path / "t.h5", n_fim=13, layers=layers)
    t = read_table(path)
    assert t.names == ["add(relu(x),zero(x))", "mul(tanh(x),sigmoid(x))"]
    assert t.aliases == {"add(relu(x),zero(x))": 0, "add(zero(x),relu(x))": 0, "mul(tanh(x),sigmoid(x))": 1}
    assert t.metrics["val_acc"][0] == 0.9 and np.isnan(t.metrics["val_acc"][1])
    assert t.flags["val_acc"].tolist() == [OK, DIVERGED]
    assert t.flags["train_acc"].tolist() == [MISSING, MISSING]
    assert t.seeds == [1, 2]
    np.testing.assert_array_equal(t.per_seed("val_acc")[0], [0.89, 0.91])
    assert np.isnan(t.per_seed("val_acc")[1]).all()
    assert t.seed_diverged().tolist() == [[False, False], [True, False]]
    assert t.n_fim == 13 and t.fim_layers == layers
    fim = t.fim()
    np.testing.assert_allclose(fim[0], np.linspace(0, 1, 13), rtol=1e-7)
    assert np.isnan(fim[1]).all() and t.fim_missing().tolist() == [False, True]
    np.testing.assert_allclose(t.outputs()[1], evaluate("mul(tanh(x),sigmoid(x))").astype(np.float32))
    assert t.info == INFO and t.provenance.source == "test-fixture"
    assert validate_table(path) == []
    with h5py.File(path) as f:  # readable with plain h5py, as docs/format.md says
        assert f.attrs["format"].decode() == "actbench-table" and f.attrs["format_version"] == 1
        assert f.attrs["integrity"].decode() == "fletcher32"
        assert json.loads(f.attrs["info"].decode())["benchmark"] == INFO.benchmark
        assert f["names"].asstr()[...].tolist() == t.names
        assert f["metrics/val_acc"].dtype == np.float64 and f["metrics/val_acc"].fletcher32
        assert f["outputs/values"].shape == (2, 1000)


def test_fim_created_late_and_aggregate_only(tmp_path):
    path = tmp_path / "late.h5"
    with TableWriter(path, info=INFO, provenance=_prov()) as w:
        w.add("relu(x)", {"val_acc": 0.5})
        w.add("tanh(x)", {"val_acc": 0.6}, fim=[0.1, 0.2, 0.3])
    t = read_table(path)
    assert t.n_fim == 3 and np.isnan(t.fim()[0]).all() and t.fim_layers is None
    with pytest.raises(TableFormatError, match="holds only aggregated values"):
        t.per_seed("val_acc")
    no_fim = tmp_path / "nofim.h5"
    with TableWriter(no_fim, info=INFO, provenance=_prov()) as w:
        w.add("relu(x)", {"val_acc": 0.5})
    with pytest.raises(TableFormatError, match="has no FIM features"):
        read_table(no_fim).fim()


def test_many_rows_in_batches(tmp_path):
    path = tmp_path / "many.h5"
    names = [f"add({a}(x),{b}(x))" for a in ("relu", "tanh", "erf", "exp") for b in
             ("zero", "one", "abs", "sinh", "cosh", "selu", "elu", "swish", "softplus", "square")] * 1
    unary = ["relu", "tanh", "erf", "exp", "sinh", "cosh", "selu", "elu", "swish", "softplus", "square", "abs",
             "arctan", "softsign", "sigmoid", "expm1", "erfc", "arcsinh", "log_sigmoid", "negative"]
    names = [f"mul({a}(x),{b}(x))" for a in unary for b in unary]
    with TableWriter(path, info=INFO, provenance=_prov()) as w:
        for i, n in enumerate(names):
            w.add(n, {"val_acc": i / 1000}, fim=np.full(5, i, dtype=float))
    t = read_table(path)
    assert t.n_rows == 400 and t.names[:2] == names[:2]
    np.testing.assert_array_equal(t.metrics["val_acc"], np.arange(400) / 1000)
    np.testing.assert_array_equal(t.fim()[:, 0], np.arange(400))


def test_writer_errors_leave_nothing(tmp_path):
    path = tmp_path / "bad.h5"
    with pytest.raises(TableFormatError, match="duplicate row 'relu\\(x\\)'"):
        with TableWriter(path, info=INFO, provenance=_prov()) as w:
            w.add("relu(x)", {})
            w.add(" relu( x )", {})
    assert not path.exists() and not list(tmp_path.iterdir())
    with pytest.raises(TableFormatError, match="unknown metric column"):
        with TableWriter(path, info=INFO, provenance=_prov()) as w:
            w.add("relu(x)", {"accuracy": 1.0})
    with pytest.raises(TableFormatError, match="FIM feature of length 2, the table's is 3"):
        with TableWriter(path, info=INFO, provenance=_prov()) as w:
            w.add("relu(x)", {}, fim=[1, 2, 3])
            w.add("tanh(x)", {}, fim=[1, 2])
    with pytest.raises(TableFormatError, match="without seeds="):
        with TableWriter(path, info=INFO, provenance=_prov()) as w:
            w.add("relu(x)", {}, per_seed={"val_acc": [1.0]})
    with pytest.raises(ParseError):
        with TableWriter(path, info=INFO, provenance=_prov()) as w:
            w.add("relu(x", {})
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        TableWriter(path, info=INFO, provenance=_prov()).add("relu(x)", {})
    assert not list(tmp_path.iterdir())


def test_alias_conflict_is_recorded(tmp_path):
    path = tmp_path / "c.h5"
    with TableWriter(path, info=INFO, provenance=_prov()) as w:
        w.add("relu(x)", {}, equivalents=["tanh(x)"])
        w.add("tanh(x)", {})
    t = read_table(path)
    assert t.aliases["tanh(x)"] == 1  # a row's own name answers that row (docs/format.md)
    assert any("alias conflict" in n for n in t.provenance.notes)


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no table at"):
        read_table(tmp_path / "absent.h5")
    good = _write(tmp_path / "t.h5", n_fim=13)
    data = good.read_bytes()
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptTableError, match="truncated or damaged") as info:
        read_table(trunc)
    assert isinstance(info.value, OSError) and "actbench download" in str(info.value)
    assert "truncated or damaged" in validate_table(trunc)[0]
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all" * 100)
    with pytest.raises(CorruptTableError):
        read_table(junk)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = 1
    with pytest.raises(TableFormatError, match="is this an actbench table"):
        read_table(foreign)


def _tamper(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)
    return path


@pytest.mark.parametrize("tamper, fragment", [
    (lambda f: f.attrs.__setitem__("format_version", 3), "newer than this actbench reads"),
    (lambda f: _set_text(f.attrs, "info", "{}"), "root attribute 'info' is not a JSON object with a 'benchmark'"),
    (lambda f: f.__delitem__("metrics/val_acc"), "missing datasets: metrics/val_acc"),
    (lambda f: f.attrs.__setitem__("n_rows", 5), "root attribute n_rows=5"),
    (lambda f: f["flags/val_acc"].resize((1,)), "flags/val_acc has shape"),
    (lambda f: f.attrs.__setitem__("equivalence_bits", 20), "equivalence_bits is 20"),
    (lambda f: f["per_seed/val_acc"].resize((2, 1)), "per_seed/val_acc missing or not of shape"),
    (lambda f: f["fim/layout/n_bins"].__setitem__(0, 1), "bins in all"),
])
def test_validator_structural(tmp_path, tamper, fragment):
    path = _tamper(_write(tmp_path / "t.h5", n_fim=13, layers=fim_layout([("a", 1000), ("b", 550)])), tamper)
    with pytest.raises(TableFormatError, match=fragment):
        read_table(path)
    assert any(fragment in p for p in validate_table(path))


@pytest.mark.parametrize("tamper, fragment", [
    (lambda f: f["names"].__setitem__(0, "add(relu(x), zero(x))"), "is not in canonical spelling"),
    (lambda f: f["names"].__setitem__(0, "add(relu(x"), "does not parse"),
    (lambda f: f["names"].__setitem__(1, "add(relu(x),zero(x))"), "row names are not unique"),
    (lambda f: f["flags/val_acc"].__setitem__(1, 0), "NaN values flagged ok"),
    (lambda f: f["flags/val_acc"].__setitem__(1, 9), "flags/val_acc has values outside"),
    (lambda f: f["aliases/rows"].__setitem__(0, 7), "outside the table"),
    (lambda f: f["outputs/points"].__setitem__(0, 3.0), "not the reference sample points"),
    (lambda f: f["outputs/h1"].__setitem__(0, 1), "outputs/h1 does not match"),
])
def test_validator_values(tmp_path, tamper, fragment):
    path = _tamper(_write(tmp_path / "t.h5"), tamper)
    assert any(fragment in p for p in validate_table(path)), validate_table(path)


@pytest.mark.parametrize("name, version, integrity", [("table-v1.h5", "0.1.0", None),
                                                       ("table-v1-checksummed.h5", "0.3.0", "fletcher32")])
def test_frozen_v1_file_reads(name, version, integrity):
    """tests/data/table-v1*.h5 were written by format v1 (tests/data/make_frozen.py) and are never rewritten:
    every later reader must read them with these values."""
    from pathlib import Path

    path = Path(__file__).parent / "data" / name
    assert validate_table(path) == []
    t = read_table(path)
    assert t.provenance.source == "test-fixture" and t.provenance.actbench_version == version
    assert t.integrity == integrity
    assert t.names == ["add(relu(x),zero(x))", "mul(tanh(x),sigmoid(x))", "max(swish(x),elu(x))"]
    assert t.aliases["add(zero(x),relu(x))"] == 0
    np.testing.assert_array_equal(t.metrics["val_acc"], [0.75, np.nan, 0.5])
    assert t.flags["val_acc"].tolist() == [OK, DIVERGED, OK]
    assert t.flags["train_loss"].tolist() == [MISSING] * 3
    assert t.seeds == [0, 1, 2]
    np.testing.assert_array_equal(t.per_seed("test_acc")[2], [0.25, 0.5, 0.75])
    assert [l.name for l in t.fim_layers] == ["conv", "dense"] and t.n_fim == 10
    np.testing.assert_array_equal(t.fim()[0], np.arange(10, dtype=np.float32) / 10)
    assert t.fim_missing().tolist() == [False, True, False]
    assert set(METRICS) == {"train_acc", "val_acc", "test_acc", "train_loss", "val_loss", "test_loss", "runtime_s"}


def test_fim_convention_is_stated_validated_or_inferred(tmp_path):
    from actbench import ActBench
    from actbench.table import validate_table

    info = TableInfo(benchmark="t", description="test fixture (synthetic)")
    prov = Provenance.now(source="test-fixture", description="synthetic")
    with pytest.raises(ValueError, match="fim_convention must be one of"):
        TableWriter(tmp_path / "bad.h5", info=info, provenance=prov, fim_convention="textbook")
    path = tmp_path / "t.h5"
    with TableWriter(path, info=info, provenance=prov, fim_convention="kfac") as w:
        w.add("relu(x)", {"val_acc": 0.5}, fim=[0.5, 1.0])
    t = read_table(path)
    assert (t.fim_convention, t.fim_convention_stated) == ("kfac", True)
    t.close()  # HDF5 refuses to open a file for writing that this process holds open for reading
    with h5py.File(path, "r+") as f:
        _set_text(f.attrs, "fim_convention", "mine")
    assert any("fim_convention" in p for p in validate_table(path))
    # a file that does not state it: inferred from the provenance, and said to be
    from pathlib import Path

    assert read_table(Path(__file__).parent / "data" / "table-v1.h5").fim_convention is None  # a fixture: unknown
    mini = ActBench("mini")  # written stating its convention (0.3.0 upgraded the old mini with it stated)
    assert mini.fim_convention == "kfac" and mini._table.fim_convention_stated
    gen = tmp_path / "gen.h5"
    with TableWriter(gen, info=info, provenance=Provenance.now(
            source="generation", description="synthetic test values", config={"task": "digits"})) as w:
        w.add("relu(x)", {"val_acc": 0.5}, fim=[0.5, 1.0])
    t = read_table(gen)
    assert (t.fim_convention, t.fim_convention_stated) == ("kfac", False)  # generation before 0.2.0: textbook


def test_root_attributes_are_validated_on_use(tmp_path):
    """Opening checks only what a query needs; the full models validate on first use and in validate."""
    from actbench import ActBench

    path = _write(tmp_path / "t.h5")
    with h5py.File(path, "r+") as f:
        info = json.loads(f.attrs["info"])
        _set_text(f.attrs, "info", json.dumps({**info, "n_seeds": "three"}))
    b = ActBench(path)  # opens: the query path does not use n_seeds
    with pytest.raises(TableFormatError, match="root attribute 'info' is not valid"):
        b.info
    b.close()
    assert any("root attribute 'info' is not valid" in p for p in validate_table(path))
    with h5py.File(path, "r+") as f:
        _set_text(f.attrs, "info", json.dumps({**info, "val_is_test": "no"}))
    with pytest.raises(TableFormatError):  # a value a record would carry: refused at open
        ActBench(path)


def test_record_defaults_are_table_info_defaults():
    """The query path reads info without pydantic: its defaults must be TableInfo's."""
    from actbench.table.schema import _RECORD_INFO_DEFAULTS

    for k, v in _RECORD_INFO_DEFAULTS.items():
        assert TableInfo.model_fields[k].default == (v if k != "benchmark" else TableInfo.model_fields[k].default)


def test_a_rows_own_name_always_answers_that_row(tmp_path):
    """A row that lists another row's own name as its equivalent cannot take that name over, whichever
    comes first (docs/format.md); the conflict is noted in the provenance."""
    from actbench import ActBench

    for order in ((0, 1), (1, 0)):
        rows = [("add(relu(x),zero(x))", {"val_acc": 0.9}, ["tanh(x)"]), ("tanh(x)", {"val_acc": 0.5}, [])]
        path = tmp_path / f"t{order[0]}.h5"
        with TableWriter(path, info=INFO, provenance=_prov()) as w:
            for i in order:
                name, vals, eq = rows[i]
                w.add(name, vals, equivalents=eq)
        b = ActBench(path)
        rec = b.query("tanh(x)")
        assert (rec.representative, rec.resolved_by, rec.val_acc) == ("tanh(x)", "name", 0.5)
        assert any("its own name" in n for n in b.provenance.notes)
        assert validate_table(path) == []


def test_validate_finds_a_name_taken_from_its_row_and_fim_flags_that_contradict_values(tmp_path):
    path = _write(tmp_path / "t.h5", n_fim=13, layers=fim_layout([("conv1", 1000), ("fc", 550)]))
    with h5py.File(path, "r+") as f:  # a file whose index hands row 1's own name to row 0
        names = f["aliases/names"].asstr()[...].tolist()
        rows = f["aliases/rows"][...]
        rows[names.index("mul(tanh(x),sigmoid(x))")] = 0
        f["aliases/rows"][...] = rows
    assert any("not answering its own row" in p and "mul(tanh(x),sigmoid(x))" in p for p in validate_table(path))
    path = _write(tmp_path / "f.h5", n_fim=13, layers=fim_layout([("conv1", 1000), ("fc", 550)]))
    with h5py.File(path, "r+") as f:
        f["fim/missing"][0] = True  # flagged missing, yet it holds values
        cdf = f["fim/cdf"][...]
        cdf[1, :3] = 0.5  # row 1 (no feature) now partly filled: layer conv1 partly NaN
        f["fim/cdf"][...] = cdf
    problems = validate_table(path)
    assert any("fim/missing is true for 2 rows that hold FIM values" in p for p in problems)  # rows 0 and 1
    assert any("a layer partly NaN" in p for p in problems)
