"""What the command groups share: the options that open a benchmark, and opening it."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["bench_args", "open_bench", "save_figure", "write_output"]


def bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--revision", help="Hub revision (default: the one pinned in this actbench release)")
    p.add_argument("--cache-dir", type=Path, help="cache folder (default $ACTBENCH_CACHE or ~/.cache/actbench)")
    p.add_argument("--offline", action="store_true", default=None, help="never use the network")
    p.add_argument("--accept-license", action="store_true", default=None,
                   help="accept the official release's licence (Academic Public License, non-commercial) when a "
                        "paper table is fetched (also: ACTBENCH_ACCEPT_LICENSE=1)")


def open_bench(args: argparse.Namespace, name: str):
    from actbench.bench import ActBench

    return ActBench(name, revision=args.revision, cache_dir=args.cache_dir, offline=args.offline,
                    accept_license=args.accept_license)


def write_output(path: Path, text: str) -> None:
    """Write a command's ``-o``/``--json`` output atomically: a failed or interrupted write leaves nothing,
    and a missing folder is an error, as for every command's output (:mod:`actbench.base.files`)."""
    from actbench.base.files import write_atomic

    write_atomic(path, text, hidden=False)


def save_figure(fig, path: Path, *, dpi: int = 130) -> None:
    """Save a matplotlib figure atomically, in the format its file name says (PNG when it says none)."""
    from actbench.base.files import atomic_write

    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".").lower() or "png")
