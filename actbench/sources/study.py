"""Search studies on an Optuna storage, as readers see them (``generation.study`` runs them).

A study folder holds ``study.json`` (what ``init`` fixed, including the storage URL), the candidates, the
embedding, and ``study.h5``: the table of every recorded function. The storage (SQLite in the folder by
default, or PostgreSQL, MySQL, or an Optuna journal file) is the record; ``study.h5`` is derived from it.
:func:`study_table` returns the table's path after checking that it holds exactly the functions the storage
has recorded, and rebuilds it (atomically) when it does not: a worker killed between recording a trial
and rewriting the table leaves it behind, and the next reader repairs it. ``ActBench(folder)``,
``actbench best FOLDER`` and ``python -m generation.study status`` all read through it.

Trials, as the workers write them: a recorded function is a ``COMPLETE`` trial whose user attributes hold
its training result (``result``, generation.worker's result document, and ``fim``, its FIM feature); a
function whose training raised is a ``FAIL`` trial with the user attribute ``error``. Other trials are
not records: ``PRUNED`` ones were refused (``duplicate_of``: another trial had the same function;
``over_budget``), ``FAIL`` ones without ``error`` lost their worker (a retry re-queues them as
``WAITING``), ``RUNNING`` ones are being trained.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from actbench.base.errors import ActBenchError, MissingExtraError, StudyRecordError, StudyStorageError
from actbench.base.text import clip, mask_url, printable

__all__ = ["STUDY_FILE", "TABLE_FILE", "close_storage", "is_study", "open_storage", "read_config", "recorded", "storage_url",
           "study_table"]

STUDY_FILE = "study.json"
TABLE_FILE = "study.h5"
DEFAULT_DB = "study.db"


def _optuna():
    try:
        import optuna
    except ImportError as e:
        raise MissingExtraError("search studies keep their trials in an Optuna storage: "
                                "pip install 'actbench[optuna]'") from e
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def is_study(path: str | os.PathLike) -> bool:
    return Path(path, STUDY_FILE).is_file()


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The study's ``study.json`` as a dict.

    Raises:
        FileNotFoundError: not a study folder.
        ValueError: a study written by an older actbench (its own claim-file protocol), or a damaged file.
    """
    path = Path(folder, STUDY_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a study (no {STUDY_FILE}); create one with "
                                "python -m generation.study init")
    try:
        cfg = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is damaged ({e}); it is written once by 'init': restore it or start a new "
                         "study") from e
    if not isinstance(cfg, dict) or cfg.get("format") != "actbench-study-v2":
        raise ValueError(f"{folder} is a study of an older actbench (format {cfg.get('format') if isinstance(cfg, dict) else None!r}, "
                         "claim files); its results/ folder merges into a table with python -m generation.merge "
                         f"{Path(folder, 'results')} -o table.h5")
    return cfg


def storage_url(folder: str | os.PathLike, cfg: dict[str, Any] | None = None) -> str:
    """The study's storage URL: the one given at ``init``, or SQLite in the folder (``study.db``)."""
    cfg = read_config(folder) if cfg is None else cfg
    return cfg.get("storage") or f"sqlite:///{Path(folder, DEFAULT_DB).resolve()}"


def open_storage(url: str, *, heartbeat_s: int | None = None, grace_s: int | None = None,
                 max_retry: int | None = None, read_only: bool = False):
    """An Optuna storage for ``url``: ``sqlite:///...``, ``postgresql://...``, ``mysql://...`` (any SQLAlchemy
    URL, through Optuna's RDBStorage), or ``journal:///path/to/file.log`` (Optuna's journal file).

    With ``heartbeat_s`` (RDB storages), running trials record heartbeats; a trial whose heartbeat is older
    than ``grace_s`` (default twice the interval) is failed by the next worker and re-queued, up to
    ``max_retry`` times. ``read_only`` (readers: ``actbench best``, ``ActBench(folder)``): nothing is created
    or migrated: a missing SQLite or journal file, and a database without Optuna's tables, are errors.

    Raises:
        StudyStorageError: the storage cannot be opened (missing, damaged, unreachable, no driver); the
            message masks the URL's credentials.
    """
    optuna = _optuna()
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = url[len("journal:"):].removeprefix("//")
        if read_only and not Path(path).is_file():
            raise StudyStorageError(f"the study's journal {path} does not exist; readers create nothing "
                                    "(is study.json's 'storage' right?)")
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    if read_only and url.startswith("sqlite"):
        path = url.split("///", 1)[-1] if "///" in url else ""
        if not path or not Path(path).is_file():
            raise StudyStorageError(f"the study's database {mask_url(url)} does not exist; readers create nothing "
                                    "(is study.json's 'storage' right?)")
    try:
        return _rdb(optuna, url, heartbeat_s=heartbeat_s, grace_s=grace_s, max_retry=max_retry, read_only=read_only)
    except StudyStorageError:
        raise
    except Exception as e:  # noqa: BLE001 - SQLAlchemy, a driver, Optuna: each says it its own way
        raise StudyStorageError(_storage_message(url, e)) from e


def _storage_message(url: str, e: BaseException) -> str:
    what = printable(clip(str(e).splitlines()[0] if str(e) else type(e).__name__, 200))
    if isinstance(e, (ImportError, ModuleNotFoundError)) or "NoSuchModule" in type(e).__name__:
        hint = "the database driver is not installed (PostgreSQL: pip install psycopg2-binary; MySQL: pip install PyMySQL)"
    else:
        hint = ("the database is damaged, is not an Optuna storage, or cannot be reached; check study.json's "
                "'storage', the server, and the file")
    return f"cannot read the study's storage {mask_url(url)}: {hint} ({type(e).__name__}: {mask_url(what)})"


def _rdb(optuna, url: str, *, heartbeat_s, grace_s, max_retry, read_only: bool):
    kwargs: dict[str, Any] = {}
    if read_only:
        kwargs["skip_table_creation"] = True
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}  # wait for another worker's write
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: since Optuna 2.8
        if heartbeat_s is not None:
            kwargs.update(heartbeat_interval=int(heartbeat_s), grace_period=int(grace_s) if grace_s else None)
            retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
            if retry is not None:  # Optuna >= 4.9
                kwargs["heartbeat_stale_trial_callback"] = retry(max_retry=max_retry)
            else:
                kwargs["failed_trial_callback"] = optuna.storages.RetryFailedTrialCallback(max_retry=max_retry)
        # built in two steps so that the engine can be closed when the constructor fails after connecting (a
        # damaged or foreign database): otherwise its connection stays open until the garbage collector finds it
        storage = optuna.storages.RDBStorage.__new__(optuna.storages.RDBStorage)
        try:
            storage.__init__(url, **kwargs)
        except BaseException:
            close_storage(storage)
            raise
        return storage


def load_study(folder: str | os.PathLike, cfg: dict[str, Any] | None = None, *, storage=None, **storage_kw):
    """The study's ``optuna.Study`` (no sampler: for reading), on ``storage`` when given (an opened
    :func:`open_storage`), else on a storage opened with ``storage_kw``."""
    optuna = _optuna()
    cfg = read_config(folder) if cfg is None else cfg
    url = storage_url(folder, cfg)
    opened = storage is None
    storage = open_storage(url, **storage_kw) if opened else storage
    try:
        return optuna.load_study(study_name=cfg["name"], storage=storage)
    except KeyError as e:
        if opened:
            close_storage(storage)
        raise ValueError(f"the storage {mask_url(url)} has no study {cfg['name']!r}; is this the "
                         "folder's storage (study.json 'storage')?") from e
    except Exception as e:  # noqa: BLE001 - a damaged or unreachable database
        if opened:
            close_storage(storage)
        raise StudyStorageError(_storage_message(url, e)) from e


def recorded(trials) -> tuple[list, list]:
    """(results, failures): the trials that record a trained function, and those that record a failed one."""
    from optuna.trial import TrialState

    done = [t for t in trials if t.state == TrialState.COMPLETE and "result" in t.user_attrs]
    failed = [t for t in trials if t.state == TrialState.FAIL and "error" in t.user_attrs]
    return done, failed


def _finished_counts(study) -> tuple[int, int]:
    """(COMPLETE, FAIL) trial counts: a trial that reaches either state never leaves it, so equal counts mean
    the same finished trials. One COUNT query on RDB storages (Optuna's ``trials`` table); elsewhere, or if
    that schema ever changes, Optuna's API (which loads every finished trial)."""
    from optuna.trial import TrialState

    engine = getattr(getattr(study, "_storage", None), "engine", None)
    if engine is not None:
        try:
            import sqlalchemy as sa

            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT state, COUNT(*) FROM trials WHERE study_id = :sid GROUP BY state"),
                                    {"sid": study._study_id}).fetchall()
            counts = {str(state).rsplit(".", 1)[-1]: int(n) for state, n in rows}
            return counts.get("COMPLETE", 0), counts.get("FAIL", 0)
        except Exception:  # noqa: BLE001 - any surprise: the API below is always right
            pass
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    return (sum(t.state == TrialState.COMPLETE for t in trials), sum(t.state == TrialState.FAIL for t in trials))


def _stamp(complete: int, fail: int) -> str:
    return f"study storage: {complete} complete trials, {fail} failed trials"


def study_table(folder: str | os.PathLike) -> Path:
    """The path of the study's table, holding every function the storage has recorded (rebuilt if not).

    The table's provenance notes the storage's counts of finished trials when it was written; if they
    differ now, or the table is missing or damaged, it is rebuilt from the trials.

    Raises:
        FileNotFoundError: the study has recorded nothing yet.
        StudyStorageError: the storage cannot be read (missing, damaged, unreachable, no driver).
        StudyRecordError: a recorded trial does not hold a valid result (the message names it).
    """
    folder = Path(folder)
    cfg = read_config(folder)
    storage = open_storage(storage_url(folder, cfg), read_only=True)  # a reader creates and migrates nothing
    try:
        return _study_table(folder, cfg, load_study(folder, cfg, storage=storage))
    except (StudyRecordError, FileNotFoundError):
        raise
    except Exception as e:  # noqa: BLE001 - a database damaged past its first pages fails only when read
        if isinstance(e, ActBenchError):
            raise
        raise StudyStorageError(_storage_message(storage_url(folder, cfg), e)) from e
    finally:
        close_storage(storage)


def close_storage(storage) -> None:
    """Close a storage's database connections (an RDB storage's engine keeps a pool of them open: a process
    that opens a study table again and again would otherwise hold one more connection each time, until the
    server refuses clients). A study's storage as Optuna holds it (an RDB storage inside Optuna's cache
    wrapper) is closed too."""
    storage = getattr(storage, "_backend", storage)  # optuna.storages._CachedStorage keeps the RDB storage there
    engine = getattr(storage, "engine", None)
    if engine is not None:
        remove = getattr(storage, "remove_session", None)
        if remove is not None and hasattr(storage, "scoped_session"):  # absent when its constructor failed early
            remove()
        engine.dispose()


def _study_table(folder: Path, cfg: dict[str, Any], study) -> Path:
    from optuna.trial import TrialState

    path = folder / TABLE_FILE
    if path.exists():
        from actbench.table import CorruptTableError, TableFormatError, read_table

        try:
            tab = read_table(path)
            notes = tab.provenance.notes
            tab.close()
        except (CorruptTableError, TableFormatError):
            notes = ()  # damaged: rebuilt below
        if _stamp(*_finished_counts(study)) in notes:
            return path
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    done, failed = recorded(trials)
    if not done and not failed:
        raise FileNotFoundError(f"the study {folder} has recorded nothing yet")
    stamp = _stamp(sum(t.state == TrialState.COMPLETE for t in trials), sum(t.state == TrialState.FAIL for t in trials))
    write_study_table(folder, cfg, done, failed, stamp=stamp)
    return path


def write_study_table(folder: Path, cfg: dict[str, Any], done: list, failed: list, *, stamp: str = "") -> dict:
    """Write ``study.h5`` from recorded trials (atomically; concurrent writers each write a whole table);
    ``stamp`` records the storage's state it reflects."""
    from actbench.table.results import write_results_table

    for t in done:
        _check_result(t)
    for t in failed:
        _check_failure(t)
    docs = [t.user_attrs["result"] for t in done]
    fims = {t.user_attrs["result"]["name"]: t.user_attrs["fim"] for t in done}
    fails = [{"name": t.user_attrs["function"], "error": t.user_attrs["error"]} for t in failed]
    return write_results_table(
        folder / TABLE_FILE, docs, fails, lambda d: np.asarray(fims[d["name"]], dtype=np.float32),
        recipe=cfg["recipe"], benchmark=f"study-{cfg['name']}",
        description=f"surrogate-guided search study {cfg['name']!r}: task {cfg['task']} "
                    f"({cfg['recipe']['description']}), {cfg['surrogate']} on {cfg['feature_set']} features of "
                    f"{Path(cfg['features_table']).name}, budget {cfg['budget']}",
        command=f"python -m generation.study work {folder}", notes=(stamp,) if stamp else ())


_RESULT_TEXT = ("name", "data", "created")
_RUN_METRICS = ("train_acc", "val_acc", "test_acc", "train_loss", "val_loss", "test_loss", "runtime_s")


def _bad_trial(t, why: str) -> StudyRecordError:
    return StudyRecordError(f"trial {t.number} of the study does not hold a valid result: {why}. Every reader needs "
                            "each recorded trial; fix or delete that trial in the storage (optuna's API), or "
                            "re-queue its function (python -m generation.study requeue)")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_result(t) -> None:
    """A recorded trial as the workers write it: ``result`` (generation.worker's document, with every run's
    values in their domains) and ``fim`` (a list of numbers)."""
    doc, fim = t.user_attrs.get("result"), t.user_attrs.get("fim")
    if not isinstance(doc, dict):
        raise _bad_trial(t, f"its 'result' is {clip(repr(doc), 60)}, not a result document")
    missing = [k for k in (*_RESULT_TEXT, "runs", "seconds", "env", "fim_layout") if k not in doc]
    if missing:
        raise _bad_trial(t, f"its result lacks {', '.join(missing)}")
    if not all(isinstance(doc[k], str) for k in _RESULT_TEXT) or not _number(doc["seconds"]):
        raise _bad_trial(t, "its result's name, data, created or seconds have the wrong type")
    runs = doc["runs"]
    if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
        raise _bad_trial(t, "its result has no runs")
    for r in runs:
        for m in _RUN_METRICS:
            v = r.get(m)
            if v is None:
                continue
            if not _number(v):
                raise _bad_trial(t, f"{m} of a run is {clip(repr(v), 40)}, not a number")
            if v != v:
                continue
            ok = (0 <= v <= 1) if m.endswith("_acc") else (v >= 0 if m.endswith("_loss") else 0 < v < float("inf"))
            if not ok:
                raise _bad_trial(t, f"{m} of a run is {v!r}, outside its domain (accuracies are fractions 0-1, losses "
                                    "not negative, runtimes positive seconds)")
        if not isinstance(r.get("diverged"), bool):
            raise _bad_trial(t, "a run lacks its diverged flag")
    if not isinstance(fim, list) or not all(_number(v) or v is None for v in fim):
        raise _bad_trial(t, "its 'fim' is missing or not a list of numbers")


def _check_failure(t) -> None:
    if not isinstance(t.user_attrs.get("function"), str) or not isinstance(t.user_attrs.get("error"), str):
        raise _bad_trial(t, "a failed trial lacks its function or error text")
