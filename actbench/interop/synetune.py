"""A table as a syne-tune blackbox (:func:`syne_tune_blackbox`), so that syne-tune's simulator backend runs
its schedulers (ASHA, Hyperband, BOHB, BO, random search) on it with simulated time. Needs ``syne-tune``.

The blackbox is tabular: one configuration per combination of the operator slots (all 5,103 of Act-Bench's
schema, equivalent combinations answering with the same row's values), or one per row in the index form; the
fidelity is ``epoch`` (1 .. ``bench.epochs``); every seed of the table is a seed of the blackbox. Objectives,
per configuration, seed and epoch:

- ``val_acc``: validation accuracy, 0.0 where the run diverged or has no value (never NaN);
- ``val_error``: ``1 - val_acc`` (1.0 there);
- ``elapsed_time``: simulated seconds from the start of the run to the end of that epoch
  (:meth:`actbench.ActBench.elapsed`; after a run stopped, the seconds it ran);
- ``diverged``: 1.0 where the run had diverged by that epoch, else 0.0.

Unlike :class:`actbench.interop.Objective`, the simulation does not charge ``bench.budget``: syne-tune keeps
its own count of trials and time.
"""

from __future__ import annotations

import itertools

import numpy as np

from actbench.base.errors import MissingExtraError
from actbench.query.slots import INDEX_PARAM, name_of, slot_params

__all__ = ["OBJECTIVES", "syne_tune_blackbox"]

#: The objectives of the blackbox, in order.
OBJECTIVES = ("val_acc", "val_error", "elapsed_time", "diverged")


def syne_tune_blackbox(bench, *, form: str = "auto"):
    """``bench`` (with learning curves) as a ``syne_tune.blackbox_repository.BlackboxTabular``.

    Raises:
        ValueError: the table has no learning curves, or some slot combination names a function the table
            lacks (use ``form="index"``).
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
    acc = bench.curves("val_acc", unique)  # (rows, seeds, epochs)
    elapsed = bench.elapsed(unique)
    bad = ~np.isfinite(acc)
    acc = np.where(bad, 0.0, acc)
    # a stopped run's elapsed time stays at what it ran (forward fill along epochs; 0 before its first)
    filled = np.where(np.isnan(elapsed), -np.inf, elapsed)
    elapsed = np.maximum(np.maximum.accumulate(filled, axis=2), 0.0)
    table = np.stack([acc, 1.0 - acc, elapsed, bad.astype(float)], axis=-1)[inverse]
    return BlackboxTabular(hyperparameters=hps, configuration_space=space,
                           fidelity_space={"epoch": randint(1, n)}, objectives_evaluations=table.astype(np.float32),
                           fidelity_values=np.arange(1, n + 1), objectives_names=list(OBJECTIVES))
