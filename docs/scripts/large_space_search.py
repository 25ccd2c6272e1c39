"""The paper's new-space search on our data, with real training: the surrogate (k-NN on the UMAP of FIM features)
against random search over the same sample of the large space, several seeds each, every function trained
by the study workers on the digits task (CPU).

    python docs/scripts/large_space_search.py run OUT [--n-fim 5000] [--budget 100] [--seeds 0,1,2,3,4] [--procs 2]
    python docs/scripts/large_space_search.py report OUT [--table digits-large.h5] [--reference mini]

``run`` is resumable: each step is skipped when its output exists, and each study continues where it stopped
(its Optuna storage holds what was recorded), so the same command after an interruption finishes the work.
Steps: the sample (the 8 baselines and a seeded draw of the large space, one function per equivalence class),
FIM features of the sample on the digits task (``--procs`` processes), the feature table, then one study per
method and seed (``knr`` on ``fim``, the paper's surrogate; ``random``, Optuna's random sampler over the same
candidates), each run by one worker; ``--procs`` studies run at a time.

``report`` prints, per method, the best validation and test accuracy each study found and the rank of its
best within all functions trained by all studies (median and range over seeds), the best functions found
beside the mini table's best, and what the run cost; ``--table`` writes every trained function once, as a
table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = [sys.executable]
TASK = "digits"


def _run(args: list[str], log: Path | None = None) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print("$", " ".join(args[1:]) if args[0] == sys.executable else " ".join(args), flush=True)
    with open(log, "a") if log else open(os.devnull, "w") as out:
        subprocess.run(args, check=True, env=env, stdout=out if log else None, stderr=subprocess.STDOUT if log else None)


def prepare(out: Path, n_fim: int, procs: int, space: str = "large") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    sample, feats, table = out / "fim-functions.txt", out / "features", out / "features.h5"
    if not sample.exists():
        _run(PY + ["-m", "generation.precompute", "sample", "--space", space, "--n", str(n_fim), "--seed", "0",
                   "-o", str(sample)])
    if not table.exists():
        _run(PY + ["-m", "generation.launch", "--procs", str(procs), "--", "--task", TASK, "--fim-only",
                   "--functions", str(sample), "--out", str(feats)])
        _run(PY + ["-m", "generation.precompute", "table", "--space", space, "--task", TASK, "--fim", str(feats),
                   "--only-fim", "-o", str(table)])
    return table


def studies(out: Path, seeds: list[int], methods: list[str]) -> list[Path]:
    return [out / "studies" / f"{m}-seed{s}" for s in seeds for m in methods]


def run(args) -> int:
    t0 = time.time()
    table = prepare(args.out, args.n_fim, args.procs, args.space)
    folders = studies(args.out, args.seeds, args.methods)
    for folder in folders:
        if not (folder / "study.json").exists():
            method, seed = folder.name.split("-seed")
            _run(PY + ["-m", "generation.study", "init", str(folder), "--task", TASK, "--features", str(table),
                       "--budget", str(args.budget), "--surrogate", method, "--feature-set", "fim", "--seed", seed,
                       "--heartbeat", "30"])
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    pending, running = list(folders), []
    while pending or running:
        while pending and len(running) < args.procs:
            folder = pending.pop(0)
            log = open(folder / "worker.log", "a")
            cmd = PY + ["-m", "generation.study", "work", str(folder), "--worker", "w0", "--threads", "1"]
            print("$", " ".join(cmd[1:]), flush=True)
            running.append((folder, subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), log))
        time.sleep(2)
        for item in list(running):
            folder, proc, log = item
            if proc.poll() is not None:
                log.close()
                running.remove(item)
                if proc.returncode != 0:
                    print(f"{folder.name}: worker exited {proc.returncode}; see {folder / 'worker.log'}", flush=True)
                    return proc.returncode
                print(f"{folder.name}: done ({time.time() - t0:.0f} s since start)", flush=True)
    print(f"all {len(folders)} studies done in {time.time() - t0:.0f} s (this invocation)")
    return 0


def _trained(folder: Path) -> list[dict]:
    """The study's recorded functions, in the order recorded: name, val, test, seconds, trial number."""
    from generation.study import Study
    from optuna.trial import TrialState

    rows = []
    for t in sorted(Study(folder).trials(), key=lambda t: t.datetime_complete or t.datetime_start):
        if t.state != TrialState.COMPLETE or "result" not in t.user_attrs:
            continue
        doc = t.user_attrs["result"]
        runs = doc["runs"]
        rows.append({"name": doc["name"], "val": float(t.value), "test": statistics.median(r["test_acc"] for r in runs),
                     "seconds": float(doc["seconds"]), "doc": doc, "fim": t.user_attrs["fim"]})
    return rows


def _median_range(values: list[float], fmt: str = "{:.4f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def report(args) -> int:
    from actbench import ActBench

    folders = sorted(p for p in (args.out / "studies").iterdir() if (p / "study.json").exists())
    from generation.study import Study

    per, unfinished = {}, []
    for f in folders:  # only finished studies: a method is compared over whole searches
        rows = _trained(f)
        (per.__setitem__(f.name, rows) if len(rows) >= Study(f).config.budget else unfinished.append(f.name))
    if unfinished:
        print(f"left out, not finished: {', '.join(unfinished)} (run again to finish them)")
    if not per:
        print("no study has finished yet")
        return 1
    pool: dict[str, dict] = {}
    spread = 0.0
    for rows in per.values():
        for r in rows:
            if r["name"] in pool:
                spread = max(spread, abs(pool[r["name"]]["val"] - r["val"]))
            else:
                pool[r["name"]] = r
    ranked = sorted(pool.values(), key=lambda r: -r["val"])
    rank_of = {}
    for r in ranked:  # ties share the best rank
        rank_of.setdefault(r["val"], 1 + sum(q["val"] > r["val"] for q in ranked))
    methods = sorted({name.split("-seed")[0] for name in per})
    print(f"{len(pool):,} distinct functions trained by {len(per)} studies "
          f"({sum(len(r) for r in per.values()):,} records; the same function in two studies differed by at most "
          f"{spread:.4f} in validation accuracy)")
    print("\n| method | studies | functions each | best validation accuracy: median (range) | its test accuracy | "
          "rank of the best among all trained: median (range) | validation accuracy of all it trained: median | "
          "share of them above 0.9 |")
    print("|---|---|---|---|---|---|---|---|")
    summary = {}
    for m in methods:
        runs = [rows for name, rows in per.items() if name.split("-seed")[0] == m]
        bests = [max(rows, key=lambda r: r["val"]) for rows in runs]
        summary[m] = bests
        print(f"| {m} | {len(runs)} | {_median_range([len(r) for r in runs], '{:.0f}')} | "
              f"{_median_range([b['val'] for b in bests])} | {_median_range([b['test'] for b in bests])} | "
              f"{_median_range([rank_of[b['val']] for b in bests], '{:.0f}')} | "
              f"{statistics.median(r['val'] for rows in runs for r in rows):.4f} | "
              f"{statistics.mean(r['val'] > 0.9 for rows in runs for r in rows):.0%} |")
    print("\nbest functions trained (all studies):")
    for r in ranked[:args.top]:
        found_by = sorted(n for n, rows in per.items() if any(q["name"] == r["name"] for q in rows))
        print(f"  {r['val']:.4f} val, {r['test']:.4f} test  {r['name']}  (found by {', '.join(found_by)})")
    if args.reference:
        ref = ActBench(args.reference)
        print(f"\n{args.reference}'s best (the Act-Bench space, same recipe):")
        for name, rec in ref.best(k=3).iterrows():
            print(f"  {rec.val_acc:.4f} val, {rec.test_acc:.4f} test  {name}")
    cost = sum(r["seconds"] for rows in per.values() for r in rows)
    print(f"\ntraining time recorded by the workers: {cost / 60:.1f} min of one core over "
          f"{sum(len(r) for r in per.values())} trainings ({cost / max(1, sum(len(r) for r in per.values())):.1f} s each)")
    if args.table:
        write_pool(args, pool, folders[0])
    if args.json:
        Path(args.json).write_text(json.dumps({m: [{k: b[k] for k in ("name", "val", "test")} | {"rank": rank_of[b["val"]]}
                                                   for b in bests] for m, bests in summary.items()}, indent=1))
    return 0


def write_pool(args, pool: dict[str, dict], any_study: Path) -> None:
    import numpy as np

    from actbench.table.results import write_results_table
    from generation.study import Study

    from actbench import ActBench

    cfg = Study(any_study).config
    space = ActBench(cfg.features_table).info.space
    docs = sorted((r["doc"] for r in pool.values()), key=lambda d: d["name"])
    fims = {r["name"]: r["fim"] for r in pool.values()}
    counts = write_results_table(
        Path(args.table), docs, [], lambda d: np.asarray(fims[d["name"]], dtype=np.float32),
        recipe=cfg.recipe.model_dump(), space=space, benchmark="digits-large",
        description="small CNN on scikit-learn's 8x8 digits (the mini benchmark's recipe): every function trained by "
                    "the large-space searches of docs/study.md (k-NN surrogate on FIM features and random search, "
                    "budget 100 each, several seeds), generated on CPU by actbench's generation/ (our own runs, not "
                    "the paper's data)",
        command=f"python docs/scripts/large_space_search.py report {args.out} --table {args.table}")
    print(f"wrote {args.table}: {counts}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("out", type=Path)
    r.add_argument("--n-fim", type=int, default=5000)
    r.add_argument("--budget", type=int, default=100)
    r.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2, 3, 4])
    r.add_argument("--methods", type=lambda s: s.split(","), default=["knr", "random"])
    r.add_argument("--procs", type=int, default=2)
    r.add_argument("--space", default="large", help="the space sampled (default large; the tests use act-bench)")
    q = sub.add_parser("report")
    q.add_argument("out", type=Path)
    q.add_argument("--table", help="write every trained function once to this table")
    q.add_argument("--reference", default="mini")
    q.add_argument("--top", type=int, default=5)
    q.add_argument("--json")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    return run(args) if args.cmd == "run" else report(args)


if __name__ == "__main__":
    raise SystemExit(main())
