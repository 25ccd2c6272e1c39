"""The generation pipeline end to end on the CPU: worker -> kill -9 -> resume -> merge -> ActBench."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gen_fixtures import write_cifar10  # noqa: E402

from actbench import ActBench  # noqa: E402
from actbench.table import validate_table  # noqa: E402
from generation.merge import aggregate, merge  # noqa: E402
from generation.recipes import RECIPES, Recipe, get_recipe, register_recipe  # noqa: E402
from generation.train import lr_at, train_run  # noqa: E402
from generation.worker import function_list, main as worker_main, parse_shard, result_key, run_shard  # noqa: E402

pytestmark = pytest.mark.torch
ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ["relu(x)", "swish(x)", "mul(tanh(x),sigmoid(x))", "add(elu(x),erf(x))", "softsign(x)", "selu(x)"]


def _tiny_recipe(**kw) -> Recipe:
    base = dict(name="tiny", benchmark="tiny", description="tiny CPU test recipe (synthetic data)", model="all_cnn_c",
                model_kwargs={"width": 0.1, "dropout": False}, data="cifar10", data_kwargs={"n_val": 10}, epochs=2,
                batch_size=16, lr=0.05, augment="crop_flip", seeds=(0, 1), fim_batch=16)
    return Recipe(**{**base, **kw})


@pytest.fixture()
def setup(tmp_path):
    write_cifar10(tmp_path / "data", per_batch=12, n_test=10)
    (tmp_path / "recipe.json").write_text(_tiny_recipe().model_dump_json())
    (tmp_path / "functions.txt").write_text("# a comment\n" + "\n".join(FUNCTIONS) + "\n")
    return tmp_path


def _worker_cmd(tmp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "generation.worker", "--recipe-file", str(tmp / "recipe.json"), "--functions",
            str(tmp / "functions.txt"), "--out", str(tmp / "res"), "--data-root", str(tmp / "data"),
            "--device", "cpu", "--threads", "1", *extra]


def test_kill_resume_merge_query(setup):
    tmp = setup
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(_worker_cmd(tmp), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    res = tmp / "res"
    while time.time() < deadline and not list(res.glob("*.json")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # mid-run, no chance to clean up
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in res.glob("*.json")}
    assert 1 <= len(done_before) < len(FUNCTIONS)
    for p in res.glob("*.json"):  # whatever exists is complete
        doc = json.loads(p.read_text())
        assert (res / f"{p.stem}.fim.npy").exists() and len(doc["runs"]) == 2

    out = subprocess.run(_worker_cmd(tmp), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"'done_before': {len(done_before)}" in out.stdout
    results = sorted(res.glob("*.json"))
    assert len(results) == len(FUNCTIONS)
    assert {p.name: p.stat().st_mtime_ns for p in results if p.name in done_before} == done_before  # not redone
    names = [json.loads(p.read_text())["name"] for p in results]
    assert sorted(names) == sorted(FUNCTIONS)

    table = tmp / "tiny.h5"
    counts = merge(res, table, space=None)
    assert counts == {"rows": 6, "failed": 0, "diverged_runs": counts["diverged_runs"], "curves": True}
    assert validate_table(table) == []
    bench = ActBench(table)
    assert len(bench) == 6 and bench.provenance.source == "generation" and bench.seeds == [0, 1]
    assert bench.provenance.config["name"] == "tiny"
    doc = json.loads((res / f"{result_key('swish(x)')}.json").read_text())
    # what a CPU run's last digits depend on (docs/generation.md#reproducibility) is recorded, and named in the table
    import torch

    cap = torch.backends.cpu.get_cpu_capability()
    assert doc["env"]["cpu_capability"] == cap and doc["env"]["threads"] == 1 and doc["env"]["cpu"]
    assert any(f'"cpu_capability": "{cap}"' in n for n in bench.provenance.notes)
    for run in doc["runs"]:
        rec = bench.query("swish(x)", seed=run["seed"])
        assert rec.val_acc == run["val_acc"] and rec.test_loss == run["test_loss"]
    rec = bench.query("swish(x)")
    assert rec.val_acc == aggregate(doc["runs"])[0]["val_acc"]
    # learning curves: worker -> merge -> table -> query at every epoch, per seed and aggregated
    e = bench.epochs
    assert e == len(doc["runs"][0]["curve"]["val_acc"]) >= 1
    for run in doc["runs"]:
        for k in range(1, e + 1):
            r = bench.query("swish(x)", seed=run["seed"], epoch=k)
            assert r.epoch == k and r.val_acc == run["curve"]["val_acc"][k - 1]
            # the last epoch is the end of training: the run's final training loss, not the epoch's running mean
            assert r.train_loss == (run["curve"]["train_loss"][k - 1] if k < e else run["train_loss"])
            assert np.isnan(r.test_acc) if k < e else r.test_acc == run["test_acc"]  # measured at the end only
            # the run's runtime spread over its epochs by their training seconds: the last costs the whole run
            share = sum(run["curve"]["epoch_s"][:k]) / sum(run["curve"]["epoch_s"])
            assert r.runtime_s == pytest.approx(run["runtime_s"] * share) and r.runtime_s <= run["runtime_s"]
        assert bench.query("swish(x)", seed=run["seed"], epoch=e).runtime_s == run["runtime_s"]
    last = bench.query("swish(x)", epoch=e)
    assert last.val_acc == rec.val_acc and last.val_loss == rec.val_loss and last.test_acc == rec.test_acc
    assert e == 2 and "test_acc" in bench.query("swish(x)", epoch=1).missing
    assert "at epoch" in last.aggregation
    fim = bench.features("fim")
    assert fim.shape[1] == sum(l.n_bins for l in bench.fim_layers) and [l.name for l in bench.fim_layers][:2] == ["conv1", "conv2"]
    np.testing.assert_array_equal(fim[bench._table.aliases["swish(x)"]],
                                  np.load(res / f"{result_key('swish(x)')}.fim.npy"))


def test_failures_are_recorded_and_kept(setup, monkeypatch):
    tmp = setup
    import generation.worker as w

    calls = []

    def boom(recipe, name, data, out, device, **kw):
        calls.append(name)
        if name == "selu(x)":
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(recipe, name, data, out, device, **kw)

    real = w.run_one
    monkeypatch.setattr(w, "run_one", boom)
    data = w.load_data(_tiny_recipe(), tmp / "data")
    counts = run_shard(_tiny_recipe(epochs=1), ["relu(x)", "selu(x)"], (0, 1), tmp / "res", data=data, log=lambda m: None)
    assert counts["failed"] == 1 and (tmp / "res" / f"{result_key('selu(x)')}.failed.json").exists()
    again = run_shard(_tiny_recipe(epochs=1), ["relu(x)", "selu(x)"], (0, 1), tmp / "res", data=data, log=lambda m: None)
    assert again["done_before"] == 2 and calls.count("selu(x)") == 1  # not retried by default
    counts = merge(tmp / "res", tmp / "t.h5", space="act-bench")
    assert counts["failed"] == 1
    bench = ActBench(tmp / "t.h5")
    rec = bench.query("selu(x)")
    assert math.isnan(rec.val_acc) and "val_acc" in rec.missing
    assert any("simulated" in n for n in bench.provenance.notes)
    assert bench.query("max(relu(x),zero(x))").representative == "relu(x)"  # space aliases added


def test_shards_partition_the_list():
    names = function_list(space="act-bench")
    assert len(names) == 2791 and names == sorted(names)
    parts = [names[i::4] for i in range(4)]
    assert sum(len(p) for p in parts) == len(names) and not set(parts[0]) & set(parts[1])
    assert parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "x/4", "3"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)
    with pytest.raises(ValueError, match="--space or --functions"):
        function_list()


def test_worker_cli_errors(setup, capsys):
    assert worker_main(["--recipe", "cnnn", "--space", "act-bench", "--out", str(setup / "o")]) == 2
    assert "did you mean 'cnn'" in capsys.readouterr().err
    assert worker_main(["--recipe", "cnn", "--space", "act-bench", "--out", str(setup / "o")]) == 2
    assert "give --data-root" in capsys.readouterr().err
    assert worker_main(["--recipe", "cnn", "--space", "act-bench", "--out", str(setup / "o"), "--data-root",
                        str(setup / "nothing")]) == 2
    assert "CIFAR-10 not found" in capsys.readouterr().err
    assert worker_main(["--recipe", "cnn", "--space", "act-bench", "--out", "o", "--shard", "9/2"]) == 2


def test_aggregate_counts_diverged_runs_as_worst():
    ok = lambda acc, loss: {"train_acc": acc, "val_acc": acc, "test_acc": acc, "train_loss": loss, "val_loss": loss,
                            "test_loss": loss, "runtime_s": 10.0, "diverged": False}
    bad = {**{k: float("nan") for k in ("train_acc", "val_acc", "test_acc", "train_loss", "val_loss", "test_loss")},
           "runtime_s": 5.0, "diverged": True}
    vals, flags = aggregate([ok(0.8, 0.5), ok(0.6, 0.9), bad])
    assert vals["val_acc"] == 0.6 and vals["val_loss"] == 0.9 and vals["runtime_s"] == 10.0 and flags["val_acc"] == 0
    vals, flags = aggregate([ok(0.8, 0.5), bad, bad])
    assert math.isnan(vals["val_acc"]) and flags["val_acc"] == 1
    vals, _ = aggregate([ok(0.8, 0.5), ok(0.6, 0.9)])
    assert vals["val_acc"] == 0.6 and vals["val_loss"] == 0.9  # even count: the worse middle value


def test_divergence_is_detected(setup):
    from generation.worker import load_data

    data = load_data(_tiny_recipe(), setup / "data")
    r = train_run(_tiny_recipe(epochs=1, lr=1e6), "exp(exp(exp(x)))", data, seed=0)
    assert r.diverged and math.isnan(r.val_acc) and r.runtime_s > 0


def test_recipes_and_schedules():
    assert {"cnn", "resnet", "vit"} <= set(RECIPES)
    vit = get_recipe("vit")
    assert (vit.epochs, vit.warmup_epochs, vit.cooldown_epochs, vit.lr, vit.loss) == (105, 5, 5, 4e-3, "bce")
    assert lr_at(vit, 0) < 1e-8 and lr_at(vit, 2.5) == pytest.approx(2e-3)
    assert lr_at(vit, 5) == pytest.approx(4e-3) and lr_at(vit, 101) == pytest.approx(0.0, abs=1e-12)
    res = get_recipe("resnet")
    assert lr_at(res, 0) == 0.1 and lr_at(res, 91) == pytest.approx(0.01) and lr_at(res, 150) == pytest.approx(0.001)
    with pytest.raises(KeyError, match="did you mean 'vit'"):
        get_recipe("vitt")
    with pytest.raises(ValueError, match="already registered"):
        register_recipe(vit)
    with pytest.raises(ValueError):
        Recipe(**{**vit.model_dump(), "surprise": 1})


def test_merge_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results"):
        merge(tmp_path, tmp_path / "x.h5")


def test_merge_refuses_mixed_recipes(setup):
    from generation.worker import load_data

    data = load_data(_tiny_recipe(), setup / "data")
    run_shard(_tiny_recipe(epochs=1), ["relu(x)"], (0, 1), setup / "mix", data=data, log=lambda m: None)
    run_shard(_tiny_recipe(epochs=2), ["tanh(x)"], (0, 1), setup / "mix", data=data, log=lambda m: None)
    with pytest.raises(ValueError, match="different recipe"):
        merge(setup / "mix", setup / "mix.h5")
    assert not (setup / "mix.h5").exists()


def test_launcher_argument_errors(capsys):
    from generation.launch import main as launch_main

    assert launch_main(["--procs", "1"]) == 2
    assert "after --" in capsys.readouterr().err
    assert launch_main(["--procs", "1", "--", "--recipe", "digits"]) == 2
    assert "need --out" in capsys.readouterr().err


def test_fim_convention_of_recipes():
    """The paper's tasks compute features on the official release's scale; digits (the shipped mini) keeps
    the textbook convention it was made with; documents written before conventions existed read as 'kfac'."""
    for name in ("cnn", "resnet", "vit", "cifar100-cnn", "cifar100-resnet", "imagenet-vit", "imagenet-resnet50",
                 "coatnet"):
        assert get_recipe(name).fim_convention == "reference", name
    assert get_recipe("digits").fim_convention == "kfac"
    assert _tiny_recipe().fim_convention == "reference"  # a new recipe of a user's
    old = {k: v for k, v in get_recipe("cnn").model_dump().items() if k != "fim_convention"}
    assert Recipe.model_validate({**old, "actbench_version": "0.1.0"}).fim_convention == "kfac"
    assert Recipe.model_validate({**old, "actbench_version": "0.2.0"}).fim_convention == "reference"
    assert Recipe.model_validate(ActBench("mini").provenance.config).fim_convention == "kfac"
    with pytest.raises(ValueError, match="fim_convention"):
        Recipe(**{**old, "fim_convention": "textbook"})


def test_convention_is_recorded_and_mixing_is_refused(setup):
    from generation.worker import build_parser, load_data, resolve_recipe

    tmp = setup
    args = build_parser().parse_args(["--recipe-file", str(tmp / "recipe.json"), "--functions", "f.txt", "--out",
                                      "o", "--fim-convention", "kfac"])
    assert resolve_recipe(args).fim_convention == "kfac"
    data = load_data(_tiny_recipe(), tmp / "data")
    run_shard(_tiny_recipe(epochs=1), ["relu(x)"], (0, 1), tmp / "ref", data=data, log=lambda m: None)
    doc = json.loads((tmp / "ref" / f"{result_key('relu(x)')}.json").read_text())
    assert doc["fim_convention"] == doc["recipe"]["fim_convention"] == "reference"
    merge(tmp / "ref", tmp / "ref.h5")
    b = ActBench(tmp / "ref.h5")
    assert b.fim_convention == "reference" and b._table.fim_convention_stated
    assert any("'reference' K-FAC convention" in n for n in b.provenance.notes)

    run_shard(_tiny_recipe(epochs=1, fim_convention="kfac"), ["tanh(x)"], (0, 1), tmp / "ref", data=data,
              log=lambda m: None)
    with pytest.raises(ValueError, match="one table holds one convention"):
        merge(tmp / "ref", tmp / "mixed.h5")
    assert not (tmp / "mixed.h5").exists()
    # the same function, the same network: the two conventions give different features
    kfac = json.loads((tmp / "ref" / f"{result_key('tanh(x)')}.json").read_text())
    assert kfac["fim_convention"] == "kfac"


def test_learning_curves_leave_the_run_unchanged():
    """Recording the curve (validation after every epoch, running training loss and accuracy) changes no
    final value: the same seed gives the same numbers with and without it."""
    from generation.data import load_digits
    from generation.recipes import get_recipe
    from generation.train import train_run

    recipe = get_recipe("digits").model_copy(update={"epochs": 4, "seeds": (0,)})
    data = load_digits(**recipe.data_kwargs)
    with_curve = train_run(recipe, "swish(x)", data, seed=3)
    without = train_run(recipe, "swish(x)", data, seed=3, curves=False)
    fields = ("train_acc", "val_acc", "test_acc", "train_loss", "val_loss", "test_loss", "epochs_completed")
    assert {f: getattr(with_curve, f) for f in fields} == {f: getattr(without, f) for f in fields}
    c = with_curve.curve
    assert without.curve is None and set(c) == {"epoch_s", "train_loss", "train_acc", "val_loss", "val_acc"}
    assert all(len(v) == 4 for v in c.values()) and all(t > 0 for t in c["epoch_s"])
    assert c["val_acc"][-1] == with_curve.val_acc and c["val_loss"][-1] == with_curve.val_loss
    assert all(0 <= a <= 1 for a in c["train_acc"] + c["val_acc"]) and c["train_loss"][-1] < c["train_loss"][0]
    bad = train_run(recipe.model_copy(update={"lr": 1e6}), "exp(x)", data, seed=0)
    assert bad.diverged and len(bad.curve["val_acc"]) == len(bad.curve["train_loss"]) == bad.epochs_completed


def test_the_revision_is_stamped_once_per_process(monkeypatch):
    """A worker stamps its results with the revision of the code it loaded at start: commits to the
    checkout while it runs (which it does not load) must not change the stamp (they did, through a
    decorator that had slipped onto another function)."""
    import generation.worker as worker

    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        out = f"rev{len(calls)}\n" if cmd[:2] == ["git", "rev-parse"] else ""
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")

    worker._git_revision.cache_clear()
    monkeypatch.setattr(worker.subprocess, "run", fake_run)
    try:
        first = worker._git_revision()
        assert first == "rev1" and worker._git_revision() == first and len(calls) == 2
    finally:
        worker._git_revision.cache_clear()
