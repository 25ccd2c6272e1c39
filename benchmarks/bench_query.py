"""Time the query loop of one or more actbench checkouts on the shipped mini table, interleaved.

Usage: python benchmarks/bench_query.py [CHECKOUT ...] [--rounds 6]

Each round runs, for every checkout (a source tree; default: this one) in turn, a fresh process that opens
the mini table, queries each of its 5,103 names once to warm up, then times 7 passes over all names
(budget reset before each) and reports the median per query. Interleaving the checkouts round by round
makes the comparison fair on a noisy machine; compare the medians over rounds, not single runs.
(e.g. git worktree add /tmp/old HEAD~1; python benchmarks/bench_query.py /tmp/old .)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import statistics, sys, time
sys.path.insert(0, sys.argv[1])
import actbench
from actbench import ActBench
assert actbench.__file__.startswith(sys.argv[1]), actbench.__file__
b = ActBench("mini")
names = list(b.resolver.aliases) if hasattr(b, "resolver") else list(b.data.aliases if hasattr(b, "data") else getattr(b, "_" + "table").aliases)
for n in names:
    b.query(n)
ts = []
for _ in range(7):
    b.budget.reset()
    t = time.perf_counter()
    for n in names:
        b.query(n)
    ts.append((time.perf_counter() - t) / len(names) * 1e6)
print(statistics.median(ts))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkouts", nargs="*", type=Path)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    trees = [p.resolve() for p in (args.checkouts or [Path(__file__).resolve().parents[1]])]
    times: dict[Path, list[float]] = {t: [] for t in trees}
    for _ in range(args.rounds):
        for t in trees:
            out = subprocess.run([sys.executable, "-c", CHILD, str(t)], capture_output=True, text=True, check=True)
            times[t].append(float(out.stdout))
    for t, v in times.items():
        print(f"{t}: median {statistics.median(v):.1f} us/query over {args.rounds} rounds "
              f"({', '.join(f'{x:.1f}' for x in v)})")


if __name__ == "__main__":
    main()
