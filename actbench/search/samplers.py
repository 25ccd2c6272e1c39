"""The paper's search as an Optuna sampler, a table's space for Optuna and ConfigSpace, and Optuna samplers
benchmarked offline (needs the ``optuna`` extra; :func:`configspace` needs ``ConfigSpace``).

A table's functions become Optuna parameters as :mod:`actbench.search.params` describes (slots, or a row
index), and those helpers are importable from here too.

:class:`SurrogateSampler` is the paper's search (:class:`actbench.search.SurrogateSearch`: the 8
baselines first, then the unevaluated candidate with the best prediction of a regressor on the cached
embedding) as an Optuna sampler. Before each choice it reads the study's trials: finished ones are
evaluated functions, running and waiting ones are never proposed again (nor any function equivalent to
them), so that workers sharing a study never train the same function twice or at once. Run serially with
the same seed, it makes the same choices as ``SurrogateSearch`` in :func:`actbench.search.run_search`.

In our own searches the objective's value is the validation accuracy, and 0.0 for a function whose training
diverged. In a study of yours, :class:`SurrogateSampler` follows the study's direction, learns from trials
that suggest other parameters too (a joint search), and counts failed and pruned trials as the worst value
(its docstring says exactly how it reads a study).

>>> import optuna
>>> from actbench import ActBench
>>> from actbench.search.samplers import SurrogateSampler, name_of, search_space
>>> bench = ActBench("mini")
>>> space = search_space(bench)
>>> sorted(space)
['binary', 'unary_1', 'unary_2']
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> study = optuna.create_study(direction="maximize", sampler=SurrogateSampler(bench, "knr", "fim", seed=0))
>>> def objective(trial):
...     rec = bench.query(name_of(bench, {k: trial.suggest_categorical(k, d.choices) for k, d in space.items()}))
...     return 0.0 if rec.val_acc != rec.val_acc else rec.val_acc
>>> study.optimize(objective, n_trials=12)
>>> len(study.trials), round(study.best_value, 4) > 0.9
(12, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from actbench.base.errors import MissingExtraError

try:
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution
    from optuna.samplers import BaseSampler
    from optuna.study import StudyDirection
    from optuna.trial import FrozenTrial, TrialState
except ImportError as e:  # pragma: no cover - exercised by a test that hides optuna
    raise MissingExtraError("Optuna samplers need optuna: pip install 'actbench[optuna]'") from e

from actbench.search.params import (INDEX_PARAM, configspace, name_of, params_of,  # noqa: F401 (re-exported)
                                    row_of_trial, search_space)

__all__ = ["OPTUNA_SAMPLERS", "OptunaStrategy", "SurrogateSampler", "configspace", "make_sampler", "name_of",
           "params_of", "row_of_trial", "search_space"]

#: Optuna samplers by name (:func:`make_sampler`): Optuna's TPE and random, and ours as an Optuna sampler.
OPTUNA_SAMPLERS = ("tpe", "random", "knr", "rf", "svr")


class SurrogateSampler(BaseSampler):
    """The paper's surrogate search as an Optuna sampler.

    Args:
        bench: the table (or feature table) whose rows are the candidates; only its names and pre-training
            features are read, never its metrics.
        regressor: ``"knr"``, ``"rf"`` or ``"svr"``.
        features: ``"fim"``, ``"outputs"`` or ``"both"``.
        seed: seeds the regressor and the tie-breaking (or ``rng``, a NumPy generator used as is).
        embedding_seed: the UMAP seed of the cached embedding.
        embedding: an (n_rows, d) array to use instead of the cached UMAP embedding (a study computes its
            own once and stores it).
        form: the parameters it proposes, ``"auto"`` or ``"index"`` (:func:`search_space`).
        objective: in a multi-objective study, the index of the value it learns from.
        independent_sampler: the Optuna sampler of every other parameter a trial suggests (default: Optuna's
            ``RandomSampler``, seeded from ``seed``).

    How it reads a study (before each choice, every trial but the one being sampled):

    * **Which function.** A trial names a row by its activation parameters (:func:`search_space`); any other
      parameters it has (a learning rate, a width: a *joint* search) are ignored for that, and are sampled by
      ``independent_sampler``.
    * **Its value.** The study's direction is followed: a ``COMPLETE`` trial's value is learned as it is when
      the study maximises and negated when it minimises, so that the surrogate always predicts "better".
      Only the order of values matters to the choice (k-NN and random forests average neighbours' values,
      so any positive scale or offset, e.g. an error in percent, gives the same choices). A multi-objective
      study needs ``objective=i``: the index of the value to learn from (with that objective's direction).
    * **Failed and pruned functions** count as the worst: a ``FAIL`` trial (the objective raised, or returned
      NaN, which Optuna records as a failure; or our studies' ``error``) and a ``PRUNED`` trial (the objective
      raised ``TrialPruned``) are learned as the worst value the study has completed so far, and never as
      better than 0 in a maximising study (a diverged run's accuracy); in a minimising study with no completed
      trial yet, the function is held back (never proposed) until a value is known. Either way it is never
      proposed again.
    * **Not counted**: trials of our own studies that its workers refused (``PRUNED`` with the user attribute
      ``duplicate_of`` or ``over_budget``) or lost (``FAIL`` trials re-queued by a retry, which names them in
      its ``retry_history``).
    * **Pending**: ``RUNNING`` and ``WAITING`` trials; their functions (and equivalent ones) are never
      proposed, so that workers sharing a study never train one function twice or at once.

    Raises:
        ValueError: an unknown regressor or feature set, or an embedding of the wrong shape; when sampling, a
            multi-objective study without ``objective``, or an ``objective`` the study does not have.
    """

    def __init__(self, bench, regressor: str = "knr", features: str = "both", *, seed: int | None = None,
                 rng: np.random.Generator | None = None, embedding_seed: int = 0,
                 embedding: np.ndarray | None = None, form: str = "auto", objective: int | None = None,
                 independent_sampler: BaseSampler | None = None) -> None:
        from actbench.search.base import SearchSpace
        from actbench.search.strategies import SurrogateSearch

        self._bench = bench
        self._strategy = SurrogateSearch(regressor, features, embedding_seed=embedding_seed)
        self._rng = rng if rng is not None else np.random.default_rng(seed)
        self._seed = seed
        space = SearchSpace.of(bench)
        if embedding is not None:
            emb = np.asarray(embedding, dtype=np.float64)
            if emb.ndim != 2 or len(emb) != len(bench) or not np.isfinite(emb).all():
                raise ValueError(f"embedding must be a finite ({len(bench)}, d) array, got shape {emb.shape}")
            space = space.with_embedding(emb)
        self._space = space
        self._ready = False
        self._told: set[int] = set()  # trial numbers whose result the strategy has seen
        self._rows: dict[int, int | None] = {}  # trial number -> row, once its parameters are set
        self._worst = np.inf  # the worst completed value so far, oriented so that larger is better
        self._form = form
        self._search_space = search_space(bench, form)
        self._objective = objective
        self._independent = independent_sampler

    def _setup(self) -> None:
        if not self._ready:
            self._strategy.setup(self._space, self._rng)
            self._ready = True

    def infer_relative_search_space(self, study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self._search_space)

    def sample_relative(self, study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        self._setup()
        index, maximize = self._orientation(study)
        trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
        pending: set[int] = set()
        failed: list[tuple[int, int]] = []
        for t in trials:
            if t.number == trial.number:
                continue
            row = self.trial_row(t)
            if row is None:
                continue
            kind = _reading(t, retried)
            if kind == "pending":
                pending.add(row)
            elif kind == "failed" and t.number not in self._told:
                failed.append((t.number, row))
            elif kind == "value" and t.number not in self._told:
                self._told.add(t.number)
                value = float(t.values[index]) if maximize else -float(t.values[index])
                self._worst = min(self._worst, value)
                self._strategy.tell(self._bench.resolver.name(row), value)
        for number, row in failed:  # the worst value so far (never above 0 when maximising)
            worst = min(0.0, self._worst) if maximize else self._worst
            if not np.isfinite(worst):  # minimising, nothing completed yet: held back until a value is known
                pending.add(row)
                continue
            self._told.add(number)
            self._strategy.tell(self._bench.resolver.name(row), worst)
        try:
            row = self._strategy.next_row(pending)
        except IndexError:
            return {}  # nothing left: the trial samples independently (randomly) and the caller sees a repeat
        return params_of(self._bench, row, self._form)

    def _orientation(self, study) -> tuple[int, bool]:
        """(index of the value learned from, whether the study maximises it)."""
        directions = study.directions
        index = self._objective
        if index is None:
            if len(directions) > 1:
                raise ValueError(f"this study has {len(directions)} objectives: pass SurrogateSampler(..., "
                                 f"objective=i) with the index (0..{len(directions) - 1}) of the value to learn from")
            index = 0
        if not isinstance(index, (int, np.integer)) or not 0 <= index < len(directions):
            raise ValueError(f"objective={index!r} is not an objective of this study (it has {len(directions)})")
        return int(index), directions[index] == StudyDirection.MAXIMIZE

    def trial_row(self, t: FrozenTrial) -> int | None:
        """The table row of a trial (None while it has no activation parameters yet, or they name no row).
        Other parameters of the trial (a joint search) play no part."""
        if t.number in self._rows:
            return self._rows[t.number]
        if not t.params or not set(self._search_space) <= set(t.params):
            return None
        row = self._rows[t.number] = row_of_trial(self._bench, {k: t.params[k] for k in self._search_space})
        return row

    def sample_independent(self, study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution) -> Any:
        if self._independent is None:  # seeded apart from the choices' generator, which it never draws from
            seed = (int(np.random.SeedSequence([self._seed, 1]).generate_state(1)[0] % 2**31)
                    if self._seed is not None else int(self._rng.integers(2**31)))
            self._independent = optuna.samplers.RandomSampler(seed=seed)
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def reseed_rng(self) -> None:  # Optuna calls this in forked workers; the choices stay the seed's
        pass


def make_sampler(name: str, bench, *, rng: np.random.Generator, features: str = "both") -> BaseSampler:
    """An Optuna sampler by name: ``tpe``, ``random`` (Optuna's), or ``knr`` / ``rf`` / ``svr``
    (:class:`SurrogateSampler`), seeded from ``rng``."""
    from actbench.base.text import did_you_mean

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=int(rng.integers(2**31)))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=int(rng.integers(2**31)))
    if name in ("knr", "rf", "svr"):
        return SurrogateSampler(bench, name, features, rng=rng)
    raise ValueError(f"unknown Optuna sampler {name!r}{did_you_mean(name, OPTUNA_SAMPLERS)}; "
                     f"samplers: {', '.join(OPTUNA_SAMPLERS)}")


class OptunaStrategy:
    """Any Optuna sampler as a :class:`actbench.search.Strategy`, so that :func:`run_search` benchmarks it on a
    table: each ``ask`` is an Optuna trial over :func:`search_space`, each ``tell`` completes it.

    Args:
        sampler: an Optuna sampler, or a callable ``(bench, rng) -> sampler`` (seeded per search), or one
            of the names of :func:`make_sampler` (``tpe``, ``random``, ``knr``, ``rf``, ``svr``).
        features: the feature set of a surrogate sampler given by name.
        name: the label in results (default ``optuna:<sampler>``).
    """

    def __init__(self, sampler, *, features: str = "both", name: str | None = None) -> None:
        if isinstance(sampler, str):
            if sampler not in OPTUNA_SAMPLERS:
                make_sampler(sampler, None, rng=np.random.default_rng(0))  # raises with the list
            label = sampler if sampler not in ("knr", "rf", "svr") else f"{sampler}-{features}"
        else:
            label = type(sampler).__name__ if isinstance(sampler, BaseSampler) else getattr(sampler, "__name__", "sampler")
        self._sampler, self._features = sampler, features
        self.name = name or f"optuna:{label}"

    def setup(self, space, rng: np.random.Generator) -> None:
        bench = space  # names, space and features: all a sampler may see
        s = self._sampler
        if isinstance(s, str):
            s = make_sampler(s, bench, rng=rng, features=self._features)
        elif not isinstance(s, BaseSampler):
            s = s(bench, rng)
        self._bench = bench
        self._space = search_space(bench)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._study = optuna.create_study(direction="maximize", sampler=s)
        self._open: dict[str, list] = {}

    def ask(self) -> str:
        trial = self._study.ask()
        params = {}
        for k, d in self._space.items():
            if isinstance(d, CategoricalDistribution):
                params[k] = trial.suggest_categorical(k, d.choices)
            else:
                params[k] = trial.suggest_int(k, d.low, d.high)
        name = name_of(self._bench, params)
        self._open.setdefault(name, []).append(trial)
        return name

    def tell(self, name: str, val_acc: float) -> None:
        trials = self._open.get(name)
        if not trials:
            return
        trial = trials.pop(0)
        self._study.tell(trial, 0.0 if np.isnan(val_acc) else float(val_acc))


def _reading(t: FrozenTrial, retried: set[int]) -> str | None:
    """How :class:`SurrogateSampler` counts a trial: ``"value"``, ``"failed"``, ``"pending"``, or None."""
    if t.state == TrialState.COMPLETE:
        return "value"
    if t.state in (TrialState.RUNNING, TrialState.WAITING):
        return "pending"
    if t.state == TrialState.PRUNED:
        return None if ("duplicate_of" in t.user_attrs or "over_budget" in t.user_attrs) else "failed"
    if t.state == TrialState.FAIL:
        return None if (t.number in retried and "error" not in t.user_attrs) else "failed"
    return None
