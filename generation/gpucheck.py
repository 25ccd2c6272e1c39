"""One prepared check of a GPU machine, in at most ``--budget`` seconds (default 540): do the CUDA paths agree
with the CPU, and how fast is each task?

    python -m generation.gpucheck                         # on a GPU node: writes gpucheck.json
    python -m generation.gpucheck --device cpu --quick    # the same code on the CPU, in seconds (the tests run it)

Checks, each against the CPU with the same seeds and inputs (TF32 off for the comparisons):

1. **K-FAC features** of the small reference networks (the digits CNN, All-CNN-C and ResNet-56 at
   initialisation, on fixed synthetic batches) in both conventions (``reference``, ``kfac``): the largest
   relative difference of the factors' eigenvalues (those above 1e-6 of the largest) and of the FIM CDFs.
2. **One training step** of each: loss, gradients and the parameters after the step (dropout masks drawn
   on the host, :mod:`generation.dropout`, so that both devices apply the same ones).
3. **bf16 autocast**: one step under autocast beside the fp32 step on the device (finite, close).
4. **A checkpointed run**: a short digits run interrupted after a few steps and continued on the device,
   beside the uninterrupted one.
5. **Throughput** of every task (training and evaluation images/s, one FIM feature, projected hours, as
   ``generation.cost`` measures them) and, for the CIFAR-size tasks (digits, All-CNN-C, ResNet-56), of 2 and 4
   runs side by side (``--per-gpu``); the JSON is rewritten after every task, and no task starts in the last
   45 s of the budget. ``--quick`` measures the digits task only, with few steps.

One JSON (``-o``, default ``gpucheck.json``): the machine (GPU, driver, CUDA, cuDNN, torch), every check with
its figures and verdict, the throughput rows, and the seconds each part took; it is rewritten after every
part, so a run cut short keeps what it measured. Exit status 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from generation.data import synthetic
from generation.dropout import host_masks
from generation.fisher import fim_feature
from generation.recipes import get_recipe
from generation.tasks import TASKS

__all__ = ["main", "run_checks"]

#: tolerances of the CUDA-against-CPU comparisons (fp32, TF32 off; bf16 against fp32 on the device)
TOL = {"eigen_rel": 1e-3, "cdf_abs": 0.02, "step_rel": 1e-3, "bf16_loss_rel": 0.05, "resume_rel": 1e-4}
NETWORKS = {"digits": ("digits", (1, 8, 8)), "all_cnn_c": ("cnn", (3, 32, 32)), "resnet56": ("resnet", (3, 32, 32))}


def machine(device: torch.device) -> dict:
    info = {"torch": torch.__version__, "python": platform.python_version(), "device": str(device),
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "cpu_threads": torch.get_num_threads()}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update(gpu=p.name, capability=f"{p.major}.{p.minor}", memory_gib=round(p.total_memory / 2**30, 1),
                    gpus_visible=torch.cuda.device_count())
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20)
            info["driver"] = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
        except (OSError, subprocess.SubprocessError):
            info["driver"] = None
    return info


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(a))) if a.size else 0.0, 1e-30)
    return float(np.max(np.abs(a - b)) / scale) if a.size else 0.0


def _net(key: str, batch: int, seed: int = 0):
    task, shape = NETWORKS[key]
    recipe = TASKS[task].recipe
    data = synthetic(batch, shape, 10, seed=seed)
    return recipe, data


def check_kfac(device: torch.device, keys, batch: int) -> list[dict]:
    from generation.train import fim_blocks

    out = []
    for key in keys:
        for convention in ("reference", "kfac"):
            recipe, data = _net(key, batch)
            recipe = recipe.model_copy(update={"fim_convention": convention, "fim_batch": batch})
            cpu = fim_blocks(recipe, "swish(x)", data, device="cpu")
            dev = fim_blocks(recipe, "swish(x)", data, device=device)
            eig = 0.0
            for a, b in zip(cpu, dev, strict=True):
                for la, lb in ((a.log_a, b.log_a), (a.log_g, b.log_g)):
                    ea, eb = np.exp(la), np.exp(lb)
                    keep = ea > 1e-6 * ea.max()
                    eig = max(eig, _rel(ea[keep], eb[keep]))
            cdf = float(np.max(np.abs(fim_feature(cpu)[0] - fim_feature(dev)[0])))
            out.append({"check": f"kfac {key} {convention}", "eigen_rel": eig, "cdf_abs": cdf,
                        "passed": eig <= TOL["eigen_rel"] and cdf <= TOL["cdf_abs"]})
    return out


def _step(recipe, data, device: torch.device, *, amp: bool = False) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    from generation.train import _loss, _normalise, _optimizer, build_model

    torch.manual_seed(0)
    model = build_model(recipe, "swish(x)", data.num_classes, data.train.x.shape[1]).to(device)
    model.train()
    opt = _optimizer(recipe, model)
    x = _normalise(data.train.x.to(device), data)
    y = torch.nn.functional.one_hot(data.train.y, data.num_classes).float().to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp), host_masks():  # same dropout masks
        logits = model(x)
    loss = _loss(recipe, logits, y)
    opt.zero_grad()
    loss.backward()
    grads = [p.grad.detach().float().cpu().numpy() for p in model.parameters() if p.grad is not None]
    opt.step()
    params = [p.detach().float().cpu().numpy() for p in model.parameters()]
    return float(loss.detach()), grads, params


def check_step(device: torch.device, keys, batch: int) -> list[dict]:
    out = []
    for key in keys:
        recipe, data = _net(key, batch, seed=1)
        lc, gc, pc = _step(recipe, data, torch.device("cpu"))
        ld, gd, pd = _step(recipe, data, device)
        g = max(_rel(a, b) for a, b in zip(gc, gd))
        p = max(_rel(a, b) for a, b in zip(pc, pd))
        loss = abs(lc - ld) / max(abs(lc), 1e-12)
        out.append({"check": f"training step {key}", "loss_rel": loss, "grad_rel": g, "param_rel": p,
                    "passed": max(loss, g, p) <= TOL["step_rel"]})
        la, ga, _ = _step(recipe, data, device, amp=True)
        rel = abs(la - ld) / max(abs(ld), 1e-12)
        finite = bool(np.isfinite(la)) and all(np.isfinite(a).all() for a in ga)
        out.append({"check": f"bf16 autocast step {key}", "loss_rel_to_fp32": rel, "finite": finite,
                    "grad_rel_to_fp32": max(_rel(a, b) for a, b in zip(gd, ga)),
                    "passed": finite and rel <= TOL["bf16_loss_rel"]})
    return out


def check_resume(device: torch.device, tmp: Path, epochs: int) -> dict:
    from generation.checkpoint import Preempted, RunCheckpoint, StopFlag
    from generation.data import load_digits
    from generation.train import train_run

    recipe = get_recipe("digits").model_copy(update={"epochs": epochs})
    data = load_digits()
    whole = train_run(recipe, "swish(x)", data, seed=0, device=device)
    stop = StopFlag()
    ck = RunCheckpoint(tmp / "gpucheck-resume.npz", {"check": "resume"}, every_s=0, stop=stop, log=lambda m: None)
    ck.clear()
    save = ck.save

    def save_then_stop(state):
        save(state)
        if ck.saves == 5:
            stop.request("gpucheck")

    ck.save = save_then_stop
    try:
        train_run(recipe, "swish(x)", data, seed=0, device=device, checkpoint=ck)
    except Preempted:
        pass
    stop.clear()
    again = RunCheckpoint(ck.path, {"check": "resume"}, every_s=None, stop=stop, log=lambda m: None)
    resumed = train_run(recipe, "swish(x)", data, seed=0, device=device, checkpoint=again)
    again.clear()
    diffs = {k: abs(getattr(whole, k) - getattr(resumed, k)) for k in ("val_acc", "val_loss", "train_loss", "test_acc")}
    worst = max(diffs["val_loss"] / max(whole.val_loss, 1e-12), diffs["train_loss"] / max(whole.train_loss, 1e-12))
    return {"check": "checkpointed run continues", "resumed_from": list(again.resumed_from or ()),
            **{f"{k}_abs": v for k, v in diffs.items()}, "loss_rel": worst,
            "exact": all(v == 0 for v in diffs.values()), "passed": worst <= TOL["resume_rel"]}


#: the CIFAR-size tasks whose runs are measured side by side (``--per-gpu``)
PACKED = ("digits", "cnn", "resnet")


def throughput(device: torch.device, names, *, steps: int, packs, batch: int | None, deadline: float | None = None,
               rows: list | None = None, on_row=None) -> list[dict]:
    """Each task's measured throughput (``generation.cost``), and for :data:`PACKED` tasks the gain of runs side
    by side; ``on_row`` is called after every task (the JSON is rewritten), and no task starts after
    ``deadline`` (``time.monotonic()``): the tasks left are named in the last row's place."""
    from generation.cost import measure_task, project, task_shape, time_packed

    rows = [] if rows is None else rows
    for name in names:
        if deadline is not None and time.monotonic() > deadline:
            rows.append({"task": name, "skipped": "the time budget is spent"})
            continue
        row = project(measure_task(TASKS[name], device, steps=steps, batch=batch), fim_n=5000, budget=100)
        if name in PACKED and packs:
            shape, classes, _, _ = task_shape(TASKS[name].recipe)
            one = time_packed(TASKS[name].recipe, shape, classes, device, steps, 1, batch=batch)[0]
            row["alone_train_img_s"] = round(one, 1)  # measured as the packed runs are: its own process
            for k in packs:
                per = time_packed(TASKS[name].recipe, shape, classes, device, steps, k, batch=batch)
                row[f"packed{k}_train_img_s"] = [round(v, 1) for v in per]
                row[f"packing_gain_{k}"] = round(sum(per) / one, 3)
        rows.append(row)
        if on_row is not None:
            on_row()
    return rows


def run_checks(device: torch.device, out: Path, *, quick: bool, budget_s: float, log=print) -> dict:
    t_start = time.monotonic()
    doc: dict = {"machine": machine(device), "quick": quick, "tolerances": TOL, "checks": [], "throughput": [],
                 "seconds": {}, "skipped": []}
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # comparisons in true fp32
        torch.backends.cudnn.allow_tf32 = False

    def write() -> None:
        doc["passed"] = all(c["passed"] for c in doc["checks"])
        out.write_text(json.dumps(doc, indent=1, default=float))

    keys = ["digits"] if quick else list(NETWORKS)
    parts = [
        ("kfac", lambda: doc["checks"].extend(check_kfac(device, keys, 16 if quick else 64))),
        ("step", lambda: doc["checks"].extend(check_step(device, keys, 16 if quick else 64))),
        ("resume", lambda: doc["checks"].append(check_resume(device, out.parent, 1 if quick else 3))),
    ]
    names = ["digits"] if quick else list(TASKS)

    def speed() -> None:
        if device.type == "cuda":  # as training runs: TF32 and cuDNN's autotuner on
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
        throughput(device, names, steps=3 if quick else 20, packs=(2,) if quick else (2, 4),
                   batch=16 if quick and device.type == "cpu" else None, deadline=t_start + budget_s - 45,
                   rows=doc["throughput"], on_row=write)

    parts.append(("throughput", speed))
    for name, part in parts:
        left = budget_s - (time.monotonic() - t_start)
        if left < (5 if quick else 60):
            doc["skipped"].append(f"{name}: {left:.0f} s of the budget left")
            continue
        t0 = time.monotonic()
        part()
        doc["seconds"][name] = round(time.monotonic() - t0, 1)
        log(f"gpucheck: {name} done in {doc['seconds'][name]} s")
        write()
    write()
    return doc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generation.gpucheck", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quick", action="store_true", help="the digits network and task only, few steps")
    p.add_argument("--budget", type=float, default=540, help="seconds for everything (default 540)")
    p.add_argument("-o", "--output", type=Path, default=Path("gpucheck.json"))
    args = p.parse_args(argv)
    device = torch.device(args.device)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    doc = run_checks(device, args.output, quick=args.quick, budget_s=args.budget)
    for c in doc["checks"]:
        figures = ", ".join(f"{k} {v:.2e}" for k, v in c.items() if isinstance(v, float))
        print(f"{'ok  ' if c['passed'] else 'FAIL'} {c['check']}: {figures}")
    for r in doc["throughput"]:
        if "skipped" in r:
            print(f"{r['task']}: not measured ({r['skipped']})")
            continue
        gains = ", ".join(f"{k} {v}" for k, v in r.items() if k.startswith("packing_gain"))
        print(f"{r['task']}: train {r['train_img_s']:.0f} img/s, eval {r['eval_img_s']:.0f} img/s, FIM {r['fim_s']:.2f} s"
              f"{', ' + gains if gains else ''}")
    print(f"gpucheck: {'passed' if doc['passed'] else 'FAILED'}; wrote {args.output}"
          f"{'; skipped ' + '; '.join(doc['skipped']) if doc['skipped'] else ''}")
    return 0 if doc["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
