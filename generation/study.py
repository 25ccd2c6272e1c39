"""A surrogate-guided search with real training, on an Optuna study that any number of workers share.

    python -m generation.study init runs/c100 --task cifar100-resnet --features cifar100-resnet-features.h5 \\
        --budget 100 [--surrogate knr] [--feature-set both] [--storage postgresql://host/db]
    python -m generation.study work runs/c100 --data-root /datasets      # on every GPU / in every array job
    python -m generation.study status runs/c100
    actbench best runs/c100                                              # the best functions so far

The study lives in an Optuna storage: SQLite in the study folder by default (one machine), or any
SQLAlchemy URL Optuna accepts (PostgreSQL, MySQL: many machines), or ``journal:///path/file.log`` (Optuna's
journal file on a shared file system). Optuna keeps the trials, serialises the workers' writes, records
their heartbeats, fails the trial of a worker that stopped heartbeating and re-queues it (RDB storages);
the Optuna dashboard reads the same storage. The folder keeps what ``init`` fixed (``study.json``), the
candidates (the rows of a feature table) and the embedding the surrogate works on.

Each worker loops:

1. the study is finished when ``budget`` functions are recorded (a failed training counts, as 0);
2. trials of dead workers are failed and re-queued (``optuna.storages.fail_stale_trials``);
3. while the running trials fill what is left of the budget, the worker waits (one may yet die);
4. it asks Optuna for a trial: a re-queued function first, else the sampler's choice —
   :class:`actbench.samplers.SurrogateSampler` (the 8 baselines, then the best prediction of the
   surrogate on the embedding; never a function that is recorded, running or queued) or one of Optuna's
   samplers (``--surrogate tpe`` / ``random``). The parameter is the candidate's row (``function``);
5. **admission**: two workers asking at once can be given the same function. Each checks, after its trial
   is stored, whether a trial with a lower number is running or recorded with the same function (rows
   are distinct functions: the feature table holds one row per equivalence class), or whether recorded
   trials and running ones with lower numbers already fill the budget; if so its trial is pruned (user
   attribute ``duplicate_of`` or ``over_budget``) and it asks again. The lower number always wins, so
   exactly one of the two trains;
6. it trains the candidate under the task's recipe (heartbeats every ``heartbeat_s`` meanwhile) and
   tells the validation accuracy (0.0 when diverged) with the result document and FIM feature as user
   attributes; a worker whose trial was failed meanwhile (paused past the grace period, and re-queued
   for another) discards its result. Then it rewrites ``study.h5``.

``study.h5`` is derived from the storage; every reader (``status``, ``best``, ``ActBench(folder)``) checks
that it holds exactly the recorded functions and rebuilds it when not (:mod:`actbench.study`).
This module replaced a claim-file protocol of our own (flock, TTL heartbeats, take-overs): 670 lines.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from actbench._version import __version__
from actbench.ops import BASELINES
from actbench.study import STUDY_FILE, TABLE_FILE, open_storage, recorded, storage_url, study_table
from actbench.table import sha256_file
from generation.recipes import Recipe
from generation.worker import _atomic_write as _write_atomic

__all__ = ["Study", "StudyConfig", "StudyError", "main", "work"]

STUDY_FORMAT = "actbench-study-v2"
SAMPLERS = ("knr", "rf", "svr", "tpe", "random")


class StudyError(ValueError):
    """A study folder that cannot be created or used; the message says what to do."""


class StudyConfig(BaseModel):
    """What ``init`` fixed; stored in ``study.json`` and never changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = STUDY_FORMAT
    name: str = Field(description="the Optuna study name in the storage")
    task: str
    recipe: Recipe
    features_table: str = Field(description="path of the feature table the candidates and embedding come from")
    features_sha256: str
    feature_set: Literal["fim", "outputs", "both"]
    surrogate: Literal["knr", "rf", "svr", "tpe", "random"]
    budget: int = Field(ge=1)
    seed: int = 0
    storage: str | None = Field(default=None, description="Optuna storage URL; None: study.db in the folder")
    heartbeat_s: int = Field(default=60, ge=1, description="seconds between a running trial's heartbeats")
    grace_s: int = Field(default=180, ge=1, description="a trial without a heartbeat for this long is failed "
                                                        "and re-queued")
    max_retry: int = Field(default=3, ge=0, description="re-queues of one function whose workers keep dying")
    n_candidates: int
    first: tuple[str, ...] = Field(default=(), description="candidates evaluated before the surrogate (baselines)")
    features_fim_convention: Literal["reference", "kfac"] | None = Field(
        default=None, description="K-FAC convention of the feature table's FIM features (None: unknown or unused)")
    created: str
    actbench_version: str = __version__


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _training_names(tab) -> list[str]:
    """One name per row to train: the row's shortest name (its representative when that is among the
    shortest, else the lexicographically greatest of them), so that ``elu(x)`` is trained rather than
    its class representative ``sum_n(zero(x),zero(x),elu(x))``: the same function, fewer kernels."""
    best = list(tab.names)
    for name, row in tab.aliases.items():
        cur = best[row]
        if len(name) < len(cur) or (len(name) == len(cur) and cur != tab.names[row] and name > cur):
            best[row] = name
    return best


class Study:
    """A study folder. ``Study.create`` makes one; ``Study(path)`` opens it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        cfg = self.path / STUDY_FILE
        if not cfg.is_file():
            raise StudyError(f"{self.path} is not a study (no {STUDY_FILE}); create one with "
                             "python -m generation.study init")
        from actbench.study import read_config

        read_config(self.path)  # refuses an older study format with a way out
        self.config = StudyConfig.model_validate_json(cfg.read_text())
        self.table_path = self.path / TABLE_FILE
        self._candidates: list[str] | None = None
        self._embedding: np.ndarray | None = None

    # --- creation -------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike, *, task: str, features: str | os.PathLike, budget: int,
               surrogate: str = "knr", feature_set: str = "both", seed: int = 0, recipe: Recipe | None = None,
               name: str | None = None, storage: str | None = None, heartbeat_s: int = 60,
               grace_s: int | None = None, max_retry: int = 3, embedding: np.ndarray | None = None,
               other_task_features: bool = False, other_fim_convention: bool = False) -> Study:
        """Make a study folder and its Optuna study: the candidates (rows of the feature table that have the
        features needed) and the embedding the surrogate works on, computed once here.

        Raises:
            StudyError: the folder is already a study, the storage already has a study of that name, the
                feature table lacks the features asked for, or the budget exceeds the candidates.

        ``embedding`` replaces the UMAP embedding by one of your own: an (n_rows, d) array, one row per row
        of the feature table (``feature_set`` is then only a label). FIM features computed for another
        model or data set than the task's are refused unless ``other_task_features``, and FIM features in
        another K-FAC convention than the recipe's (``recipe.fim_convention``: the features of the functions
        the study trains) unless ``other_fim_convention``.
        """
        from actbench import ActBench
        from actbench.features import FEATURE_SETS
        from actbench.features import embedding as umap_embedding
        from generation.tasks import get_task

        path = Path(path)
        if (path / STUDY_FILE).exists():
            raise StudyError(f"{path} is already a study; open it with 'work' or 'status', or pick a new folder")
        if feature_set not in FEATURE_SETS:
            raise StudyError(f"feature set must be one of {FEATURE_SETS}, got {feature_set!r}")
        if surrogate not in SAMPLERS:
            raise StudyError(f"surrogate must be one of {', '.join(SAMPLERS)}, got {surrogate!r}")
        t = get_task(task)
        recipe = recipe or t.recipe
        bench = ActBench(features)
        tab = bench._table
        needs_emb = surrogate in ("knr", "rf", "svr") and embedding is None
        uses_fim = feature_set in ("fim", "both") and needs_emb
        if uses_fim:
            if not tab.n_fim:
                raise StudyError(f"{features} has no FIM features; use --feature-set outputs, or compute FIM "
                                 "features (generation.precompute)")
            if tab.fim_missing().any():
                raise StudyError(f"{features}: {int(tab.fim_missing().sum()):,} of {len(bench):,} rows have no FIM "
                                 f"feature; for --feature-set {feature_set} build the table with "
                                 "'generation.precompute table --only-fim', or use --feature-set outputs")
        made_by = bench.provenance.config or {}
        if (uses_fim and not other_task_features and made_by.get("model")
                and (made_by.get("model"), made_by.get("data")) != (recipe.model, recipe.data)):
            raise StudyError(f"{features} holds FIM features of {made_by.get('model')} on {made_by.get('data')}, but "
                             f"task {task!r} trains {recipe.model} on {recipe.data}; compute the task's own "
                             "(generation.precompute), or pass --other-task-features to use them anyway")
        if (uses_fim and not other_fim_convention and bench.fim_convention is not None
                and bench.fim_convention != recipe.fim_convention):
            raise StudyError(f"{features} holds FIM features in the {bench.fim_convention!r} K-FAC convention, but "
                             f"task {task!r} computes {recipe.fim_convention!r} features: their scales differ by "
                             "several nats. Compute the features in the task's convention (generation.worker "
                             f"--fim-convention {recipe.fim_convention}), or pass --other-fim-convention to use "
                             "them anyway")
        if not 1 <= budget <= len(bench):
            raise StudyError(f"budget must be between 1 and the {len(bench):,} candidates, got {budget}")
        if embedding is not None:
            emb = np.asarray(embedding, dtype=np.float64)
            if emb.ndim != 2 or len(emb) != len(bench) or not np.isfinite(emb).all():
                raise StudyError(f"embedding must be a finite ({len(bench)}, d) array, one row per row of "
                                 f"{features}; got shape {emb.shape}")
        else:
            emb = umap_embedding(bench, feature_set, seed=seed) if needs_emb else np.zeros((len(bench), 1))
        names = _training_names(tab)
        first = []
        for b in BASELINES:
            hit = bench._find(b)
            if hit is not None and names[hit[0]] not in first:
                first.append(names[hit[0]])
        cfg = StudyConfig(name=name or path.name, task=t.name, recipe=recipe,
                          features_table=str(Path(features).resolve()), features_sha256=sha256_file(features),
                          feature_set=feature_set, surrogate=surrogate, budget=budget, seed=seed, storage=storage,
                          heartbeat_s=heartbeat_s, grace_s=grace_s or 3 * heartbeat_s, max_retry=max_retry,
                          n_candidates=len(names), first=tuple(first) if surrogate in ("knr", "rf", "svr") else (),
                          features_fim_convention=bench.fim_convention if uses_fim else None, created=_now())
        import optuna

        path.mkdir(parents=True, exist_ok=True)
        url = storage_url(path, cfg.model_dump())
        try:
            optuna.create_study(study_name=cfg.name, storage=open_storage(url), direction="maximize")
        except optuna.exceptions.DuplicatedStudyError as e:
            raise StudyError(f"the storage {url} already has a study named {cfg.name!r}; pick another --name") from e
        _write_atomic(path / "candidates.txt", "\n".join(names) + "\n")
        tmp = path / f".embedding.npy.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(emb, dtype=np.float64), allow_pickle=False)
        os.replace(tmp, path / "embedding.npy")
        _write_atomic(path / STUDY_FILE, cfg.model_dump_json(indent=2))  # last: its presence means ready
        return cls(path)

    # --- state ----------------------------------------------------------------------------------

    @property
    def candidates(self) -> list[str]:
        if self._candidates is None:
            self._candidates = (self.path / "candidates.txt").read_text().splitlines()
        return self._candidates

    @property
    def embedding(self) -> np.ndarray:
        if self._embedding is None:
            self._embedding = np.load(self.path / "embedding.npy", allow_pickle=False)
        return self._embedding

    @property
    def storage_url(self) -> str:
        return storage_url(self.path, self.config.model_dump())

    def optuna_study(self, *, worker: str | None = None):
        """The study's ``optuna.Study``: for a worker (``worker`` given) with the sampler and a heartbeat
        storage whose stale trials are re-queued (the worker enforces ``max_retry``), else for reading."""
        import optuna

        cfg = self.config
        if worker is None:
            return optuna.load_study(study_name=cfg.name, storage=open_storage(self.storage_url))
        storage = open_storage(self.storage_url, heartbeat_s=cfg.heartbeat_s, grace_s=cfg.grace_s, max_retry=None)
        return optuna.load_study(study_name=cfg.name, storage=storage, sampler=self._sampler(worker))

    def _sampler(self, worker: str):
        import optuna

        cfg = self.config
        if cfg.surrogate in ("tpe", "random"):
            seed = (cfg.seed * 1_000_003 + sum(worker.encode())) % 2**31  # workers must not propose alike
            cls = optuna.samplers.TPESampler if cfg.surrogate == "tpe" else optuna.samplers.RandomSampler
            return cls(seed=seed)
        from actbench import ActBench
        from actbench.samplers import SurrogateSampler

        if not Path(cfg.features_table).is_file():
            raise StudyError(f"the feature table {cfg.features_table} (recorded by init) is not there on this machine; "
                             "workers read its candidates' names from it: make it reachable at that path (a shared "
                             "file system, as for the study folder)")
        return SurrogateSampler(ActBench(cfg.features_table), cfg.surrogate, cfg.feature_set, seed=cfg.seed,
                                embedding=self.embedding, form="index")

    def trials(self):
        return self.optuna_study().get_trials(deepcopy=False)

    def status(self) -> dict:
        from optuna.trial import TrialState

        trials = self.trials()
        done, failed = recorded(trials)
        pruned = [t for t in trials if t.state == TrialState.PRUNED]
        return {"budget": self.config.budget, "recorded": len(done) + len(failed), "failed": len(failed),
                "running": sum(t.state == TrialState.RUNNING for t in trials),
                "queued": sum(t.state == TrialState.WAITING for t in trials),
                "lost": sum(t.state == TrialState.FAIL and "error" not in t.user_attrs for t in trials),
                "duplicates": sum("duplicate_of" in t.user_attrs for t in pruned),
                "candidates": self.config.n_candidates,
                "finished": len(done) + len(failed) >= self.config.budget}

    def trajectory(self):
        """The recorded functions in the order they were recorded, with their validation accuracy (NaN when
        diverged or failed) and the best so far, as a DataFrame."""
        import pandas as pd

        done, failed = recorded(self.trials())
        rows = sorted(done + failed, key=lambda t: t.datetime_complete)
        from actbench.results import aggregate

        vals = np.array([aggregate(t.user_attrs["result"]["runs"])[0]["val_acc"] if "result" in t.user_attrs
                         else np.nan for t in rows], dtype=float)
        best = np.fmax.accumulate(np.where(np.isnan(vals), -np.inf, vals)) if len(vals) else vals
        return pd.DataFrame({"trial": [t.number for t in rows], "function": [t.user_attrs["function"] for t in rows],
                             "worker": [t.user_attrs.get("worker") for t in rows],
                             "time": [t.datetime_complete.isoformat(timespec="seconds") for t in rows],
                             "val_acc": vals, "best_val": np.where(np.isinf(best), np.nan, best)})

    def table(self) -> Path:
        """``study.h5``, brought up to date with the storage (:func:`actbench.study.study_table`)."""
        return study_table(self.path)

    def requeue(self, number: int) -> int:
        """Fail running trial ``number`` (its worker is dead and the storage keeps no heartbeats: a journal
        file) and queue its function again; returns the new trial's number.

        Raises:
            StudyError: no such trial, or it is not running.
        """
        import optuna
        from optuna.trial import TrialState

        ost = self.optuna_study()
        trials = {t.number: t for t in ost.get_trials(deepcopy=False)}
        t = trials.get(number)
        if t is None or t.state != TrialState.RUNNING:
            raise StudyError(f"trial {number} is {'not in the study' if t is None else t.state.name.lower()}; only a "
                             "running trial can be re-queued (python -m generation.study status lists them)")
        ost.tell(number, state=TrialState.FAIL)
        history = [*t.system_attrs.get("retry_history", []), number]
        ost.add_trial(optuna.trial.create_trial(
            state=TrialState.WAITING, params=t.params, distributions=t.distributions,
            user_attrs={k: v for k, v in t.user_attrs.items() if k in ("function",)},
            system_attrs={"failed_trial": history[0], "retry_history": history}))
        return max(tr.number for tr in ost.get_trials(deepcopy=False))

    # --- admission ------------------------------------------------------------------------------

    def verdict(self, trials, number: int, row: int) -> dict | None:
        """Why trial ``number`` (training candidate ``row``) must not train, or None (module docstring, 5)."""
        from optuna.trial import TrialState

        done, failed = recorded(trials)
        failed_numbers = {t.number for t in failed}
        for t in trials:
            if t.number < number and t.params.get("function") == row and (
                    t.state in (TrialState.RUNNING, TrialState.COMPLETE) or t.number in failed_numbers):
                return {"duplicate_of": t.number}
        ahead = sum(t.state == TrialState.RUNNING and t.number < number for t in trials)
        if len(done) + len(failed) + ahead >= self.config.budget:
            return {"over_budget": True}
        return None


class _Heartbeat(threading.Thread):
    """Records a trial's heartbeat every ``interval`` seconds (Optuna does so only inside ``optimize``)."""

    def __init__(self, storage, trial_id: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # a database hiccup: the next beat retries; a long outage fails the trial
                pass


@contextlib.contextmanager
def _quiet_optuna():
    """Silence what Optuna says about using heartbeats outside ``optimize`` (we record them ourselves) and
    about ``fail_stale_trials`` being experimental (since 2.9)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        yield


def work(study: Study, *, data, device: str = "cpu", worker: str | None = None, max_functions: int | None = None,
         time_limit_s: float | None = None, poll_s: float | None = None, log=print) -> dict:
    """Ask, train, tell until the study is finished (or ``max_functions`` are recorded, or the time left
    of ``time_limit_s`` is shorter than the longest function this worker has trained); returns counts."""
    cfg = study.config
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    poll = poll_s if poll_s is not None else min(30.0, cfg.heartbeat_s)
    ost = study.optuna_study(worker=worker)
    storage = ost._storage  # Optuna keeps heartbeats per trial id, which only the storage API takes
    beats = hasattr(storage, "record_heartbeat") and storage.get_heartbeat_interval() is not None
    with _quiet_optuna():
        return _work(study, ost, storage, beats, data=data, device=device, worker=worker,
                     max_functions=max_functions, time_limit_s=time_limit_s, poll=poll, log=log)


def _work(study: Study, ost, storage, beats: bool, *, data, device, worker, max_functions, time_limit_s, poll,
          log) -> dict:
    import optuna
    from optuna.trial import TrialState

    from actbench.results import aggregate
    from generation.worker import compute_result

    cfg = study.config
    counts = {"recorded": 0, "failed": 0, "discarded": 0, "retries": 0, "refused": 0}
    t_start, longest = time.monotonic(), 0.0
    while max_functions is None or counts["recorded"] + counts["failed"] < max_functions:
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
        hb = _Heartbeat(storage, trial._trial_id, cfg.heartbeat_s) if beats else None
        if hb:
            hb.start()
        t_fn = time.monotonic()
        try:
            result, buf = compute_result(cfg.recipe, name, data, device,
                                         extra={"study": {"name": cfg.name, "worker": worker, "trial": trial.number}})
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
        counts["recorded"] += 1
        log(f"{worker}: {name} val_acc {[round(r['val_acc'], 4) for r in result['runs']]}")
        _refresh(study, log)
    return counts


def _refresh(study: Study, log) -> None:
    try:
        study.table()
    except OSError as e:  # a full disk must not lose the record: the storage has it, the next reader rebuilds
        log(f"could not rewrite {study.table_path}: {e}")


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
    p = argparse.ArgumentParser(prog="python -m generation.study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("init", help="create a study folder and its Optuna study")
    i.add_argument("study", type=Path)
    i.add_argument("--task", required=True, help="registered task (python -m generation.tasks)")
    i.add_argument("--recipe-file", type=Path, help="override the task's recipe (JSON of generation.recipes.Recipe)")
    i.add_argument("--features", required=True, help="feature table (generation.precompute table)")
    i.add_argument("--budget", type=int, default=100, help="functions to train (default 100, as in the paper)")
    i.add_argument("--surrogate", default="knr", choices=SAMPLERS,
                   help="knr, rf, svr: the paper's search; tpe, random: Optuna's samplers (default knr)")
    i.add_argument("--feature-set", default="both", choices=["fim", "outputs", "both"])
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
    w.add_argument("--time-limit", type=float, help="seconds this worker may run (e.g. the job's wall-time limit): "
                   "it starts no new function when the time left is shorter than its longest function so far")
    w.add_argument("--threads", type=int, help="torch CPU threads")
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
        counts = work(study, data=data, device=device, worker=args.worker, max_functions=args.max_functions,
                      time_limit_s=args.time_limit, log=lambda m: print(m, flush=True))
        print(f"worker done: {counts}; {study.status()}", flush=True)
        return 0
    except (StudyError, KeyError, ValueError, FileNotFoundError) as e:
        print(f"study: error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
