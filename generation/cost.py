"""Cost model: measured throughput of every task on this device, projected to device-hours.

    python -m generation.cost [--device cuda] [--tasks all] [--fim-n 5000] [--budget 100] [--json cost.json]

For each task it times ``--steps`` training steps after a warm-up, on synthetic tensors of the task's
real shapes (forward, backward, optimizer, device-side augmentation, mixed precision where the recipe
uses it), and evaluation (forward only), then one FIM feature (``fim_batch`` images, K-FAC factors,
eigen-decompositions, histograms). From those it projects, for this device:

* ``train_h``: one function = seeds x (epochs x training images / train img/s + evaluation of
  train + val + test / eval img/s), in device-hours: with ``--per-gpu K`` the training throughput is that
  of one of K runs side by side, and K functions share the device (``packing_gain``: the K runs' images/s
  over one run's alone);
* ``fim_s``: one FIM feature;
* ``precompute_h``: FIM features of ``--fim-n`` functions (the outputs of a whole space are a CPU job:
  docs/performance.md);
* ``study_h``: a search study of ``--budget`` functions (each trained and its FIM computed);
* ``study_pflop``: the same study's training work in PFLOP (3 x the forward FLOPs per image counted
  by torch's FlopCounterMode, x image passes), a device-independent measure of its size.

Data loading is not part of the training throughput (the tensors are on the device already); for tasks
that decode image files per batch (ImageNet) the cost model measures one core's decoding rate on this
machine (``decode_img_s_per_core``: random-resized crops of 500 x 375 JPEGs, :func:`generation.images.decode_rate`)
and says how many cores keep the measured training throughput fed (``cores_to_feed``). Figures hold for the device they were measured on; the
synthetic data make accuracy meaningless here. ``--batch`` overrides the batch size (a CPU cannot run
ImageNet batches of 256 in reasonable time; per-image throughput is then measured at that batch).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from generation.augment import augment, mix
from generation.data import synthetic
from generation.recipes import Recipe
from generation.tasks import TASKS, Task
from generation.train import _loss, _normalise, _optimizer, build_model, fim_for

__all__ = ["measure_task", "project", "task_shape", "time_packed", "time_training"]

#: training images per epoch of the standard data sets (ImageNet-1k has 1,281,167; Imagenette 9,469)
_TRAIN_IMAGES = {"digits": 1_200, "cifar10": 50_000, "cifar100": 50_000, "imagenette": 9_469,
                 "imagenet": 1_281_167}
_EVAL_IMAGES = {"digits": 597, "cifar10": 10_000, "cifar100": 10_000, "imagenette": 3_925, "imagenet": 50_000}
_CLASSES = {"digits": 10, "cifar10": 10, "cifar100": 100, "imagenette": 10, "imagenet": 1000}


def task_shape(recipe: Recipe) -> tuple[tuple[int, int, int], int, int, int]:
    """(input shape, classes, training images per epoch, evaluation images) of a recipe's data set."""
    if recipe.data not in _TRAIN_IMAGES:
        raise ValueError(f"no known shape for data set {recipe.data!r}; the cost model knows "
                         f"{', '.join(_TRAIN_IMAGES)}")
    kw = recipe.data_kwargs
    n_val = kw.get("n_val", 0) if recipe.data != "digits" else 0
    shape = {"digits": (1, 8, 8), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32)}.get(
        recipe.data, (3, kw.get("size", 160), kw.get("size", 160)))
    n_train = _TRAIN_IMAGES[recipe.data] - n_val
    # evaluation passes over the training set (no augmentation), the validation and the test split
    return shape, _CLASSES[recipe.data], n_train, n_train + n_val + _EVAL_IMAGES[recipe.data]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_training(recipe: Recipe, shape, classes: int, device: torch.device, steps: int, warmup: int = 3,
                  batch: int | None = None) -> tuple[float, float]:
    """(training images/s, evaluation images/s) at ``batch`` (default: the recipe's)."""
    batch = batch or recipe.batch_size
    data = synthetic(batch * 2, shape, classes)
    model = build_model(recipe, "swish(x)", classes, shape[0]).to(device)
    opt = _optimizer(recipe, model)
    x_all = data.train.x.to(device)
    y_all = torch.nn.functional.one_hot(data.train.y, classes).float().to(device)
    use_amp = recipe.amp and device.type == "cuda"
    t0 = None
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        idx = torch.randint(0, x_all.shape[0], (batch,), device=device)
        x, y = augment(x_all[idx], recipe.augment), y_all[idx]
        x, y = mix(x, y, mixup=recipe.mixup, cutmix=recipe.cutmix)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = model(_normalise(x, data))
        loss = _loss(recipe, logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.clip_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip_norm)
        opt.step()
    _sync(device)
    train_ips = steps * batch / (time.perf_counter() - t0)
    model.eval()
    eval_batch = max(batch, 256) if device.type == "cuda" else batch
    x = torch.rand((eval_batch, *shape), device=device)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
        for i in range(1 + max(steps // 2, 1)):
            if i == 1:
                _sync(device)
                t0 = time.perf_counter()
            model(x)
    _sync(device)
    eval_ips = max(steps // 2, 1) * eval_batch / (time.perf_counter() - t0)
    return train_ips, eval_ips


def _packed_child(args, barrier, results) -> None:
    recipe, shape, classes, device, steps, batch, threads = args
    torch.set_num_threads(threads)
    barrier.wait()
    results.put(time_training(recipe, shape, classes, torch.device(device), steps, batch=batch)[0])


def time_packed(recipe: Recipe, shape, classes: int, device: torch.device, steps: int, k: int,
                batch: int | None = None, threads: int = 1) -> list[float]:
    """Training images/s of each of ``k`` runs side by side on one device (``--per-gpu k``): ``k`` processes
    that start timing together. Their sum over a single run's images/s is what packing gains."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # CUDA cannot be forked
    barrier, results = ctx.Barrier(k), ctx.Queue()
    procs = [ctx.Process(target=_packed_child, args=((recipe, shape, classes, str(device), steps, batch, threads),
                                                      barrier, results)) for _ in range(k)]
    for proc in procs:
        proc.start()
    out = [results.get(timeout=1800) for _ in procs]
    for proc in procs:
        proc.join()
    return out


def train_flops_per_image(recipe: Recipe, shape, classes: int) -> float:
    """Floating-point operations of one training image: 3 x the forward pass's (the backward pass costs
    about twice the forward), counted by torch's FlopCounterMode on the CPU (matmuls, convolutions and
    attention; elementwise work is not counted). The backward is not counted directly because the
    counter overcounts a grouped convolution's backward by its number of groups."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(recipe, "swish(x)", classes, shape[0])
    model.train()
    x = torch.rand((2, *shape))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return 3 * counter.get_total_flops() / 2


def measure_task(task: Task, device: torch.device, *, steps: int, batch: int | None = None,
                 fim_batch: int | None = None, per_gpu: int = 1) -> dict:
    """Measured throughput and one function's hours. With ``per_gpu`` K > 1, the training throughput is that
    of one of K runs side by side (:func:`time_packed`), ``run_h`` the hours of a run so packed, and
    ``device_h_per_function`` the device's hours per function (``run_h`` x seeds / K)."""
    recipe = task.recipe
    if fim_batch:
        recipe = recipe.model_copy(update={"fim_batch": fim_batch})
    shape, classes, n_train, n_eval = task_shape(recipe)
    train_ips, eval_ips = time_training(recipe, shape, classes, device, steps, batch=batch)
    packed = None
    if per_gpu > 1:
        threads = max(1, torch.get_num_threads() // per_gpu) if device.type == "cpu" else 1
        # the run alone is measured as the packed ones are (its own process, the same threads)
        single_ips = time_packed(recipe, shape, classes, device, steps, 1, batch=batch, threads=threads)[0]
        packed = time_packed(recipe, shape, classes, device, steps, per_gpu, batch=batch, threads=threads)
        train_ips = min(packed)
    data = synthetic(max(recipe.fim_batch, 8), shape, classes)
    _sync(device)
    t0 = time.perf_counter()
    cdf, _ = fim_for(recipe, "swish(x)", data, device=device)
    _sync(device)
    fim_s = time.perf_counter() - t0
    run_s = recipe.epochs * n_train / train_ips + n_eval / eval_ips
    flops = train_flops_per_image(recipe, shape, classes)
    return {"task": task.name, "train_gflop_per_image": round(flops / 1e9, 3),
            "image_passes_per_function": recipe.epochs * n_train * len(recipe.seeds), "batch": batch or recipe.batch_size, "train_img_s": round(train_ips, 1),
            "eval_img_s": round(eval_ips, 1), "epochs": recipe.epochs, "train_images": n_train,
            "seeds": len(recipe.seeds), "run_h": run_s / 3600, "fim_s": fim_s, "fim_batch": recipe.fim_batch,
            "fim_dims": int(cdf.size), "amp": recipe.amp and device.type == "cuda", "per_gpu": per_gpu,
            "device_h_per_function": run_s / 3600 * len(recipe.seeds) / per_gpu,
            **_feeding(recipe, train_ips * per_gpu),
            **({"single_train_img_s": round(single_ips, 1), "packed_train_img_s": [round(v, 1) for v in packed],
                "packing_gain": round(sum(packed) / single_ips, 3)} if packed else {})}


def _feeding(recipe: Recipe, train_ips: float) -> dict:
    """For a recipe that decodes image files per batch: one core's decoding rate here and the cores that keep
    ``train_ips`` images/s fed (the GPU's appetite over what one core decodes)."""
    if not recipe.data_kwargs.get("stream"):
        return {}
    import math

    from generation.images import decode_rate

    rate = decode_rate(recipe.data_kwargs.get("size", 224))
    return {"decode_img_s_per_core": round(rate, 1), "cores_to_feed": math.ceil(train_ips / rate)}


def project(row: dict, *, fim_n: int, budget: int) -> dict:
    """Add the projections (hours on the measured device) to a measured row."""
    train_h = row["seeds"] * row["run_h"] / row.get("per_gpu", 1)  # device-hours: K functions share a device
    return {**row, "train_h": train_h, "precompute_h": fim_n * row["fim_s"] / 3600,
            "study_h": budget * (train_h + row["fim_s"] / 3600),
            "study_pflop": budget * row["image_passes_per_function"] * row["train_gflop_per_image"] / 1e6}


def _h(hours: float) -> str:
    return f"{hours * 3600:.1f} s" if hours < 0.1 else f"{hours:.3g} h"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generation.cost", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tasks", default="all", help="comma-separated task names, or all")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, help="override every task's batch size (CPU measurements)")
    p.add_argument("--fim-batch", type=int, help="override the FIM batch (CPU measurements)")
    p.add_argument("--fim-n", type=int, default=5000, help="FIM features to precompute per task (default 5000)")
    p.add_argument("--budget", type=int, default=100, help="trainings per search study (default 100)")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--per-gpu", type=int, default=1, metavar="K",
                   help="measure K runs side by side on the device (generation.launch --per-gpu K) and project "
                        "device-hours with their throughput")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, all cores); with other work "
                   "on the machine give fewer, or CPU figures drop many-fold (docs/performance.md)")
    args = p.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            p.error(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    names = list(TASKS) if args.tasks == "all" else args.tasks.split(",")
    print(f"device {dev}, torch {torch.__version__}; study budget {args.budget}, FIM precompute {args.fim_n:,}")
    print(f"{'task':<18} {'batch':>5} {'GFLOP/img':>9} {'train img/s':>11} {'eval img/s':>10} {'1 function':>10} "
          f"{'FIM':>8} {'precompute':>10} {'study':>10} {'study PFLOP':>11}")
    rows = []
    for name in names:
        if name not in TASKS:
            print(f"cost: error: unknown task {name!r}; tasks: {', '.join(TASKS)}")
            return 2
        row = project(measure_task(TASKS[name], device, steps=args.steps, batch=args.batch,
                                   fim_batch=args.fim_batch, per_gpu=args.per_gpu), fim_n=args.fim_n,
                      budget=args.budget)
        row.update(device=dev, torch=torch.__version__)
        rows.append(row)
        print(f"{name:<18} {row['batch']:>5} {row['train_gflop_per_image']:>9.3g} {row['train_img_s']:>11.0f} "
              f"{row['eval_img_s']:>10.0f} {_h(row['train_h']):>10} {row['fim_s']:>7.2f}s {_h(row['precompute_h']):>10} "
              f"{_h(row['study_h']):>10} {row['study_pflop']:>11,.0f}", flush=True)
        if args.json:  # after every task: a run cut short keeps what it measured
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
