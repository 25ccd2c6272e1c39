"""What a GPU cluster needs, proven on the CPU: several workers per GPU (the launcher's plan), the one-node
data-parallel template's signal handling and requeue (run with bash, with a stand-in for scontrol that records
its call; the other templates are submitted to a real Slurm in tests/test_slurm.py),
the cost model's packed runs, and the prepared GPU check (``python -m generation.gpucheck --device cpu
--quick``)."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from generation.launch import main as launch_main, plan  # noqa: E402
from generation.worker import result_key  # noqa: E402

pytestmark = pytest.mark.torch
ROOT = Path(__file__).resolve().parents[1]


def _args(**kw):
    base = dict(gpus=None, procs=None, per_gpu=1, part=(0, 1), threads=1, study=None)
    return argparse.Namespace(**{**base, **kw})


def test_per_gpu_packs_workers_and_parts_number_shards_globally():
    workers = plan(_args(gpus="0,1", per_gpu=3), ["--out", "o"])
    assert [env["CUDA_VISIBLE_DEVICES"] for env, _, _ in workers] == ["0", "0", "0", "1", "1", "1"]
    assert [cmd[cmd.index("--shard") + 1] for _, cmd, _ in workers] == [f"{i}/6" for i in range(6)]
    assert all(cmd[-2:] == ["--device", "cuda"] for _, cmd, _ in workers)
    part = plan(_args(gpus="0", per_gpu=4, part=(2, 5)), ["--out", "o"])  # array task 2 of 5, 4 runs per GPU
    assert [cmd[cmd.index("--shard") + 1] for _, cmd, _ in part] == ["8/20", "9/20", "10/20", "11/20"]
    cpu = plan(_args(procs=2, threads=3), ["--out", "o"])
    assert [cmd[-4:] for _, cmd, _ in cpu] == [["--device", "cpu", "--threads", "3"]] * 2
    study = plan(_args(gpus="0", per_gpu=2, study=Path("st")), ["--data-root", "d"])
    assert all("--shard" not in cmd and cmd[2:5] == ["generation.study", "work", "st"] for _, cmd, _ in study)


def test_launcher_refuses_bad_packing(capsys):
    assert launch_main(["--procs", "1", "--", "--out", "o", "--device", "cuda"]) == 2
    assert "the launcher chooses each worker's device" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        launch_main(["--gpus", "0", "--per-gpu", "0", "--", "--out", "o"])
    with pytest.raises(SystemExit):
        launch_main(["--gpus", "0", "--part", "3/2", "--", "--out", "o"])


def _tiny_recipe(tmp_path: Path) -> str:
    from generation.recipes import get_recipe

    path = tmp_path / "tiny.json"  # the digits recipe, shorter: a recipe file in place of a task name
    path.write_text(get_recipe("digits").model_copy(update={"epochs": 3, "seeds": (0,)}).model_dump_json())
    return str(path)


def _fake_slurm(tmp_path: Path) -> tuple[Path, dict]:
    """A bin folder with a stand-in ``scontrol`` (records its arguments) and ``python`` (this interpreter)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'scontrol.log'}\n")
    (bin_dir / "scontrol").chmod(0o755)
    (bin_dir / "python").write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")  # this environment's
    (bin_dir / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "SLURM_JOB_ID": "4242", "SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "1",
           "ACTBENCH_DEVICE": "cpu"}
    return tmp_path / "scontrol.log", env


def test_gpucheck_runs_on_the_cpu(tmp_path):
    out = tmp_path / "gpucheck.json"
    done = subprocess.run([sys.executable, "-m", "generation.gpucheck", "--device", "cpu", "--quick", "-o", str(out)],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(out.read_text())
    assert doc["passed"] and doc["machine"]["torch"] and not doc["skipped"]
    names = [c["check"] for c in doc["checks"]]
    assert names == ["kfac digits reference", "kfac digits kfac", "training step digits", "bf16 autocast step digits",
                     "checkpointed run continues"]
    assert all(c["passed"] for c in doc["checks"]) and doc["checks"][-1]["exact"]  # CPU against CPU: identical
    row = doc["throughput"][0]
    assert row["task"] == "digits" and row["train_img_s"] > 0 and len(row["packed2_train_img_s"]) == 2
    assert "passed; wrote" in done.stdout


def test_cost_model_counts_packed_runs(monkeypatch):
    """With --per-gpu K the cost model projects with one packed run's throughput and K functions per device
    (the measurement itself, K processes side by side, runs in the gpucheck test above)."""
    import torch

    from generation import cost
    from generation.tasks import TASKS

    calls = []

    def packed(recipe, shape, classes, device, steps, k, batch=None, threads=1):
        calls.append(k)
        return [1000.0] if k == 1 else [600.0] * k  # images/s: alone, and each of k side by side

    monkeypatch.setattr(cost, "time_packed", packed)
    row = cost.project(cost.measure_task(TASKS["digits"], torch.device("cpu"), steps=2, batch=16, per_gpu=2),
                       fim_n=10, budget=5)
    assert calls == [1, 2] and row["per_gpu"] == 2 and row["train_img_s"] == 600.0
    assert row["packing_gain"] == pytest.approx(1.2) and row["single_train_img_s"] == 1000.0
    assert row["train_h"] == pytest.approx(row["seeds"] * row["run_h"] / 2)
    assert row["device_h_per_function"] == pytest.approx(row["train_h"])


def test_ddp_template_stops_torchrun_on_the_time_limit_signal_and_requeues(tmp_path):
    """The one-node data-parallel template, run by bash with two CPU processes under torchrun: SIGUSR1 to
    the job becomes SIGTERM to torchrun, which passes it to its processes; they stop at the same step, rank 0
    has checkpointed, and the script requeues the job."""
    log, env = _fake_slurm(tmp_path)
    env.update(ACTBENCH_GPUS="2", OMP_NUM_THREADS="1")
    (tmp_path / "f.txt").write_text("swish(x)\n")
    out = tmp_path / "out"
    cmd = ["bash", "generation/slurm/actbench-ddp.sbatch", _tiny_recipe(tmp_path), f"@{tmp_path / 'f.txt'}", str(out),
           "unused",
           "--checkpoint-every", "0.0005"]
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ck = out / "checkpoints" / result_key("swish(x)") / "seed0.npz"
    deadline = time.monotonic() + 180
    while not ck.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ck.exists(), p.communicate()[0]
    p.send_signal(signal.SIGUSR1)
    text = p.communicate(timeout=180)[0]
    assert p.returncode != 0 and log.read_text().split() == ["requeue", "4242"], text
    assert "stopped on SIGTERM" in text and ck.exists() and not (out / f"{result_key('swish(x)')}.json").exists()
    # a two-process run continued from its checkpoint: tests/test_distributed.py


def test_gpucheck_starts_no_task_after_its_deadline():
    import time as _time

    import torch

    from generation.gpucheck import throughput

    rows = throughput(torch.device("cpu"), ["digits", "cnn"], steps=1, packs=(2,), batch=4,
                      deadline=_time.monotonic() - 1)
    assert rows == [{"task": "digits", "skipped": "the time budget is spent"},
                    {"task": "cnn", "skipped": "the time budget is spent"}]
