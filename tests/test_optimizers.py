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


@pytest.mark.parametrize("facade", ["MultiFidelityFacade", "HyperbandFacade"])
def test_smac_multi_fidelity_facades_crash_no_trial(mini, tmp_path, facade):
    """SMAC's successive-halving budgets (1.11, 3.33, 10 epochs) train to the next whole epoch with
    round_fidelity=True, as docs/optimizers.md sets it up: no trial crashes, and every budget is answered."""
    import smac
    from smac import Scenario
    from smac.runhistory.enumerations import StatusType

    objective = Objective(mini, max_evaluations=12, round_fidelity=True)
    scenario = Scenario(objective.get_configuration_space(), deterministic=True, n_trials=300, min_budget=1,
                        max_budget=mini.epochs, output_directory=tmp_path / "smac", seed=0)
    opt = getattr(smac, facade)(scenario, objective.smac_multifidelity, callbacks=[objective.stopper],
                                overwrite=True, logging_level=40)
    opt.optimize()
    statuses = [v.status for v in opt.runhistory.values()]
    assert StatusType.CRASHED not in statuses and objective.refused == 0
    budgets = {round(k.budget, 2) for k in opt.runhistory}
    assert budgets == {1.11, 3.33, 10.0} and {h["epoch"] for h in objective.history} == {2, 4, 10}
    assert objective.budget.evaluations == 12 and objective.best()["epoch"] == 10
    mini.budget.reset()


def test_smac_fractional_budgets_without_rounding_are_refused_not_answered(mini):
    objective = Objective(mini)
    with pytest.raises(ValueError, match="not a whole number of epochs"):
        objective.smac_multifidelity("swish(x)", budget=10 / 3)
    assert objective.refused == 1 and objective.calls == 0


def test_syne_tune_blackbox_holds_the_tables_values(mini):
    from actbench.interop import syne_tune_blackbox
    from actbench.query.slots import params_of

    each = syne_tune_blackbox(mini, seed="each")
    agg = syne_tune_blackbox(mini)  # the default: the table's aggregate, as query() answers
    one = syne_tune_blackbox(mini, seed=2)
    assert len(each.hyperparameters) == 5103 and (each.num_seeds, agg.num_seeds, one.num_seeds) == (3, 1, 1)
    assert each.num_fidelities == 10
    row = mini.resolver.resolve("swish(x)").row
    config = params_of(mini, row)
    curve = mini.curves("val_acc", [row])[0]
    elapsed = mini.elapsed([row])[0]
    for epoch in (1, 4, 10):
        for seed in range(3):
            r = each.objective_function(config, fidelity={"epoch": epoch}, seed=seed)
            want = mini.query("swish(x)", seed=seed, epoch=epoch).val_acc
            assert r["val_acc"] == pytest.approx(want, rel=1e-6)
            assert r["elapsed_time"] == pytest.approx(elapsed[seed, epoch - 1], rel=1e-6)
        rec = mini.query("swish(x)", epoch=epoch)
        r = agg.objective_function(config, fidelity={"epoch": epoch}, seed=0)
        assert r["val_acc"] == pytest.approx(rec.val_acc, rel=1e-6)
        assert r["elapsed_time"] == pytest.approx(rec.cost_s, rel=1e-6)
        assert one.objective_function(config, fidelity={"epoch": epoch}, seed=0)["val_acc"] == pytest.approx(
            curve[2, epoch - 1] if epoch < 10 else mini.query("swish(x)", seed=2).val_acc, rel=1e-6)
    mini.budget.reset()
    for bb in (each, agg):
        assert np.isfinite(bb.objectives_evaluations).all()  # diverged runs are worst values, never NaN
    bad = int(np.flatnonzero(np.isnan(mini.metric("val_acc")))[0])
    r = agg.objective_function(params_of(mini, bad), fidelity={"epoch": 10}, seed=0)
    assert r["val_acc"] == 0.0 and r["diverged"] == 1.0
    with pytest.raises(ValueError, match="seed 7 is not one of the table's seeds"):
        syne_tune_blackbox(mini, seed=7)


def test_syne_tune_asha_runs_on_the_simulator(mini, tmp_path):
    from syne_tune import StoppingCriterion, Tuner
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.optimizer.baselines import ASHA

    from actbench.interop import syne_tune_backend, syne_tune_blackbox

    bb = syne_tune_blackbox(mini)
    np.random.seed(0)
    tuner = Tuner(trial_backend=syne_tune_backend(bb),
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
    # the simulated clock is training time: no trial's report arrives before its cost by the rule
    first = results.sort_values("st_tuner_time").groupby("trial_id").first()
    assert (first["st_tuner_time"] >= first["elapsed_time"] - 1e-9).all()


def test_the_documented_syne_tune_run_gives_the_same_result_twice(tmp_path):
    """docs/optimizers.md's syne-tune example, run as written in two fresh interpreters, prints the same best
    configuration and the same simulated times."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "optimizers.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "syne_tune_backend(" in b)
    code = ("from actbench import ActBench\n" + block +
            "from syne_tune.experiments import load_experiment\n"
            "r = load_experiment(tuner.name).results\n"
            "print(len(r), r['st_tuner_time'].round(9).tolist()[-5:], r['trial_id'].nunique())\n")
    outs = []
    for k in range(2):
        env = {**os.environ, "PYTHONPATH": str(root), "SYNETUNE_FOLDER": str(tmp_path / f"st{k}")}
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        outs.append(done.stdout.strip().splitlines()[-2:])
    assert outs[0] == outs[1] and "binary" in outs[0][0]


def test_run_search_keeps_its_trials_in_an_optuna_storage_the_dashboard_reads(mini, tmp_path):
    import optuna
    from optuna_dashboard import wsgi

    from actbench.search import run_search

    url = f"sqlite:///{tmp_path / 'searches.db'}"
    r = run_search(mini, "random", budget=12, seed=3, storage=url)
    sh = run_search(mini, "sh", budget=30, seed=0, storage=url)
    storage = optuna.storages.RDBStorage(url)  # the test's own reader: closed at the end
    study = optuna.load_study(study_name=r.study, storage=storage)
    assert r.study == "mini-random-seed3" and len(study.trials) == 12
    for t, name, val, test in zip(study.trials, r.names, r.val_acc, r.test_acc):
        assert t.user_attrs["function"] == name
        assert t.value == (0.0 if math.isnan(val) else val) and t.user_attrs["diverged"] == math.isnan(val)
        assert mini.resolver.resolve(name).row == mini.resolver.resolve(
            "{binary}({unary_1}(x),{unary_2}(x))".format(**t.params)).row
    mf = optuna.load_study(study_name=sh.study, storage=storage)
    states = {t.state.name for t in mf.trials}
    assert states == {"COMPLETE", "PRUNED"} and len(mf.trials) == len(set(sh.names))
    assert any(t.intermediate_values for t in mf.trials)
    with pytest.raises(ValueError, match="holds a study named 'mini-random-seed3' already"):
        run_search(mini, "random", budget=12, seed=3, storage=url)

    app = wsgi(storage)

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
    storage.engine.dispose()


def test_actbench_search_storage_from_the_command_line(tmp_path, capsys):
    import optuna

    from actbench.cli import main

    url = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["search", "--strategy", "random", "optuna:tpe", "--repeats", "2", "--budget", "10",
                 "--storage", url, "--study-name", "trial"]) == 0
    assert "kept 4 searches as Optuna studies" in capsys.readouterr().out
    storage = optuna.storages.RDBStorage(url)  # the test's own reader: closed at the end
    names = sorted(optuna.get_all_study_names(storage))
    assert names == ["trial-optuna:tpe-seed0", "trial-optuna:tpe-seed1", "trial-random-seed0", "trial-random-seed1"]
    assert all(len(optuna.load_study(study_name=n, storage=storage).trials) == 10 for n in names)
    storage.engine.dispose()


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
