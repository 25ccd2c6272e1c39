"""The optimisers researchers already use, run on the shipped mini table as docs/optimizers.md shows them:
SMAC (its HPO facade, with the objective's stopper), syne-tune (its simulator backend on the exported
blackbox), Optuna (an objective, and offline searches kept in an Optuna storage that the Optuna dashboard
reads). Short runs: each test takes seconds."""

import json
import math
import wsgiref.util
from io import BytesIO

import numpy as np
import pytest

from actbench import ActBench
from actbench.interop import Objective


@pytest.fixture(scope="module")
def mini():
    return ActBench("mini")


def test_smac_stops_on_distinct_functions_and_never_sees_nan(mini, tmp_path):
    from smac import HyperparameterOptimizationFacade, Scenario

    objective = Objective(mini, max_evaluations=20)
    scenario = Scenario(objective.get_configuration_space(), deterministic=True, n_trials=200,
                        output_directory=tmp_path / "smac", seed=0)
    smac = HyperparameterOptimizationFacade(scenario, objective.smac, callbacks=[objective.stopper],
                                            overwrite=True, logging_level=40)
    incumbent = smac.optimize()
    assert objective.budget.evaluations == 20 and objective.calls >= 20  # stopped by the stopper, not n_trials
    costs = [smac.runhistory.get_cost(c) for c in smac.runhistory.get_configs()]
    assert all(math.isfinite(c) for c in costs)
    best = objective.evaluate(incumbent)
    assert best.value == pytest.approx(min(costs)) and not best.info["new"]


def test_smac_multi_fidelity_facade_runs_on_epochs(mini, tmp_path):
    from smac import MultiFidelityFacade, Scenario

    objective = Objective(mini, max_evaluations=8)
    scenario = Scenario(objective.get_configuration_space(), deterministic=True, n_trials=300, min_budget=1,
                        max_budget=mini.epochs, output_directory=tmp_path / "smac", seed=0)
    smac = MultiFidelityFacade(scenario, objective.smac_multifidelity, callbacks=[objective.stopper],
                               overwrite=True, logging_level=40)
    smac.optimize()
    budgets = {k.budget for k in smac.runhistory}
    assert objective.budget.evaluations == 8 and len(budgets) > 1  # fractional SMAC budgets were whole epochs


def test_syne_tune_blackbox_holds_the_tables_values(mini):
    from actbench.interop import syne_tune_blackbox

    bb = syne_tune_blackbox(mini)
    assert len(bb.hyperparameters) == 5103 and bb.num_seeds == 3 and bb.num_fidelities == 10
    row = mini.resolver.resolve("swish(x)").row
    from actbench.query.slots import params_of

    config = params_of(mini, row)
    curve = mini.curves("val_acc", [row])[0]
    elapsed = mini.elapsed([row])[0]
    for seed in range(3):
        for epoch in (1, 4, 10):
            r = bb.objective_function(config, fidelity={"epoch": epoch}, seed=seed)
            assert r["val_acc"] == pytest.approx(curve[seed, epoch - 1], rel=1e-6)
            assert r["elapsed_time"] == pytest.approx(elapsed[seed, epoch - 1], rel=1e-6)
    arr = bb.objectives_evaluations
    assert np.isfinite(arr).all()  # diverged runs are worst values, never NaN
    bad = mini.resolver.resolve(mini.names[int(np.flatnonzero(np.isnan(mini.metric("val_acc")))[0])]).row
    r = bb.objective_function(params_of(mini, bad), fidelity={"epoch": 10}, seed=0)
    assert r["val_acc"] == 0.0 or r["diverged"] == 0.0


def test_syne_tune_asha_runs_on_the_simulator(mini, tmp_path):
    from syne_tune import StoppingCriterion, Tuner
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.blackbox_repository.simulated_tabular_backend import UserBlackboxBackend
    from syne_tune.optimizer.baselines import ASHA

    from actbench.interop import syne_tune_blackbox

    bb = syne_tune_blackbox(mini)
    tuner = Tuner(trial_backend=UserBlackboxBackend(bb, elapsed_time_attr="elapsed_time"),
                  scheduler=ASHA(bb.configuration_space, metric="val_error", do_minimize=True, time_attr="epoch",
                                 max_t=mini.epochs, random_seed=0),
                  stop_criterion=StoppingCriterion(max_num_trials_started=40), n_workers=4, sleep_time=0,
                  callbacks=[SimulatorCallback()], save_tuner=False, print_update_interval=1e9,
                  results_update_interval=1e9)
    tuner.run()
    from syne_tune.experiments import load_experiment

    results = load_experiment(tuner.name).results
    reached = results.groupby("trial_id")["epoch"].max()
    assert results["val_error"].notna().all() and len(reached) >= 30
    assert (reached == 1).sum() > (reached == mini.epochs).sum() > 0  # ASHA stopped most trials after one epoch
    trial_id, config = tuner.best_config()
    assert set(config) == {"binary", "unary_1", "unary_2"} and trial_id in set(results["trial_id"])
    from actbench.query.slots import name_of

    row = mini.resolver.resolve(name_of(mini, config)).row  # the best configuration names a trained function
    # ASHA's best is the lowest error seen at any epoch: a function can look best early and diverge later
    # (NaN final values), so the check is that the table has what ASHA saw for it, not a final value
    assert np.isfinite(mini.data.curves("val_acc", [row])).any()


def test_run_search_keeps_its_trials_in_an_optuna_storage_the_dashboard_reads(mini, tmp_path):
    import optuna
    from optuna_dashboard import wsgi

    from actbench.search import run_search

    url = f"sqlite:///{tmp_path / 'searches.db'}"
    r = run_search(mini, "random", budget=12, seed=3, storage=url)
    sh = run_search(mini, "sh", budget=30, seed=0, storage=url)
    study = optuna.load_study(study_name=r.study, storage=url)
    assert r.study == "mini-random-seed3" and len(study.trials) == 12
    for t, name, val, test in zip(study.trials, r.names, r.val_acc, r.test_acc):
        assert t.user_attrs["function"] == name
        assert t.value == (0.0 if math.isnan(val) else val) and t.user_attrs["diverged"] == math.isnan(val)
        assert mini.resolver.resolve(name).row == mini.resolver.resolve(
            "{binary}({unary_1}(x),{unary_2}(x))".format(**t.params)).row
    mf = optuna.load_study(study_name=sh.study, storage=url)
    states = {t.state.name for t in mf.trials}
    assert states == {"COMPLETE", "PRUNED"} and len(mf.trials) == len(set(sh.names))
    assert any(t.intermediate_values for t in mf.trials)
    with pytest.raises(ValueError, match="holds a study named 'mini-random-seed3' already"):
        run_search(mini, "random", budget=12, seed=3, storage=url)

    app = wsgi(optuna.storages.RDBStorage(url))

    def get(path):
        env = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": BytesIO()}
        wsgiref.util.setup_testing_defaults(env)
        status = []
        body = b"".join(app(env, lambda s, h, e=None: status.append(s)))
        assert status[0].startswith("200"), (path, status)
        return json.loads(body)

    listed = {s["study_name"]: s for s in get("/api/studies")["study_summaries"]}
    assert set(listed) == {"mini-random-seed3", "mini-sh-seed0"}
    detail = get(f"/api/studies/{listed['mini-random-seed3']['study_id']}")
    assert len(detail["trials"]) == 12
    assert any(a["key"] == "function" for a in detail["trials"][0]["user_attrs"])


def test_actbench_search_storage_from_the_command_line(tmp_path, capsys):
    import optuna

    from actbench.cli import main

    url = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["search", "--strategy", "random", "optuna:tpe", "--repeats", "2", "--budget", "10",
                 "--storage", url, "--study-name", "trial"]) == 0
    assert "kept 4 searches as Optuna studies" in capsys.readouterr().out
    names = sorted(optuna.get_all_study_names(url))
    assert names == ["trial-optuna:tpe-seed0", "trial-optuna:tpe-seed1", "trial-random-seed0", "trial-random-seed1"]
    assert all(len(optuna.load_study(study_name=n, storage=url).trials) == 10 for n in names)


def test_the_docs_table_is_the_one_its_json_gives():
    """docs/optimizers.md's table is what docs/scripts/optimizers_table.py prints from the figures it wrote."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "docs/scripts/optimizers_table.py", "--table", "--json",
                          "docs/optimizers-mini.json"], cwd=root, capture_output=True, text=True, check=True).stdout
    table = out[out.index("| optimiser"):].strip()
    page = (root / "docs" / "optimizers.md").read_text()
    assert table in page
    data = json.loads((root / "docs" / "optimizers-mini.json").read_text())
    assert data["budget"] == 50 and all(len(r) == data["seeds"] == 10 for r in data["runs"].values())
    assert all(r["functions"] == 50 for runs in data["runs"].values() for r in runs)


def test_keeping_and_reading_searches_needs_no_pytorch(tmp_path):
    """``actbench search --storage`` and reading the study back run where importing torch fails."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    blocker = tmp_path / "blocked" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('keeping a search must not import torch')\n")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{blocker.parent}{os.pathsep}{root}"}
    url = f"sqlite:///{tmp_path / 's.db'}"
    code = ("import sys, optuna; from actbench.cli import main; "
            f"assert main(['search', '--strategy', 'knr', '--repeats', '1', '--budget', '10', '--storage', '{url}']) == 0; "
            f"s = optuna.load_study(study_name='mini-knr-both-seed0', storage='{url}'); "
            "assert len(s.trials) == 10; assert 'torch' not in sys.modules or sys.modules['torch'] is None")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
