"""Successive halving, Hyperband and ASHA over epochs, on a SYNTHETIC table with known learning curves:
function i reaches validation accuracy q_i * epoch / 9 after each epoch, and every epoch takes 1 s."""

from __future__ import annotations

import numpy as np
import pytest

from actbench import ActBench, get_space
from actbench.multifidelity import AsyncSuccessiveHalving, Hyperband, SuccessiveHalving, rungs
from actbench.provenance import Provenance, TableInfo
from actbench.search import RandomSearch, make_strategy, run_search
from actbench.table import TableWriter

E, N = 9, 40


@pytest.fixture(scope="module")
def curvy(tmp_path_factory):
    path = tmp_path_factory.mktemp("mf") / "curvy.h5"
    names = get_space("act-bench").representatives[:N]
    q = np.random.default_rng(7).permutation(np.linspace(0.5, 0.99, N))
    with TableWriter(path, info=TableInfo(benchmark="curvy", description="test fixture (synthetic)"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic curves"),
                     seeds=[0], epochs=E) as w:
        for name, qi in zip(names, q):
            val = [float(qi * k / E) for k in range(1, E + 1)]
            w.add(name, {"val_acc": val[-1], "test_acc": val[-1], "runtime_s": float(E)},
                  per_seed={"val_acc": [val[-1]], "test_acc": [val[-1]], "runtime_s": [float(E)]},
                  curves={"val_acc": [val], "train_acc": [val], "val_loss": [[1.0] * E], "train_loss": [[1.0] * E],
                          "epoch_s": [[1.0] * E]})
    return ActBench(path)


class Recorder:
    """Wraps a strategy and records what it asks."""

    def __init__(self, inner):
        self.inner, self.name, self.asked = inner, inner.name, []

    def setup(self, space, rng):
        self.inner.setup(space, rng)

    def ask(self):
        a = self.inner.ask()
        self.asked.append(a)
        return a

    def tell(self, name, val_acc):
        self.inner.tell(name, val_acc)


def test_rungs():
    assert rungs(9) == [1, 3, 9] and rungs(10) == [1, 3, 10] and rungs(1) == [1] and rungs(27, 3, 3) == [3, 9, 27]
    with pytest.raises(ValueError):
        rungs(9, eta=1)


def test_successive_halving_keeps_the_best_third_and_charges_continuations(curvy):
    rec = Recorder(SuccessiveHalving())
    r = run_search(curvy, rec, max_seconds=21, seed=0)
    epochs = [e for _, e in rec.asked]
    assert epochs == [1] * 9 + [3] * 3 + [9]  # 9 functions for 1 epoch, the best 3 to 3, the best to 9
    first9 = [n for n, _ in rec.asked[:9]]
    val = {n: curvy.query(n).val_acc for n in first9}
    assert [n for n, _ in rec.asked[9:12]] == sorted(first9, key=val.get, reverse=True)[:3]
    assert rec.asked[12][0] == max(first9, key=val.get)
    # 9 x 1 s, then 3 x (3 - 1) s, then (9 - 3) s: continuations pay only the epochs between
    assert list(r.seconds) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 15, 21]
    assert list(r.epochs) == epochs and np.isnan(r.best_val[:-1]).all()  # only full trainings count
    assert r.best_val[-1] == max(val.values())


def test_hyperband_brackets(curvy):
    rec = Recorder(Hyperband())
    run_search(curvy, rec, max_seconds=21 + (5 * 3 + 6) + 3 * 9, seed=1)
    epochs = [e for _, e in rec.asked]
    # s = 2: 9 at 1 epoch, 3 to 3, 1 to 9; s = 1: 5 at 3 epochs, 1 to 9; s = 0: 3 at 9 epochs
    assert epochs == [1] * 9 + [3] * 3 + [9] + [3] * 5 + [9] + [9] * 3
    assert len({n for n, _ in rec.asked}) == 9 + 5 + 3


def test_asha_promotes_the_top_third_as_results_arrive(curvy):
    rec = Recorder(AsyncSuccessiveHalving())
    run_search(curvy, rec, max_seconds=12, seed=2)
    names = [n for n, _ in rec.asked]
    epochs = [e for _, e in rec.asked]
    # three new functions, then the best of them to rung 2 (3 epochs), then new ones until a promotion again
    assert epochs[:4] == [1, 1, 1, 3]
    top = max(names[:3], key=lambda n: curvy.query(n).val_acc)
    assert names[3] == top
    r8 = run_search(curvy, AsyncSuccessiveHalving(), max_seconds=60, seed=2, n_workers=8)
    assert np.all(np.diff(r8.wall) >= 0) and r8.wall[-1] < r8.seconds[-1] / 3
    assert np.isfinite(r8.best_val[-1])


def test_multifidelity_with_several_workers_and_against_random(curvy):
    for s in ("sh", "hyperband", "asha"):
        r = run_search(curvy, make_strategy(s), max_seconds=90, seed=0, n_workers=4)
        assert r.strategy == s and r.n_workers == 4 and np.isfinite(r.best_val[-1])
        assert len(r.names) == len(r.epochs) == len(r.wall)
    rand = run_search(curvy, RandomSearch(), max_seconds=90, seed=0)
    assert len(rand.names) == 10 and set(rand.epochs) == {0}  # 10 full trainings of 9 s


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A table without learning curves (format version 1), SYNTHETIC."""
    path = tmp_path_factory.mktemp("plain") / "plain.h5"
    with TableWriter(path, info=TableInfo(benchmark="plain", description="test fixture (synthetic)"),
                     provenance=Provenance.now(source="test-fixture", description="no curves")) as w:
        for name in get_space("act-bench").representatives[:5]:
            w.add(name, {"val_acc": 0.5, "runtime_s": 1.0})
    return ActBench(path)


def test_needs_learning_curves(plain):
    with pytest.raises(ValueError, match="need a table with learning curves"):
        run_search(plain, Hyperband(), budget=3)
    with pytest.raises(ValueError, match="need eta >= 2"):
        AsyncSuccessiveHalving(eta=1)
    with pytest.raises(ValueError, match="give budget= .* or max_seconds="):
        run_search(ActBench("mini"), RandomSearch())


def test_cli(curvy, plain, tmp_path, capsys):
    from actbench.cli import main

    out = tmp_path / "mf.png"
    assert main(["search", "--bench", str(curvy.path), "--strategy", "hyperband", "asha", "random", "--max-seconds",
                 "60", "--workers", "4", "--repeats", "2", "--plot", str(out)]) == 0
    text = capsys.readouterr().out
    assert "60 simulated seconds" in text and "\nasha " in text and out.stat().st_size > 1000
    assert "ended early" not in text
    assert main(["search", "--bench", str(curvy.path), "--strategy", "random", "--max-seconds", "10000",
                 "--repeats", "2"]) == 0
    assert "random: 2 searches ended early, with nothing left to propose" in capsys.readouterr().out
    assert main(["search", "--bench", str(plain.path), "--strategy", "sh", "--repeats", "1", "--budget", "3"]) == 2
    assert "learning curves" in capsys.readouterr().err


def test_waiting_with_one_worker_and_an_exhausted_table(curvy):
    class Waits:
        name = "waits"

        def setup(self, space, rng):
            pass

        def ask(self):
            return None

        def tell(self, name, val_acc):
            pass

    with pytest.raises(RuntimeError, match="has nothing to ask with one worker"):
        run_search(curvy, Waits(), budget=3)
    r = run_search(curvy, Hyperband(), max_seconds=10_000, seed=0)  # more time than the table holds
    assert r.exhausted and len(set(r.names)) == N and r.seconds[-1] < 10_000


@pytest.mark.parametrize("workers", [1, 4])
@pytest.mark.parametrize("strategy", ["random", "evolution", "knr", "sh", "hyperband", "asha"])
def test_a_search_that_runs_out_of_functions_ends_exhausted(curvy, strategy, workers, monkeypatch):
    """Given more time than the table holds, every strategy evaluates every function (each to the end, for
    the multi-fidelity ones, or as far as their rungs take it) and ends early, marked exhausted, instead
    of failing; a budget that is reached is not exhaustion."""
    if strategy == "knr":  # the surrogate on synthetic features: no UMAP fit in this test
        import actbench.features

        rng = np.random.default_rng(0)
        monkeypatch.setattr(actbench.features, "embedding", lambda bench, *a, **k: rng.random((len(bench), 2)))
    r = run_search(curvy, make_strategy(strategy, features="outputs"), max_seconds=100_000, seed=1,
                   n_workers=workers)
    assert r.exhausted and len(set(r.names)) == N, (strategy, len(set(r.names)))
    assert r.seconds[-1] <= N * E  # at most every function trained to the end, each once
    done = run_search(curvy, make_strategy("random"), budget=N, seed=1, n_workers=workers)
    assert not done.exhausted and len(done.names) == N


def test_docs_parallel_search_script(curvy, tmp_path, capsys):
    """docs/scripts/parallel_search.py (the figure and table of docs/search.md) on the synthetic table: the
    horizon is 3 trainings of 9 s on one worker, so random search evaluates 3 functions with 1 worker and
    12 with 4."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "docs" / "scripts" / "parallel_search.py"
    spec = importlib.util.spec_from_file_location("parallel_search", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "parallel.png"
    mod.main(["--bench", str(curvy.path), "--repeats", "3", "--workers", "1", "4", "--strategies", "random",
              "hyperband", "asha", "--trainings", "3", "--processes", "1", "--plot", str(out)])
    text = capsys.readouterr().out
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): [c.strip() for c in line.split("|")[3:6]]
            for line in text.splitlines() if line.startswith("| ") and "strategy" not in line}
    assert set(rows) == {(s, k) for s in ("random", "hyperband", "asha") for k in ("1", "4")}
    assert rows[("random", "1")][2] == "3" and rows[("random", "4")][2] == "12"
    assert rows[("random", "1")][0] == "no result yet"  # a quarter of the horizon is 6.75 s: no training done
    assert int(rows[("hyperband", "1")][2]) > 3  # partial trainings: more evaluations in the same time
    assert "horizon 27 simulated s" in text and out.stat().st_size > 1000


@pytest.mark.parametrize("label", ["hyperband", "asha"])
def test_on_the_shipped_mini_the_best_found_has_its_test_accuracy(label):
    """The shipped mini has learning curves: multi-fidelity searches run on it, and the function they
    report (trained to the end) comes with its final test accuracy, as in a search of final values."""
    mini = ActBench("mini")
    r = run_search(mini, make_strategy(label), max_seconds=60, seed=0, n_workers=4)
    assert mini.epochs in r.epochs and np.isfinite(r.best_val[-1]) and np.isfinite(r.best_test[-1])
    df = mini.table()
    assert r.best_test[-1] in set(df.loc[df["val_acc"] == r.best_val[-1], "test_acc"])
