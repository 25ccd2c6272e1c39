"""Sharded, resumable worker: train a list of functions under a recipe and write one result per function.

    python -m generation.worker --task cnn --space act-bench --shard 3/64 --out results/cnn \\
        --data-root /datasets --device cuda
    python -m generation.worker --task cifar100-resnet --fim-only --functions sample.txt --shard 0/8 \\
        --out features/fim --data-root /datasets          # FIM features only (generation.precompute)

The functions are the space's unique functions (class representatives, sorted) or the names in
``--functions FILE`` (one per line); shard ``i/n`` takes every n-th of them starting at i. For each
function the worker trains every seed of the recipe, computes the FIM feature and writes

* ``OUT/<key>.fim.npy`` (float32 CDF; written first),
* ``OUT/<key>.json`` (metrics per seed, layout, config, versions; written last, atomically: its
  presence means the function is done).

A function whose JSON exists is skipped, so a worker killed at any moment (even ``kill -9``) and
started again loses and duplicates nothing. A function that raises is recorded in
``OUT/<key>.failed.json`` (with the traceback) and skipped on resume unless ``--retry-failed``.
``generation.merge`` builds a table from the results. With ``--fim-only`` nothing is trained: the
result has no runs (``"kind": "fim"``), only the FIM feature (for ``generation.precompute``).

Runs checkpoint in ``OUT/checkpoints/<key>/`` every ``--checkpoint-every`` minutes and on SIGTERM or
SIGUSR1, after which the worker exits with status 75; started again, it continues them where they stopped
(:mod:`generation.checkpoint`). Under ``torchrun`` every process trains its slice of each run's global batch
and rank 0 writes (:mod:`generation.distributed`)::

    torchrun --standalone --nproc-per-node 8 -m generation.worker --task imagenet-resnet50 \\
        --functions chosen.txt --out results/in1k --data-root /datasets/imagenet
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import platform
import shutil
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from actbench.base.files import write_atomic
from actbench.base.text import plural
from actbench.lang.expr import parse
from actbench.lang.space import get_space
from actbench._version import __version__
from generation.checkpoint import EXIT_REQUEUE, STOP, Preempted, RunCheckpoint, install_stop_signals, recipe_hash
from generation.data import DataSplits, load_data
from generation.distributed import SINGLE, Dist, from_env
from generation.recipes import Recipe, get_recipe
from generation.train import fim_for, train_run

__all__ = ["checkpoint_folder", "compute_result", "finish_checkpoints", "function_list", "load_data", "main", "result_key", "run_one", "run_shard", "write_result"]

RESULT_FORMAT = "actbench-result-v1"


def result_key(name: str) -> str:
    """File stem of a function's result: a hash of its canonical name (names contain '(' and ',')."""
    return hashlib.sha1(str(parse(name)).encode()).hexdigest()[:20]


def function_list(*, space: str | None = None, functions: Path | None = None) -> list[str]:
    """The functions to run, canonical and in a fixed order."""
    if functions is not None:
        names = [line.strip() for line in functions.read_text().splitlines() if line.strip() and not line.startswith("#")]
        return [str(parse(n)) for n in names]
    if space is None:
        raise ValueError("give --space or --functions")
    return sorted(get_space(space).representatives)


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like I/N (e.g. 3/64), got {text!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"--shard {text}: need 0 <= I < N")
    return i, n


@functools.cache
def _cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo; elsewhere what platform says): CPU results can differ in
    their last digits between CPU models, and this tells which one a result came from."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def _git_revision() -> str | None:
    """The repository's revision when the worker started (its code is loaded once, so later commits to
    the checkout do not describe what runs), with ``+dirty`` when files differ from it."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=here)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=here)
        return (rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def compute_result(recipe: Recipe, name: str, data: DataSplits, device: str, *, fim_only: bool = False,
                   extra: dict | None = None, checkpoints: Path | None = None,
                   checkpoint_every_s: float | None = 900.0, log=print, dist: Dist = SINGLE) -> tuple[dict, bytes]:
    """Train every seed (unless ``fim_only``) and compute the FIM feature; returns the result document and
    the FIM feature as .npy bytes, without writing anything.

    With ``checkpoints`` (a folder for this function: :func:`checkpoint_folder`) each seed's run saves a
    checkpoint there every ``checkpoint_every_s`` seconds and when a stop is requested (a signal:
    :func:`generation.checkpoint.install_stop_signals`), then raises :class:`generation.checkpoint.Preempted`;
    a finished seed's result is kept there too, so that the function, started again, continues where it
    stopped. :func:`finish_checkpoints` removes the folder once the result is written.

    Under torchrun (``dist``) every process trains its slice of each run; only rank 0 computes the FIM
    feature and the document (the others return ``({}, b"")``)."""
    t0 = time.perf_counter()
    runs = [] if fim_only else [_seed_run(recipe, name, data, s, device, checkpoints, checkpoint_every_s, log, dist)
                                for s in recipe.seeds]
    if not dist.main:
        return {}, b""
    cdf, layers = fim_for(recipe, name, data, device=device)
    buf = _npy_bytes(cdf)
    result = {
        "format": RESULT_FORMAT, "kind": "fim" if fim_only else "train", "name": name,
        "recipe": recipe.model_dump(), "runs": runs, "fim_convention": recipe.fim_convention,
        "fim_layout": [[l.name, l.n_weights, l.offset, l.n_bins] for l in layers],
        "fim_sha256": hashlib.sha256(buf).hexdigest(),
        "data": data.description, "seconds": time.perf_counter() - t0,
        "env": {"actbench": __version__, "git": _git_revision(), "torch": torch.__version__,
                "python": platform.python_version(), "host": socket.gethostname(), "device": str(device),
                "gpu": torch.cuda.get_device_name() if str(device).startswith("cuda") else None,
                "cpu": _cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "threads": torch.get_num_threads()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    }
    return result, buf


def checkpoint_folder(root: Path, name: str) -> Path:
    """Where a function's checkpoints live under ``root`` (a worker's ``OUT/checkpoints``, a study's folder)."""
    return Path(root) / result_key(name)


def finish_checkpoints(folder: Path | None) -> None:
    """Remove a function's checkpoint folder (after its result is written)."""
    if folder is not None and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


def _seed_run(recipe: Recipe, name: str, data: DataSplits, seed: int, device: str, folder: Path | None,
              every_s: float | None, log, dist: Dist = SINGLE) -> dict:
    if folder is None:
        return train_run(recipe, name, data, seed=seed, device=device, dist=dist).model_dump()
    if STOP.requested:
        raise Preempted(f"{name}: stopped on {STOP.signal} before seed {seed}")
    identity = {"function": name, "seed": seed, "recipe": recipe_hash(recipe), "data": data.description}
    done = folder / f"seed{seed}.json"
    if done.exists():
        kept = json.loads(done.read_text())
        if kept.get("identity") == identity:
            return kept["run"]
    folder.mkdir(parents=True, exist_ok=True)
    ck = RunCheckpoint(folder / f"seed{seed}.npz", identity, every_s=every_s, log=log, write=dist.main)
    run = train_run(recipe, name, data, seed=seed, device=device, checkpoint=ck, dist=dist).model_dump()
    if ck.resumed_from is not None:
        log(f"{name} seed {seed}: continued from its checkpoint at epoch {ck.resumed_from[0] + 1}, "
            f"step {ck.resumed_from[1] + 1}")
    if dist.main:
        write_atomic(done, json.dumps({"identity": identity, "run": run}).encode(), fsync=True)
        ck.clear()
    dist.barrier()  # no rank reads the folder while rank 0 changes it
    return run


def write_result(out: Path, result: dict, fim_npy: bytes) -> None:
    """The FIM feature first, then the JSON (atomically): the JSON's presence means done."""
    key = result_key(result["name"])
    write_atomic(out / f"{key}.fim.npy", fim_npy, fsync=True)
    write_atomic(out / f"{key}.json", json.dumps(result).encode(), fsync=True)


def run_one(recipe: Recipe, name: str, data: DataSplits, out: Path, device: str, *, fim_only: bool = False,
            checkpoint_every_s: float | None = 900.0, log=print, dist: Dist = SINGLE) -> dict:
    folder = None if fim_only else checkpoint_folder(out / "checkpoints", name)
    result, buf = compute_result(recipe, name, data, device, fim_only=fim_only, checkpoints=folder,
                                 checkpoint_every_s=checkpoint_every_s, log=log, dist=dist)
    if dist.main:
        write_result(out, result, buf)
        finish_checkpoints(folder)
    dist.barrier()
    return result


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    b = io.BytesIO()
    np.save(b, np.asarray(arr, dtype=np.float32), allow_pickle=False)
    return b.getvalue()


def run_shard(recipe: Recipe, names: list[str], shard: tuple[int, int], out: Path, *, data: DataSplits,
              device: str = "cpu", retry_failed: bool = False, limit: int | None = None, fim_only: bool = False,
              checkpoint_every_s: float | None = 900.0, log=print, dist: Dist = SINGLE) -> dict:
    """Run this shard's functions that are not done yet; returns counts. A function interrupted by a signal
    keeps its checkpoint in ``OUT/checkpoints`` and :class:`generation.checkpoint.Preempted` propagates. Under
    torchrun (``dist``) every process runs the same functions together; rank 0 writes and logs."""
    if not dist.main:
        log = lambda m: None  # noqa: E731
    out.mkdir(parents=True, exist_ok=True)
    mine = names[shard[0]::shard[1]]
    counts = {"shard": len(mine), "done_before": 0, "ran": 0, "failed": 0}
    for name in mine:
        if STOP.requested:
            raise Preempted(f"stopped on {STOP.signal} between functions")
        key = result_key(name)
        if (out / f"{key}.json").exists():
            counts["done_before"] += 1
            continue
        failed = out / f"{key}.failed.json"
        if failed.exists() and not retry_failed:
            counts["done_before"] += 1
            continue
        if limit is not None and counts["ran"] + counts["failed"] >= limit:
            break
        t0 = time.perf_counter()
        try:
            res = run_one(recipe, name, data, out, device, fim_only=fim_only, checkpoint_every_s=checkpoint_every_s,
                          log=log, dist=dist)
            failed.unlink(missing_ok=True)
            counts["ran"] += 1
            what = "FIM" if fim_only else f"val_acc {np.round([r['val_acc'] for r in res.get('runs', [])], 4).tolist()}"
            log(f"[{shard[0]}/{shard[1]}] {name}: {what} ({time.perf_counter() - t0:.1f} s)")
        except Preempted:
            raise
        except Exception as e:  # record and go on: one bad function must not stop a shard
            counts["failed"] += 1
            record = {"format": RESULT_FORMAT, "name": name, "error": f"{type(e).__name__}: {e}",
                      "traceback": traceback.format_exc(), "recipe": recipe.model_dump(),
                      "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            if dist.main:
                write_atomic(failed, json.dumps(record).encode(), fsync=True)
            log(f"[{shard[0]}/{shard[1]}] {name}: FAILED {type(e).__name__}: {e}")
    return counts


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m generation.worker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    rec = p.add_mutually_exclusive_group(required=True)
    rec.add_argument("--task", help="registered task (python -m generation.tasks lists them)")
    rec.add_argument("--recipe", help="registered recipe name (cnn, resnet, vit, ...)")
    rec.add_argument("--recipe-file", type=Path, help="a recipe as JSON (fields of generation.recipes.Recipe)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--space", help="run the unique functions of this space (act-bench, large)")
    src.add_argument("--functions", type=Path, help="file with one function name per line")
    p.add_argument("--shard", default="0/1", help="I/N: this worker's share (default 0/1)")
    p.add_argument("--out", type=Path, required=True, help="result folder (shared by all shards)")
    p.add_argument("--data-root", type=Path, help="where the data set lies (CIFAR batches, image folders)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--retry-failed", action="store_true", help="run functions that failed before again")
    p.add_argument("--limit", type=int, help="stop after this many functions (for smoke tests)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--fim-only", action="store_true", help="compute FIM features only, train nothing")
    p.add_argument("--fim-convention", choices=["reference", "kfac"],
                   help="K-FAC normalisation of the FIM features (default: the recipe's; 'reference' is the "
                        "official release's scale, 'kfac' the textbook one)")
    p.add_argument("--checkpoint-every", type=float, default=15.0, metavar="MINUTES",
                   help="save each run's state every MINUTES of training (default 15; 0: only on a signal). "
                        "SIGTERM or SIGUSR1 saves it at the next step and exits with status 75 for a requeue")
    p.add_argument("--import", dest="plugins", action="append", default=[],
                   help="module or .py file that registers your own models, data sets or tasks (repeatable)")
    return p


def resolve_recipe(args) -> Recipe:
    """The recipe of --task, --recipe or --recipe-file, after importing --import plugins."""
    from generation.tasks import get_task, import_plugin

    for spec in getattr(args, "plugins", []):
        import_plugin(spec)
    if getattr(args, "task", None):
        recipe = get_task(args.task).recipe
    elif getattr(args, "recipe_file", None):
        recipe = Recipe.model_validate_json(args.recipe_file.read_text())
    else:
        recipe = get_recipe(args.recipe)
    if getattr(args, "fim_convention", None):
        recipe = recipe.model_copy(update={"fim_convention": args.fim_convention})
    return recipe


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    install_stop_signals()  # SIGTERM / SIGUSR1: checkpoint at the next step, exit 75
    dist, args.device = from_env(args.device)  # under torchrun: this process's rank and device
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        recipe = resolve_recipe(args)
        shard = parse_shard(args.shard)
        names = function_list(space=args.space, functions=args.functions)
        data = load_data(recipe, args.data_root)
    except (KeyError, ValueError, FileNotFoundError) as e:  # pydantic's ValidationError is a ValueError
        print(f"worker: error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    _git_revision()  # stamp the revision of the code this process has loaded
    say = (lambda m: print(m, flush=True)) if dist.main else (lambda m: None)
    ranks = f", {dist.world} data-parallel processes" if dist.parallel else ""
    say(f"worker {args.shard}: recipe {recipe.name}, {len(names[shard[0]::shard[1]])} of {plural(len(names), 'function')}, "
        f"{data.description}, device {args.device}{ranks}")
    every = args.checkpoint_every * 60 if args.checkpoint_every > 0 else None
    try:
        counts = run_shard(recipe, names, shard, args.out, data=data, device=args.device,
                           retry_failed=args.retry_failed, limit=args.limit, fim_only=args.fim_only,
                           checkpoint_every_s=every, log=say, dist=dist)
    except Preempted as e:
        say(f"worker {args.shard}: {e}; exiting with status {EXIT_REQUEUE} (requeue this job to continue)")
        return EXIT_REQUEUE
    say(f"worker {args.shard}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
