"""Time the K-FAC FIM feature on this machine's CPU, in both conventions, in one run.

Usage: python benchmarks/bench_fisher.py [--model all_cnn_c|mobilevitv2|coatnet] [--batch 128] [--size PX]
                                         [--threads N] [--before FILE --repeats 5]

Prints a plain forward+backward pass (the floor), then for each convention ("reference", the official
release's, and "kfac", textbook) the K-FAC factors (hooks, im2col Gram matrices, float64
eigen-decompositions) with the share spent on depthwise/grouped convs, and the histograms with both
counting methods. With ``--before FILE`` (another version of generation/fisher.py, e.g. from
``git show REV:generation/fisher.py > before.py``) it instead times that version's ``kfac_factors`` and
both conventions of this one, alternating, ``--repeats`` times, and prints medians and ratios: a
comparison within one run, on one machine. Inputs are synthetic (standard normal, the shape of the task's images): timing does
not depend on the pixel values.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # generation/ lives in the repository, not the package

from generation import fisher  # noqa: E402
from generation.fisher import fim_feature, kfac_factors, layer_cdf  # noqa: E402
from generation.models import MODELS  # noqa: E402

_MODELS = {  # model kwargs, default image size
    "all_cnn_c": ({}, 32),
    "mobilevitv2": ({"width_multiplier": 0.5, "num_classes": 10}, 160),
    "coatnet": ({"image_size": 224}, 224),
}


def _grouped(model: torch.nn.Module) -> set[str]:
    return {n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1}


def _timed_blocks(model, x, y, loss, convention: str, grouped: set[str]) -> tuple[list, float, float]:
    """Factors of every layer; also the seconds spent in the blocks of grouped convs."""
    spent = {"grouped": 0.0}
    real = fisher._block

    def block(r, g_scale, conv):
        t0 = time.perf_counter()
        b = real(r, g_scale, conv)
        if r["name"] in grouped:
            spent["grouped"] += time.perf_counter() - t0
        return b

    fisher._block = block
    try:
        t0 = time.perf_counter()
        blocks = kfac_factors(model, x, y, loss, convention=convention)
        return blocks, time.perf_counter() - t0, spent["grouped"]
    finally:
        fisher._block = real


def _compare(before: Path, model, x, y, loss, repeats: int) -> None:
    spec = importlib.util.spec_from_file_location("fisher_before", before)
    old = importlib.util.module_from_spec(spec)
    sys.modules["fisher_before"] = old
    spec.loader.exec_module(old)
    runs: dict[str, list[float]] = {"before": [], "reference": [], "kfac": []}
    for _ in range(repeats):
        for k in runs:
            t0 = time.perf_counter()
            if k == "before":
                old.kfac_factors(model, x, y, loss)
            else:
                kfac_factors(model, x, y, loss, convention=k)
            runs[k].append(time.perf_counter() - t0)
    base = float(np.median(runs["before"]))
    for k, v in runs.items():
        print(f"{k:<10} K-FAC factors median {np.median(v):6.2f} s, {np.median(v) / base:.2f}x before "
              f"(runs: {', '.join(f'{t:.2f}' for t in v)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="all_cnn_c", choices=sorted(_MODELS))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, help="image size in pixels (default: the task's)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--before", type=Path, help="another generation/fisher.py to compare with")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    kwargs, size = _MODELS[args.model]
    size = args.size or size
    torch.manual_seed(42)
    model = MODELS[args.model]("swish(x)", **kwargs).train()
    classes = model(torch.zeros(2, 3, size, size)).shape[1]
    grouped = _grouped(model)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.model} at {size} px, batch "
          f"{args.batch}, {len(grouped)} depthwise/grouped convs")
    x = torch.randn(args.batch, 3, size, size)
    y = torch.randint(0, classes, (args.batch,))
    loss = torch.nn.functional.cross_entropy
    if args.before:
        _compare(args.before, model, x, y, loss, args.repeats)
        return
    t0 = time.perf_counter()
    loss(model(x), y).backward()
    fb = time.perf_counter() - t0
    model.zero_grad()
    print(f"forward+backward alone:        {fb:6.2f} s")
    for convention in ("reference", "kfac"):
        blocks, kf, kf_grouped = _timed_blocks(model, x, y, loss, convention, grouped)
        t0 = time.perf_counter()
        feat, layers = fim_feature(blocks)
        hist = time.perf_counter() - t0
        t_pairs = t_search = 0.0
        for b in blocks:
            t0 = time.perf_counter()
            a = layer_cdf(b, method="pairs")
            t_pairs += time.perf_counter() - t0
            t0 = time.perf_counter()
            s = layer_cdf(b, method="search")
            t_search += time.perf_counter() - t0
            assert np.allclose(a, s, equal_nan=True)
        print(f"[{convention}] K-FAC factors + eigenvalues: {kf:6.2f} s ({kf / fb:.1f}x a forward+backward; "
              f"depthwise/grouped layers {kf_grouped:.2f} s)")
        print(f"[{convention}] histograms (auto): {hist * 1000:.1f} ms -> feature of {feat.size} dims, "
              f"{len(layers)} layers; every layer by pairs {t_pairs * 1000:.1f} ms, by search "
              f"{t_search * 1000:.1f} ms")


if __name__ == "__main__":
    main()
