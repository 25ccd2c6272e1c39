"""One cost for every route (actbench.query.cost): what a query, an epoch query, the objective at every
spelling of a fidelity, the budget, ``elapsed()``, ``best(epoch=)``, the simulated clock and the syne-tune
export report is what is charged, on every function and epoch of the shipped mini table, and the rule
itself on SYNTHETIC tables written here (test fixtures, not the paper's data)."""

import math

import numpy as np
import pytest

from actbench import ActBench
from actbench.interop import Objective
from actbench.query.cost import median_known, run_costs
from actbench.query.slots import params_of
from actbench.table import Provenance, TableInfo, TableWriter
from actbench.table.schema import CURVE_METRICS


@pytest.fixture(scope="module")
def mini():
    return ActBench("mini")


def test_every_function_and_epoch_costs_the_same_by_every_route_and_spelling(mini):
    """The invariant over all 2,791 functions x 10 epochs: the objective's cost, what it charged, the
    record's cost_s, the budget, ActBench.cost and elapsed(aggregate=True) agree, whichever spelling of the
    fidelity asked (int, whole float, NumPy integer, {"epoch": k}, None for the last epoch)."""
    obj = Objective(mini)
    b = mini.budget
    table = mini.elapsed(aggregate=True)  # (functions, epochs): what a first query charges
    assert np.isfinite(table).all()
    names = mini.names
    E = mini.epochs
    for row, name in enumerate(names):
        for k in range(1, E + 1):
            want = table[row, k - 1]
            spellings = [k, float(k), np.int64(k), {"epoch": k}] + ([None] if k == E else [])
            for fidelity in spellings:
                b.reset()
                e = obj.evaluate(name, fidelity)
                assert e.cost == e.info["charged_s"] == e.info["cost_s"] == b.seconds == want, (name, k, fidelity)
            assert mini.cost(name, epoch=k) == want
    b.reset()
    final = np.array([mini.query(n).cost_s for n in names])
    np.testing.assert_array_equal(final, table[:, -1])
    # at the end of training a function costs the table's runtime: the median of its runs' runtimes
    np.testing.assert_array_equal(final, mini.metric("runtime_s"))
    b.reset()


def test_a_configspace_fidelity_and_a_configuration_key_cost_the_same(mini):
    """The fidelity as a ConfigSpace configuration of the fidelity space (SMAC's and DEHB's way) and as the
    configuration's own "epoch" key: the same cost as the plain number, for every epoch."""
    from ConfigSpace import Configuration

    obj = Objective(mini)
    fs = obj.get_fidelity_space(seed=0)
    table = mini.elapsed(aggregate=True)
    for name in ("swish(x)", "pow(arctan(x),elu(x))", mini.names[777]):
        row = mini.resolver.resolve(name).row
        config = params_of(mini, row)
        for k in range(1, mini.epochs + 1):
            for call in (lambda: obj.evaluate(name, Configuration(fs, values={"epoch": k})),
                         lambda: obj.evaluate({**config, "epoch": k})):
                mini.budget.reset()
                e = call()
                assert e.cost == e.info["charged_s"] == table[row, k - 1] and e.info["epoch"] == k
    mini.budget.reset()


def test_per_seed_costs_are_each_runs_own(mini):
    """A query of one seed costs that run (elapsed()), never the median of the runs."""
    per_run = mini.elapsed()  # (functions, seeds, epochs)
    rows = np.flatnonzero(mini.seed_diverged().any(axis=1))[:40].tolist() + list(range(40))
    for j, seed in enumerate(mini.seeds):
        obj = Objective(mini, seed=seed)
        for row in rows:
            for k in (1, 5, 10):
                mini.budget.reset()
                e = obj.evaluate(mini.names[row], k)
                assert e.cost == per_run[row, j, k - 1] == mini.cost(mini.names[row], seed=seed, epoch=k)
        np.testing.assert_array_equal(per_run[:, j, -1], mini.per_seed("runtime_s")[:, j])
    mini.budget.reset()


def test_the_last_epoch_is_the_end_of_training_on_every_route(mini):
    """query(name, epoch=10) answers what query(name) answers, in every value, flag and cost, for the
    aggregate and for each seed, on every mini function."""
    from actbench.table.schema import METRICS

    for name in mini.names:
        for seed in (None, *mini.seeds):
            a, e = mini.query(name, seed=seed), mini.query(name, seed=seed, epoch=10)
            for c in METRICS:  # exactly: the same numbers, NaN where both have none
                x, y = getattr(a, c), getattr(e, c)
                assert x == y or (math.isnan(x) and math.isnan(y)), (name, seed, c)
            assert (a.diverged, a.missing, a.cost_s) == (e.diverged, e.missing, e.cost_s), (name, seed)
    mini.budget.reset()


def test_a_run_that_stopped_costs_all_it_ran(mini):
    """The function that diverged at once (pow(arctan(x),elu(x)): no epoch reached by any run) costs its
    short runtime at every epoch, and charges nothing more at a later one."""
    name = "pow(arctan(x),elu(x))"
    runtime = mini.query(name).runtime_s
    mini.budget.reset()
    costs = [mini.query(name, epoch=k).cost_s for k in range(1, 11)]
    assert costs == [runtime] * 10 and mini.budget.seconds == runtime
    mini.budget.reset()


def test_stepping_through_epochs_costs_one_full_training(mini):
    for name in ("swish(x)", "relu(x)", mini.names[1234]):
        mini.budget.reset()
        for k in range(1, 11):
            mini.query(name, epoch=k)
        stepwise = mini.budget.seconds
        mini.budget.reset()
        assert stepwise == pytest.approx(mini.query(name).cost_s, rel=1e-12)
    mini.budget.reset()


def test_the_simulated_clock_runs_each_evaluation_for_what_it_is_charged(mini):
    from actbench.search import run_search

    for workers in (1, 3):
        r = run_search(mini, "hyperband", budget=30, seed=0, n_workers=workers)
        charged = np.diff(np.concatenate([[0.0], r.seconds]))
        assert r.seconds[-1] == pytest.approx(mini.budget.seconds)
        assert (charged >= 0).all() and np.isfinite(r.wall).all()
        if workers == 1:  # one worker: the clock is the sum of what was charged
            np.testing.assert_allclose(r.wall, r.seconds)
    mini.budget.reset()


def test_best_at_an_epoch_is_the_epoch_query(mini):
    top = mini.best(5, epoch=3)
    assert list(top.columns)[-2:] == ["diverged", "cost_s"] and mini.budget.evaluations == 0
    for name, row in top.iterrows():
        rec = mini.query(name, epoch=3)
        assert row["val_acc"] == rec.val_acc and row["cost_s"] == rec.cost_s and math.isnan(row["test_acc"])
    np.testing.assert_array_equal(mini.best(len(mini), epoch=10)["val_acc"].to_numpy(),
                                  mini.best(len(mini))["val_acc"].to_numpy())
    agg = mini.curves("val_acc", aggregate=True)
    np.testing.assert_array_equal(agg[:, 2], mini.best(len(mini), epoch=3).sort_index()["val_acc"]
                                  .reindex(mini.names).to_numpy())
    with pytest.raises(ValueError, match="between 1 and 10"):
        mini.best(epoch=11)
    with pytest.raises(ValueError, match="no aggregate over seeds"):
        mini.curves("epoch_s", aggregate=True)
    mini.budget.reset()


# --- the rule on synthetic tables ----------------------------------------------------------------


E = 4


def _table(tmp_path, rows):
    """A SYNTHETIC table with curves: rows of (name, per-run runtimes or None, per-run epoch seconds)."""
    path = tmp_path / "cost.h5"
    with TableWriter(path, info=TableInfo(benchmark="cost", description="test fixture (synthetic)"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic costs"),
                     seeds=[0, 1, 2], epochs=E) as w:
        for name, runtimes, epoch_s in rows:
            curves = {c: [None if s is None else [0.5] * len(s) for s in epoch_s] for c in CURVE_METRICS}
            curves["epoch_s"] = epoch_s
            values = {"val_acc": 0.5}
            per_seed = {"val_acc": [0.5 if s else math.nan for s in epoch_s]}
            if runtimes is not None:
                values["runtime_s"] = float(np.median(runtimes))
                per_seed["runtime_s"] = runtimes
            w.add(name, values, per_seed=per_seed, curves=curves, seed_diverged=[not s for s in epoch_s])
    return ActBench(path)


def test_the_rule_for_stopped_runs_and_unknown_runtimes(tmp_path):
    b = _table(tmp_path, [
        # three runs: one full, one stopped after epoch 2, one stopped before its first epoch
        ("relu(x)", [8.0, 3.0, 0.5], [[1.0, 1.0, 1.0, 1.0], [1.0, 2.0], None]),
        # no runtime recorded: each run costs its training seconds
        ("tanh(x)", None, [[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0], [3.0, 3.0, 3.0, 3.0]]),
        # nothing recorded at all: the fallback
        ("swish(x)", None, [None, None, None]),
    ])
    runs = b.elapsed()
    np.testing.assert_allclose(runs[0], [[2, 4, 6, 8], [1, 3, 3, 3], [0.5, 0.5, 0.5, 0.5]])
    np.testing.assert_allclose(runs[1], [[1, 2, 3, 4], [2, 4, 6, 8], [3, 6, 9, 12]])
    np.testing.assert_allclose(b.elapsed(aggregate=True)[:2], [[1, 3, 3, 3], [2, 4, 6, 8]])
    fallback = 5.5  # the median of the known final costs, 3 and 8, times k / E at epoch k
    np.testing.assert_allclose(runs[2], [[fallback * k / E for k in range(1, E + 1)]] * 3)
    r = b.query("swish(x)")
    assert math.isnan(r.runtime_s) and r.cost_s == fallback == b.budget.seconds
    b.budget.reset()
    assert b.query("swish(x)", epoch=2).cost_s == fallback / 2
    assert b.query("relu(x)", seed=0, epoch=1).cost_s == 2.0
    assert b.query("relu(x)", seed=2, epoch=1).runtime_s == 0.5


def test_run_costs_and_the_median_of_known_values():
    epoch_s = np.array([[[1.0, 3.0, np.nan], [np.nan, np.nan, np.nan]]])
    np.testing.assert_allclose(run_costs(epoch_s, np.array([[8.0, 2.0]])), [[[2, 8, 8], [2, 2, 2]]])
    assert np.isnan(run_costs(epoch_s, np.array([[np.nan, np.nan]]))[0, 1]).all()
    x = np.array([[1.0, np.nan, 3.0, 10.0], [np.nan] * 4, [2.0, 4.0, np.nan, np.nan]])
    got = median_known(x, axis=1)
    assert got[0] == 3.0 and math.isnan(got[1]) and got[2] == 3.0
    assert median_known(np.array([5.0, 1.0, 3.0]), axis=0) == np.median([5.0, 1.0, 3.0])
