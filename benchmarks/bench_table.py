"""Measure a full-size table against json.load of the same content (docs/performance.md).

Usage: python benchmarks/bench_table.py [--workdir DIR] [--rows 2913] [--fim 13683] [--digits N]

Builds a SYNTHETIC file in the official JSON shape at full size (2,913 rows, 13,683-dim FIM CDF
shaped like real histogram CDFs: 0.0 left of the eigenvalues, 1.0 right of them), converts it
with actbench, then measures in one run:

* whole fresh processes, interleaved, median of 7: ``import numpy, h5py, pydantic``, open + first query,
  and ``json.load`` of the JSON (actbench's bytecode is compiled first, as ``pip install`` does);
* open + first query in process, vs ``json.load`` of the JSON (both from the page cache, median of 3);
* median latency of one query after open (10,000 queries over distinct names);
* resident memory added by opening a table (in a fresh subprocess);
* one metric for all rows and the full DataFrame;
* conversion time and peak memory.

Nothing here is the paper's data; the files are written to a temporary folder and deleted.
"""

from __future__ import annotations

import argparse
import compileall
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import norm

import actbench
from actbench import ActBench, get_space
from actbench.bench import BENCHMARKS
from actbench.sources.convert import convert_official_json


def synthetic_official(path: Path, n_rows: int, n_fim: int, seed: int = 0, digits: int | None = None) -> list[str]:
    """Write a synthetic official-shape JSON; returns the row names."""
    rng = np.random.default_rng(seed)
    space = get_space("act-bench")
    names = sorted(space.representatives)
    extra = sorted(set(space.names) - set(names))
    names += [extra[i] for i in rng.choice(len(extra), size=max(0, n_rows - len(names)), replace=False)]
    names = names[:n_rows]
    taken = set(names)
    layers = BENCHMARKS["cnn"].layout() if n_fim == 13683 else None
    with open(path, "w") as f:
        f.write("{")
        for i, name in enumerate(names):
            fim = []
            for layer in layers or [None]:
                nb = layer.n_bins if layer else n_fim
                edges = np.linspace(-100, 100, nb + 1)[1:]
                cdf = norm.cdf(edges, loc=rng.uniform(-40, 0), scale=rng.uniform(2, 10))
                cdf[cdf < 1e-6], cdf[cdf > 1 - 1e-6] = 0.0, 1.0
                if digits is not None:
                    cdf = np.round(cdf, digits)
                fim += cdf.tolist()
            acc = float(rng.uniform(0.1, 0.95))
            rec = {"Train Accuracy": acc + 0.02, "Validation Accuracy": acc, "Test Accuracy": acc - 0.01,
                   "Train Loss": float(rng.uniform(0, 2)), "Validation Loss": float(rng.uniform(0, 2)),
                   "Test Loss": float(rng.uniform(0, 2)),
                   "Equivalent Activation Functions": [m for m in space.equivalents(name) if m not in taken],
                   "Fisher log eigenvalue CDF": fim, "Runtime (s)": float(rng.uniform(500, 3000))}
            f.write(("," if i else "") + json.dumps(name) + ": " + json.dumps(rec))
        f.write("}")
    return names


_RSS_SNIPPET = """
import sys
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096 / 2**20
import actbench, h5py, pandas
before = rss()
b = actbench.ActBench(sys.argv[1])
b.query(next(iter(b)))
print(rss() - before)
"""


def _median_time(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _fresh_processes(src: Path, table: Path, name: str, repeats: int = 7) -> None:
    """Whole processes, interleaved so that machine noise hits all three alike; medians.

    actbench's bytecode is compiled first, as ``pip install`` does for every package (numpy, h5py and
    pydantic were compiled when they were installed): a source checkout run with
    ``PYTHONDONTWRITEBYTECODE=1`` would otherwise recompile actbench in every child and charge that to it.
    """
    compileall.compile_dir(str(Path(actbench.__file__).parent), quiet=1)
    cmds = {
        "import numpy, h5py, pydantic": "import numpy, h5py, pydantic",
        "ActBench(path) + first query": f"from actbench import ActBench; ActBench({str(table)!r}).query({name!r})",
        "json.load of the official JSON": f"import json; json.load(open({str(src)!r}))",
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(repeats):
        for label, code in cmds.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times[label].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    base, ours, js = med.values()
    print(f"fresh processes (median of {repeats}, interleaved):")
    for k, v in med.items():
        print(f"  {k:<32} {v:.3f} s")
    print(f"  -> open + first query is {ours / base:.2f}x the import of numpy, h5py and pydantic, and "
          f"{js / ours:.0f}x faster than json.load")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--rows", type=int, default=2913)
    ap.add_argument("--fim", type=int, default=13683)
    ap.add_argument("--digits", type=int, help="round the CDF values to this many decimals (smaller JSON)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="actbench-bench-"))
    src, out = work / "synthetic-official.json", work / "synthetic.h5"
    print(f"actbench {actbench.__version__}, python {sys.version.split()[0]}; workdir {work}")

    t0 = time.perf_counter()
    names = synthetic_official(src, args.rows, args.fim, digits=args.digits)
    print(f"synthetic official-shape JSON: {args.rows:,} rows x {args.fim:,} FIM values, "
          f"{src.stat().st_size / 2**20:.0f} MiB, written in {time.perf_counter() - t0:.0f} s")

    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    convert_official_json(src, out, bench="cnn", source="test-fixture")
    conv = time.perf_counter() - t0
    peak1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"convert: {conv:.1f} s, process peak RSS {peak1:.0f} MiB (before: {peak0:.0f} MiB); "
          f"table {out.stat().st_size / 2**20:.1f} MiB")

    _fresh_processes(src, out, names[len(names) // 2])

    def load_json():
        with open(src) as f:
            json.load(f)

    first = names[len(names) // 2]
    t_json = _median_time(load_json)
    t_open = _median_time(lambda: ActBench(out).query(first))
    print(f"json.load of the official-shape file: {t_json:.3f} s (median of 3)")
    print(f"ActBench(path) + first query:          {t_open:.4f} s (median of 3)  -> {t_json / t_open:.0f}x faster")

    bench = ActBench(out)
    sample = list(bench.resolver.aliases)
    random.Random(0).shuffle(sample)
    sample = sample[:10_000]
    lat = []
    for name in sample:
        t0 = time.perf_counter_ns()
        bench.query(name)
        lat.append(time.perf_counter_ns() - t0)
    lat.sort()
    print(f"query after open: median {lat[len(lat) // 2] / 1000:.1f} us, p90 {lat[int(len(lat) * 0.9)] / 1000:.1f} us "
          f"over {len(lat):,} distinct names (first query of each name)")
    lat2 = []
    for name in sample[:2000]:
        t0 = time.perf_counter_ns()
        bench.query(name)
        lat2.append(time.perf_counter_ns() - t0)
    print(f"repeat query of the same names: median {statistics.median(lat2) / 1000:.1f} us")
    t0 = time.perf_counter_ns()
    rec = bench.query("relu(x)") if "relu(x)" in bench else None
    if rec is not None:
        print(f"query resolved by outputs (relu(x) -> {rec.representative}): {(time.perf_counter_ns() - t0) / 1000:.0f} us")

    rss = float(subprocess.run([sys.executable, "-c", _RSS_SNIPPET, str(out)], capture_output=True, text=True,
                               check=True).stdout)
    print(f"resident memory added by open + first query: {rss:.1f} MiB")
    t_metric = _median_time(lambda: bench.metric("val_acc"), 5)
    t_df = _median_time(bench.table, 5)
    t_fim = _median_time(lambda: bench.features("fim"), 1)
    print(f"metric('val_acc') for all rows: {t_metric * 1e6:.0f} us; table() DataFrame: {t_df * 1000:.1f} ms; "
          f"features('fim') {args.rows:,}x{args.fim:,}: {t_fim:.2f} s")
    if args.workdir is None:
        for p in (src, out):
            p.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
