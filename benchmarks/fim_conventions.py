"""What the histogram of each K-FAC convention sees: All-CNN-C at initialization, the 8 baselines.

Usage: python benchmarks/fim_conventions.py [--data-root DIR] [--batch 128] [--json out.json]

For every baseline and both conventions ("reference", the official release's normalisation, and
"kfac", textbook) this computes the FIM feature exactly as the cnn task does (``generation.train.fim_blocks``:
seed 42, one batch, training mode) and reports the feature's length and, per layer, the share of the
layer's log-eigenvalues that fall outside the histogram's edges [-100, 100] or are not finite (they
are lost to the feature), and the median log-eigenvalue.

Without ``--data-root`` (a folder with CIFAR-10's ``cifar-10-batches-py``) the batch is synthetic:
uniform random pixels standardised like CIFAR-10 (mean 0.5, std 0.289 per channel), labelled so in
the output. The figures in docs/generation.md say which input they were taken with.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # generation/ lives in the repository, not the package

from actbench.lang.ops import BASELINES  # noqa: E402
from generation.data import load_data, synthetic  # noqa: E402
from generation.fisher import fim_feature  # noqa: E402
from generation.recipes import get_recipe  # noqa: E402
from generation.train import fim_blocks  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--json", type=Path, help="also write every figure here")
    args = ap.parse_args()
    recipe = get_recipe("cnn").model_copy(update={"fim_batch": args.batch})
    if args.data_root:
        data = load_data(recipe, args.data_root)
    else:
        data = dataclasses.replace(synthetic(max(args.batch, 8), (3, 32, 32), 10), mean=(0.5,) * 3,
                                   std=(0.2887,) * 3, description="synthetic: uniform pixels, standardised")
    print(f"All-CNN-C at initialization, batch {args.batch}, data: {data.description}")
    out = {"data": data.description, "batch": args.batch, "functions": {}}
    for fn in BASELINES:
        out["functions"][fn] = {}
        for convention in ("reference", "kfac"):
            t0 = time.perf_counter()
            blocks = fim_blocks(recipe.model_copy(update={"fim_convention": convention}), fn, data)
            feat, _ = fim_feature(blocks)
            layers = []
            for b in blocks:
                lost = b.lost_fractions()
                ev = b.log_eigenvalues()
                ev = ev[np.isfinite(ev)]
                layers.append({"layer": b.name, "n_weights": b.n_weights, **lost,
                               "median": float(np.median(ev)) if ev.size else None})
            out["functions"][fn][convention] = {"length": int(feat.size), "seconds": time.perf_counter() - t0,
                                               "layers": layers}
            lost = " ".join(f"{l['below'] + l['above'] + l['nonfinite']:6.1%}" for l in layers)
            medians = " ".join("    n/a" if l["median"] is None else f"{l['median']:7.1f}" for l in layers)
            print(f"{fn:<12} {convention:<9} len {feat.size:6d}  lost per layer: {lost}  medians: {medians}",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
