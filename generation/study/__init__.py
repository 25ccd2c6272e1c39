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
that it holds exactly the recorded functions and rebuilds it when not (:mod:`actbench.sources.study`).

The package: :mod:`~generation.study.config` (what ``init`` fixes), :mod:`~generation.study.core` (the
study folder), :mod:`~generation.study.heartbeat`, :mod:`~generation.study.loop` (the worker loop) and
:mod:`~generation.study.cli` (the command line).
"""

from generation.study.cli import best, main
from generation.study.config import SAMPLERS, STUDY_FORMAT, StudyConfig, StudyError
from generation.study.core import Study
from generation.study.heartbeat import quiet_optuna as _quiet_optuna  # noqa: F401  (earlier name)
from generation.study.loop import work

__all__ = ["SAMPLERS", "STUDY_FORMAT", "Study", "StudyConfig", "StudyError", "best", "main", "work"]
