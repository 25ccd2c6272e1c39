"""Time queries at an epoch (learning curves) against final-value queries, in one process.

Usage: python benchmarks/bench_epoch_query.py [--rounds 3]

Writes a SYNTHETIC table shaped like the shipped mini with curves (its 2,791 functions x 3 seeds x 10
epochs, random values; a timing fixture, not data) to a temporary folder, then times passes over all
functions in random order, alternating final queries and ``query(name, epoch=5)`` (budget reset before
each pass), and reports the median per query of each kind and their ratio. The first pass of epoch
queries reads and decompresses the curves' blocks; later passes find them cached.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from actbench import ActBench, get_space
from actbench.table.provenance import Provenance, TableInfo
from actbench.table import TableWriter


def synthetic(path: Path, epochs: int = 10, seeds: int = 3) -> list[str]:
    names = get_space("act-bench").representatives
    rng = np.random.default_rng(0)
    with TableWriter(path, info=TableInfo(benchmark="timing", description="synthetic timing table (random values)"),
                     provenance=Provenance.now(source="test-fixture", description="benchmarks/bench_epoch_query.py"),
                     seeds=list(range(seeds)), epochs=epochs) as w:
        for n in names:
            acc = np.round(rng.random((seeds, epochs)) * 297) / 297
            w.add(n, {"val_acc": float(np.median(acc[:, -1])), "runtime_s": 2.0},
                  per_seed={"val_acc": list(acc[:, -1]), "runtime_s": [2.0] * seeds},
                  curves={"val_acc": acc.tolist(), "train_acc": acc.tolist(),
                          "val_loss": rng.random((seeds, epochs)).tolist(),
                          "train_loss": rng.random((seeds, epochs)).tolist(),
                          "epoch_s": (0.2 + 0.01 * rng.random((seeds, epochs))).tolist()})
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "timing.h5"
        names = synthetic(path)
        b = ActBench(path)
        rng = np.random.default_rng(1)
        times: dict[str, list[float]] = {"final": [], "epoch=5": []}
        for _ in range(args.rounds):
            for label, kw in (("final", {}), ("epoch=5", {"epoch": 5})):
                b.budget.reset()
                order = rng.permutation(len(names))
                t = time.perf_counter()
                for i in order:
                    b.query(names[i], **kw)
                times[label].append((time.perf_counter() - t) / len(names) * 1e6)
        med = {k: statistics.median(v) for k, v in times.items()}
        for k, v in times.items():
            print(f"{k:8s} median {med[k]:.1f} us/query over {args.rounds} passes ({', '.join(f'{x:.1f}' for x in v)})")
        print(f"epoch query / final query: {med['epoch=5'] / med['final']:.2f}x; "
              f"table {path.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
