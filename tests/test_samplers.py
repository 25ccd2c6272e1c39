"""The paper's search as an Optuna sampler, Optuna samplers benchmarked offline, the ConfigSpace export."""

from __future__ import annotations

import sys

import numpy as np
import optuna
import pytest

from actbench import ActBench
from actbench.cli import main
from actbench.provenance import Provenance, TableInfo
from actbench.samplers import (SurrogateSampler, configspace, name_of, params_of, row_of_trial,
                               search_space)
from actbench.search import SurrogateSearch, make_strategy, run_search
from actbench.table import TableWriter

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def mini():
    return ActBench("mini")


@pytest.mark.parametrize("features", ["fim", "both"])
def test_knr_as_an_optuna_sampler_makes_the_same_choices(mini, features):
    for seed in range(4):
        ours = run_search(mini, SurrogateSearch("knr", features), budget=40, seed=seed)
        via = run_search(mini, make_strategy("optuna:knr", features=features), budget=40, seed=seed)
        assert via.names == ours.names and via.strategy == f"optuna:knr-{features}"
        assert np.array_equal(via.best_val, ours.best_val, equal_nan=True)


def test_slots_name_every_row_and_every_combination_names_a_row(mini):
    space = search_space(mini)
    assert list(space) == ["binary", "unary_1", "unary_2"]
    assert len(space["binary"].choices) == 7 and len(space["unary_1"].choices) == 27
    for row in range(0, len(mini), 7):
        assert row_of_trial(mini, params_of(mini, row)) == row
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = {k: d.choices[rng.integers(len(d.choices))] for k, d in space.items()}
        assert row_of_trial(mini, p) is not None
    assert name_of(mini, {"binary": "max", "unary_1": "relu", "unary_2": "zero"}) == "max(relu(x),zero(x))"
    with pytest.raises(ValueError, match="it takes"):
        name_of(mini, {"binary": "max"})


def test_index_form_for_a_table_without_slots(tmp_path):
    path = tmp_path / "free.h5"
    with TableWriter(path, info=TableInfo(benchmark="free"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic")) as w:
        for i, n in enumerate(["relu(x)", "tanh(x)", "swish(x)", "elu(x)", "abs(x)"]):
            w.add(n, {"val_acc": 0.5 + 0.1 * i})
    b = ActBench(path)
    space = search_space(b)
    assert list(space) == ["function"] and (space["function"].low, space["function"].high) == (0, 4)
    assert [name_of(b, {"function": i}) for i in range(5)] == list(b)
    assert params_of(b, 3) == {"function": 3}
    with pytest.raises(ValueError, match="is not a row"):
        name_of(b, {"function": 5})
    r = run_search(b, optuna.samplers.TPESampler(seed=0), budget=5, seed=0)  # a bare sampler is accepted
    assert sorted(r.names) == sorted(b) and r.strategy == "optuna:TPESampler"


def test_never_proposes_a_function_running_or_waiting_elsewhere(mini):
    """Workers sharing a study: a function being trained, or queued for a retry, is not proposed again."""
    study = optuna.create_study(direction="maximize", sampler=SurrogateSampler(mini, "knr", "fim", seed=0))
    space = search_space(mini)
    rows = []
    trials = []
    for _ in range(12):  # 8 baselines and 4 surrogate choices, none told
        t = study.ask(space)
        trials.append(t)
        rows.append(row_of_trial(mini, t.params))
    assert len(set(rows)) == 12
    for t, r in zip(trials[:6], rows[:6]):
        study.tell(t, float(np.nan_to_num(mini.query(mini._table.names[r]).val_acc)))
    study.enqueue_trial(params_of(mini, 5))  # a waiting trial for row 5
    t = study.ask(space)  # pops the waiting trial
    assert row_of_trial(mini, t.params) == 5
    more = {row_of_trial(mini, study.ask(space).params) for _ in range(10)}
    assert not more & (set(rows) | {5})


def test_cli_compares_optuna_samplers_with_ours(tmp_path, capsys):
    out = tmp_path / "c.png"
    assert main(["search", "--strategy", "knr", "optuna:knr", "optuna:tpe", "optuna:random", "--features", "fim",
                 "--budget", "15", "--repeats", "2", "--plot", str(out)]) == 0
    text = capsys.readouterr().out
    for label in ("knr-fim", "optuna:knr-fim", "optuna:tpe", "optuna:random"):
        assert f"\n{label} " in text
    assert out.stat().st_size > 1000
    assert main(["search", "--strategy", "optuna:tpx", "--repeats", "1"]) == 2
    assert "did you mean 'tpe'" in capsys.readouterr().err


def test_configspace_export(mini):
    cs = configspace(mini, seed=0)
    assert sorted(cs.keys()) == ["binary", "unary_1", "unary_2"]
    for config in cs.sample_configuration(20):
        assert row_of_trial(mini, dict(config)) is not None


def test_optuna_missing_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "actbench.samplers", raising=False)
    monkeypatch.delitem(sys.modules, "actbench.search.samplers", raising=False)
    monkeypatch.setitem(sys.modules, "optuna", None)
    from actbench import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"actbench\[optuna\]"):
        import actbench.samplers  # noqa: F401
    with pytest.raises(MissingExtraError, match=r"actbench\[optuna\]"):
        make_strategy("optuna:tpe")


def test_configspace_missing_names_the_extra(mini, monkeypatch):
    monkeypatch.setitem(sys.modules, "ConfigSpace", None)
    from actbench import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"actbench\[optuna\]"):
        configspace(mini)


# --- SurrogateSampler in ordinary Optuna studies ----------------------------------------------------------


def _slot_names(bench, trial):
    space = search_space(bench)
    return name_of(bench, {k: trial.suggest_categorical(k, d.choices) for k, d in space.items()})


def _study_functions(bench, *, direction="maximize", joint=False, seed=0, n=30):
    """Run a study whose objective is an accuracy to maximise or an error to minimise (optionally suggesting a
    learning rate too); returns the rows its trials named, in order, and the study."""
    study = optuna.create_study(direction=direction, sampler=SurrogateSampler(bench, "knr", "fim", seed=seed))

    def objective(trial):
        rec = bench.query(_slot_names(bench, trial))
        if joint:
            trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        acc = 0.0 if rec.val_acc != rec.val_acc else rec.val_acc
        return acc if direction == "maximize" else 1.0 - acc

    study.optimize(objective, n_trials=n)
    return [bench.resolver.find(_name(bench, t)).row for t in study.trials], study


def _name(bench, t):
    return name_of(bench, {k: t.params[k] for k in search_space(bench)})


def test_a_minimising_study_makes_the_choices_of_a_maximising_one(mini):
    """The study's direction is followed: minimising the error 1 - val_acc proposes what maximising val_acc
    does (before, the sampler maximised the error)."""
    for seed in range(3):
        up, _ = _study_functions(mini, seed=seed)
        down, _ = _study_functions(mini, direction="minimize", seed=seed)
        assert up == down


def test_a_joint_study_learns_from_trials_with_other_parameters(mini):
    """A trial that also suggests a learning rate still names its function: the activation choices are those
    of the plain study, and the learning rate comes from the independent sampler."""
    plain, _ = _study_functions(mini, seed=1)
    joint, study = _study_functions(mini, joint=True, seed=1)
    assert joint == plain
    rates = [t.params["lr"] for t in study.trials]
    assert len(set(rates)) == len(rates) and all(1e-4 <= r <= 1e-1 for r in rates)
    seeded = [t.params["lr"] for t in _study_functions(mini, joint=True, seed=1)[1].trials]
    assert seeded == rates  # the independent sampler is seeded from the sampler's seed


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_failed_and_pruned_functions_are_remembered(mini, direction):
    """Functions whose trial failed (the objective returned NaN: a diverged run) or was pruned by the
    objective count as the worst and are never proposed again."""
    sampler = SurrogateSampler(mini, "knr", "fim", seed=3)
    study = optuna.create_study(direction=direction, sampler=sampler)

    def objective(trial):
        name = _slot_names(mini, trial)
        rec = mini.query(name)
        if mini.resolver.find(name).row % 4 == 0:
            raise optuna.TrialPruned()
        if rec.val_acc != rec.val_acc:
            return float("nan")  # Optuna records a failed trial
        return rec.val_acc if direction == "maximize" else 1.0 - rec.val_acc

    study.optimize(objective, n_trials=80)
    rows = [mini.resolver.find(_name(mini, t)).row for t in study.trials]
    states = {s: sum(t.state == s for t in study.trials) for s in optuna.trial.TrialState}
    assert states[optuna.trial.TrialState.PRUNED] > 0 and states[optuna.trial.TrialState.FAIL] > 0
    assert len(set(rows)) == len(rows) == 80
    told = {t.number for t in study.trials if t.state != optuna.trial.TrialState.COMPLETE}
    assert told <= sampler._told  # every failed and pruned trial was learned from


def test_failures_before_any_value_in_a_minimising_study_are_held_back(mini):
    sampler = SurrogateSampler(mini, "knr", "fim", seed=0)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    first = study.ask()
    _slot_names(mini, first)
    study.tell(first, state=optuna.trial.TrialState.FAIL)
    second = study.ask()
    assert _slot_names(mini, second) != _name(mini, study.trials[0])  # never proposed again
    assert first.number not in sampler._told  # no value known yet to count it as the worst


def test_multi_objective_studies_name_the_objective(mini):
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=SurrogateSampler(mini, seed=0))
    with pytest.raises(ValueError, match=r"2 objectives: pass SurrogateSampler\(\.\.\., objective=i\)"):
        _slot_names(mini, study.ask())  # the sampler is asked at the trial's first suggestion
    bad = optuna.create_study(directions=["maximize", "minimize"], sampler=SurrogateSampler(mini, seed=0, objective=2))
    with pytest.raises(ValueError, match="objective=2 is not an objective"):
        _slot_names(mini, bad.ask())
    ok = optuna.create_study(directions=["maximize", "minimize"],
                             sampler=SurrogateSampler(mini, "knr", "fim", seed=0, objective=0))

    def objective(trial):
        rec = mini.query(_slot_names(mini, trial))
        return (0.0 if rec.val_acc != rec.val_acc else rec.val_acc), rec.runtime_s

    ok.optimize(objective, n_trials=12)
    single, _ = _study_functions(mini, seed=0, n=12)
    assert [mini.resolver.find(_name(mini, t)).row for t in ok.trials] == single
