"""Learning curves in tables (format version 2): writing, checks, queries at an epoch, and charging.

The tables here are SYNTHETIC, written by the tests with known curves."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from actbench import ActBench
from actbench.provenance import Provenance, TableInfo
from actbench.table import CURVE_METRICS, TableFormatError, TableWriter, read_table, validate_table

E = 4


def _curve(base: float, stop: int = E) -> dict:
    """Per-epoch values of one run that completed ``stop`` epochs."""
    k = np.arange(1, stop + 1)
    return {"train_loss": list(1.0 / k), "train_acc": list(base * k / E), "val_loss": list(1.2 / k),
            "val_acc": list(base * k / E - 0.01), "epoch_s": [10.0] * stop}


def _write(path, *, curves=True):
    with TableWriter(path, info=TableInfo(benchmark="curvy", description="test fixture (synthetic)",
                                          aggregation="median of 3 runs"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic curves"),
                     seeds=[0, 1, 2], epochs=E if curves else None) as w:
        for name, base, stops in (("relu(x)", 0.9, (E, E, E)), ("tanh(x)", 0.8, (E, 2, E)),
                                  ("exp(x)", 0.5, (1, 1, E))):
            runs = [_curve(base + 0.01 * j, stop) for j, stop in enumerate(stops)]
            final = [r["val_acc"][-1] if len(r["val_acc"]) == E else np.nan for r in runs]
            w.add(name, {"val_acc": float(np.nanmedian(final)), "runtime_s": 40.0},
                  per_seed={"val_acc": final, "runtime_s": [40.0] * 3}, seed_diverged=[np.isnan(v) for v in final],
                  curves={c: [r[c] for r in runs] for c in CURVE_METRICS} if curves else None)
    return ActBench(path)


def test_curves_round_trip_and_format_version(tmp_path):
    b = _write(tmp_path / "c.h5")
    assert b.epochs == E and validate_table(b.path) == []
    with h5py.File(b.path) as f:
        assert int(f.attrs["format_version"]) == 2 and f["curves/val_acc"].shape == (3, 3, E)
    plain = _write(tmp_path / "p.h5", curves=False)
    assert plain.epochs is None
    with h5py.File(plain.path) as f:
        assert int(f.attrs["format_version"]) == 1 and "curves" not in f  # older readers open it
    r = b.query("relu(x)", seed=1, epoch=2)
    assert r.epoch == 2 and r.val_acc == pytest.approx(0.91 * 2 / E - 0.01) and r.runtime_s == 20.0
    assert np.isnan(r.test_acc) and "test_acc" in r.missing and "seed 1 (one run), at epoch 2 of 4" == r.aggregation
    agg = b.query("relu(x)", epoch=E)
    assert agg.val_acc == pytest.approx(0.91 - 0.01) and agg.runtime_s == 40.0 and not agg.diverged
    assert agg.aggregation == "median of 3 runs, at epoch 4 of 4"


def test_a_run_that_stopped_counts_as_worst_at_later_epochs(tmp_path):
    b = _write(tmp_path / "c.h5")
    t3 = b.query("tanh(x)", epoch=3)  # seed 1 stopped after 2 epochs: the median of the other two's worse
    assert t3.val_acc == pytest.approx(0.80 * 3 / E - 0.01)
    e2 = b.query("exp(x)", epoch=2)  # two of three stopped after epoch 1: no value, diverged
    assert e2.diverged and np.isnan(e2.val_acc)
    assert np.isnan(b.query("exp(x)", seed=0, epoch=3).val_acc)


def test_continuing_a_function_charges_only_the_difference(tmp_path):
    b = _write(tmp_path / "c.h5")
    b.query("relu(x)", epoch=1)
    assert (b.budget.evaluations, b.budget.seconds) == (1, 10.0)
    b.query("relu(x)", epoch=3)  # continued to epoch 3: 20 s more
    assert (b.budget.evaluations, b.budget.seconds) == (1, 30.0)
    b.query("relu(x)", epoch=2)  # an earlier epoch is already paid
    b.query("sub(relu(x),zero(x))" if "sub(relu(x),zero(x))" in b else "relu(x)", epoch=3)
    assert (b.budget.evaluations, b.budget.seconds) == (1, 30.0)
    b.query("relu(x)")  # the end of training: runtime_s 40, 10 s more
    assert (b.budget.evaluations, b.budget.seconds) == (1, 40.0) and b.budget.paid(b.resolver.find("relu(x)").row) == 40.0
    b.query("tanh(x)", epoch=2)
    assert (b.budget.evaluations, b.budget.seconds) == (2, 60.0)
    b.budget.reset()
    assert (b.budget.evaluations, b.budget.seconds) == (0, 0.0) and b.budget.paid(0) is None


def test_epoch_errors(tmp_path):
    b = _write(tmp_path / "c.h5")
    for bad in (0, E + 1, float(E + 1)):
        with pytest.raises(ValueError, match=f"epoch must be between 1 and {E}"):
            b.query("relu(x)", epoch=bad)
    with pytest.raises(ValueError, match="not a whole number of epochs"):
        b.query("relu(x)", epoch=1.5)
    with pytest.raises(ValueError, match=f"a whole number of epochs between 1 and {E}"):
        b.query("relu(x)", epoch="2")
    assert b.query("relu(x)", epoch=2.0) == b.query("relu(x)", epoch=2)  # optimisers send whole floats
    plain = _write(tmp_path / "p.h5", curves=False)
    with pytest.raises(ValueError, match="has no learning curves"):
        plain.query("relu(x)", epoch=1)
    assert plain.epochs is None
    with pytest.raises(TableFormatError, match="no learning curves"):
        plain._table.curves("val_acc")
    with pytest.raises(TableFormatError, match="no learning curves"):
        plain._table.curve_block(0)
    with pytest.raises(ValueError, match="unknown curve column"):
        b._table.curves("test_acc")


def test_writer_errors(tmp_path):
    with pytest.raises(ValueError, match="learning curves need seeds="):
        TableWriter(tmp_path / "x.h5", info=TableInfo(benchmark="x"),
                    provenance=Provenance.now(source="test-fixture", description="synthetic"), epochs=3)
    with TableWriter(tmp_path / "y.h5", info=TableInfo(benchmark="y"), seeds=[0],
                     provenance=Provenance.now(source="test-fixture", description="synthetic")) as w:
        with pytest.raises(TableFormatError, match="without epochs="):
            w.add("relu(x)", {}, curves={"val_acc": [[0.5]]})
    with TableWriter(tmp_path / "z.h5", info=TableInfo(benchmark="z"), seeds=[0, 1], epochs=2,
                     provenance=Provenance.now(source="test-fixture", description="synthetic")) as w:
        with pytest.raises(TableFormatError, match="has 1 runs, the table 2 seeds"):
            w.add("relu(x)", {}, curves={"val_acc": [[0.5]]})
        with pytest.raises(TableFormatError, match="has 3 epochs, the table 2"):
            w.add("tanh(x)", {}, curves={"val_acc": [[0.1, 0.2, 0.3], [0.1]]})
        with pytest.raises(TableFormatError, match="unknown curve column"):
            w.add("elu(x)", {}, curves={"test_acc": [[0.1], [0.1]]})
        w.add("selu(x)", {}, curves={"val_acc": [[0.1], None]})  # a run without a curve: NaN
        w.add("abs(x)", {}, fim=[1.0, 2.0])
        with pytest.raises(TableFormatError, match="FIM feature of length 1"):
            w.add("sigmoid(x)", {}, fim=[1.0])
    z = read_table(tmp_path / "z.h5")  # the refused rows left nothing behind
    assert z.names == ["selu(x)", "abs(x)"] and validate_table(tmp_path / "z.h5") == []
    assert z.n_epochs == 2 and np.isnan(z.curves("val_acc")[0, 1]).all() and z.curves("val_acc")[0, 0, 0] == 0.1


@pytest.mark.parametrize("tamper, fragment", [
    (lambda f: f.attrs.__setitem__("format_version", 1), "curves need version 2"),
    (lambda f: f["curves"].__delitem__("epoch_s"), "curves/epoch_s missing or not of shape"),
    (lambda f: (f["curves"].__delitem__("val_acc"), f["curves"].create_dataset("val_acc", data=np.zeros((3, 3, 5)),
                                                                               fletcher32=True, chunks=True)),
     "curves/val_acc missing or not of shape"),
    (lambda f: f["curves"].__delitem__("val_loss") or f["curves"].create_dataset("val_loss", data=np.zeros((3, 3))),
     "curves/val_loss holds 2-D"),
    (lambda f: (f.__delitem__("per_seed"),), "curves/ needs per_seed/"),
])
def test_damaged_curves_are_refused(tmp_path, tamper, fragment):
    path = tmp_path / "c.h5"
    _write(path).close()
    with h5py.File(path, "r+") as f:
        tamper(f)
    with pytest.raises(TableFormatError, match=fragment):
        read_table(path)


def test_cli_query_at_an_epoch(tmp_path, capsys):
    from actbench.cli import main

    _write(tmp_path / "c.h5").close()
    _write(tmp_path / "p.h5", curves=False).close()
    assert main(["query", "relu(x)", "--bench", str(tmp_path / "c.h5"), "--epoch", "2", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"epoch": 2' in out and '"test_acc": null' in out
    assert main(["info", str(tmp_path / "c.h5")]) == 0
    assert "learning curves            4 epochs per run" in capsys.readouterr().out
    assert main(["query", "relu(x)", "--bench", str(tmp_path / "p.h5"), "--epoch", "2"]) == 2
    assert "has no learning curves" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "p.h5")]) == 0
    assert "learning curves            none (final values only)" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "c.h5")]) == 0
    assert "valid actbench table (format version 2; every checksum verified)" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "p.h5")]) == 0
    assert "valid actbench table (format version 1; every checksum verified)" in capsys.readouterr().out


@pytest.mark.parametrize("n_seeds", [2, 3])
def test_epoch_answers_are_aggregate_of_the_runs_across_blocks(tmp_path, monkeypatch, n_seeds):
    """Epoch queries read blocks of curve rows, derive every row's answers at once and keep few blocks:
    on 150 rows (three blocks of 64) with random stops, NaNs and an even and odd seed count, every answer
    equals actbench.results.aggregate over the runs as recorded, also after the cache evicted blocks (it keeps
    one here). Costs follow the cost rule: the rows give no per-run runtime, so each run takes the row's
    runtime (1 s) spread over its epochs by their training seconds, all of it once the run stopped; the
    function costs the median over all its runs."""
    import actbench.table.schema as table_mod
    from actbench import get_space
    from actbench.results import aggregate

    monkeypatch.setattr(table_mod, "CURVE_CACHE_BLOCKS", 1)
    rng = np.random.default_rng(n_seeds)
    names = get_space("act-bench").representatives[:150]
    runs_of = {}
    with TableWriter(tmp_path / "many.h5", info=TableInfo(benchmark="many", description="test fixture (synthetic)"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic curves"),
                     seeds=list(range(n_seeds)), epochs=E) as w:
        for name in names:
            stops = rng.integers(0, E + 1, n_seeds)  # 0: diverged in the first epoch
            curves = {c: [] for c in CURVE_METRICS}
            for stop in stops:
                for c in CURVE_METRICS:
                    v = list(rng.random(stop)) if c != "epoch_s" else list(1 + rng.random(stop))
                    curves[c].append(v if stop else None)
            runs_of[name] = curves
            w.add(name, {"val_acc": 0.5, "runtime_s": 1.0}, per_seed={"val_acc": [0.5] * n_seeds},
                  curves=curves)
    b = ActBench(tmp_path / "many.h5")
    order = rng.permutation(len(names))
    for k in range(1, E + 1):
        for i in order:
            name = names[i]
            if k == E:  # the end of training: what the table's row (and each run's final values) say
                last, final = b.query(name, epoch=E), b.query(name)
                assert last.model_copy(update={"epoch": None, "aggregation": final.aggregation}) == final
                j = int(rng.integers(n_seeds))
                assert b.query(name, epoch=E, seed=j).val_acc == b.query(name, seed=j).val_acc
                continue
            cur = runs_of[name]
            runs = []
            for j in range(n_seeds):
                got = cur["val_acc"][j] is not None and len(cur["val_acc"][j]) >= k
                row = {c: (cur[c][j][k - 1] if got else np.nan)
                       for c in ("train_acc", "val_acc", "train_loss", "val_loss")}
                trained = cur["epoch_s"][j] or []
                secs = 1.0 * float(np.sum(trained[:k])) / float(np.sum(trained)) if got else 1.0
                runs.append({"diverged": not got, "test_acc": np.nan, "test_loss": np.nan, "runtime_s": secs, **row})
            want, flags = aggregate(runs)
            got = b.query(name, epoch=k)
            for c in ("train_acc", "val_acc", "train_loss", "val_loss"):
                assert getattr(got, c) == want[c] or (np.isnan(getattr(got, c)) and np.isnan(want[c])), (name, k, c)
            assert got.runtime_s == pytest.approx(want["runtime_s"], rel=1e-12) and got.cost_s == got.runtime_s
            assert got.diverged == (flags["val_acc"] == 1 or flags["train_acc"] == 1)
            j = int(rng.integers(n_seeds))
            one = b.query(name, epoch=k, seed=j)
            assert one.diverged == runs[j]["diverged"]
            assert one.val_acc == runs[j]["val_acc"] or (np.isnan(one.val_acc) and runs[j]["diverged"])
            assert one.runtime_s == pytest.approx(runs[j]["runtime_s"], rel=1e-12)
    assert len(b.data._curve_blocks) == 1 and len(b._answers.views) <= 1


def test_a_full_training_costs_the_same_however_reached(tmp_path):
    """Runs record more seconds than their epochs' training (evaluations, set-up): an epoch costs the
    run's runtime times its share of training seconds, so the last epoch costs the whole runtime, and a
    function trained epoch by epoch costs what one full query costs."""
    epoch_s = [[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0]]
    runtime = [15.0, 9.0, 6.0]  # 1.5, 1.125 and 1.5 times the training seconds
    with TableWriter(tmp_path / "t.h5", info=TableInfo(benchmark="t", description="test fixture (synthetic)"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic curves"),
                     seeds=[0, 1, 2], epochs=E) as w:
        curve = {c: [[0.5] * E] * 3 for c in CURVE_METRICS if c != "epoch_s"}
        w.add("relu(x)", {"val_acc": 0.5, "runtime_s": 9.0}, per_seed={"val_acc": [0.5] * 3, "runtime_s": runtime},
              curves={**curve, "epoch_s": epoch_s})
    b = ActBench(tmp_path / "t.h5")
    assert b.query("relu(x)", seed=0, epoch=2).runtime_s == pytest.approx(15.0 * 3 / 10)
    assert [b.query("relu(x)", seed=j, epoch=E).runtime_s for j in range(3)] == runtime  # exactly
    assert b.query("relu(x)", epoch=1).runtime_s == pytest.approx(np.median([1.5, 9 * 2 / 8, 1.5]))
    b.budget.reset()
    for k in (1, 3, E):
        b.query("relu(x)", epoch=k)
    stepwise = b.budget.seconds
    b.budget.reset()
    b.query("relu(x)")
    assert stepwise == b.budget.seconds == 9.0


def test_the_last_epoch_carries_the_final_test_values(tmp_path):
    """Test values are measured once, at the end: before the last epoch they are NaN and listed as missing,
    at the last epoch they are the run's (or the aggregate's) final test values, so that a multi-fidelity
    search reports the test accuracy of what it trained to the end."""
    with TableWriter(tmp_path / "t.h5", info=TableInfo(benchmark="t", description="test fixture (synthetic)",
                                                       aggregation="median of 3 runs"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic curves"),
                     seeds=[0, 1, 2], epochs=E) as w:
        runs = [_curve(0.9 + 0.01 * j) for j in range(3)]
        final = [r["val_acc"][-1] for r in runs]
        w.add("relu(x)", {"val_acc": float(np.median(final)), "test_acc": 0.85, "test_loss": 0.4, "runtime_s": 40.0},
              per_seed={"val_acc": final, "test_acc": [0.84, 0.85, 0.87], "test_loss": [0.5, 0.4, 0.3],
                        "runtime_s": [40.0] * 3},
              curves={c: [r[c] for r in runs] for c in CURVE_METRICS})
    b = ActBench(tmp_path / "t.h5")
    early = b.query("relu(x)", epoch=E - 1)
    assert np.isnan(early.test_acc) and {"test_acc", "test_loss"} <= set(early.missing)
    last = b.query("relu(x)", epoch=E)
    assert (last.test_acc, last.test_loss) == (0.85, 0.4) and not set(last.missing) & {"test_acc", "test_loss"}
    one = b.query("relu(x)", epoch=E, seed=2)
    assert (one.test_acc, one.test_loss) == (0.87, 0.3)
    assert last.val_acc == b.query("relu(x)").val_acc
