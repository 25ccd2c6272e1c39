"""A table as a syne-tune blackbox (:func:`syne_tune_blackbox`), so that syne-tune's simulator backend runs
its schedulers (ASHA, Hyperband, BOHB, BO, random search) on it with simulated time. Needs ``syne-tune``.

The blackbox is tabular: one configuration per combination of the operator slots (all 5,103 of Act-Bench's
schema, equivalent combinations answering with the same row's values), or one per row in the index form; the
fidelity is ``epoch`` (1 .. ``bench.epochs``). Its seeds are, by ``seed``: the table's aggregate over seeds as
one blackbox seed (``seed=None``, the default: what ``ActBench.query(name, epoch=k)`` and
:class:`actbench.interop.Objective` answer), one of the table's seeds (``seed=s``: that run), or every seed of
the table (``seed="each"``: syne-tune's simulator then draws a seed per trial from NumPy's global generator, so
seed it, or pass ``UserBlackboxBackend(..., seed=j)``). Objectives, per configuration, seed and epoch:

- ``val_acc``: validation accuracy, 0.0 where the run diverged or has no value (never NaN); the aggregate
  counts diverged runs as the worst, as the table does;
- ``val_error``: ``1 - val_acc`` (1.0 there);
- ``elapsed_time``: simulated seconds from the start of the run to the end of that epoch, by the cost rule
  (:meth:`actbench.ActBench.elapsed`: what a query at that epoch charges; after a run stopped, what it cost);
- ``diverged``: 1.0 where the run had diverged by that epoch (the aggregate: where the median run had), else 0.0.

Unlike :class:`actbench.interop.Objective`, the simulation does not charge ``bench.budget``: syne-tune keeps
its own count of trials and time.

:func:`syne_tune_backend` is syne-tune's tabular simulator backend for such a blackbox, set so that a run is
reproducible and its simulated time is the table's training time. syne-tune's own backend adds to the
simulated clock the real seconds that its tuner and scheduler spend (different in every run, and large beside
a table whose epochs take a fraction of a second), waits ``tuner_sleep_time`` simulated seconds (5 s by
default) between steps, and adds 0.05 s at every start, report and stop. Its schedulers also draw from NumPy's
global generator (the KDE searcher of ASHA and BOHB, and the backend's choice of a seed per trial): seed it
(``np.random.seed(0)``) before ``tuner.run()``.
"""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np

from actbench.base.errors import MissingExtraError
from actbench.query.slots import INDEX_PARAM, name_of, slot_params

__all__ = ["OBJECTIVES", "syne_tune_backend", "syne_tune_blackbox"]

#: The objectives of the blackbox, in order.
OBJECTIVES = ("val_acc", "val_error", "elapsed_time", "diverged")


def syne_tune_blackbox(bench, *, seed: int | None | Literal["each"] = None, form: str = "auto"):
    """``bench`` (with learning curves) as a ``syne_tune.blackbox_repository.BlackboxTabular``: the table's
    aggregate (``seed=None``), one of its seeds, or every seed (``seed="each"``); module docstring.

    Raises:
        ValueError: the table has no learning curves, ``seed`` is none of its seeds, or some slot combination
            names a function the table lacks (use ``form="index"``).
        MissingExtraError: syne-tune is not installed.
    """
    try:
        import pandas as pd
        from syne_tune.blackbox_repository.blackbox_tabular import BlackboxTabular
        from syne_tune.config_space import choice, randint
    except ImportError as e:
        raise MissingExtraError("the syne-tune export needs syne-tune: pip install syne-tune") from e
    if not bench.epochs:
        raise ValueError(f"{bench.name!r} has no learning curves: a syne-tune blackbox needs values per epoch")
    if seed not in (None, "each") and (isinstance(seed, (bool, np.bool_)) or seed not in (bench.seeds or [])):
        raise ValueError(f"seed {seed!r} is not one of the table's seeds ({bench.seeds}); seed=None exports the "
                         "aggregate over seeds, seed='each' every seed")
    slots = slot_params(bench, form)
    if slots is None:
        space = {INDEX_PARAM: randint(0, len(bench) - 1)}
        hps = pd.DataFrame({INDEX_PARAM: np.arange(len(bench))})
        rows = np.arange(len(bench))
    else:
        names = [p for p, _ in slots[1]]
        space = {p: choice(list(c)) for p, c in slots[1]}
        combos = list(itertools.product(*[c for _, c in slots[1]]))
        rows = np.empty(len(combos), dtype=np.int64)
        for k, combo in enumerate(combos):
            hit = bench.resolver.find(name_of(bench, dict(zip(names, combo))))
            if hit is None:
                raise ValueError(f"{name_of(bench, dict(zip(names, combo)))} is a function of the space that "
                                 f"{bench.name!r} lacks: export it with form='index'")
            rows[k] = hit.row
        hps = pd.DataFrame(combos, columns=names)
    n = int(bench.epochs)
    unique, inverse = np.unique(rows, return_inverse=True)
    if seed is None:  # the aggregate, as one seed: (rows, 1, epochs)
        acc = bench.curves("val_acc", unique, aggregate=True)[:, None, :]
        bad = ~np.isfinite(acc) | ~np.isfinite(bench.curves("train_acc", unique, aggregate=True))[:, None, :]
        elapsed = bench.elapsed(unique, aggregate=True)[:, None, :]
    else:
        pick = slice(None) if seed == "each" else slice(bench.seeds.index(seed), bench.seeds.index(seed) + 1)
        acc = bench.curves("val_acc", unique)[:, pick]  # (rows, seeds, epochs)
        bad = ~np.isfinite(acc)
        elapsed = bench.elapsed(unique)[:, pick]  # what a query charges; a stopped run stays at what it cost
    acc = np.where(bad, 0.0, acc)
    table = np.stack([acc, 1.0 - acc, elapsed, bad.astype(float)], axis=-1)[inverse]
    return BlackboxTabular(hyperparameters=hps, configuration_space=space,
                           fidelity_space={"epoch": randint(1, n)}, objectives_evaluations=table.astype(np.float32),
                           fidelity_values=np.arange(1, n + 1), objectives_names=list(OBJECTIVES))


def syne_tune_backend(blackbox, *, tuner_sleep_time: float | None = None, elapsed_time_attr: str = "elapsed_time",
                      **kwargs):
    """A syne-tune ``UserBlackboxBackend`` for ``blackbox`` (:func:`syne_tune_blackbox`) whose simulated clock
    counts only the table's training time and the tuner's step: not the real seconds that syne-tune's tuner and
    scheduler spend, and no fixed delay at a trial's start, reports and stop (module docstring). With
    ``np.random.seed(s)`` before ``tuner.run()``, a run gives the same trials, times and best configuration
    every time.

    Args:
        blackbox: a blackbox of :func:`syne_tune_blackbox`.
        tuner_sleep_time: simulated seconds between the tuner's steps (a free worker waits at most that long
            for its next trial); default: a twentieth of the median first epoch's time.
        elapsed_time_attr: the blackbox's time objective.
        kwargs: further arguments of ``UserBlackboxBackend`` (``seed``, ``support_checkpointing``, ...).

    Raises:
        MissingExtraError: syne-tune is not installed, or its simulator no longer has the step this backend
            replaces (a syne-tune release this one does not know).
    """
    try:
        from syne_tune.backend.simulator_backend.simulator_backend import SimulatorConfig
        from syne_tune.blackbox_repository.simulated_tabular_backend import UserBlackboxBackend
    except ImportError as e:
        raise MissingExtraError("the syne-tune backend needs syne-tune: pip install syne-tune") from e
    if not callable(getattr(UserBlackboxBackend, "_advance_by_outside_time", None)):
        raise MissingExtraError("this syne-tune release's simulator has no _advance_by_outside_time step to replace: "
                                "actbench's backend supports syne-tune 0.16 (pip install 'syne-tune>=0.16,<0.17')")
    if tuner_sleep_time is None:
        i = list(blackbox.objectives_names).index(elapsed_time_attr)
        first = np.asarray(blackbox.objectives_evaluations)[:, :, 0, i]
        tuner_sleep_time = max(float(np.median(first[first > 0])) / 20, 1e-6) if (first > 0).any() else 0.01

    class TrainingTimeBackend(UserBlackboxBackend):
        def _advance_by_outside_time(self) -> None:  # the simulated clock counts training time only
            pass

    return TrainingTimeBackend(blackbox, elapsed_time_attr=elapsed_time_attr, tuner_sleep_time=tuner_sleep_time,
                               simulator_config=SimulatorConfig(0.0, 0.0, 0.0, 0.0, 0.0), **kwargs)
