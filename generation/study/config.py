"""What ``init`` fixes for a study (:class:`StudyConfig`, stored as ``study.json``), and the study's errors."""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from actbench._version import __version__
from generation.recipes import Recipe

__all__ = ["SAMPLERS", "STUDY_FORMAT", "StudyConfig", "StudyError"]


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
    embedding_method: Literal["exact", "fast", "own"] = Field(
        default="exact", description="how the embedding was made: the paper's UMAP (exact), UMAP of the outputs' "
                                     "principal components (fast), or given by the caller (own)")
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
