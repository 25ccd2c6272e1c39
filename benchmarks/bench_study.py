"""Overhead of the search study's protocol (generation.study) against the training it schedules.

Usage: python benchmarks/bench_study.py [--features large-features.h5] [--budget 100]

Builds a study over a feature table (default: the shipped mini table; pass the large space's feature
table from `python -m generation.precompute table --space large` for 387,235 candidates) with a random
2-D embedding (SYNTHETIC: the protocol's cost does not depend on the embedding's values), then claims and
records ``--budget`` functions with synthetic results (also SYNTHETIC; nothing is trained) and times:
``next_claim`` (lock, read every claim and result, fit the surrogate, predict every free candidate) and
``record`` (write the result, rebuild study.h5). Prints medians and maxima per surrogate.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # generation/ lives in the repository

from actbench import ActBench  # noqa: E402
from generation.recipes import get_recipe  # noqa: E402
from generation.study import Study  # noqa: E402


def fake_result(name: str, val: float, recipe) -> tuple[dict, bytes]:
    run = {"seed": 0, "train_acc": val, "val_acc": val, "test_acc": val, "train_loss": 1.0, "val_loss": 1.0,
           "test_loss": 1.0, "runtime_s": 1.0, "diverged": False, "epochs_completed": 1}
    b = io.BytesIO()
    np.save(b, np.zeros(377, np.float32), allow_pickle=False)
    return ({"format": "actbench-result-v1", "kind": "train", "name": name, "recipe": recipe.model_dump(),
             "runs": [run] * len(recipe.seeds), "fim_layout": [["conv1", 37800, 0, 377]], "fim_sha256": "",
             "data": "synthetic benchmark result", "seconds": 1.0, "env": {"git": None, "torch": None, "gpu": None,
                                                                          "device": "none"},
             "created": "2026-01-01T00:00:00Z"}, b.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--features", default=None)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--surrogates", default="knr,rf,svr")
    args = ap.parse_args()
    features = args.features or ActBench("mini").path
    n = len(ActBench(features))
    recipe = get_recipe("digits")
    print(f"{Path(features).name}: {n:,} candidates, budget {args.budget}")
    for surrogate in args.surrogates.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            emb = np.random.default_rng(0).normal(size=(n, 2))
            st = Study.create(Path(tmp) / "st", task="digits", features=features, budget=args.budget,
                              surrogate=surrogate, embedding=emb, recipe=recipe)
            create_s = time.perf_counter() - t0
            rng = np.random.default_rng(1)
            claim_s, record_s = [], []
            for _ in range(args.budget):
                t0 = time.perf_counter()
                c = st.next_claim("bench")
                claim_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                st.record(c, *fake_result(c.name, float(rng.uniform(0.1, 0.9)), recipe))
                record_s.append(time.perf_counter() - t0)
            print(f"{surrogate}: create {create_s:.2f} s; next_claim median {np.median(claim_s) * 1e3:.1f} ms, "
                  f"max {np.max(claim_s) * 1e3:.1f} ms; record (incl. table rebuild) median "
                  f"{np.median(record_s) * 1e3:.1f} ms, max {np.max(record_s) * 1e3:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
