"""``python -m generation.study``: init, work, status, requeue (:func:`main`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from generation.recipes import Recipe
from generation.study.config import SAMPLERS, StudyError
from generation.study.core import Study
from generation.study.loop import work

__all__ = ["best", "main"]


def best(study_or_table: str | os.PathLike, k: int = 5):
    """The ``k`` best recorded functions (a DataFrame), from a study folder or its table."""
    from actbench import ActBench

    return ActBench(study_or_table).best(k)


def _print_status(study: Study) -> None:
    st = study.status()
    cfg = study.config
    print(f"study {cfg.name}: task {cfg.task}, {cfg.surrogate} on {cfg.feature_set} features, "
          f"{cfg.n_candidates:,} candidates; storage {study.storage_url}")
    print(f"recorded {st['recorded']}/{st['budget']} ({st['failed']} failed), running {st['running']}, "
          f"queued for retry {st['queued']}, lost to dead workers {st['lost']}, duplicates refused "
          f"{st['duplicates']}{', finished' if st['finished'] else ''}")
    if st["recorded"]:
        from actbench import ActBench

        print(ActBench(study.table()).best(5)[["val_acc", "test_acc"]].to_string())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generation.study", description=_doc(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("init", help="create a study folder and its Optuna study")
    i.add_argument("study", type=Path)
    i.add_argument("--task", required=True, help="registered task (python -m generation.tasks)")
    i.add_argument("--recipe-file", type=Path, help="override the task's recipe (JSON of generation.recipes.Recipe)")
    i.add_argument("--features", required=True, help="feature table (generation.precompute table), or a table name such as mini")
    i.add_argument("--budget", type=int, default=100, help="functions to train (default 100, as in the paper)")
    i.add_argument("--surrogate", default="knr", choices=SAMPLERS,
                   help="knr, rf, svr: the paper's search; tpe, random: Optuna's samplers (default knr)")
    i.add_argument("--feature-set", default="both", choices=["fim", "outputs", "both"])
    i.add_argument("--embedding", default="auto", choices=["auto", "exact", "fast"],
                   help="UMAP of the outputs themselves (exact, the paper's) or of their 32 principal components "
                        "(fast: the whole large space in minutes); auto (default): exact up to 50,000 candidates")
    i.add_argument("--storage", help="Optuna storage URL (default: SQLite, study.db in the folder); e.g. "
                   "postgresql://user@host/db, or journal:///shared/path/study.log")
    i.add_argument("--name", help="study name in the storage (default: the folder's name)")
    i.add_argument("--heartbeat", type=int, default=60, help="seconds between heartbeats (default 60)")
    i.add_argument("--grace", type=int, help="seconds without a heartbeat before a trial is failed and "
                   "re-queued (default 3 x --heartbeat)")
    i.add_argument("--max-retry", type=int, default=3, help="re-queues of a function whose workers keep dying")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--other-task-features", action="store_true",
                   help="accept FIM features computed for another model or data set than the task's")
    i.add_argument("--other-fim-convention", action="store_true",
                   help="accept FIM features in another K-FAC convention than the task's recipe")
    w = sub.add_parser("work", help="train functions the study chooses until it is finished")
    w.add_argument("study", type=Path)
    w.add_argument("--data-root", type=Path)
    w.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    w.add_argument("--worker", help="worker name in the trials' user attributes (default host:pid)")
    w.add_argument("--max-functions", type=int, help="stop after recording this many")
    w.add_argument("--time-limit", type=_time_limit, metavar="SECONDS|job",
                   help="seconds this worker may run: it starts no new function when the time left is shorter than "
                   "its longest function so far, and exits with status 75 (requeue) while the study is unfinished; "
                   "'job': the time left in this Slurm job less 5 minutes (the job scripts' stop signal)")
    w.add_argument("--threads", type=int, help="torch CPU threads")
    w.add_argument("--checkpoint-every", type=float, default=15.0, metavar="MINUTES",
                   help="save each run's state in the study folder every MINUTES (default 15; 0: only on a signal); "
                        "SIGTERM or SIGUSR1 saves it and exits with status 75, and the re-queued trial continues it")
    s = sub.add_parser("status", help="progress and the best functions so far")
    s.add_argument("study", type=Path)
    s.add_argument("--trajectory", action="store_true", help="also every record in order, with the best so far")
    s.add_argument("--running", action="store_true", help="also the running trials: number, function, worker, start")
    r = sub.add_parser("requeue", help="fail a running trial whose worker is dead and queue its function again "
                       "(needed only on a journal file, where Optuna keeps no heartbeats)")
    r.add_argument("study", type=Path)
    r.add_argument("trial", type=int, help="the trial's number (status --running lists them)")
    b = sub.add_parser("best", help="print the best function so far")
    b.add_argument("study", type=Path)
    b.add_argument("-k", type=int, default=1)
    for q in (i, w):
        q.add_argument("--import", dest="plugins", action="append", default=[],
                       help="module or .py file that registers your own models, data sets or tasks")
    args = p.parse_args(argv)
    try:
        from generation.tasks import import_plugin

        for spec in getattr(args, "plugins", []):
            import_plugin(spec)
        if args.cmd == "init":
            recipe = Recipe.model_validate_json(args.recipe_file.read_text()) if args.recipe_file else None
            study = Study.create(args.study, task=args.task, features=args.features, budget=args.budget,
                                 surrogate=args.surrogate, feature_set=args.feature_set, seed=args.seed, recipe=recipe,
                                 embedding_method=args.embedding,
                                 name=args.name, storage=args.storage, heartbeat_s=args.heartbeat,
                                 grace_s=args.grace, max_retry=args.max_retry,
                                 other_task_features=args.other_task_features,
                                 other_fim_convention=args.other_fim_convention)
            print(f"created {args.study}: {study.config.n_candidates:,} candidates, budget {args.budget}, "
                  f"first {len(study.config.first)} baselines; storage {study.storage_url}")
            return 0
        study = Study(args.study)
        if args.cmd == "status":
            _print_status(study)
            if args.trajectory:
                print(study.trajectory().to_string(float_format=lambda v: f"{v:.4f}"))
            if args.running:
                from optuna.trial import TrialState

                for t in study.trials():
                    if t.state == TrialState.RUNNING:
                        print(f"trial {t.number}\t{t.user_attrs.get('function', '?')}\t{t.user_attrs.get('worker', '?')}"
                              f"\tstarted {t.datetime_start:%Y-%m-%d %H:%M:%S}")
            return 0
        if args.cmd == "requeue":
            print(f"trial {args.trial} failed; its function is queued again as trial {study.requeue(args.trial)}")
            return 0
        if args.cmd == "best":
            if not study.status()["recorded"]:
                raise StudyError(f"{args.study}: nothing recorded yet")
            for name, row in best(study.table(), args.k).iterrows():
                print(f"{name}\tval_acc {row['val_acc']:.4f}\ttest_acc {row['test_acc']:.4f}")
            return 0
        import torch

        from generation.data import load_data

        if args.threads:
            torch.set_num_threads(args.threads)
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        data = load_data(study.config.recipe, args.data_root)
        from generation.checkpoint import EXIT_REQUEUE, Preempted, install_stop_signals

        install_stop_signals()
        try:
            counts = work(study, data=data, device=device, worker=args.worker, max_functions=args.max_functions,
                          time_limit_s=_resolve_time_limit(args.time_limit),
                          checkpoint_every_s=args.checkpoint_every * 60 if args.checkpoint_every > 0 else None,
                          log=lambda m: print(m, flush=True))
        except Preempted as e:
            print(f"{e}; exiting with status {EXIT_REQUEUE} (requeue this job to continue)", flush=True)
            return EXIT_REQUEUE
        status = study.status()
        print(f"worker done: {counts}; {status}", flush=True)
        if counts.get("stopped_for_time") and not status.get("finished"):
            print(f"stopped for the time limit with the study unfinished; exiting with status {EXIT_REQUEUE} "
                  "(requeue this job to continue)", flush=True)
            return EXIT_REQUEUE
        return 0
    except (StudyError, KeyError, ValueError, FileNotFoundError) as e:
        print(f"study: error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2


def _time_limit(text: str) -> float | str:
    if text == "job":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--time-limit takes seconds or 'job', got {text!r}") from None


def _resolve_time_limit(value: float | str | None) -> float | None:
    if value != "job":
        return value
    from generation.slurmjob import job_time_limit

    try:
        limit = job_time_limit()
    except RuntimeError as e:
        raise StudyError(str(e)) from None
    print(f"time limit: {'none (not in a Slurm job with a time limit)' if limit is None else f'{limit:.0f} s'}",
          flush=True)
    return limit


def _doc() -> str:
    import generation.study

    return generation.study.__doc__
