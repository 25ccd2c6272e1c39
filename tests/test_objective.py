"""What the objective accepts and refuses, as optimisers and careless callers send it, on the shipped mini table:
the best of a run at the optimiser's deepest fidelity, the fidelity carried in a configuration, counts of
answered and refused calls, limits, rounded fidelities, and errors that are actbench's and say what to do."""

import math

import numpy as np
import pytest

from actbench import ActBench
from actbench.base.errors import ActBenchError, BudgetExhausted, ConfigurationError, FidelityError, LimitError
from actbench.interop import Objective
from actbench.query.slots import INDEX_PARAM, name_of, params_of


@pytest.fixture(scope="module")
def mini():
    return ActBench("mini")


def test_best_is_judged_at_the_deepest_fidelity_evaluated(mini):
    """DEHB with max_fidelity=9 (whole epochs 1, 3, 9) never asks for epoch 10: best() is its best at 9."""
    obj = Objective(mini)
    assert obj.best() is None
    for name, k in (("swish(x)", 1), ("relu(x)", 3), ("swish(x)", 9), ("tanh(x)", 9), ("elu(x)", 1)):
        obj.evaluate(name, k)
    best = obj.best()
    at9 = {n: mini.query(n, epoch=9).val_acc for n in ("swish(x)", "tanh(x)")}
    assert best["epoch"] == 9 and best["val_acc"] == max(at9.values())
    assert obj.best(epoch=3)["function"] == mini.lookup("relu(x)") and obj.best(epoch=10) is None
    obj.evaluate("swish(x)")  # the end of training: the deepest now
    assert obj.best()["epoch"] == 10 and obj.best()["function"] == mini.lookup("swish(x)")


def test_a_fidelity_carried_in_the_configuration_is_the_fidelity_in_either_form(mini):
    row = mini.resolver.resolve("swish(x)").row
    for form, config in (("index", {INDEX_PARAM: row}), ("auto", params_of(mini, row))):
        obj = Objective(mini, form=form)
        e = obj.evaluate({**config, "epoch": 3})
        assert e.info["epoch"] == 3 and e.cost == mini.cost("swish(x)", epoch=3), form
        assert obj.evaluate({**config, "epoch": 3}, 3).info["charged_s"] == 0.0  # the same fidelity twice: fine
        with pytest.raises(FidelityError, match="two fidelities: 5 as the argument and epoch=3"):
            obj.evaluate({**config, "epoch": 3}, 5)
    with pytest.raises(ConfigurationError, match="the index form takes only 'function'"):
        name_of(mini, {INDEX_PARAM: row, "width": 3})  # any other key is refused, in both forms
    with pytest.raises(ConfigurationError, match="do not name a function"):
        name_of(mini, {**params_of(mini, row), "width": 3})
    mini.budget.reset()


def test_calls_count_answers_and_refused_counts_the_rest(mini):
    obj = Objective(mini, max_evaluations=2)
    obj("swish(x)")
    with pytest.raises(FidelityError):
        obj.evaluate("relu(x)", 2.5)
    with pytest.raises(ConfigurationError):
        obj({"binary": "nope", "unary_1": "relu", "unary_2": "relu"})
    obj("relu(x)")
    with pytest.raises(BudgetExhausted):
        obj("tanh(x)")
    obj("swish(x)")  # evaluated before: answered, free
    assert (obj.calls, obj.refused, len(obj.history)) == (3, 3, 3)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 2.5, 0, -3, True, "3", [3]])
def test_max_evaluations_must_be_a_whole_number_of_functions(mini, bad):
    with pytest.raises(LimitError, match="max_evaluations must be a whole number of distinct functions"):
        Objective(mini, max_evaluations=bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1, 0, False, "60"])
def test_max_seconds_must_be_positive_and_finite(mini, bad):
    with pytest.raises(LimitError, match="max_seconds must be a finite number of simulated seconds above 0"):
        Objective(mini, max_seconds=bad)


def test_limits_of_run_search_are_checked_the_same_way(mini):
    from actbench.search import run_search

    with pytest.raises(LimitError, match="budget must be a whole number"):
        run_search(mini, "random", budget=2.5)
    with pytest.raises(LimitError, match="max_seconds must be a finite number"):
        run_search(mini, "random", max_seconds=math.nan)
    assert Objective(mini, max_evaluations=3.0, max_seconds=np.float64(5)).max_evaluations == 3.0
    assert isinstance(LimitError("x"), ValueError) and isinstance(LimitError("x"), ActBenchError)


def test_rounded_fidelities_stay_within_the_epochs(mini):
    obj = Objective(mini, round_fidelity=True)
    assert [obj.evaluate("swish(x)", f).info["epoch"] for f in (10 / 9, 10 / 3, 9.5, 10.0, 1)] == [2, 4, 10, 10, 1]
    for f in (0.01, 0.5, -0.5, 10.2, math.nan, math.inf):
        with pytest.raises(FidelityError, match=f"fidelity {f!r} is outside the table's epochs 1..10"):
            obj.evaluate("swish(x)", f)
    for f in (0, 11, -1):  # whole numbers outside the range: the message shows what was given
        with pytest.raises(FidelityError, match=f"between 1 and 10 .*got {f}$"):
            obj.evaluate("swish(x)", f)
    mini.budget.reset()


def test_errors_are_actbenchs_and_show_what_was_given(mini):
    with pytest.raises(ValueError, match="seed '0' is not one of the table's seeds"):
        Objective(mini, seed="0")
    with pytest.raises(ValueError, match="seed True is not one of"):
        Objective(mini, seed=True)
    obj = Objective(mini)
    for call, kind in ((lambda: obj.evaluate("swish(x)", {"epochs": 3}), FidelityError),
                       (lambda: obj.evaluate({"binary": "add"}), ConfigurationError),
                       (lambda: obj.evaluate({INDEX_PARAM: 10**6}), ConfigurationError),
                       (lambda: mini.query("swish(x)", epoch=0), FidelityError)):
        with pytest.raises(kind) as e:
            call()
        assert isinstance(e.value, ActBenchError) and isinstance(e.value, ValueError)
    mini.budget.reset()


def test_an_optuna_study_whose_direction_disagrees_is_refused(mini):
    import optuna

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    with pytest.raises(ConfigurationError, match="maximizes but this objective's value is to minimize"):
        study.optimize(Objective(mini), n_trials=1)
    up = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    up.optimize(Objective(mini, direction="maximize"), n_trials=3)
    assert len(up.trials) == 3 and all(t.value >= 0 for t in up.trials)
    mini.budget.reset()


def test_the_duplicate_study_error_speaks_to_a_python_caller(mini, tmp_path):
    from actbench.search import run_search

    url = f"sqlite:///{tmp_path / 's.db'}"
    run_search(mini, "random", budget=3, seed=0, storage=url)
    with pytest.raises(ValueError, match=r"run_search\(\.\.\., study_name=NAME\)"):
        run_search(mini, "random", budget=3, seed=0, storage=url)


def test_a_search_kept_in_a_storage_counts_the_storing_in_its_time(mini, tmp_path, monkeypatch):
    import time

    import actbench.search.storage as storage
    from actbench.search import run_search

    real = storage.save_study

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(storage, "save_study", slow)
    r = run_search(mini, "random", budget=3, seed=0, storage=f"sqlite:///{tmp_path / 's.db'}")
    assert r.wall_s >= 0.3


def test_syne_tune_backend_refuses_what_it_cannot_make_reproducible(mini, monkeypatch):
    import sys

    from syne_tune.backend.simulator_backend.simulator_backend import SimulatorBackend

    from actbench.base.errors import MissingExtraError
    from actbench.interop import syne_tune_backend, syne_tune_blackbox

    bb = syne_tune_blackbox(mini)
    backend = syne_tune_backend(bb)
    assert backend.tuner_sleep_time == pytest.approx(np.median(mini.elapsed(aggregate=True)[:, 0]) / 20, rel=0.05)
    monkeypatch.delattr(SimulatorBackend, "_advance_by_outside_time")  # a release without the replaced step
    with pytest.raises(MissingExtraError, match="no _advance_by_outside_time step to replace"):
        syne_tune_backend(bb)
    monkeypatch.setitem(sys.modules, "syne_tune.blackbox_repository.simulated_tabular_backend", None)
    with pytest.raises(MissingExtraError, match="pip install syne-tune"):
        syne_tune_backend(bb)


def test_best_at_an_epoch_needs_learning_curves(tmp_path):
    from actbench.table import Provenance, TableInfo, TableWriter

    path = tmp_path / "flat.h5"  # a SYNTHETIC table without curves, written here
    with TableWriter(path, info=TableInfo(benchmark="flat", space="act-bench", n_seeds=1),
                     provenance=Provenance.now(source="test-fixture", description="synthetic values")) as w:
        w.add("add(relu(x),zero(x))", {"val_acc": 0.9, "test_acc": 0.89, "runtime_s": 60.0})
    flat = ActBench(path)
    assert flat.best(1)["val_acc"].tolist() == [0.9]
    with pytest.raises(FidelityError, match="has no learning curves"):
        flat.best(1, epoch=1)
    with pytest.raises(ValueError, match="has no learning curves"):
        flat.elapsed()
