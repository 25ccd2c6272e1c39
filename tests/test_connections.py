"""Every database actbench opens is closed when its work is done: searches kept in an SQLite storage (from
Python and from the command line), and the readers of a study on SQLite. The ``sqlite_connections`` fixture
(tests/conftest.py) records every connection and whether it was closed, so these fail on a leaked connection
on any Python, not only where Python 3.13 warns about it."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import leaked

from actbench import ActBench

pytest.importorskip("optuna")


@pytest.fixture(scope="module")
def mini():
    return ActBench("mini")


def test_the_tracker_sees_a_leaked_connection(sqlite_connections, tmp_path):
    """The check can fail: an SQLAlchemy engine that is not disposed keeps its connection open."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("select 1"))
    assert len(leaked(sqlite_connections)) == 1  # back in the engine's pool, open
    engine.dispose()
    assert leaked(sqlite_connections) == []


def test_a_search_kept_in_sqlite_closes_its_connections(mini, sqlite_connections, tmp_path):
    from actbench.search import run_search

    url = f"sqlite:///{tmp_path / 'searches.db'}"
    run_search(mini, "random", budget=5, seed=0, storage=url)
    run_search(mini, "sh", budget=12, seed=0, storage=url)
    with pytest.raises(ValueError, match="holds a study named"):
        run_search(mini, "random", budget=5, seed=0, storage=url)
    assert len(sqlite_connections) >= 3 and leaked(sqlite_connections) == []


def test_actbench_search_storage_closes_its_connections(sqlite_connections, tmp_path, capsys):
    from actbench.cli import main

    url = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["search", "--strategy", "random", "optuna:tpe", "--repeats", "2", "--budget", "8",
                 "--storage", url]) == 0
    assert "kept 4 searches" in capsys.readouterr().out
    assert sqlite_connections and leaked(sqlite_connections) == []


def test_a_caller_s_storage_object_is_left_open(mini, sqlite_connections, tmp_path):
    import optuna

    from actbench.search import run_search

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'mine.db'}")
    run_search(mini, "random", budget=4, seed=1, storage=storage)
    assert optuna.load_study(study_name="mini-random-seed1", storage=storage).trials  # still usable
    storage.engine.dispose()
    assert leaked(sqlite_connections) == []


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # the writer's heartbeat storage, driven by hand
def test_the_readers_of_a_study_on_sqlite_close_their_connections(sqlite_connections, tmp_path, capsys):
    """``study init``, a worker, ``ActBench(folder)``, ``actbench best`` and ``python -m generation.study
    status|best`` on a study whose storage is SQLite (the default): nothing stays open."""
    from actbench.cli import main
    from generation.recipes import get_recipe
    from generation.study import Study
    from generation.study import main as study_main

    tiny = get_recipe("digits").model_copy(update={"name": "digits-tiny", "epochs": 2, "seeds": (0,)})
    st = Study.create(tmp_path / "st", task="digits", features=ActBench("mini").path, budget=3, feature_set="fim",
                      recipe=tiny)
    assert sqlite_connections and leaked(sqlite_connections) == []  # study init
    from generation.study import work

    assert work(st, data=None, max_functions=0, log=lambda *a: None)["recorded"] == 0  # a worker, however it ends
    assert leaked(sqlite_connections) == []
    ost = st.optuna_study(worker="A")
    trial = ost.ask()
    row = trial.suggest_int("function", 0, st.config.n_candidates - 1)
    name = st.candidates[row]
    run = {"seed": 0, "train_acc": 0.5, "val_acc": 0.5, "test_acc": 0.5, "train_loss": 1.0, "val_loss": 1.0,
           "test_loss": 1.0, "runtime_s": 1.0, "diverged": False, "epochs_completed": 2}  # SYNTHETIC values
    trial.set_user_attr("function", name)
    trial.set_user_attr("result", {"format": "actbench-result-v1", "kind": "train", "name": name,
                                   "recipe": tiny.model_dump(), "runs": [run], "fim_layout": [["conv1", 100, 0, 4]],
                                   "fim_sha256": "", "data": "fake (test)", "seconds": 1.0,
                                   "env": {"git": None, "torch": "x", "gpu": None, "device": "cpu"},
                                   "created": "2026-01-01T00:00:00Z"})
    trial.set_user_attr("fim", [0.0, 0.25, 0.5, 1.0])
    ost.tell(trial, 0.5)
    sqlite_connections.clear()  # the test's own writer above is not what is checked
    for reader in (lambda: len(ActBench(st.path)) == 1, lambda: main(["best", str(st.path), "-k", "1"]) == 0,
                   lambda: study_main(["status", str(st.path)]) == 0,
                   lambda: study_main(["best", str(st.path), "-k", "1"]) == 0):
        n = len(sqlite_connections)
        assert reader()
        assert len(sqlite_connections) > n and leaked(sqlite_connections) == [], reader.__code__.co_consts
    capsys.readouterr()


def test_no_connection_warning_on_the_search_tests_in_a_fresh_interpreter(tmp_path):
    """As Python 3.13 does for an unclosed sqlite3 connection, make every ResourceWarning an error in a fresh
    interpreter that keeps searches in SQLite and collects its garbage."""
    code = ("import gc, warnings; warnings.simplefilter('error', ResourceWarning)\n"
            "from actbench import ActBench; from actbench.search import run_search\n"
            f"run_search(ActBench('mini'), 'random', budget=4, seed=0, storage='sqlite:///{tmp_path / 'w.db'}')\n"
            "gc.collect(); print('ok')\n")
    done = subprocess.run([sys.executable, "-X", "dev", "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
    assert "ResourceWarning" not in done.stderr


@pytest.mark.torch
def test_readers_refused_or_failing_close_what_they_opened(sqlite_connections, tmp_path, capsys):
    """A study whose storage is a foreign database, or names a study the storage lacks: the readers refuse
    with a clear error, and close the connection they opened to find out."""
    import contextlib
    import json
    import sqlite3

    from actbench.cli import main
    from actbench.sources.study import load_study, read_config
    from generation.recipes import get_recipe
    from generation.study import Study

    tiny = get_recipe("digits").model_copy(update={"name": "digits-tiny", "epochs": 2, "seeds": (0,)})
    st = Study.create(tmp_path / "st", task="digits", features=ActBench("mini").path, budget=3, feature_set="fim",
                      recipe=tiny)
    with pytest.raises(ValueError, match="has no study 'other'"):
        load_study(st.path, {**read_config(st.path), "name": "other"})
    assert leaked(sqlite_connections) == []
    other = tmp_path / "unrelated.db"
    with contextlib.closing(sqlite3.connect(other)) as db, db:
        db.execute("CREATE TABLE notes (text TEXT)")
    cfg = json.loads((st.path / "study.json").read_text())
    (st.path / "study.json").write_text(json.dumps({**cfg, "storage": f"sqlite:///{other}"}))
    assert main(["best", str(st.path)]) == 2
    assert "cannot read the study's storage" in capsys.readouterr().err
    assert leaked(sqlite_connections) == []
