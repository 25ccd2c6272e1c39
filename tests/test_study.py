"""Search studies on Optuna storage: admission (duplicates, budget), re-queued trials of dead workers,
the study table kept up with the storage, and a CPU demonstration with two worker processes on the digits
task, one of them killed mid-run (SIGKILL), on a PostgreSQL server the tests start. On SQLite, the default
storage, the same happens through Slurm in tests/test_slurm.py: two array tasks of the study template, one
cancelled mid-run.

The feature table is the shipped mini benchmark (real features of the digits task, with its embeddings
shipped, so no UMAP fit is needed); its metrics are never read by a study.
"""

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
optuna = pytest.importorskip("optuna")

from optuna.trial import TrialState  # noqa: E402

from actbench import ActBench  # noqa: E402
from actbench.cli import main as cli_main  # noqa: E402
from actbench.expr import evaluate  # noqa: E402
from actbench.ops import BASELINES  # noqa: E402
from actbench.space import output_keys  # noqa: E402
from actbench.study import recorded, write_study_table  # noqa: E402
from generation.data import load_data  # noqa: E402
from generation.recipes import get_recipe  # noqa: E402
from generation.study import Study, StudyError, main as study_main, work  # noqa: E402

# the tests drive the worker's Optuna study by hand, as work() does (with its heartbeat storage)
pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")]
ROOT = Path(__file__).resolve().parents[1]
MINI = ActBench("mini").path
TINY = get_recipe("digits").model_copy(update={"name": "digits-tiny", "epochs": 6, "seeds": (0,),
                                               "description": "digits CNN, 6 epochs, 1 seed (test recipe)"})


@pytest.fixture(autouse=True)
def _close_the_tests_storages(monkeypatch):
    """The tests drive workers' Optuna studies by hand (``st.optuna_study(...)``): their storages are closed
    after each test, as a worker closes its own."""
    from actbench.sources.study import close_storage

    opened = []
    real = Study.optuna_study

    def tracked(self, **kw):
        ost = real(self, **kw)
        opened.append(ost)
        return ost

    monkeypatch.setattr(Study, "optuna_study", tracked)
    yield
    for ost in opened:
        close_storage(ost._storage)


def _study(tmp_path, **kw) -> Study:
    args = dict(task="digits", features=MINI, budget=10, feature_set="fim", recipe=TINY, heartbeat_s=1, grace_s=4)
    return Study.create(tmp_path / "st", **{**args, **kw})


def _fake(name: str, val: float) -> tuple[dict, list]:
    """A result document as generation.worker writes it, with SYNTHETIC values (nothing trained)."""
    run = {"seed": 0, "train_acc": val, "val_acc": val, "test_acc": val, "train_loss": 1.0, "val_loss": 1.0,
           "test_loss": 1.0, "runtime_s": 1.0, "diverged": False, "epochs_completed": 6}
    doc = {"format": "actbench-result-v1", "kind": "train", "name": name, "recipe": TINY.model_dump(), "runs": [run],
           "fim_layout": [["conv1", 100, 0, 4]], "fim_sha256": "", "data": "fake (test)", "seconds": 1.0,
           "env": {"git": None, "torch": "x", "gpu": None, "device": "cpu"}, "created": "2026-01-01T00:00:00Z"}
    return doc, [0.0, 0.25, 0.5, 1.0]


def _ask(st: Study, ost):
    trial = ost.ask()
    row = trial.suggest_int("function", 0, st.config.n_candidates - 1)
    trial.set_user_attr("function", st.candidates[row])
    return trial, row


def _record(ost, trial, name: str, val: float) -> None:
    doc, fim = _fake(name, val)
    trial.set_user_attr("result", doc)
    trial.set_user_attr("fim", fim)
    ost.tell(trial, val)


def test_admission_baselines_first_duplicates_and_budget(tmp_path):
    st = _study(tmp_path, budget=10)
    assert st.config.first and len(st.config.first) == len(BASELINES)
    ost = st.optuna_study(worker="A")
    asked = [_ask(st, ost) for _ in range(10)]
    assert [st.candidates[r] for _, r in asked[:8]] == list(st.config.first)  # the baselines first, as in the paper
    assert len({r for _, r in asked}) == 10  # running trials are never proposed again
    trials = ost.get_trials(deepcopy=False)
    assert all(st.verdict(trials, t.number, r) is None for t, r in asked)
    # a trial with a higher number given the same function yields to the lower one: exactly one trains
    late = ost.ask()
    late.suggest_int("function", 0, st.config.n_candidates - 1)
    trials = ost.get_trials(deepcopy=False)
    assert st.verdict(trials, late.number, asked[3][1]) == {"duplicate_of": asked[3][0].number}
    assert st.verdict(trials, late.number, 2000) == {"over_budget": True}  # 10 running fill the budget
    for t, r in asked[:9]:
        _record(ost, t, st.candidates[r], 0.5)
    ost.tell(asked[9][0], state=TrialState.FAIL)  # its worker died; not recorded
    trials = ost.get_trials(deepcopy=False)
    assert st.verdict(trials, late.number, asked[9][1]) is None  # its function may be trained again
    assert st.verdict(trials, late.number, asked[0][1]) == {"duplicate_of": 0}  # recorded ones may not
    assert st.status() == {**st.status(), "recorded": 9, "running": 1, "lost": 1, "finished": False}


def test_study_table_follows_the_storage(tmp_path):
    """A worker killed between telling its trial and rewriting study.h5 leaves the table behind; whoever
    reads it next (ActBench, actbench best, study status/best) rebuilds it from the storage."""
    st = _study(tmp_path, budget=5)
    ost = st.optuna_study(worker="A")
    vals = [0.3, 0.4, 0.5, 0.6, 0.95]
    for v in vals:
        t, r = _ask(st, ost)
        _record(ost, t, st.candidates[r], v)
    done, failed = recorded(ost.get_trials())
    # the table as the worker that recorded the 4th function wrote it
    write_study_table(st.path, st.config.model_dump(), done[:4], [], stamp="study storage: 4 complete trials, "
                                                                        "0 failed trials")
    stale = ActBench(st.path / "study.h5")
    assert len(stale) == 4
    stale.close()
    best_name = done[4].user_attrs["function"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli_main(["best", str(st.path), "-k", "1", "--names"]) == 0
    assert buf.getvalue().split() == [ActBench(st.path).lookup(best_name)]
    b = ActBench(st.path)
    assert len(b) == 5 and b.query(best_name).val_acc == 0.95 and st.status()["finished"]
    b.close()
    (st.path / "study.h5").write_bytes(b"damaged")  # a damaged table is rebuilt too
    assert len(ActBench(st.path)) == 5
    write_study_table(st.path, st.config.model_dump(), done[:2], [])
    assert study_main(["best", str(st.path), "-k", "1"]) == 0 and len(ActBench(st.path / "study.h5")) == 5


def test_work_in_process(tmp_path, capsys):
    st = _study(tmp_path, budget=3)
    counts = work(st, data=load_data(TINY, None), worker="solo", log=lambda m: None)
    assert counts == {"recorded": 3, "failed": 0, "discarded": 0, "retries": 0, "refused": 0}
    b = ActBench(st.path)
    assert sorted(b) == sorted(st.config.first[:3])
    assert b.provenance.source == "generation" and b.provenance.config["name"] == "digits-tiny"
    trials = st.trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert all(t.value == b.query(t.user_attrs["function"]).val_acc for t in trials)
    assert cli_main(["best", str(st.path), "-k", "2", "--names"]) == 0
    assert capsys.readouterr().out.split() == list(b.best(2).index)
    assert cli_main(["best", str(st.path), "-k", "0"]) == 2
    assert cli_main(["best", str(tmp_path)]) == 2  # a folder that is not a study
    assert study_main(["best", str(st.path), "-k", "1"]) == 0
    traj = st.trajectory()
    assert list(traj["function"]) == list(st.config.first[:3]) and list(traj["worker"]) == ["solo"] * 3
    assert traj["best_val"].iloc[-1] == np.nanmax(traj["val_acc"]) and traj["best_val"].is_monotonic_increasing
    assert study_main(["status", str(st.path), "--trajectory"]) == 0
    assert "recorded 3/3" in capsys.readouterr().out
    assert study_main(["status", str(tmp_path / "nope")]) == 2


def test_failed_training_is_recorded_and_a_lost_trial_discarded(tmp_path, monkeypatch):
    import generation.worker as W

    st = _study(tmp_path, budget=3)
    real = W.compute_result
    calls = []

    def flaky(recipe, name, data, device, **kw):
        calls.append(name)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory (simulated)")
        if len(calls) == 2:  # meanwhile, the trial is failed as if its heartbeat had stopped
            reader = st.optuna_study()
            t = [t for t in reader.get_trials() if t.state == TrialState.RUNNING][0]
            reader._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        return real(recipe, name, data, device, **kw)

    monkeypatch.setattr(W, "compute_result", flaky)
    logs = []
    counts = work(st, data=load_data(TINY, None), worker="w", log=logs.append)
    assert counts["failed"] == 1 and counts["discarded"] == 1 and counts["recorded"] == 2
    b = ActBench(st.path)
    assert len(b) == 3 and np.isnan(b.query(calls[0]).val_acc) and calls[1] not in b
    assert any("discarded" in m for m in logs) and st.status()["failed"] == 1


def test_a_function_whose_workers_keep_dying_is_given_up(tmp_path):
    st = _study(tmp_path, budget=2, max_retry=1)
    ost = st.optuna_study()
    dist = {"function": optuna.distributions.IntDistribution(0, st.config.n_candidates - 1)}
    ost.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, params={"function": 5}, distributions=dist,
                                            user_attrs={"function": st.candidates[5]},
                                            system_attrs={"failed_trial": 0, "retry_history": [0, 1]}))
    counts = work(st, data=load_data(TINY, None), worker="w", max_functions=1, log=lambda m: None)
    assert counts["failed"] == 1 and counts["retries"] == 1
    t = [t for t in st.trials() if t.params.get("function") == 5][0]
    assert t.state == TrialState.FAIL and "died 2 times" in t.user_attrs["error"]


def test_time_limit_stops_starting(tmp_path, monkeypatch, capsys):
    import generation.checkpoint

    monkeypatch.setattr(generation.checkpoint, "install_stop_signals", lambda: None)  # not in pytest's process
    st = _study(tmp_path, budget=5)
    logs = []
    # the first function's duration is unknown, so it is trained; then the time left is shorter than it, and
    # the worker exits with 75 (a job script requeues the job: the study is unfinished)
    assert study_main(["work", str(st.path), "--time-limit", "0.01", "--device", "cpu", "--worker", "w"]) == 75
    out = capsys.readouterr().out
    assert "w: stopping: " in out and "stopped for the time limit with the study unfinished" in out
    assert st.status()["recorded"] == 1 and st.status()["running"] == 0  # nothing left running
    counts = work(st, data=load_data(TINY, None), worker="w", time_limit_s=3600, max_functions=1, log=logs.append)
    assert counts["recorded"] == 1 and "stopped_for_time" not in counts


def _worker(study: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "generation.study", "work", str(study), "--worker", name,
                             "--threads", "1", "--device", "cpu"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _kill_test(st: Study) -> None:
    """Two worker processes share a study of budget 6 on the digits task; A is killed (SIGKILL) while it
    trains; B notices when A's heartbeat is older than the grace period, trains A's function again from the
    retry queue, finishes the study, and nothing is lost or duplicated."""
    a, b = _worker(st.path, "A"), _worker(st.path, "B")
    killed, deadline = None, time.time() + 240
    try:
        while killed is None and time.time() < deadline:
            trials = st.trials()
            mine = [t for t in trials if t.user_attrs.get("worker") == "A" and "function" in t.user_attrs]
            if any(t.state == TrialState.COMPLETE for t in mine):
                run = [t for t in mine if t.state == TrialState.RUNNING and "duplicate_of" not in t.user_attrs]
                if run:
                    a.send_signal(signal.SIGKILL)
                    a.wait(30)
                    killed = run[0]
            time.sleep(0.05)
        assert killed is not None, "worker A never had a running trial after recording one"
        if st.optuna_study().trials[killed.number].state != TrialState.RUNNING:
            pytest.fail(f"A finished trial {killed.number} before the kill landed; it could not be killed mid-run")
        opened = 0
        while b.poll() is None and time.time() < deadline:  # the study is a table at any moment
            with contextlib.suppress(FileNotFoundError):
                assert 1 <= len(ActBench(st.path)) <= 6
                opened += 1
            time.sleep(0.3)
        out = b.communicate(timeout=60)[0]
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait(30)
            p.stdout.close()
    assert b.returncode == 0, out
    name = killed.user_attrs["function"]
    assert f"B: retrying {name} (trial {killed.number}" in out and opened >= 1
    trials = st.trials()
    done, failed = recorded(trials)
    assert len(done) + len(failed) == 6 and st.status()["finished"] and st.status()["running"] == 0
    lost = [t for t in trials if t.state == TrialState.FAIL and "error" not in t.user_attrs]
    assert [t.number for t in lost] == [killed.number]
    retry = [t for t in done if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retry) == 1 and retry[0].user_attrs["worker"] == "B" and retry[0].user_attrs["function"] == name
    bench = ActBench(st.path)
    names = list(bench)
    assert len(bench) == 6 and bench.lookup(name) in names  # nothing lost
    by_a = {t.user_attrs["function"] for t in done if t.user_attrs["worker"] == "A"}
    assert by_a and {bench.lookup(n) for n in by_a} <= set(names)
    keys = {tuple(k) for k in np.stack(output_keys(np.stack([evaluate(n) for n in names]))).T}
    assert len(keys) == 6  # nothing duplicated, not even as an equivalent function
    proc = subprocess.run([sys.executable, "-m", "actbench", "best", str(st.path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and bench.best(1).index[0] in proc.stdout
    assert study_main(["status", str(st.path)]) == 0


@pytest.mark.slow
def test_two_workers_one_killed_mid_run_postgresql(tmp_path, postgres_url):
    st = _study(tmp_path, budget=6, storage=postgres_url, name=f"kill-{uuid.uuid4().hex[:8]}")
    assert st.storage_url.startswith("postgresql")
    _kill_test(st)


def test_journal_storage(tmp_path):
    st = _study(tmp_path, budget=2, storage=f"journal://{tmp_path / 'study.log'}")
    counts = work(st, data=load_data(TINY, None), worker="j", log=lambda m: None)
    assert counts["recorded"] == 2 and len(ActBench(st.path)) == 2 and (tmp_path / "study.log").stat().st_size


def test_create_errors(tmp_path):
    with pytest.raises(StudyError, match="budget must be between 1"):
        _study(tmp_path, budget=10**6)
    with pytest.raises(StudyError, match="feature set"):
        _study(tmp_path, feature_set="fimm")
    _study(tmp_path)
    with pytest.raises(StudyError, match="already a study"):
        _study(tmp_path)
    with pytest.raises(StudyError, match="not a study"):
        Study(tmp_path)
    ft = tmp_path / "partial.h5"
    from actbench.table import Provenance, TableInfo, TableWriter

    with TableWriter(ft, info=TableInfo(benchmark="t", description="test fixture (synthetic)"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic")) as w:
        w.add("relu(x)", {}, fim=[0.5, 1.0])
        w.add("tanh(x)", {})
    with pytest.raises(StudyError, match="--only-fim"):
        Study.create(tmp_path / "s2", task="digits", features=ft, budget=1, feature_set="fim")
    with pytest.raises(FileNotFoundError, match="recorded nothing yet"):
        ActBench(tmp_path / "st")
    # the mini table's FIM features are the digits CNN's: not those of ResNet-56 on CIFAR-100
    with pytest.raises(StudyError, match="--other-task-features"):
        Study.create(tmp_path / "s3", task="cifar100-resnet", features=MINI, budget=5, feature_set="fim")
    # ... and they are in the textbook K-FAC convention, not the reference's that cifar100-resnet computes
    with pytest.raises(StudyError, match="--other-fim-convention"):
        Study.create(tmp_path / "s3", task="cifar100-resnet", features=MINI, budget=5, feature_set="fim",
                     other_task_features=True)
    cfg = Study.create(tmp_path / "s3", task="cifar100-resnet", features=MINI, budget=5, feature_set="fim",
                       other_task_features=True, other_fim_convention=True).config
    assert cfg.task == "cifar100-resnet" and cfg.features_fim_convention == "kfac"


def test_candidates_are_trained_under_their_shortest_name(tmp_path):
    from actbench.table import Provenance, TableInfo, TableWriter

    ft = tmp_path / "f.h5"
    with TableWriter(ft, info=TableInfo(benchmark="t", description="test fixture (synthetic)"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic")) as w:
        w.add("sum_n(zero(x),zero(x),elu(x))", {}, equivalents=["elu(x)", "add(elu(x),zero(x))"])
        w.add("sub(relu(x),zero(x))", {}, equivalents=["add(relu(x),zero(x))", "max(relu(x),zero(x))"])
        w.add("mul(tanh(x),tanh(x))", {})
    st = Study.create(tmp_path / "st", task="digits", features=ft, budget=2, feature_set="outputs",
                      embedding=np.eye(3))
    assert st.candidates == ["elu(x)", "sub(relu(x),zero(x))", "mul(tanh(x),tanh(x))"]
    assert st.config.first == ("elu(x)", "sub(relu(x),zero(x))")
    ost = st.optuna_study(worker="A")
    assert st.candidates[ost.ask().suggest_int("function", 0, 2)] == "elu(x)"


def test_more_create_errors(tmp_path, capsys):
    from actbench.table import Provenance, TableInfo, TableWriter

    with pytest.raises(StudyError, match="surrogate must be one of knr, rf, svr, tpe, random"):
        _study(tmp_path, surrogate="gp")
    with pytest.raises(StudyError, match="embedding must be"):
        _study(tmp_path, embedding=np.zeros((3, 2)))
    ft = tmp_path / "nofim.h5"
    with TableWriter(ft, info=TableInfo(benchmark="t", description="test fixture (synthetic)"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic")) as w:
        w.add("relu(x)", {})
    with pytest.raises(StudyError, match="has no FIM features"):
        Study.create(tmp_path / "s", task="digits", features=ft, budget=1, feature_set="both")
    st = _study(tmp_path, budget=2)
    assert study_main(["best", str(st.path)]) == 2 and "nothing recorded yet" in capsys.readouterr().err
    assert study_main(["init", str(st.path), "--task", "digits", "--features", str(MINI)]) == 2
    assert "already a study" in capsys.readouterr().err


def test_storage_errors(tmp_path, capsys):
    st = _study(tmp_path, budget=2, name="same")
    with pytest.raises(StudyError, match="already has a study named 'same'"):
        Study.create(tmp_path / "other", task="digits", features=MINI, budget=2, feature_set="fim",
                     storage=st.storage_url, name="same")
    old = tmp_path / "old"
    old.mkdir()
    (old / "study.json").write_text('{"format": "actbench-study-v1", "name": "old"}')
    with pytest.raises(ValueError, match="older actbench .* generation.merge"):
        Study(old)
    assert cli_main(["best", str(old)]) == 2 and "older actbench" in capsys.readouterr().err


def test_reading_a_study_without_optuna_names_the_extra(tmp_path, monkeypatch, capsys):
    st = _study(tmp_path, budget=2)
    monkeypatch.setitem(sys.modules, "optuna", None)
    from actbench import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"actbench\[optuna\]"):
        ActBench(st.path)
    assert cli_main(["best", str(st.path)]) == 2 and "pip install 'actbench[optuna]'" in capsys.readouterr().err


def test_requeue_on_a_journal_file(tmp_path, capsys):
    """A journal file keeps no heartbeats: a dead worker's trial is re-queued by hand, then trained."""
    st = _study(tmp_path, budget=2, storage=f"journal://{tmp_path / 'j.log'}")
    ost = st.optuna_study(worker="dead")
    trial, row = _ask(st, ost)  # a worker that asked, then died
    assert study_main(["status", str(st.path), "--running"]) == 0
    assert f"trial {trial.number}\t{st.candidates[row]}" in capsys.readouterr().out
    assert study_main(["requeue", str(st.path), str(trial.number)]) == 0
    assert "queued again as trial 1" in capsys.readouterr().out
    assert study_main(["requeue", str(st.path), str(trial.number)]) == 2
    assert "only a running trial" in capsys.readouterr().err
    logs = []
    counts = work(st, data=load_data(TINY, None), worker="w", log=logs.append)
    assert counts["recorded"] == 2 and counts["retries"] == 1 and any("retrying" in m for m in logs)
    assert ActBench(st.path).lookup(st.candidates[row]) in list(ActBench(st.path))


def test_workers_need_the_feature_table_where_init_found_it(tmp_path):
    import shutil

    ft = tmp_path / "features.h5"
    shutil.copy(MINI, ft)
    st = _study(tmp_path, budget=2, features=ft)
    ft.unlink()
    with pytest.raises(StudyError, match="is not there on this machine"):
        st.optuna_study(worker="w")


def test_damaged_or_mismatched_study_files(tmp_path):
    from actbench.study import load_study, read_config

    st = _study(tmp_path, budget=2)
    cfg = read_config(st.path)
    with pytest.raises(ValueError, match="has no study 'other'"):
        load_study(st.path, {**cfg, "name": "other"})
    (st.path / "study.json").write_text("{not json")
    with pytest.raises(ValueError, match="is damaged"):
        read_config(st.path)


# --- hostile and damaged study folders --------------------------------------------------------------------


def _set_storage(st: Study, url: str) -> None:
    import json as _json

    cfg = _json.loads((st.path / "study.json").read_text())
    cfg["storage"] = url
    (st.path / "study.json").write_text(_json.dumps(cfg))


def test_readers_create_and_migrate_nothing_and_mask_credentials(tmp_path, capsys):
    import sqlite3

    st = _study(tmp_path, budget=3)
    other = tmp_path / "unrelated.db"
    with contextlib.closing(sqlite3.connect(other)) as db, db:  # closed, not only committed
        db.execute("CREATE TABLE notes (text TEXT)")
    before = other.read_bytes()
    _set_storage(st, f"sqlite:///{other}")
    assert cli_main(["best", str(st.path)]) == 2
    assert "cannot read the study's storage" in capsys.readouterr().err
    assert other.read_bytes() == before  # no Optuna table was added to someone else's database
    for url in (f"sqlite:///{tmp_path / 'missing.db'}", f"journal:///{tmp_path / 'missing.log'}"):
        _set_storage(st, url)
        assert cli_main(["best", str(st.path)]) == 2 and "does not exist; readers create nothing" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists() and not (tmp_path / "missing.log").exists()
    _set_storage(st, "postgresql+psycopg2://postgres:PASSWORD@127.0.0.1:1/db")  # nothing listens on port 1
    assert cli_main(["best", str(st.path)]) == 2
    err = capsys.readouterr().err
    assert "PASSWORD" not in err and "postgres:***@127.0.0.1:1/db" in err
    from actbench.errors import StudyStorageError

    with pytest.raises(StudyStorageError) as info:
        ActBench(st.path)
    assert "PASSWORD" not in str(info.value)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_study_database_is_a_clear_error(tmp_path, capsys, damage):
    st = _study(tmp_path, budget=3)
    ost = st.optuna_study()
    trial, row = _ask(st, ost)
    _record(ost, trial, st.candidates[row], 0.9)
    db = st.path / "study.db"
    data = bytearray(db.read_bytes())
    if damage == "garbage":
        data[100:] = bytes(len(data) - 100)  # everything past the header zeroed
    else:
        data = data[: len(data) // 3]
    db.write_bytes(bytes(data))
    (st.path / "study.h5").unlink(missing_ok=True)
    assert cli_main(["best", str(st.path)]) == 2
    err = capsys.readouterr().err
    assert "cannot read the study's storage" in err and "Traceback" not in err


@pytest.mark.parametrize("change, fragment", [
    (lambda doc, fim: ("a string", fim), "its 'result' is 'a string', not a result document"),
    (lambda doc, fim: ({**doc, "runs": [{**doc["runs"][0], "val_acc": "0.99"}]}, fim), "val_acc of a run is '0.99'"),
    (lambda doc, fim: ({**doc, "runs": [{**doc["runs"][0], "val_acc": 57.0}]}, fim), "outside its domain"),
    (lambda doc, fim: (doc, None), "its 'fim' is missing"),
])
def test_a_bad_trial_is_named_by_every_reader(tmp_path, capsys, change, fragment):
    st = _study(tmp_path, budget=3)
    ost = st.optuna_study()
    good, row = _ask(st, ost)
    _record(ost, good, st.candidates[row], 0.9)
    bad, row = _ask(st, ost)
    doc, fim = change(*_fake(st.candidates[row], 0.8))
    bad.set_user_attr("result", doc)
    if fim is not None:
        bad.set_user_attr("fim", fim)
    ost.tell(bad, 0.8)
    assert cli_main(["best", str(st.path)]) == 2
    err = capsys.readouterr().err
    assert f"trial {bad.number} of the study does not hold a valid result" in err and fragment in err


def test_a_preempted_worker_leaves_a_checkpoint_that_the_retry_continues(tmp_path, monkeypatch):
    """A worker stopped by a signal mid-function saves its run in the study folder and leaves the trial
    running; when the trial is re-queued (no heartbeat), the worker that trains it again continues the
    checkpoint instead of starting over."""
    from generation import checkpoint

    st = _study(tmp_path, budget=3)
    data = load_data(TINY, None)
    due = checkpoint.RunCheckpoint.due
    steps = len(data.train) // TINY.batch_size * TINY.epochs  # one function's steps (one seed)
    calls = {"n": 0}

    def due_then_stop(self):  # the signal lands 15 steps into the second function's run
        calls["n"] += 1
        if calls["n"] == steps + 15:
            checkpoint.STOP.request("SIGTERM")
        return due(self)

    monkeypatch.setattr(checkpoint.RunCheckpoint, "due", due_then_stop)
    try:
        with pytest.raises(checkpoint.Preempted, match="stopped on SIGTERM"):
            work(st, data=data, worker="A", checkpoint_every_s=None, log=lambda m: None)
    finally:
        checkpoint.STOP.clear()
    monkeypatch.setattr(checkpoint.RunCheckpoint, "due", due)
    running = [t for t in st.trials() if t.state == TrialState.RUNNING]
    assert len(running) == 1 and list((st.path / "checkpoints").glob("*/seed0.npz"))
    time.sleep(st.config.grace_s + 1)  # A's heartbeat is older than the grace period: its trial is re-queued
    said = []
    counts = work(st, data=data, worker="B", log=said.append)
    assert counts["recorded"] == 2 and counts["retries"] == 1
    name = running[0].user_attrs["function"]
    assert any(m.startswith(f"{name} seed 0: continued from its checkpoint") for m in said), said
    assert not any((st.path / "checkpoints").iterdir())  # cleared as each result was recorded
    assert st.status()["finished"]


def test_reading_a_study_again_and_again_holds_no_database_connections(tmp_path, postgres_url):
    """``ActBench(study_folder)`` in a loop (a dashboard, a notebook, the kill test's reader) closes its
    connections each time: the server's count of clients does not grow (it used to by one per read, until
    PostgreSQL refused clients)."""
    import psycopg2

    st = _study(tmp_path, budget=6, storage=postgres_url, name=f"read-{uuid.uuid4().hex[:8]}")
    ost = st.optuna_study()
    trial, row = _ask(st, ost)
    _record(ost, trial, st.candidates[row], 0.5)  # SYNTHETIC values (_fake): nothing is trained
    dsn = postgres_url.replace("postgresql+psycopg2://", "postgresql://")

    def clients() -> int:
        with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return cur.fetchone()[0]

    before = clients()
    for _ in range(15):
        assert len(ActBench(st.path)) == 1
    assert clients() - before <= 1
