"""Asynchronous parallel search on a simulated clock: finish order, clock, pending functions, budget.

Tables here are SYNTHETIC, written by the tests with known runtimes; the last test uses the shipped mini."""

from __future__ import annotations

import numpy as np
import pytest

from actbench import ActBench
from actbench.cli import main
from actbench.provenance import Provenance, TableInfo
from actbench.search import RandomSearch, RegularizedEvolution, SurrogateSearch, run_search
from actbench.table import TableWriter

NAMES = ["abs(x)", "elu(x)", "relu(x)", "selu(x)", "swish(x)", "tanh(x)"]  # in alphabetical order


@pytest.fixture
def clocked(tmp_path):
    """Six functions whose runtimes are 1..6 s and validation accuracies 0.1..0.6, alphabetically."""
    path = tmp_path / "clock.h5"
    with TableWriter(path, info=TableInfo(benchmark="clock", description="test fixture (synthetic)"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic runtimes")) as w:
        for i, n in enumerate(NAMES):
            w.add(n, {"val_acc": 0.1 * (i + 1), "test_acc": 0.1 * (i + 1), "runtime_s": float(i + 1)})
    return ActBench(path)


class Alphabetical:
    name = "alphabetical"

    def setup(self, space, rng):
        self.todo = sorted(space.names)
        self.told = []

    def ask(self):
        return self.todo.pop(0)

    def tell(self, name, val_acc):
        self.told.append(name)


def test_two_workers_finish_in_clock_order(clocked):
    s = Alphabetical()
    r = run_search(clocked, s, budget=6, n_workers=2)
    # abs (1 s) and elu (2 s) start at 0; abs ends at 1, relu (3 s) starts and ends at 4; elu ends at 2,
    # selu (4 s) ends at 6; relu at 4 starts swish (5 s), ending at 9; selu at 6 starts tanh, ending at 12
    assert list(r.wall) == [1, 2, 4, 6, 9, 12]
    assert [clocked.lookup(n) for n in r.names] == [clocked.lookup(n) for n in NAMES]
    assert s.told == NAMES and r.n_workers == 2
    assert list(r.seconds) == [1, 3, 6, 10, 15, 21]  # training seconds: the sum of the finished runtimes
    assert np.allclose(r.best_val, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert np.allclose(r.regret_at([0.5, 1, 3.9, 12, 100]), [np.nan, 0.5, 0.4, 0.0, 0.0], equal_nan=True)
    one = run_search(clocked, Alphabetical(), budget=6)
    assert list(one.wall) == list(one.seconds) == [1, 3, 6, 10, 15, 21]  # one worker: the clock is the work
    six = run_search(clocked, Alphabetical(), budget=6, n_workers=6)
    assert list(six.wall) == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="n_workers must be at least 1"):
        run_search(clocked, Alphabetical(), budget=2, n_workers=0)


class Stubborn:
    """Asks for swish until it is told its value: a strategy that ignores pending functions."""

    name = "stubborn"

    def setup(self, space, rng):
        self.known = set()
        self.order = ["swish(x)", "swish(x)", "abs(x)", "elu(x)", "relu(x)", "selu(x)", "tanh(x)"]

    def ask(self):
        return self.order.pop(0) if self.order else "tanh(x)"

    def tell(self, name, val_acc):
        self.known.add(name)


def test_asking_for_a_running_function_waits_for_its_result(clocked):
    s = Stubborn()
    r = run_search(clocked, s, budget=3, n_workers=2)
    assert clocked.budget.evaluations == 3  # swish charged once though asked twice
    assert [clocked.lookup(n) for n in r.names] == [clocked.lookup(n) for n in ["abs(x)", "elu(x)", "swish(x)"]]
    assert list(r.wall) == [1, 3, 5]  # the second ask for swish left that worker idle for the next ask


@pytest.mark.parametrize("strategy", [RandomSearch, RegularizedEvolution, lambda: SurrogateSearch("knr", "fim")])
def test_shipped_strategies_never_propose_a_running_function(strategy):
    bench = ActBench("mini")
    r = run_search(bench, strategy(), budget=60, seed=3, n_workers=8)
    assert len(r.names) == 60 == len(set(r.names)) == bench.budget.evaluations
    assert np.all(np.diff(r.wall) >= 0) and r.wall[-1] < r.seconds[-1] / 4  # 8 workers: far less wall time
    serial = run_search(bench, strategy(), budget=60, seed=3, n_workers=1)
    assert np.allclose(serial.wall, serial.seconds)


def test_cli_workers_plot_against_simulated_time(tmp_path, capsys):
    out = tmp_path / "t.png"
    assert main(["search", "--strategy", "random", "knr", "--workers", "4", "--budget", "12", "--repeats", "2",
                 "--plot", str(out)]) == 0
    assert "4 simulated workers" in capsys.readouterr().out and out.stat().st_size > 1000
    assert main(["search", "--strategy", "optuna:tpe", "--workers", "3", "--budget", "10", "--repeats", "1"]) == 0
