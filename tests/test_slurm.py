"""The Slurm templates submitted to a real one-node Slurm cluster that the tests start (tests/slurm_cluster.py):
the array template on a CPU partition (results merged and queried), the study template with two array tasks
sharing a study (budget reached, no function twice, its time limit taken from the job), and jobs stopped
mid-run (the time-limit signal, ``scontrol requeue``, ``scancel``) after which nothing is lost or duplicated
and the run continues from its checkpoint instead of starting again.

Every job runs the digits task on the CPU with a shortened recipe (a recipe file in place of a task name)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("optuna")

from actbench import ActBench  # noqa: E402
from generation.recipes import get_recipe  # noqa: E402
from generation.worker import result_key  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ["swish(x)", "tanh(x)", "relu(x)", "elu(x)"]  # as in docs/generation.md


def _recipe(tmp_path: Path, epochs: int) -> Path:
    path = tmp_path / f"digits-{epochs}.json"
    path.write_text(get_recipe("digits").model_copy(update={
        "name": f"digits-{epochs}", "epochs": epochs, "seeds": (0,),
        "description": f"digits CNN, {epochs} epochs, 1 seed (test recipe)"}).model_dump_json())
    return path


def _env(tmp_path: Path) -> dict:
    """The jobs' environment: this interpreter as ``python``, the checkout on the path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python").write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    (bin_dir / "python").chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _out(tmp_path: Path, job: str) -> str:
    """The job's output and its workers' logs (for failure messages and the checks)."""
    return "".join(p.read_text() for p in [*sorted(tmp_path.glob(f"job-{job}*.out")),
                                           *sorted(tmp_path.glob("*/logs/*.log"))])


def test_slurm_durations_and_the_jobs_end_time():
    from generation.slurmjob import job_time_left, job_time_limit, parse_slurm_duration

    assert [parse_slurm_duration(t) for t in ("45", "04:05", "03:04:05", "2-03:04:05", "1-02", "UNLIMITED")] == [
        45, 245, 11045, 2 * 86400 + 11045, 86400 + 7200, None]
    with pytest.raises(ValueError, match="not a Slurm duration"):
        parse_slurm_duration("soon")
    assert job_time_left({}) is None  # not in a job
    assert job_time_left({"SLURM_JOB_END_TIME": "1000", "SLURM_JOB_ID": "1"}, now=400.0) == 600.0  # Slurm >= 23.02
    assert job_time_limit(env={"SLURM_JOB_END_TIME": str(int(time.time()) + 3600)}) == pytest.approx(3300, abs=2)
    assert job_time_limit(env={"SLURM_JOB_END_TIME": str(int(time.time()) + 400)}) == pytest.approx(200, abs=2)


def test_time_left_asked_of_squeue_and_its_failures(tmp_path, capsys):
    """Before Slurm 23.02 the time left comes from squeue; a squeue that fails is a clear error, and the study
    worker reports it as one (status 2); a time limit that is neither seconds nor 'job' is refused."""
    from generation.slurmjob import job_time_left
    from generation.study import main as study_main

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    squeue = bin_dir / "squeue"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "7"}
    squeue.write_text("#!/bin/sh\necho 1-00:00:30\n")
    squeue.chmod(0o755)
    assert job_time_left(env) == 86430.0
    squeue.write_text("#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1\n")
    with pytest.raises(RuntimeError, match="cannot ask Slurm for job 7's time left .*Invalid job id.*--time-limit SECONDS"):
        job_time_left(env)
    with pytest.raises(SystemExit):
        study_main(["work", str(tmp_path), "--time-limit", "soon"])
    assert "--time-limit takes seconds or 'job', got 'soon'" in capsys.readouterr().err


def test_job_scripts_refuse_an_unknown_device():
    done = subprocess.run(["bash", "-c", "source generation/slurm/workers.sh --checkpoint-every 5 --device tpu"],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "unknown device 'tpu': give cuda or cpu" in done.stderr
    done = subprocess.run(["bash", "-c", 'source generation/slurm/workers.sh --device=cpu --retry-failed; '
                           'echo "$DEVICE|${WORKERS[*]}|${ARGS[*]}"'], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, env={**os.environ, "SLURM_CPUS_PER_TASK": "3"})
    assert done.stdout.strip().splitlines()[-1] == "cpu|--procs 3 --threads 1|--retry-failed"


def test_onenode_needs_slurm_and_root(tmp_path, monkeypatch, capsys):
    import generation.onenode as onenode

    monkeypatch.setattr(onenode, "_tool", lambda name: None)
    assert onenode.main(["start", str(tmp_path / "c")]) == 2
    assert "Slurm is not installed here (munged, slurmctld" in capsys.readouterr().err
    monkeypatch.setattr(onenode, "_tool", lambda name: "/bin/true")
    monkeypatch.setattr(onenode.os, "geteuid", lambda: 1000)
    assert onenode.main(["start", str(tmp_path / "c")]) == 2
    assert "runs its daemons as root (SlurmUser=root): start it with sudo" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()  # nothing made


def test_onenode_refuses_a_used_folder_and_stops_nothing_quietly(tmp_path, capsys):
    from generation.onenode import main

    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    if os.geteuid() == 0:
        assert main(["start", str(tmp_path / "used")]) == 2
        assert "is not empty: give a new folder" in capsys.readouterr().err
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine"
    assert main(["stop", str(tmp_path / "used")]) == 0  # no cluster there: nothing to stop, no error


def _laptop_example() -> list[str]:
    """The commands of docs/generation.md's one-machine example, continued lines joined."""
    page = (ROOT / "docs" / "generation.md").read_text()
    block = page.split("## Trying the templates on one machine", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_array_template_runs_on_a_cpu_partition_as_documented(slurm, tmp_path):
    """docs/generation.md's example, run as written on the tests' cluster (its own start, stop, export and
    install lines aside): two array tasks of the digits task, no GPU asked for, so the template starts one
    CPU worker per CPU of the task; the results merge into a table that answers queries."""
    lines = _laptop_example()
    assert [line.split()[0] for line in lines] == ["sudo", "sudo", "export", "printf", "sbatch", "squeue", "python",
                                                   "sudo"]
    (tmp_path / "generation").symlink_to(ROOT / "generation")  # the templates run from a clone
    env = {**slurm.env, **_env(tmp_path)}
    shell = lambda line: slurm.run("bash", "-c", line, cwd=tmp_path, env=env, timeout=120, check=False)
    assert shell(lines[3]).returncode == 0
    submitted = shell(lines[4])
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.split()[-1]  # "Submitted batch job N"
    states = slurm.wait(job, timeout=300)
    text = _out(tmp_path, "") + "".join(p.read_text() for p in tmp_path.glob("digits-*.out"))
    assert sorted(states.values()) == ["COMPLETED", "COMPLETED"], text
    assert text.count("device cpu, launcher --procs 1 --threads 1") == 2
    out = tmp_path / "results" / "digits"
    assert sorted(p.name for p in out.glob("*.json")) == sorted(f"{result_key(f)}.json" for f in FUNCTIONS)
    done = shell(lines[6])
    assert done.returncode == 0 and "digits" in done.stdout, done.stdout + done.stderr
    bench = ActBench(tmp_path / "digits.h5")
    assert len(bench) == 4 and 0 < bench.query("swish(x)").val_acc <= 1
    assert {"val_acc_seed0", "val_acc_seed1", "val_acc_seed2"} <= set(bench.table(per_seed=True).columns)


def test_study_template_two_array_tasks_share_a_study_and_one_is_cancelled(slurm, tmp_path):
    """Two array tasks of the study template share one study (SQLite, the default storage). Task 1 is
    cancelled while it trains: its worker checkpoints and stops, its trial stops heartbeating, and task 0
    fails it after the grace period and trains the function again from the retry queue, continuing the
    checkpoint. The study reaches its budget with nothing lost and no function twice; the workers' time
    limit is the job's (``--time=10``: 600 s less the 300 s signal lead)."""
    study = tmp_path / "study"
    init = slurm.run(sys.executable, "-m", "generation.study", "init", str(study), "--task", "digits",
                     "--recipe-file", str(_recipe(tmp_path, 20)), "--features", "mini",
                     "--feature-set", "fim", "--budget", "4", "--heartbeat", "1", cwd=ROOT, timeout=120, check=False,
                     env={**slurm.env, "PYTHONPATH": str(ROOT)})
    assert init.returncode == 0, init.stdout + init.stderr
    job = slurm.sbatch("--array=0-1", "--gres=none", "--cpus-per-task=1", "--mem=1G", "--time=10",
                       f"--output={tmp_path}/job-%A_%a.out", "generation/slurm/actbench-study.sbatch", str(study),
                       "none", "--checkpoint-every", "0.001", cwd=ROOT, env=_env(tmp_path))
    log1 = study / "logs" / "worker-1.log"
    deadline = time.monotonic() + 120
    while True:  # task 1 trains its first function and has checkpointed it: cancel the task
        text = log1.read_text() if log1.exists() else ""
        started = [line.split("training ")[1].split(" (trial")[0] for line in text.splitlines() if ": training " in line]
        if started and _checkpoint(study, started[0]).exists():
            break
        assert time.monotonic() < deadline, f"task 1 never trained\n{text}\n{slurm.logs()}"
        time.sleep(0.05)
    slurm.run("scancel", f"{job}_1")
    states = slurm.wait(job, timeout=300)
    files = sorted((study / "logs").glob("worker-*.log"))
    logs = "".join(p.read_text() for p in files)
    assert [p.name for p in files] == ["worker-0.log", "worker-1.log"], logs  # one log per array task
    assert states == {f"{job}_0": "COMPLETED", f"{job}_1": "CANCELLED"}, _out(tmp_path, job) + logs
    limits = [float(line.split()[2]) for line in logs.splitlines() if line.startswith("time limit: ")]
    assert len(limits) == 2 and all(250 < v <= 300 for v in limits), logs
    name = started[0]
    assert "stopped on SIGTERM" in log1.read_text(), logs
    worker0 = (study / "logs" / "worker-0.log").read_text()
    assert f"retrying {name} (trial" in worker0 and f"{name} seed 0: continuing from its checkpoint" in worker0, logs
    assert worker0.count("worker done") == 1
    bench = ActBench(study)
    assert len(bench) == 4 and bench.lookup(name) in list(bench)  # nothing lost
    trained = [line.split("training ")[1].split(" (trial")[0] for line in logs.splitlines() if ": training " in line]
    assert len(trained) == len(set(trained)) == 4  # no function twice (the retry continued, it did not start anew)
    best = slurm.run(sys.executable, "-m", "actbench", "best", str(study), cwd=ROOT, check=False,
                     env={**slurm.env, "PYTHONPATH": str(ROOT)})
    assert best.returncode == 0 and best.stdout.strip(), best.stdout + best.stderr


def _checkpoint(out: Path, name: str) -> Path:
    return out / "checkpoints" / result_key(name) / "seed0.npz"


def _until_checkpointed(slurm, out: Path, name: str, since: float = 0.0):
    """Wait (at most 3 minutes) until the run of ``name`` saved a checkpoint newer than ``since``."""
    ck = _checkpoint(out, name)
    deadline = time.monotonic() + 180
    while not (ck.exists() and ck.stat().st_mtime > since):
        if time.monotonic() > deadline:
            raise AssertionError(f"no checkpoint of {name} after 3 minutes\n{slurm.logs()}")
        time.sleep(0.1)


def _until_continued(slurm, tmp_path: Path, out: Path, name: str, times: int):
    """Wait until the run of ``name`` has continued from its checkpoint ``times`` times and saved once since."""
    deadline = time.monotonic() + 180
    while _out(tmp_path, "").count("continuing from its checkpoint") < times:
        if time.monotonic() > deadline:
            raise AssertionError(f"the run did not continue a {times}. time\n{_out(tmp_path, '')}\n{slurm.logs()}")
        time.sleep(0.1)
    _until_checkpointed(slurm, out, name, since=time.time())


def test_stopped_jobs_lose_nothing_and_continue_their_runs(slurm, tmp_path):
    """One run, stopped three ways while it trains: the time-limit warning (SIGUSR1 to the job script, which
    requeues the job itself), ``scontrol requeue`` and ``scancel`` (then submitted again). Each time it goes on
    from its checkpoint; in the end the function has one result, trained to its last epoch in four pieces."""
    name = "swish(x)"
    (tmp_path / "f.txt").write_text(name + "\n")
    out = tmp_path / "out"
    args = ["--array=0", "--gres=none", "--cpus-per-task=1", "--mem=1G", f"--output={tmp_path}/job-%A_%a.out",
            "generation/slurm/actbench-array.sbatch", str(_recipe(tmp_path, 30)), f"@{tmp_path / 'f.txt'}", str(out),
            "none", "--device", "cpu", "--checkpoint-every", "0.001"]
    job = slurm.sbatch(*args, cwd=ROOT, env=_env(tmp_path))
    task = f"{job}_0"
    _until_checkpointed(slurm, out, name)
    slurm.run("scancel", "--batch", "--signal=USR1", task)  # what --signal=B:USR1@300 sends before the time limit
    _until_continued(slurm, tmp_path, out, name, 1)  # the script requeued the job, and it runs again
    slurm.run("scontrol", "requeue", task)
    _until_continued(slurm, tmp_path, out, name, 2)
    slurm.run("scancel", task)
    states = slurm.wait(job, timeout=120)
    assert states == {task: "CANCELLED"}, _out(tmp_path, job)
    assert _checkpoint(out, name).exists() and not (out / f"{result_key(name)}.json").exists()
    again = slurm.sbatch(*args, cwd=ROOT, env=_env(tmp_path))  # the user submits it again
    states = slurm.wait(again, timeout=240)
    log = (out / "logs" / "shard-0.log").read_text()
    assert states == {f"{again}_0": "COMPLETED"}, _out(tmp_path, again) + log
    assert log.count("stopped on SIGUSR1") == 1 and log.count("stopped on SIGTERM") >= 2, log
    # every start after the first continued where the last one stopped, never from the beginning
    points = [tuple(int(v) for v in line.split("at epoch ")[1].replace(", step", "").split())
              for line in log.splitlines() if "continuing from its checkpoint" in line]
    assert len(points) == 3 and points == sorted(points), log
    result = json.loads((out / f"{result_key(name)}.json").read_text())
    assert [r["epochs_completed"] for r in result["runs"]] == [30]
    assert not _checkpoint(out, name).parent.exists()  # cleared once the result is written
    assert list(out.glob("*.json")) == [out / f"{result_key(name)}.json"]
