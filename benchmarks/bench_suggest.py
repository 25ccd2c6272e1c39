"""Time "did you mean" over a table's names: actbench's Suggester against a full difflib scan (docs/performance.md).

Usage: python benchmarks/bench_suggest.py [--typos 60] [--seed 0]

Typos are made from the shipped mini table's names (one character deleted, inserted or replaced); both
methods answer each, and the script prints median and worst times and how often the answers agree.
"""

from __future__ import annotations

import argparse
import difflib
import random
import statistics
import time

from actbench import ActBench
from actbench.base.text import Suggester


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--typos", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with ActBench() as bench:
        names = list(bench.resolver.aliases)
    t0 = time.perf_counter()
    sugg = Suggester(names)
    build = time.perf_counter() - t0
    rng = random.Random(args.seed)
    fast, full, same, first = [], [], 0, 0
    for _ in range(args.typos):
        w = list(rng.choice(names))
        k, op = rng.randrange(len(w)), rng.randrange(3)
        if op == 0:
            del w[k]
        elif op == 1:
            w.insert(k, rng.choice("abcdefghijklmnopqrstuvwxyz()"))
        else:
            w[k] = rng.choice("abcdefghijklmnopqrstuvwxyz")
        word = "".join(w)
        t0 = time.perf_counter()
        got = sugg.suggest(word)
        fast.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = difflib.get_close_matches(word, names, n=3, cutoff=0.6)
        full.append(time.perf_counter() - t0)
        same += got == ref
        first += got[:1] == ref[:1]
    print(f"{len(names):,} names; Suggester built once in {build * 1000:.0f} ms")
    print(f"Suggester: median {statistics.median(fast) * 1000:.1f} ms, worst {max(fast) * 1000:.1f} ms")
    print(f"difflib over all names: median {statistics.median(full) * 1000:.0f} ms, worst {max(full) * 1000:.0f} ms")
    print(f"same best suggestion {first}/{args.typos}; same three suggestions {same}/{args.typos}")


if __name__ == "__main__":
    main()
