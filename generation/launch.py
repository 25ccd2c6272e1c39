"""Run one worker per GPU (or N CPU processes) on this machine, each on its own shard.

    python -m generation.launch --gpus 0,1,2,3 -- --recipe cnn --space act-bench --out results/cnn --data-root /data
    python -m generation.launch --procs 2 -- --recipe digits --space act-bench --out results/digits
    python -m generation.launch --gpus 0,1,2,3 --study runs/c100 -- --data-root /data   # search-study workers

Everything after ``--`` goes to ``generation.worker``; the launcher adds ``--shard i/n`` (and, for
GPUs, ``CUDA_VISIBLE_DEVICES=<id>`` with ``--device cuda``). Worker output goes to
``OUT/logs/shard-i.log``. Run it again after an interruption: finished functions are skipped.
With ``--study DIR`` it starts ``generation.study work DIR`` workers instead (no shards: the study
hands out functions), logging to ``DIR/logs/worker-i.log``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print("launch: error: put the worker's arguments after --", file=sys.stderr)
        return 2
    cut = argv.index("--")
    p = argparse.ArgumentParser(prog="python -m generation.launch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--gpus", help="comma-separated GPU ids, one worker each")
    g.add_argument("--procs", type=int, help="number of CPU worker processes")
    p.add_argument("--threads", type=int, default=1, help="torch threads per CPU worker (default 1)")
    p.add_argument("--study", type=Path, help="start search-study workers on this study folder")
    args = p.parse_args(argv[:cut])
    worker_args = argv[cut + 1:]
    if args.study is None and "--out" not in worker_args:
        print("launch: error: the worker arguments need --out", file=sys.stderr)
        return 2
    if args.study is not None and not (args.study / "study.json").exists():
        print(f"launch: error: {args.study} is not a study (create it with python -m generation.study init)",
              file=sys.stderr)
        return 2
    out = args.study if args.study is not None else Path(worker_args[worker_args.index("--out") + 1])
    (out / "logs").mkdir(parents=True, exist_ok=True)
    slots = args.gpus.split(",") if args.gpus else [None] * args.procs
    procs = []
    for i, gpu in enumerate(slots):
        env = dict(os.environ)
        extra = [] if args.study else ["--shard", f"{i}/{len(slots)}"]
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
            extra += ["--device", "cuda"]
        else:
            extra += ["--device", "cpu", "--threads", str(args.threads)]
        log = open(out / "logs" / (f"worker-{i}.log" if args.study else f"shard-{i}.log"), "a")
        cmd = (["-m", "generation.study", "work", str(args.study)] if args.study else ["-m", "generation.worker"])
        procs.append((subprocess.Popen([sys.executable, *cmd, *worker_args, *extra],
                                       env=env, stdout=log, stderr=subprocess.STDOUT), log))
    codes = []
    for proc, log in procs:
        codes.append(proc.wait())
        log.close()
    print(f"launch: worker exit codes {codes}; logs in {out / 'logs'}")
    return 0 if all(c == 0 for c in codes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
