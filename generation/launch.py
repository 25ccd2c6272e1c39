"""Run workers on this machine, each on its own shard: one or several per GPU, or N CPU processes.

    python -m generation.launch --gpus 0,1,2,3 -- --recipe cnn --space act-bench --out results/cnn --data-root /data
    python -m generation.launch --gpus 0 --per-gpu 4 -- --task cnn --space act-bench --out results/cnn --data-root /data
    python -m generation.launch --procs 2 -- --recipe digits --space act-bench --out results/digits
    python -m generation.launch --gpus 0,1,2,3 --study runs/c100 -- --data-root /data   # search-study workers

Everything after ``--`` goes to ``generation.worker``; the launcher adds ``--shard i/n`` (and, for
GPUs, ``CUDA_VISIBLE_DEVICES=<id>`` with ``--device cuda``). ``--per-gpu K`` starts K workers on every GPU:
small runs (All-CNN-C, ResNet-56 at batch 128) leave most of a large GPU idle, and K runs side by side use
it (``python -m generation.gpucheck`` measures the gain on a GPU). ``--part I/M`` makes this launcher one of
M (a Slurm array task): its workers take shards ``I*W .. I*W+W-1`` of ``M*W``, W being its worker count.
Worker output goes to ``OUT/logs/shard-i.log``. Run it again after an interruption: finished functions are
skipped, interrupted ones continue from their checkpoints.

SIGTERM and SIGUSR1 are passed to every worker (each saves its run and exits with status 75); the launcher
exits with 75 when any worker did, so that a job script requeues the job. With ``--study DIR`` it starts
``generation.study work DIR`` workers instead (no shards: the study hands out functions), logging to
``DIR/logs/worker-i.log``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

EXIT_REQUEUE = 75  # as generation.checkpoint.EXIT_REQUEUE (the launcher imports no torch)


def plan(args: argparse.Namespace, worker_args: list[str]) -> list[tuple[dict[str, str], list[str], str]]:
    """(environment changes, command, log name) of every worker this launcher starts."""
    gpus = args.gpus.split(",") if args.gpus else None
    slots = [g for g in gpus for _ in range(args.per_gpu)] if gpus else [None] * args.procs
    part, parts = args.part
    out = []
    for i, gpu in enumerate(slots):
        shard = part * len(slots) + i
        extra = [] if args.study else ["--shard", f"{shard}/{parts * len(slots)}"]
        env = {}
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
            extra += ["--device", "cuda"]
        else:
            extra += ["--device", "cpu", "--threads", str(args.threads)]
        cmd = (["-m", "generation.study", "work", str(args.study)] if args.study else ["-m", "generation.worker"])
        out.append((env, [sys.executable, *cmd, *worker_args, *extra],
                    f"worker-{shard}.log" if args.study else f"shard-{shard}.log"))
    return out


def _part(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--part must look like I/M (e.g. 3/16), got {text!r}") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--part {text}: need 0 <= I < M")
    return i, n


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print("launch: error: put the worker's arguments after --", file=sys.stderr)
        return 2
    cut = argv.index("--")
    p = argparse.ArgumentParser(prog="python -m generation.launch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--gpus", help="comma-separated GPU ids")
    g.add_argument("--procs", type=int, help="number of CPU worker processes")
    p.add_argument("--per-gpu", type=int, default=1, metavar="K", help="workers per GPU (default 1)")
    p.add_argument("--part", type=_part, default=(0, 1), metavar="I/M",
                   help="this launcher is part I of M (a Slurm array task): its workers' shards follow")
    p.add_argument("--threads", type=int, default=1, help="torch threads per CPU worker (default 1)")
    p.add_argument("--study", type=Path, help="start search-study workers on this study folder")
    args = p.parse_args(argv[:cut])
    if args.per_gpu < 1:
        p.error("--per-gpu must be at least 1")
    worker_args = argv[cut + 1:]
    if any(a == "--device" or a.startswith("--device=") for a in worker_args):
        print("launch: error: the launcher chooses each worker's device: use --gpus for CUDA workers or --procs "
              "for CPU workers, not --device after --", file=sys.stderr)
        return 2
    if args.study is None and "--out" not in worker_args:
        print("launch: error: the worker arguments need --out", file=sys.stderr)
        return 2
    if args.study is not None and not (args.study / "study.json").exists():
        print(f"launch: error: {args.study} is not a study (create it with python -m generation.study init)",
              file=sys.stderr)
        return 2
    out = args.study if args.study is not None else Path(worker_args[worker_args.index("--out") + 1])
    (out / "logs").mkdir(parents=True, exist_ok=True)
    procs = []
    for env, cmd, log_name in plan(args, worker_args):
        log = open(out / "logs" / log_name, "a")
        procs.append((subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT), log))

    def forward(signum, frame):  # pre-emption or the time limit: every worker checkpoints and stops
        for proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    for name in ("SIGTERM", "SIGUSR1"):
        signal.signal(getattr(signal, name), forward)
    codes = []
    for proc, log in procs:
        codes.append(proc.wait())
        log.close()
    print(f"launch: worker exit codes {codes}; logs in {out / 'logs'}", flush=True)
    if EXIT_REQUEUE in codes:
        return EXIT_REQUEUE
    return 0 if all(c == 0 for c in codes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
