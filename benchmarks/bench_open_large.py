"""Opening a large table in a fresh process: time and memory added by ``ActBench(path)``, then the first query
(which reads and checks the alias index) and a query by an equivalent name.

Usage: python benchmarks/bench_open_large.py TABLE [CHECKOUT ...] [--rounds 5] [--name swish(x)]

TABLE is any table, typically the feature table of the whole large space
(``python -m generation.precompute table --space large -o large-features.h5``). Each round runs one fresh
process per checkout (a source tree; default: this one), interleaved, and the medians are reported. Memory
is the process's resident set (``/proc/self/statm``, Linux) after ``import actbench`` and after each step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CODE = """
import json, sys, time
sys.path.insert(0, {root!r})
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
from actbench import ActBench
r0 = rss(); t = time.perf_counter()
b = ActBench({table!r})
t_open = time.perf_counter() - t; r1 = rss()
t = time.perf_counter(); q = b.query({name!r})
t_first = time.perf_counter() - t; r2 = rss()
equivalent = "add(zero(x)," + {name!r} + ")"
t = time.perf_counter(); b.query(equivalent)
t_equiv = time.perf_counter() - t
print(json.dumps(dict(open_s=t_open, open_mb=r1 - r0, first_query_s=t_first, after_query_mb=r2 - r0,
                      equivalent_query_s=t_equiv, rows=len(b))))
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", type=Path)
    p.add_argument("checkouts", nargs="*", type=Path)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--name", default="swish(x)", help="the function queried (default swish(x))")
    args = p.parse_args(argv)
    roots = [c.resolve() for c in args.checkouts] or [Path(__file__).resolve().parents[1]]
    runs: dict[Path, list[dict]] = {r: [] for r in roots}
    for _ in range(args.rounds):
        for root in roots:
            code = CODE.format(root=str(root), table=str(args.table.resolve()), name=args.name)
            out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
            runs[root].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.table} ({runs[roots[0]][0]['rows']:,} rows), medians of {args.rounds} fresh processes:")
    print(f"{'checkout':40s} {'open':>8s} {'+MB':>7s} {'1st query':>10s} {'+MB':>7s} {'equiv. query':>13s}")
    for root, rs in runs.items():
        m = {k: statistics.median(r[k] for r in rs) for k in rs[0] if k != "rows"}
        print(f"{str(root)[-40:]:40s} {m['open_s']:7.3f}s {m['open_mb']:7.0f} {m['first_query_s']:9.3f}s "
              f"{m['after_query_mb']:7.0f} {m['equivalent_query_s'] * 1e3:11.2f}ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
