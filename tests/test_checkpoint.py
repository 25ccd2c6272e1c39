"""Checkpoints inside a run (generation.checkpoint): a run interrupted at any step and started again ends with
the values of a run that was never interrupted, bit for bit on the CPU; a real SIGUSR1 makes the worker save
and exit with status 75, and the worker started again continues; damaged or foreign checkpoints are set aside,
never continued."""

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

from generation.checkpoint import Preempted, RunCheckpoint, StopFlag, load_state, save_state  # noqa: E402
from generation.data import load_data  # noqa: E402
from generation.recipes import get_recipe  # noqa: E402
from generation.train import train_run  # noqa: E402
from generation.worker import result_key  # noqa: E402

pytestmark = pytest.mark.torch
ROOT = Path(__file__).resolve().parents[1]
TIMINGS = ("runtime_s",)


@pytest.fixture(scope="module")
def digits():
    recipe = get_recipe("digits").model_copy(update={"epochs": 3})
    return recipe, load_data(recipe, None)


def _same_run(a: dict, b: dict) -> None:
    """Every value of two runs but their timings."""
    for k in a:
        if k in TIMINGS:
            continue
        if k == "curve":
            assert {c: v for c, v in a[k].items() if c != "epoch_s"} == {c: v for c, v in b[k].items() if c != "epoch_s"}
            assert len(a[k]["epoch_s"]) == len(b[k]["epoch_s"])
        else:
            assert a[k] == b[k], k


def test_state_round_trip_without_pickle(tmp_path):
    state = {"model": {"w": torch.randn(3, 4), "b": torch.arange(5)}, "bf16": torch.randn(4).to(torch.bfloat16),
             "opt": {"state": {0: {"momentum_buffer": torch.ones(2)}, 1: {}}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]},
             "rng": torch.get_rng_state(), "perm": torch.randperm(7), "curve": {"val_acc": [0.5, float("nan")]},
             "pair": (1, "two"), "none": None, "inf": float("inf")}
    save_state(tmp_path / "c.npz", state, {"function": "relu(x)", "seed": 0})
    back, identity = load_state(tmp_path / "c.npz")
    assert identity == {"function": "relu(x)", "seed": 0}
    assert torch.equal(back["model"]["w"], state["model"]["w"]) and back["bf16"].dtype == torch.bfloat16
    assert torch.equal(back["bf16"], state["bf16"]) and torch.equal(back["rng"], state["rng"])
    assert back["opt"]["state"][0]["momentum_buffer"].tolist() == [1.0, 1.0] and back["opt"]["param_groups"][0]["params"] == [0, 1]
    assert back["pair"] == (1, "two") and back["none"] is None and back["inf"] == float("inf")
    assert np.isnan(back["curve"]["val_acc"][1])
    with np.load(tmp_path / "c.npz", allow_pickle=False) as z:  # plain arrays: nothing needs unpickling
        assert all(z[k].dtype != object for k in z.files)


def test_damaged_or_foreign_checkpoints_are_set_aside(tmp_path):
    path = tmp_path / "seed0.npz"
    save_state(path, {"epoch": 1, "step": 2}, {"function": "relu(x)", "seed": 0})
    other = RunCheckpoint(path, {"function": "tanh(x)", "seed": 0}, log=lambda m: None)
    assert other.load() is None and not path.exists() and (tmp_path / "seed0.npz.refused").exists()
    save_state(path, {"epoch": 1, "step": 2}, {"function": "relu(x)", "seed": 0})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the archive
    path.write_bytes(bytes(data))
    said = []
    assert RunCheckpoint(path, {"function": "relu(x)", "seed": 0}, log=said.append).load() is None
    assert "starts from the beginning" in said[0]


@pytest.mark.parametrize("stop_after", [1, 20, 40])
def test_an_interrupted_run_continues_to_the_same_values(digits, tmp_path, stop_after):
    recipe, data = digits
    torch.set_num_threads(1)
    plain = train_run(recipe, "swish(x)", data, seed=1).model_dump()
    stop = StopFlag()
    ck = RunCheckpoint(tmp_path / "c.npz", {"f": "swish(x)", "seed": 1}, every_s=0, stop=stop)
    save = ck.save

    def save_then_stop(state):
        save(state)
        if ck.saves == stop_after:
            stop.request("TEST")

    ck.save = save_then_stop
    with pytest.raises(Preempted, match="stopped on TEST"):
        train_run(recipe, "swish(x)", data, seed=1, checkpoint=ck)
    stop.clear()
    again = RunCheckpoint(tmp_path / "c.npz", {"f": "swish(x)", "seed": 1}, every_s=None, stop=stop)
    resumed = train_run(recipe, "swish(x)", data, seed=1, checkpoint=again).model_dump()
    assert again.resumed_from is not None
    _same_run(plain, resumed)


def _worker(out: Path, functions: Path, recipe: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "generation.worker", "--recipe-file", str(recipe), "--functions",
                             str(functions), "--out", str(out), "--device", "cpu", "--threads", "1", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_real_signal_checkpoints_and_the_requeued_worker_continues(tmp_path):
    recipe = get_recipe("digits").model_copy(update={"epochs": 3, "seeds": (0, 1)})
    (tmp_path / "recipe.json").write_text(recipe.model_dump_json())
    (tmp_path / "f.txt").write_text("swish(x)\n")
    key = result_key("swish(x)")
    out = tmp_path / "interrupted"
    p = _worker(out, tmp_path / "f.txt", tmp_path / "recipe.json", "--checkpoint-every", "0.0005")
    ck = out / "checkpoints" / key / "seed1.npz"
    deadline = time.monotonic() + 120
    while not ck.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ck.exists(), p.communicate()[0]
    p.send_signal(signal.SIGUSR1)  # as Slurm's --signal=B:USR1@... does before the time limit
    log = p.communicate(timeout=120)[0]
    assert p.returncode == 75, log
    assert "stopped on SIGUSR1" in log and not (out / f"{key}.json").exists()
    assert ck.exists() and (out / "checkpoints" / key / "seed0.json").exists()  # seed 0 finished and kept
    again = _worker(out, tmp_path / "f.txt", tmp_path / "recipe.json")
    log2 = again.communicate(timeout=300)[0]
    assert again.returncode == 0, log2
    assert "seed 1: continued from its checkpoint" in log2
    assert not (out / "checkpoints" / key).exists()  # cleared once the result is written
    a = json.loads((out / f"{key}.json").read_text())
    torch.set_num_threads(1)  # as the worker ran (--threads 1)
    data = load_data(recipe, None)
    for ra, seed in zip(a["runs"], recipe.seeds, strict=True):  # each run as if never interrupted
        _same_run(ra, train_run(recipe, "swish(x)", data, seed=seed).model_dump())


def test_what_a_checkpoint_cannot_hold_or_read_is_refused(tmp_path):
    with pytest.raises(TypeError, match="a checkpoint holds tensors"):
        save_state(tmp_path / "c.npz", {"bad": object()}, {})
    np.savez(tmp_path / "other.npz", __meta__=np.frombuffer(b'{"format": "something-else"}', dtype=np.uint8))
    with pytest.raises(ValueError, match="not a checkpoint of this format"):
        load_state(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_state(tmp_path / "junk.npz")


def test_a_global_batch_that_does_not_split_is_refused():
    from generation.distributed import SINGLE, Dist

    assert SINGLE.check_batch(7) == 7 and Dist(1, 4).check_batch(256) == 64
    with pytest.raises(ValueError, match="does not split over 3 processes"):
        Dist(0, 3).check_batch(128)
    assert Dist(1, 2).local(torch.arange(8)).tolist() == [4, 5, 6, 7]
