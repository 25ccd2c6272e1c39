"""Keep an offline search in an Optuna storage (:func:`save_study`), so that the Optuna dashboard, Optuna's
visualisations and any code that reads Optuna studies show it. Needs the ``optuna`` extra; never PyTorch.

One trial per distinct function, in the order the search evaluated them: its parameters (the operator slots,
or the row index: :func:`actbench.search.params.search_space`), its value (the validation accuracy; 0.0 for a
run that diverged, with the user attribute ``diverged``), and as user attributes the ``function`` (the row's
representative), ``test_acc``, ``cost_s`` (simulated seconds charged for it) and ``wall_s`` (when its result
arrived on the simulated clock). A function that a multi-fidelity strategy evaluated at several epochs is one
trial with the values at those epochs as intermediate values: COMPLETE when it reached the last epoch,
PRUNED otherwise. The study's user attributes say which table, strategy, seed and budget.

A storage given as a URL is opened for the call and closed when it returns (its database connections too);
a storage object given by the caller is the caller's to close.

>>> import optuna
>>> from actbench import ActBench
>>> from actbench.search import run_search
>>> result = run_search(ActBench("mini"), "random", budget=5, seed=0, storage="sqlite:///:memory:")
>>> result.study
'mini-random-seed0'
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from actbench._version import __version__
from actbench.base.errors import MissingExtraError

try:
    import optuna
    from optuna.trial import TrialState, create_trial
except ImportError as e:  # pragma: no cover - exercised by a test that hides optuna
    raise MissingExtraError("keeping a search in an Optuna storage needs optuna: pip install 'actbench[optuna]'") from e

from actbench.search.params import params_of, search_space

__all__ = ["default_study_name", "save_study", "study_name_free"]


@contextmanager
def opened(storage) -> Iterator:
    """``storage`` as an Optuna storage for the duration of a ``with`` block: a URL is opened
    (:func:`actbench.sources.study.open_storage`) and closed with its connections at the end; a storage object
    is passed through, left open."""
    if not isinstance(storage, str):
        yield storage
        return
    from actbench.sources.study import close_storage, open_storage

    store = open_storage(storage)
    try:
        yield store
    finally:
        close_storage(store)


def study_name_free(storage, name: str) -> None:
    """Raise ValueError when ``storage`` holds a study named ``name`` (checked before a search runs)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with opened(storage) as store:
        taken = name in optuna.study.get_all_study_names(store)
    if taken:
        raise ValueError(f"the storage holds a study named {name!r} already: give another study name "
                         "(run_search(..., study_name=NAME); on the command line, actbench search --study-name "
                         "PREFIX) or delete it (optuna delete-study --study-name ...)")


def default_study_name(bench, strategy: str, seed: int) -> str:
    """``<table>-<strategy>-seed<seed>``: the study a search is kept in unless named."""
    return f"{bench.name}-{strategy}-seed{seed}"


def save_study(result, bench, storage, study_name: str | None = None, *, budget: int | None = None) -> optuna.Study:
    """Write ``result`` (a :class:`actbench.search.SearchResult` on ``bench``) as a new study in ``storage`` (a
    URL such as ``sqlite:///searches.db`` or ``postgresql://...``, opened and closed here, or an Optuna storage
    object, left open). Returns the study (on a URL's storage, its connections are closed: reading it again
    opens new ones).

    Raises:
        ValueError: a study of that name exists already in the storage (nothing is written).
    """
    with opened(storage) as store:
        return _save(result, bench, store, study_name or default_study_name(bench, result.strategy, result.seed),
                     budget)


def _save(result, bench, storage, name: str, budget: int | None) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    except optuna.exceptions.DuplicatedStudyError:
        study_name_free(storage, name)  # raises with what to do
        raise
    study.set_user_attr("benchmark", bench.name)
    study.set_user_attr("strategy", result.strategy)
    study.set_user_attr("seed", int(result.seed))
    study.set_user_attr("budget", budget)
    study.set_user_attr("value", "val_acc (0.0 for a run that diverged)")
    study.set_user_attr("actbench_version", __version__)
    space = search_space(bench)
    last = int(bench.epochs or 0)
    by_row: dict[int, dict] = {}
    for k, rep in enumerate(result.names):
        row = bench.resolver.resolve(rep).row
        t = by_row.setdefault(row, {"function": rep, "steps": [], "cost": 0.0, "test": math.nan, "wall": 0.0})
        epoch = int(result.epochs[k]) if result.epochs is not None else 0
        t["steps"].append((epoch, float(result.val_acc[k])))
        prev = float(result.seconds[k - 1]) if k else 0.0
        t["cost"] += float(result.seconds[k]) - prev
        t["wall"] = float(result.wall[k])
        if epoch in (0, last):
            t["test"] = float(result.test_acc[k])
    trials = []
    for row, t in by_row.items():
        params = params_of(bench, row)
        final = [v for e, v in t["steps"] if e in (0, last)]
        diverged = any(math.isnan(v) for _, v in t["steps"])
        attrs = {"function": t["function"], "test_acc": None if math.isnan(t["test"]) else t["test"],
                 "cost_s": t["cost"], "wall_s": t["wall"], "diverged": diverged}
        inter = {e: (0.0 if math.isnan(v) else v) for e, v in t["steps"] if e not in (0, last)}
        trials.append(create_trial(
            state=TrialState.COMPLETE if final else TrialState.PRUNED,
            value=(0.0 if math.isnan(final[-1]) else final[-1]) if final else None,
            params=params, distributions={p: space[p] for p in params}, user_attrs=attrs,
            intermediate_values=inter or None))
    study.add_trials(trials)
    return study
