"""Measure enumeration + evaluation + deduplication of the search spaces (target in docs/performance.md).

Usage: python benchmarks/bench_space.py [--naive 3000]

Prints, in one run: the wall time and peak resident memory of building the large space, and,
for scale, the time of the naive approach (parse and evaluate names one at a time) measured on a
random sample of names and extrapolated to the whole space, as a ratio.
"""

from __future__ import annotations

import argparse
import platform
import random
import resource
import time

import numpy as np

import actbench
from actbench.lang.space import SPACES, build_space, output_keys


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--naive", type=int, default=3000, help="names evaluated one by one for the ratio")
    args = ap.parse_args()
    print(f"actbench {actbench.__version__}, numpy {np.__version__}, python {platform.python_version()}, "
          f"{platform.machine()}")
    before = _peak_mb()
    for name in ("act-bench", "large"):
        t0 = time.perf_counter()
        space = build_space(SPACES[name])
        dt = time.perf_counter() - t0
        print(f"{name:<10} {space.n_names:>9,} names {space.n_classes:>8,} classes  {dt:6.2f} s  "
              f"peak RSS {_peak_mb():7.0f} MB (before: {before:.0f} MB)")
    rng = random.Random(0)
    sample = rng.sample(space.names, args.naive)
    t0 = time.perf_counter()
    for n in sample:
        output_keys(actbench.evaluate(n))
    naive = (time.perf_counter() - t0) / args.naive * space.n_names
    print(f"naive one-by-one evaluation, extrapolated from {args.naive} names: {naive:.0f} s "
          f"= {naive / dt:.0f}x the vectorised build")


if __name__ == "__main__":
    main()
