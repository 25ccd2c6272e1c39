"""Fresh processes that open a table by name and by path, beside the import floor, interleaved.

Usage: python benchmarks/bench_open.py [CHECKOUT ...] [--rounds 9]

Each round runs, for every checkout (a source tree; default: this one) in turn, four fresh processes:

* floor: ``import numpy, h5py, pydantic`` (what opening any table needs at least, as in docs/performance.md);
* path: ``ActBench(<the mini table's path>)`` and its first query;
* name: ``ActBench("cnn")`` on a cache that holds a converted table under the cnn name (a copy of the
  shipped mini table: what a cached official table is to the code), and its first query;
* and, once per checkout, which network or pydantic modules the name route imported.

Medians over rounds are reported, and their ratios to the floor, measured within the same run (the machine
is shared and noisy: compare ratios, not seconds).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = "import numpy, h5py, pydantic"
PATH = "import sys; sys.path.insert(0, {root!r}); from actbench import ActBench; b = ActBench({table!r}); b.query(next(iter(b)))"
NAME = ("import sys; sys.path.insert(0, {root!r}); from actbench import ActBench; b = ActBench('cnn', cache_dir={cache!r}); "
        "b.query(next(iter(b)))")
MODULES = NAME + ("; print(sorted(m for m in ('pydantic', 'urllib.request', 'http.client', 'ssl', 'huggingface_hub', "
                  "'filelock') if m in sys.modules))")


def _time(code: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkouts", nargs="*", type=Path, default=[Path(__file__).resolve().parents[1]])
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp())
    try:
        runs: dict[str, dict[str, list[float]]] = {}
        for root in args.checkouts:
            root = root.resolve()
            table = root / "actbench" / "data" / "mini.h5"
            cache = work / root.name
            (cache / "official").mkdir(parents=True)
            shutil.copy(table, cache / "official" / "act-bench-cnn.h5")
            runs[str(root)] = {"floor": [], "path": [], "name": []}
            done = subprocess.run([sys.executable, "-c", MODULES.format(root=str(root), cache=str(cache))],
                                  capture_output=True, text=True, check=True)
            print(f"{root}: the name route imported {done.stdout.strip()}")
        for _ in range(args.rounds):
            for root in args.checkouts:
                root = root.resolve()
                r = runs[str(root)]
                table = root / "actbench" / "data" / "mini.h5"
                cache = work / root.name
                r["floor"].append(_time(FLOOR))
                r["path"].append(_time(PATH.format(root=str(root), table=str(table))))
                r["name"].append(_time(NAME.format(root=str(root), cache=str(cache))))
        for root, r in runs.items():
            med = {k: statistics.median(v) for k, v in r.items()}
            print(f"{root} (median of {args.rounds} fresh processes each)")
            print(f"  import numpy, h5py, pydantic       {med['floor']:.3f} s")
            print(f"  ActBench(path) + first query       {med['path']:.3f} s  {med['path'] / med['floor']:.2f}x the floor")
            print(f"  ActBench('cnn') + first query      {med['name']:.3f} s  {med['name'] / med['floor']:.2f}x the floor")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
