"""The worker loop (:func:`work`): ask, admit, train, tell, until the study is finished."""

from __future__ import annotations

import io
import os
import socket
import time
import traceback

import numpy as np

from actbench.sources.study import close_storage, recorded
from generation.study.core import Study
from generation.study.heartbeat import Heartbeat, quiet_optuna

__all__ = ["work"]


def work(study: Study, *, data, device: str = "cpu", worker: str | None = None, max_functions: int | None = None,
         time_limit_s: float | None = None, poll_s: float | None = None, checkpoint_every_s: float | None = 900.0,
         log=print) -> dict:
    """Ask, train, tell until the study is finished (or ``max_functions`` are recorded, or the time left
    of ``time_limit_s`` is shorter than the longest function this worker has trained); returns counts.

    Each function's runs keep checkpoints in the study folder (``checkpoints/``, every ``checkpoint_every_s``
    seconds and on SIGTERM/SIGUSR1, after which :class:`generation.checkpoint.Preempted` propagates and the
    trial stays running): when the trial is re-queued (its heartbeat stops), the worker that trains it again
    continues from there, on any node that sees the study folder."""
    cfg = study.config
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    poll = poll_s if poll_s is not None else min(30.0, cfg.heartbeat_s)
    ost = study.optuna_study(worker=worker)
    storage = ost._storage  # Optuna keeps heartbeats per trial id, which only the storage API takes
    beats = hasattr(storage, "record_heartbeat") and storage.get_heartbeat_interval() is not None
    try:
        with quiet_optuna():
            return _work(study, ost, storage, beats, data=data, device=device, worker=worker,
                         max_functions=max_functions, time_limit_s=time_limit_s, poll=poll,
                         checkpoint_every_s=checkpoint_every_s, log=log)
    finally:
        close_storage(storage)  # the worker's database connections, whatever ended its loop


def _work(study: Study, ost, storage, beats: bool, *, data, device, worker, max_functions, time_limit_s, poll,
          checkpoint_every_s, log) -> dict:
    import optuna
    from optuna.trial import TrialState

    from actbench.table.results import aggregate
    from generation.checkpoint import STOP, Preempted
    from generation.worker import checkpoint_folder, compute_result, finish_checkpoints

    cfg = study.config
    counts = {"recorded": 0, "failed": 0, "discarded": 0, "retries": 0, "refused": 0}
    t_start, longest = time.monotonic(), 0.0
    while max_functions is None or counts["recorded"] + counts["failed"] < max_functions:
        if STOP.requested:
            raise Preempted(f"{worker}: stopped on {STOP.signal} between functions")
        if time_limit_s is not None and time.monotonic() - t_start + longest > time_limit_s:
            log(f"{worker}: stopping: {time_limit_s - (time.monotonic() - t_start):.0f} s left of the time limit, "
                f"the longest function took {longest:.0f} s")
            counts["stopped_for_time"] = True
            break
        if beats:
            optuna.storages.fail_stale_trials(ost)  # dead workers' trials: failed, and re-queued
        trials = ost.get_trials(deepcopy=False)
        done, failed = recorded(trials)
        if len(done) + len(failed) >= cfg.budget:
            break
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if len(done) + len(failed) + running >= cfg.budget:
            time.sleep(poll)  # the budget is taken by running trials; one may yet die
            continue
        trial = ost.ask()
        if beats:
            storage.record_heartbeat(trial._trial_id)  # from now on a dead worker is noticed
        row = trial.suggest_int("function", 0, cfg.n_candidates - 1)
        name = study.candidates[row]
        trial.set_user_attr("function", name)
        trial.set_user_attr("worker", worker)
        why = study.verdict(ost.get_trials(deepcopy=False), trial.number, row)
        if why is not None:
            for k, v in why.items():
                trial.set_user_attr(k, v)
            ost.tell(trial, state=TrialState.PRUNED)
            counts["refused"] += 1
            continue
        history = storage.get_trial(trial._trial_id).system_attrs.get("retry_history", [])  # set by the retry
        if history:
            counts["retries"] += 1
            log(f"{worker}: retrying {name} (trial {history[0]}: its worker stopped heartbeating)")
            if len(history) > cfg.max_retry:
                trial.set_user_attr("error", f"its workers died {len(history)} times (trials {history})")
                ost.tell(trial, state=TrialState.FAIL)
                counts["failed"] += 1
                continue
        else:
            log(f"{worker}: training {name} (trial {trial.number})")
        hb = Heartbeat(storage, trial._trial_id, cfg.heartbeat_s) if beats else None
        if hb:
            hb.start()
        t_fn = time.monotonic()
        folder = checkpoint_folder(study.path / "checkpoints", name)
        try:
            result, buf = compute_result(cfg.recipe, name, data, device, checkpoints=folder,
                                         checkpoint_every_s=checkpoint_every_s, log=log,
                                         extra={"study": {"name": cfg.name, "worker": worker, "trial": trial.number}})
        except Preempted:  # the trial stays running: its heartbeat stops, and its retry continues the checkpoint
            if hb:
                hb.stop.set()
                hb.join()
            raise
        except Exception as e:  # one bad function must not stop the worker
            if hb:
                hb.stop.set()
            try:
                trial.set_user_attr("error", f"{type(e).__name__}: {e}")
                trial.set_user_attr("traceback", "".join(traceback.format_exception(e))[-4000:])
                ost.tell(trial, state=TrialState.FAIL)
                counts["failed"] += 1
            except optuna.exceptions.UpdateFinishedTrialError:
                counts["discarded"] += 1
            log(f"{worker}: {name} FAILED {type(e).__name__}: {e}")
            _refresh(study, log)
            continue
        if hb:
            hb.stop.set()
            hb.join()
        longest = max(longest, time.monotonic() - t_fn)
        val = aggregate(result["runs"])[0]["val_acc"]
        try:
            trial.set_user_attr("result", result)
            trial.set_user_attr("fim", np.load(io.BytesIO(buf), allow_pickle=False).astype(float).tolist())
            trial.set_user_attr("diverged", bool(np.isnan(val)))
            ost.tell(trial, 0.0 if np.isnan(val) else float(val))
        except optuna.exceptions.UpdateFinishedTrialError:
            counts["discarded"] += 1  # failed as stale while we trained; its retry trains it again
            log(f"{worker}: discarded {name}: its trial was failed (no heartbeat for {cfg.grace_s} s) and re-queued")
            continue
        finish_checkpoints(folder)
        counts["recorded"] += 1
        log(f"{worker}: {name} val_acc {[round(r['val_acc'], 4) for r in result['runs']]}")
        _refresh(study, log)
    return counts


def _refresh(study: Study, log) -> None:
    try:
        study.table()
    except OSError as e:  # a full disk must not lose the record: the storage has it, the next reader rebuilds
        log(f"could not rewrite {study.table_path}: {e}")
