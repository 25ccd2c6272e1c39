"""The per-layer FIM layouts of the paper's benchmarks, derived from ``generation.models``.

    python -m generation.layouts            # rewrites actbench/data/fim_layouts.json
    python -m generation.layouts --check    # exits 1 when the shipped file differs from the models

A layout is the list of ``(layer, n_weights)`` of every ``nn.Linear`` / ``nn.Conv2d`` in forward order,
the order of the FIM feature's per-layer CDFs (``generation.fisher``). ``actbench`` cannot import
``generation`` (it must work without torch), so the layouts are shipped as data and a test checks that
they still equal what the models give. When an official file's FIM length equals a layout's total
number of bins, ``actbench convert`` attaches it; otherwise the table says its layout is unknown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn

from generation.models import MODELS

__all__ = ["BENCHMARK_MODELS", "derive_layouts", "layer_inventory", "main"]

#: benchmark -> (model, kwargs, input shape): the networks of Act-Bench-CNN, -ResNet and -ViT
BENCHMARK_MODELS: dict[str, tuple[str, dict, tuple[int, int, int]]] = {
    "cnn": ("all_cnn_c", {"num_classes": 10}, (3, 32, 32)),
    "resnet": ("resnet_cifar", {"depth": 56, "num_classes": 10}, (3, 32, 32)),
    "vit": ("mobilevitv2", {"width_multiplier": 0.5, "num_classes": 10}, (3, 160, 160)),
}
LAYOUTS_FILE = Path(__file__).resolve().parents[1] / "actbench" / "data" / "fim_layouts.json"


def layer_inventory(model: nn.Module, example: torch.Tensor) -> list[tuple[str, int]]:
    """``(name, n_weights incl. bias)`` of every Linear/Conv2d in the order a forward pass calls them."""
    order: list[tuple[str, int]] = []
    handles = [mod.register_forward_hook(
        lambda m, a, o, name=name: order.append((name, sum(p.numel() for p in m.parameters(recurse=False)))))
        for name, mod in model.named_modules() if isinstance(mod, (nn.Linear, nn.Conv2d))]
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for h in handles:
            h.remove()
    return order


def derive_layouts() -> dict[str, list[list]]:
    out = {}
    for bench, (model, kwargs, shape) in BENCHMARK_MODELS.items():
        net = MODELS[model]("relu(x)", **kwargs)
        out[bench] = [[name, n] for name, n in layer_inventory(net, torch.zeros(2, *shape))]
    return out


def _document(layouts: dict[str, list[list]]) -> dict:
    return {"format": "actbench-fim-layouts", "version": 1,
            "note": "(layer, n_weights incl. bias) of every Linear/Conv2d in forward order, derived from "
                    "generation.models by `python -m generation.layouts`; a layout is attached to an official "
                    "table only when the file's FIM length equals its number of bins",
            "models": {b: {"model": m, "kwargs": kw, "input": list(s)} for b, (m, kw, s) in BENCHMARK_MODELS.items()},
            "layouts": layouts}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generation.layouts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="compare with the shipped file instead of writing it")
    args = p.parse_args(argv)
    doc = _document(derive_layouts())
    if args.check:
        shipped = json.loads(LAYOUTS_FILE.read_text())
        if shipped != doc:
            print(f"{LAYOUTS_FILE} differs from the models; run python -m generation.layouts", file=sys.stderr)
            return 1
        print("the shipped layouts equal the models'")
        return 0
    LAYOUTS_FILE.write_text(json.dumps(doc, indent=1) + "\n")
    for bench, layers in doc["layouts"].items():
        bins = sum(max(n // 100 - 1, 0) for _, n in layers)
        print(f"{bench}: {len(layers)} layers, {sum(n for _, n in layers):,} weights, {bins:,} FIM bins")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
