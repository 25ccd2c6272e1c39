"""How far CPU runs of the digits recipe reproduce: on one machine, and across SIMD levels.

Usage: python docs/scripts/cpu_rounding.py [--functions 8] [--seeds 0 1 2]

Trains the same functions with the shipped mini's recipe (one thread) three times, each in a fresh
process: twice with the SIMD level torch picks for this CPU, once with ``ATEN_CPU_CAPABILITY=default``
(torch's kernels without vector instructions: the same arithmetic, summed in another order). It then
reports, per pair of runs and against the shipped mini table, how many runs diverge differently, how many
accuracies differ and by how much, and the relative difference of the losses. The functions are spread
over the mini's rows (every n-th, skipping those whose three runs all diverged in the table).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # generation/ is run from a checkout

ACCS = ("train_acc", "val_acc", "test_acc")
LOSSES = ("train_loss", "val_loss", "test_loss")


def child(names: list[str], seeds: list[int]) -> None:
    import torch

    from actbench import ActBench
    from generation.data import load_digits
    from generation.recipes import Recipe
    from generation.train import train_run

    torch.set_num_threads(1)
    recipe = Recipe.model_validate(ActBench("mini").provenance.config)
    data = load_digits(**recipe.data_kwargs)
    out = {"capability": torch.backends.cpu.get_cpu_capability(), "runs": {}}
    for name in names:
        out["runs"][name] = [train_run(recipe, name, data, seed=s, curves=False).model_dump() for s in seeds]
    json.dump(out, sys.stdout)


def run(names: list[str], seeds: list[int], env: dict[str, str]) -> dict:
    cmd = [sys.executable, __file__, "--child", "--names", json.dumps(names), "--seeds", *map(str, seeds)]
    p = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def compare(a: dict[str, list[dict]], b: dict[str, list[dict]]) -> str:
    n = flips = acc_diff = 0
    acc_gap, rel = [], []
    for name, runs in a.items():
        for x, y in zip(runs, b[name]):
            n += 1
            if bool(x["diverged"]) != bool(y["diverged"]):
                flips += 1
                continue
            if x["diverged"]:
                continue
            for c in ACCS:
                if x[c] != y[c]:
                    acc_diff += 1
                    acc_gap.append(abs(x[c] - y[c]))
            rel += [abs(x[c] - y[c]) / max(abs(y[c]), 1e-12) for c in LOSSES]
    rel_a = np.asarray(rel)
    gap = f"largest {max(acc_gap):.4f}" if acc_gap else "none"
    return (f"{n} runs: {flips} diverge differently; {acc_diff} of {3 * (n - flips)} accuracies differ ({gap}); "
            f"losses: {np.mean(rel_a == 0):.0%} identical, relative difference median {np.median(rel_a):.1e}, "
            f"max {rel_a.max():.1e}")


def table_runs(bench, names: list[str], seeds: list[int]) -> dict[str, list[dict]]:
    t = bench.data
    per = {c: t.per_seed(c) for c in (*ACCS, *LOSSES)}
    div = t.seed_diverged()
    cols = [bench.seeds.index(s) for s in seeds]
    out = {}
    for name in names:
        r = t.row_of(name)
        out[name] = [{"diverged": bool(div[r, j]), **{c: float(per[c][r, j]) for c in per}} for j in cols]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--functions", type=int, default=8)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--names", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(json.loads(args.names), args.seeds)
        return
    from actbench import ActBench

    bench = ActBench("mini")
    div = bench.seed_diverged()
    usable = [i for i in range(len(bench)) if not div[i].all()]
    names = [bench.resolver.name(i) for i in usable[:: max(1, len(usable) // args.functions)][: args.functions]]
    t0 = time.perf_counter()
    first = run(names, args.seeds, {})
    again = run(names, args.seeds, {})
    plain = run(names, args.seeds, {"ATEN_CPU_CAPABILITY": "default"})
    shipped = table_runs(bench, names, args.seeds)
    print(f"{len(names)} functions x seeds {args.seeds}, one thread, {time.perf_counter() - t0:.0f} s")
    print(f"{first['capability']} vs {again['capability']} (same machine, fresh process): "
          f"{compare(first['runs'], again['runs'])}")
    print(f"{first['capability']} vs {plain['capability']}: {compare(first['runs'], plain['runs'])}")
    print(f"{first['capability']} vs the shipped table: {compare(first['runs'], shipped)}")
    print(f"{plain['capability']} vs the shipped table: {compare(plain['runs'], shipped)}")


if __name__ == "__main__":
    main()
