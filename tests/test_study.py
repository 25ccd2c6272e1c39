"""The multi-worker search study: the claim protocol in process, and a CPU demonstration with two
worker processes on the digits task, one of them killed mid-run.

The feature table is the shipped mini benchmark (real features of the digits task, with its
embeddings shipped, so no UMAP fit is needed); its metrics are never read by a study.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from actbench import ActBench  # noqa: E402
from actbench.expr import evaluate  # noqa: E402
from actbench.ops import BASELINES  # noqa: E402
from actbench.space import output_keys  # noqa: E402
from generation.data import load_data  # noqa: E402
from generation.recipes import get_recipe  # noqa: E402
from generation.study import WAIT, Study, StudyError, main as study_main, work  # noqa: E402
from generation.worker import result_key  # noqa: E402

pytestmark = pytest.mark.torch
ROOT = Path(__file__).resolve().parents[1]
MINI = ActBench("mini").path
TINY = get_recipe("digits").model_copy(update={"name": "digits-tiny", "epochs": 6, "seeds": (0,),
                                               "description": "digits CNN, 6 epochs, 1 seed (test recipe)"})


def _study(tmp_path, **kw) -> Study:
    args = dict(task="digits", features=MINI, budget=10, feature_set="fim", ttl_s=60.0, recipe=TINY)
    return Study.create(tmp_path / "st", **{**args, **kw})


def _fake_result(name: str, val: float) -> tuple[dict, bytes]:
    import io

    run = {"seed": 0, "train_acc": val, "val_acc": val, "test_acc": val, "train_loss": 1.0, "val_loss": 1.0,
           "test_loss": 1.0, "runtime_s": 1.0, "diverged": False, "epochs_completed": 6}
    b = io.BytesIO()
    np.save(b, np.zeros(377, np.float32), allow_pickle=False)
    doc = {"format": "actbench-result-v1", "kind": "train", "name": name, "recipe": TINY.model_dump(), "runs": [run],
           "fim_layout": [["conv1", 100, 0, 377]], "fim_sha256": "", "data": "fake (test)", "seconds": 1.0,
           "env": {"git": None, "torch": "x", "gpu": None, "device": "cpu"}, "created": "2026-01-01T00:00:00Z"}
    return doc, b.getvalue()


def test_protocol_claims_takeover_discard_and_budget(tmp_path):
    st = _study(tmp_path, budget=10)
    assert st.config.first and len(st.config.first) == len(BASELINES)  # the 8 baselines first, as in the paper
    claims = [st.next_claim("A") for _ in range(10)]
    assert [c.name for c in claims[:8]] == list(st.config.first)
    assert len({c.key for c in claims}) == 10
    # keys are equivalence classes: a spelling of the same function has the same key
    h1, h2 = output_keys(evaluate(claims[1].name)[None])
    assert claims[1].key == f"{int(h1[0]):016x}{int(h2[0]):016x}"
    assert st.next_claim("B") == WAIT  # the budget is held by running claims

    assert st.record(claims[0], *_fake_result(claims[0].name, 0.9))
    assert ActBench(st.path).query(claims[0].name).val_acc == 0.9  # the study opens as a table at once
    # a claim left without heartbeat for longer than the TTL is taken over, and its old owner's result discarded
    stale = st.claims_dir / f"{claims[1].key}.json"
    os.utime(stale, (time.time() - 120, time.time() - 120))
    c = st.next_claim("B")
    assert c.takeover and c.name == claims[1].name and c.worker == "B"
    assert not st.heartbeat(claims[1]) and st.heartbeat(c)
    assert not st.record(claims[1], *_fake_result(claims[1].name, 0.1))
    assert not (st.results_dir / f"{result_key(claims[1].name)}.json").exists()
    assert st.record(c, *_fake_result(c.name, 0.5))
    assert st.fail(claims[2], RuntimeError("CUDA out of memory (simulated)"))
    for cl in claims[3:]:
        assert st.record(cl, *_fake_result(cl.name, 0.7))
    assert st.next_claim("C") is None and st.status()["finished"]
    b = ActBench(st.path)
    assert len(b) == 10 and np.isnan(b.query(claims[2].name).val_acc)
    assert b.best(1).index[0] == claims[0].name
    ev = [e["event"] for e in st.events()]
    assert ev.count("takeover") == 1 and ev.count("discard") == 1 and ev.count("record") == 9 and ev.count("failed") == 1


def test_surrogate_picks_from_recorded_values(tmp_path):
    st = _study(tmp_path, budget=12, surrogate="knr")
    for _ in range(8):
        c = st.next_claim("A")
        st.record(c, *_fake_result(c.name, 0.9 if c.name == st.config.first[3] else 0.1))
    nxt = st.next_claim("A")
    emb, rows = st.embedding, {n: i for i, n in enumerate(st.candidates)}
    # k-NN (k=3) on the embedding: the pick has the one good baseline among its 3 nearest recorded functions
    assert nxt.name not in st.config.first
    recorded = np.array([rows[n] for n in st.config.first])
    d = np.linalg.norm(emb[recorded] - emb[rows[nxt.name]], axis=1)
    assert 3 in np.argsort(d)[:3]


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


def test_work_in_process(tmp_path):
    st = _study(tmp_path, budget=3)
    data = load_data(TINY, None)
    counts = work(st, data=data, worker="solo", log=lambda m: None)
    assert counts == {"recorded": 3, "failed": 0, "discarded": 0, "takeovers": 0}
    b = ActBench(st.path)
    assert sorted(b) == sorted(st.config.first[:3])
    assert b.provenance.source == "generation" and b.provenance.config["name"] == "digits-tiny"
    from actbench.cli import main as cli_main

    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli_main(["best", str(st.path), "-k", "2", "--names"]) == 0
    assert buf.getvalue().split() == list(b.best(2).index)
    assert cli_main(["best", str(st.path), "-k", "0"]) == 2
    assert cli_main(["best", str(tmp_path)]) == 2  # a folder that is not a study
    assert study_main(["best", str(st.path), "-k", "1"]) == 0
    traj = st.trajectory()
    assert list(traj["function"]) == list(st.config.first[:3]) and list(traj["worker"]) == ["solo"] * 3
    assert traj["best_val"].iloc[-1] == np.nanmax(traj["val_acc"]) and traj["best_val"].is_monotonic_increasing
    assert study_main(["status", str(st.path), "--trajectory"]) == 0
    assert study_main(["status", str(tmp_path / "nope")]) == 2


def test_time_limit_stops_claiming(tmp_path):
    st = _study(tmp_path, budget=5)
    logs = []
    # the first function's duration is unknown, so it is trained; then the time left is shorter than it
    counts = work(st, data=load_data(TINY, None), worker="w", time_limit_s=0.01, log=logs.append)
    assert counts["recorded"] == 1 and counts["stopped_for_time"] and "stopping" in logs[-1]
    assert st.status()["running"] == 0  # nothing left claimed
    counts = work(st, data=load_data(TINY, None), worker="w", time_limit_s=3600, max_functions=1, log=logs.append)
    assert counts["recorded"] == 1 and "stopped_for_time" not in counts


def _worker(study: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "generation.study", "work", str(study), "--worker", name,
                             "--threads", "1", "--device", "cpu"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_workers_one_killed_mid_run(tmp_path):
    """The CPU demonstration: two worker processes share a study of budget 10 on the digits task; A is
    killed (SIGKILL) while it trains; B takes A's function over (at once, since B sees on the same
    machine that A's process is gone; across machines after the TTL, tested above), finishes the study,
    and nothing is lost or duplicated."""
    st = _study(tmp_path, budget=10, ttl_s=4.0)
    a, b = _worker(st.path, "A"), _worker(st.path, "B")
    killed, deadline = None, time.time() + 240
    try:
        while killed is None and time.time() < deadline:
            cl = st.claims()
            a_done = [c for c in cl.values() if c["worker"] == "A" and c["state"] == "done"]
            a_run = [c for c in cl.values() if c["worker"] == "A" and c["state"] == "running"]
            if a_done and a_run:
                a.send_signal(signal.SIGKILL)
                a.wait(30)
                killed = a_run[0]
            time.sleep(0.005)
        assert killed is not None, "worker A never held a claim after recording one"
        recorded_by_a = {e["name"] for e in st.events() if e["event"] == "record" and e["worker"] == "A"}
        if killed["name"] in recorded_by_a:
            pytest.fail(f"A finished {killed['name']} before the kill landed; the test could not kill it mid-run")
        opened = 0
        while b.poll() is None and time.time() < deadline:  # the study is a table at any moment
            n = len(ActBench(st.path))
            assert 1 <= n <= 10
            opened += 1
            time.sleep(0.2)
        out = b.communicate(timeout=60)[0]
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait(30)
            p.stdout.close()
    assert b.returncode == 0, out
    assert f"B: taking over {killed['name']}" in out
    assert opened >= 1

    bench = ActBench(st.path)
    assert len(bench) == 10 and st.status() == {**st.status(), "recorded": 10, "running": 0, "expired": 0,
                                                "finished": True}
    names = list(bench)
    assert killed["name"] in names and recorded_by_a <= set(names)  # nothing lost
    keys = {tuple(k) for k in np.stack(output_keys(np.stack([evaluate(n) for n in names]))).T}
    assert len(keys) == 10  # nothing duplicated, not even as an equivalent function
    results = [p for p in st.results_dir.glob("*.json") if not p.name.endswith(".failed.json")]
    assert len(results) == 10
    doc = json.loads((st.results_dir / f"{result_key(killed['name'])}.json").read_text())
    assert doc["study"]["worker"] == "B"
    ev = st.events()
    assert [e["event"] for e in ev].count("record") == 10
    take = [e for e in ev if e["event"] == "takeover" and e["from_worker"] == "A"]
    assert len(take) == 1 and take[0]["name"] == killed["name"] and take[0]["worker"] == "B"
    # a live worker whose heartbeat a loaded machine delayed past the TTL may lose its claim too; then it
    # must have discarded its result (never a second row)
    others = [e for e in ev if e["event"] == "takeover" and e["from_worker"] != "A"]
    assert len(others) == len([e for e in ev if e["event"] == "discard"])
    assert set(names[:0]) <= set(st.config.first) and set(st.config.first) <= set(names)  # baselines first

    proc = subprocess.run([sys.executable, "-m", "actbench", "best", str(st.path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and bench.best(1).index[0] in proc.stdout
    assert study_main(["status", str(st.path)]) == 0


@pytest.mark.slow
def test_launcher_starts_study_workers(tmp_path):
    st = _study(tmp_path, budget=3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "generation.launch", "--procs", "2", "--study", str(st.path), "--"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    logs = sorted((st.path / "logs").glob("worker-*.log"))
    assert len(logs) == 2 and all("worker done" in p.read_text() for p in logs)
    assert st.status()["finished"] and len(ActBench(st.path)) == 3


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process liveness is read from /proc (Linux)")
def test_claim_of_a_dead_process_on_this_machine_is_taken_over_at_once(tmp_path):
    from generation.study import _machine, _start_ticks

    st = _study(tmp_path, budget=3, ttl_s=3600.0)
    c = st.next_claim("A")
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rec = json.loads((st.claims_dir / f"{c.key}.json").read_text())
        rec.update(pid=p.pid, start=_start_ticks(p.pid), **_machine())  # as if that process had claimed it
        (st.claims_dir / f"{c.key}.json").write_text(json.dumps(rec))
        nxt = st.next_claim("B")
        assert not nxt.takeover and nxt.name != c.name  # alive: its claim holds, though the TTL is far
        p.send_signal(signal.SIGKILL)
        time.sleep(0.2)  # not reaped yet: a zombie counts as gone
        again = st.next_claim("B")
        assert again.takeover and again.name == c.name
        assert st.events()[-1]["why"] == "its process is gone"
    finally:
        p.kill()
        p.wait()
    rec = json.loads((st.claims_dir / f"{c.key}.json").read_text())
    rec.update(host="elsewhere", pid=p.pid)  # another machine: only the TTL can tell
    (st.claims_dir / f"{c.key}.json").write_text(json.dumps(rec))
    assert st.status()["expired"] == 0


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
    assert st.next_claim("A").name == "elu(x)"


def test_more_create_errors(tmp_path, capsys):
    from actbench.table import Provenance, TableInfo, TableWriter

    with pytest.raises(StudyError, match="surrogate must be"):
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
