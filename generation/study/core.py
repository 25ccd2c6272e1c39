"""A study folder (:class:`Study`): created by ``init``, opened by workers and readers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from actbench.lang.ops import BASELINES
from actbench.sources.study import (STUDY_FILE, TABLE_FILE, close_storage, open_storage, recorded, storage_url,
                                   study_table)
from actbench.base.files import atomic_write, sha256_file, write_atomic
from generation.recipes import Recipe
from generation.study.config import SAMPLERS, StudyConfig, StudyError, _now, _training_names

__all__ = ["Study"]


class Study:
    """A study folder. ``Study.create`` makes one; ``Study(path)`` opens it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        cfg = self.path / STUDY_FILE
        if not cfg.is_file():
            raise StudyError(f"{self.path} is not a study (no {STUDY_FILE}); create one with "
                             "python -m generation.study init")
        from actbench.sources.study import read_config

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
               other_task_features: bool = False, other_fim_convention: bool = False,
               embedding_method: str = "auto") -> Study:
        """Make a study folder and its Optuna study: the candidates (rows of the feature table that have the
        features needed) and the embedding the surrogate works on, computed once here.

        Raises:
            StudyError: the folder is already a study, the storage already has a study of that name, the
                feature table lacks the features asked for, or the budget exceeds the candidates.

        ``embedding`` replaces the UMAP embedding by one of your own: an (n_rows, d) array, one row per row
        of the feature table (``feature_set`` is then only a label). ``embedding_method`` chooses how the UMAP
        embedding is made (:func:`actbench.analysis.features.embedding`: ``auto``, ``exact``, ``fast``). FIM features computed for another
        model or data set than the task's are refused unless ``other_task_features``, and FIM features in
        another K-FAC convention than the recipe's (``recipe.fim_convention``: the features of the functions
        the study trains) unless ``other_fim_convention``.
        """
        from actbench import ActBench
        from actbench.analysis.features import FEATURE_SETS, resolve_method
        from actbench.analysis.features import embedding as umap_embedding
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
        try:
            method = "own" if embedding is not None else resolve_method(embedding_method, len(bench))
        except ValueError as e:
            raise StudyError(str(e)) from e
        tab = bench.data
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
            emb = (umap_embedding(bench, feature_set, seed=seed, method=method) if needs_emb
                   else np.zeros((len(bench), 1)))
        names = _training_names(tab)
        first = []
        for b in BASELINES:
            hit = bench.resolver.find(b)
            if hit is not None and names[hit.row] not in first:
                first.append(names[hit.row])
        cfg = StudyConfig(name=name or path.name, task=t.name, recipe=recipe,
                          features_table=str(Path(bench.path).resolve()), features_sha256=sha256_file(bench.path),
                          feature_set=feature_set, surrogate=surrogate,
                          embedding_method=method if embedding is not None or (needs_emb and feature_set != "fim")
                          else "exact", budget=budget, seed=seed, storage=storage,
                          heartbeat_s=heartbeat_s, grace_s=grace_s or 3 * heartbeat_s, max_retry=max_retry,
                          n_candidates=len(names), first=tuple(first) if surrogate in ("knr", "rf", "svr") else (),
                          features_fim_convention=bench.fim_convention if uses_fim else None, created=_now())
        import optuna

        path.mkdir(parents=True, exist_ok=True)
        url = storage_url(path, cfg.model_dump())
        storage = open_storage(url)
        try:
            optuna.create_study(study_name=cfg.name, storage=storage, direction="maximize")
        except optuna.exceptions.DuplicatedStudyError as e:
            raise StudyError(f"the storage {url} already has a study named {cfg.name!r}; pick another --name") from e
        finally:
            close_storage(storage)
        write_atomic(path / "candidates.txt", "\n".join(names) + "\n", fsync=True)
        with atomic_write(path / "embedding.npy", hidden=True) as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(emb, dtype=np.float64), allow_pickle=False)
        write_atomic(path / STUDY_FILE, cfg.model_dump_json(indent=2), fsync=True)  # last: its presence means ready
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

    @contextmanager
    def reading(self) -> Iterator:
        """The study's ``optuna.Study`` for reading, its storage's connections closed at the end of the
        ``with`` block."""
        import optuna

        storage = open_storage(self.storage_url)
        try:
            yield optuna.load_study(study_name=self.config.name, storage=storage)
        finally:
            close_storage(storage)

    def optuna_study(self, *, worker: str | None = None):
        """The study's ``optuna.Study``: for a worker (``worker`` given) with the sampler and a heartbeat
        storage whose stale trials are re-queued (the worker enforces ``max_retry``), else for reading. Its
        storage stays open: close it with :func:`actbench.sources.study.close_storage` (or read through
        :meth:`reading`, which does)."""
        import optuna

        cfg = self.config
        sampler = None if worker is None else self._sampler(worker)  # before the storage: it may refuse
        if worker is None:
            storage = open_storage(self.storage_url)
        else:
            storage = open_storage(self.storage_url, heartbeat_s=cfg.heartbeat_s, grace_s=cfg.grace_s, max_retry=None)
        try:
            return optuna.load_study(study_name=cfg.name, storage=storage, sampler=sampler)
        except BaseException:
            close_storage(storage)
            raise

    def _sampler(self, worker: str):
        import optuna

        cfg = self.config
        if cfg.surrogate in ("tpe", "random"):
            seed = (cfg.seed * 1_000_003 + sum(worker.encode())) % 2**31  # workers must not propose alike
            cls = optuna.samplers.TPESampler if cfg.surrogate == "tpe" else optuna.samplers.RandomSampler
            return cls(seed=seed)
        from actbench import ActBench
        from actbench.search.samplers import SurrogateSampler

        if not Path(cfg.features_table).is_file():
            raise StudyError(f"the feature table {cfg.features_table} (recorded by init) is not there on this machine; "
                             "workers read its candidates' names from it: make it reachable at that path (a shared "
                             "file system, as for the study folder)")
        return SurrogateSampler(ActBench(cfg.features_table), cfg.surrogate, cfg.feature_set, seed=cfg.seed,
                                embedding=self.embedding, form="index")

    def trials(self):
        with self.reading() as ost:
            return ost.get_trials(deepcopy=False)

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
        from actbench.table.results import aggregate

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

        with self.reading() as ost:
            trials = {t.number: t for t in ost.get_trials(deepcopy=False)}
            t = trials.get(number)
            if t is None or t.state != TrialState.RUNNING:
                raise StudyError(f"trial {number} is {'not in the study' if t is None else t.state.name.lower()}; "
                                 "only a running trial can be re-queued (python -m generation.study status lists "
                                 "them)")
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
