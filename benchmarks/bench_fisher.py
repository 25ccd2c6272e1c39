"""Time the K-FAC FIM feature of All-CNN-C on one batch of 128 (SPEC §7), on this machine's CPU.

Usage: python benchmarks/bench_fisher.py [--batch 128] [--threads N]

Prints, in one run: a plain forward+backward pass (the floor), the K-FAC factors (hooks, im2col
Gram matrices, float64 eigen-decompositions), and the histograms, each with both counting methods.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # generation/ lives in the repository, not the package

from generation.fisher import fim_feature, kfac_factors, layer_cdf
from generation.models import all_cnn_c  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    torch.manual_seed(42)
    model = all_cnn_c("swish(x)").train()
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))
    loss = torch.nn.functional.cross_entropy
    t0 = time.perf_counter()
    loss(model(x), y).backward()
    fb = time.perf_counter() - t0
    model.zero_grad()
    t0 = time.perf_counter()
    blocks = kfac_factors(model, x, y, loss)
    kf = time.perf_counter() - t0
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
    print(f"forward+backward alone:        {fb:6.2f} s")
    print(f"K-FAC factors + eigenvalues:   {kf:6.2f} s  ({kf / fb:.1f}x a forward+backward)")
    print(f"histograms (auto):             {hist * 1000:6.1f} ms -> feature of {feat.size} dims, {len(layers)} layers")
    print(f"histograms, every layer by pairs: {t_pairs * 1000:.1f} ms; by search: {t_search * 1000:.1f} ms")


if __name__ == "__main__":
    main()
