"""Seconds to save and load a run's checkpoint (generation.checkpoint) for the tasks' models: the model, SGD
momentum or AdamW moments, and the random states, written atomically with fsync to a temporary folder.

Usage: python benchmarks/bench_checkpoint.py [--models resnet_cifar,resnet50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generation.checkpoint import load_state, save_state  # noqa: E402
from generation.recipes import RECIPES  # noqa: E402
from generation.train import _optimizer, build_model  # noqa: E402

TASKS = {"resnet_cifar": "resnet", "all_cnn_c": "cnn", "mobilevitv2": "imagenet-vit", "resnet50": "imagenet-resnet50"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="all_cnn_c,resnet_cifar,resnet50")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print("| model (task) | parameters | checkpoint MB | save s | load s |")
    print("|---|---|---|---|---|")
    for name in args.models.split(","):
        recipe = RECIPES[TASKS[name]]
        classes = 1000 if recipe.data == "imagenet" else 10
        model = build_model(recipe, "swish(x)", classes, 3)
        opt = _optimizer(recipe, model)
        model(torch.rand(2, 3, 64, 64) if recipe.data == "imagenet" else torch.rand(2, 3, 32, 32)).sum().backward()
        opt.step()  # the optimiser's state exists
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
                 "perm": torch.randperm(1_281_167 if recipe.data == "imagenet" else 45_000), "epoch": 3, "step": 17}
        saves, loads = [], []
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "c.npz"
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                save_state(path, state, {"bench": name})
                saves.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                load_state(path)
                loads.append(time.perf_counter() - t0)
            mb = path.stat().st_size / 1e6
        n = sum(p.numel() for p in model.parameters())
        print(f"| {name} ({recipe.name}) | {n:,} | {mb:.0f} | {statistics.median(saves):.2f} | "
              f"{statistics.median(loads):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
