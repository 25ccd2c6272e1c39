"""Data-parallel runs (generation.distributed) on the CPU with the gloo backend: two processes train one
run with the recipe's global batch, augmentation and mixup drawn over the gathered global batch, and end
with the single process's values (to float rounding: the gradients are averaged in another order); a stop
requested on one rank stops both at the same step, and the continued two-process run equals the
uninterrupted one; ``torchrun -m generation.worker`` writes one result."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from generation.data import load_digits  # noqa: E402
from generation.recipes import get_recipe  # noqa: E402
from generation.train import train_run  # noqa: E402
from generation.worker import result_key  # noqa: E402

pytestmark = pytest.mark.torch
ROOT = Path(__file__).resolve().parents[1]
RECIPE = get_recipe("digits").model_copy(update={"epochs": 2, "augment": "crop_flip", "mixup": 0.2, "seeds": (0,)})


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, port: int, out: str, stop_rank: int | None, ckpt: str | None) -> None:
    import torch.distributed as dist

    from generation.checkpoint import Preempted, RunCheckpoint, StopFlag
    from generation.distributed import Dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    d = Dist(rank, world, 0)
    stop = StopFlag()
    ck = None
    if ckpt:
        ck = RunCheckpoint(Path(ckpt), {"test": "ddp"}, every_s=None, stop=stop, write=d.main, log=lambda m: None)
        due = ck.due
        calls = {"n": 0}

        def due_and_maybe_stop():  # a signal that reaches one rank only, after 10 steps
            calls["n"] += 1
            if rank == stop_rank and calls["n"] == 10:
                stop.request("SIGUSR1")
            return due()

        ck.due = due_and_maybe_stop
    try:
        run = train_run(RECIPE, "swish(x)", load_digits(), seed=0, checkpoint=ck, dist=d).model_dump()
        Path(f"{out}.{rank}.json").write_text(json.dumps(run))
    except Preempted as e:
        Path(f"{out}.{rank}.json").write_text(json.dumps({"preempted": str(e)}))
    dist.destroy_process_group()


def _spawn(tmp_path: Path, name: str, *, stop_rank=None, ckpt=None) -> list[dict]:
    out = str(tmp_path / name)
    torch.multiprocessing.spawn(_rank, args=(2, _port(), out, stop_rank, ckpt), nprocs=2, join=True)
    return [json.loads(Path(f"{out}.{r}.json").read_text()) for r in range(2)]


def _close(a: dict, b: dict, rel: float) -> None:
    for k in ("train_loss", "val_loss", "test_loss"):
        assert abs(a[k] - b[k]) <= rel * abs(b[k]), (k, a[k], b[k])
    for k in ("train_acc", "val_acc", "test_acc"):
        assert abs(a[k] - b[k]) <= 2 / 297, (k, a[k], b[k])  # at most a couple of examples
    for k in ("train_loss", "val_loss"):
        assert all(abs(x - y) <= rel * abs(y) for x, y in zip(a["curve"][k], b["curve"][k], strict=True)), k


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """The digits run trained by two gloo processes (both ranks' results)."""
    return _spawn(tmp_path_factory.mktemp("ddp"), "ddp")


def test_two_gloo_processes_train_the_single_process_run(two_process_run):
    torch.set_num_threads(1)
    single = train_run(RECIPE, "swish(x)", load_digits(), seed=0).model_dump()
    r0, r1 = two_process_run
    assert {k: v for k, v in r0.items() if k not in ("runtime_s", "curve")} == \
        {k: v for k, v in r1.items() if k not in ("runtime_s", "curve")}  # every rank returns the same result
    _close(r0, single, rel=1e-3)
    assert r0["epochs_completed"] == single["epochs_completed"] == 2


def test_a_stop_on_one_rank_stops_both_and_the_continued_run_is_the_uninterrupted_one(tmp_path, two_process_run):
    ckpt = tmp_path / "ddp.npz"
    whole = two_process_run[0]
    stopped = _spawn(tmp_path, "stopped", stop_rank=1, ckpt=str(ckpt))
    assert all("stopped on" in r.get("preempted", "") for r in stopped) and "step 10 " in stopped[0]["preempted"]
    assert ckpt.exists()
    resumed = _spawn(tmp_path, "resumed", ckpt=str(ckpt))[0]
    assert {k: v for k, v in resumed.items() if k not in ("runtime_s", "curve")} == \
        {k: v for k, v in whole.items() if k not in ("runtime_s", "curve")}
    assert resumed["curve"]["val_loss"] == whole["curve"]["val_loss"]


def test_torchrun_worker_writes_one_result(tmp_path):
    (tmp_path / "recipe.json").write_text(RECIPE.model_dump_json())
    (tmp_path / "f.txt").write_text("swish(x)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    args = ["-m", "generation.worker", "--recipe-file", str(tmp_path / "recipe.json"), "--functions",
            str(tmp_path / "f.txt"), "--device", "cpu", "--threads", "1"]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          *args, "--out", str(tmp_path / "ddp")], env=env, capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stdout[-2000:] + ddp.stderr[-3000:]
    assert ddp.stdout.count("2 data-parallel processes") == 1  # rank 0 speaks
    key = result_key("swish(x)")
    a = json.loads((tmp_path / "ddp" / f"{key}.json").read_text())
    torch.set_num_threads(1)
    from generation.worker import compute_result

    b, _ = compute_result(RECIPE, "swish(x)", load_digits(), "cpu")  # one process
    assert a["fim_sha256"] == b["fim_sha256"]  # the FIM feature: computed once, by rank 0, as one process does
    _close(a["runs"][0], b["runs"][0], rel=1e-3)
    assert not (tmp_path / "ddp" / "checkpoints" / key).exists()
