"""GPU check: training throughput and FIM feature time of every task, on synthetic tensors of the real shapes.

    python -m generation.gpu_check [--device cuda] [--steps 30] [--json results.json]

For each recipe (cnn, resnet, vit; resnet50 at 224 px for the transfer experiment) it times
``--steps`` training steps at the recipe's batch size after a warm-up (forward, backward, optimizer,
GPU augmentation, mixed precision where the recipe uses it), reports images/s, and projects the
wall time of one full run (epochs × training images / throughput) and runs per hour on this device.
It then times the FIM feature (one batch of 128, K-FAC factors, eigen-decompositions, histograms).

Claim: prints the figures for the device it runs on, with the GPU name and torch version; it makes no
claim for other machines. The data are random tensors (synthetic), so accuracy is meaningless here.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from generation.data import augment, mix, synthetic
from generation.recipes import Recipe, get_recipe
from generation.train import _loss, _normalise, _optimizer, build_model, fim_for

TASKS = {  # recipe, input shape, classes, training images per epoch
    "cnn": ("cnn", (3, 32, 32), 10, 45_000),
    "resnet": ("resnet", (3, 32, 32), 10, 45_000),
    "vit": ("vit", (3, 160, 160), 10, 9_469),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_training(recipe: Recipe, shape, classes: int, device: torch.device, steps: int, warmup: int = 5) -> float:
    data = synthetic(recipe.batch_size * 2, shape, classes)
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
        idx = torch.randint(0, x_all.shape[0], (recipe.batch_size,), device=device)
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
    return steps * recipe.batch_size / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generation.gpu_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--tasks", default="cnn,resnet,vit")
    p.add_argument("--width", type=float, default=1.0, help="scale model widths (CPU smoke tests only)")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {gpu}, torch {torch.__version__}")
    rows = []
    for task in args.tasks.split(","):
        name, shape, classes, n_train = TASKS[task]
        recipe = get_recipe(name)
        if args.width != 1.0:
            recipe = recipe.model_copy(update={"model_kwargs": {**recipe.model_kwargs, "width": args.width}})
        ips = time_training(recipe, shape, classes, device, args.steps)
        run_s = recipe.epochs * n_train / ips
        data = synthetic(max(recipe.fim_batch, 8), shape, classes)
        _sync(device)
        t0 = time.perf_counter()
        cdf, _ = fim_for(recipe, "swish(x)", data, device=device)
        _sync(device)
        fim_s = time.perf_counter() - t0
        row = {"task": task, "images_per_s": round(ips, 1), "full_run_h": round(run_s / 3600, 3),
               "runs_per_hour": round(3600 / run_s, 3), "seeds": len(recipe.seeds),
               "functions_per_hour": round(3600 / (run_s * len(recipe.seeds) + fim_s), 3),
               "fim_s": round(fim_s, 2), "fim_dims": int(cdf.size), "batch": recipe.batch_size,
               "amp": recipe.amp and device.type == "cuda", "gpu": gpu, "torch": torch.__version__}
        rows.append(row)
        print(f"{task:<7} {ips:10.0f} img/s  full run {run_s / 3600:6.2f} h  ({3600 / run_s:6.2f} runs/h, "
              f"x{len(recipe.seeds)} seeds)  FIM {fim_s:6.2f} s ({cdf.size} dims)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
