"""The paper's search as an Optuna sampler, a table's space for Optuna and ConfigSpace, and Optuna samplers
benchmarked offline (needs the ``optuna`` extra; :func:`configspace` needs ``ConfigSpace``).

A table's functions become Optuna parameters in one of two ways (:func:`search_space`):

- **slots**, for a table whose space has one schema and no literal names (Act-Bench:
  ``binary(unary(x),unary(x))``): one categorical parameter per operator placeholder, named by its
  kind and, where a kind repeats, its position: ``binary``, ``unary_1``, ``unary_2``. Every combination
  names a function; equivalent combinations name the same row. Samplers that model parameters one at a
  time (TPE) can learn which operators do well.
- **index**, for any other table (the large space, a feature table of sampled candidates): one integer
  parameter ``function``, the row in the table's order. It works with every sampler; its order means
  nothing to a sampler that assumes neighbouring integers are alike.

:class:`SurrogateSampler` is the paper's search (:class:`actbench.search.SurrogateSearch`: the 8
baselines first, then the unevaluated candidate with the best prediction of a regressor on the cached
embedding) as an Optuna sampler. Before each choice it reads the study's trials: finished ones are
evaluated functions, running and waiting ones are never proposed again (nor any function equivalent to
them), so that workers sharing a study never train the same function twice or at once. Run serially with
the same seed, it makes the same choices as ``SurrogateSearch`` in :func:`actbench.search.run_search`.

The objective's value is the validation accuracy, and 0.0 for a function whose training diverged (NaN is
not a value Optuna can rank; the surrogate also treats divergence as 0).

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

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from actbench.base.errors import MissingExtraError

try:
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
    from optuna.samplers import BaseSampler
    from optuna.trial import FrozenTrial, TrialState
except ImportError as e:  # pragma: no cover - exercised by a test that hides optuna
    raise MissingExtraError("Optuna samplers need optuna: pip install 'actbench[optuna]'") from e

__all__ = ["OPTUNA_SAMPLERS", "OptunaStrategy", "SurrogateSampler", "configspace", "make_sampler", "name_of",
           "params_of", "row_of_trial", "search_space"]

INDEX_PARAM = "function"
OPTUNA_SAMPLERS = ("tpe", "random", "knr", "rf", "svr")


def _slots(bench) -> tuple[str, list[tuple[str, tuple[str, ...]]]] | None:
    """(schema, [(parameter, choices)]) of the table's space, or None when it has no slot form."""
    from actbench.lang.space import SPACES

    spec = SPACES.get(bench.info.space or "")
    if spec is None or len(spec.schemas) != 1 or spec.literals:
        return None
    schema = spec.schemas[0].replace("n-ary", "nary")
    kinds = re.findall(r"\b(unary|binary|nary)\(", schema)
    choices = {"unary": tuple(spec.unary), "binary": tuple(spec.binary), "nary": tuple(spec.nary)}
    counts = {k: kinds.count(k) for k in kinds}
    seen: dict[str, int] = {}
    params = []
    for k in kinds:
        seen[k] = seen.get(k, 0) + 1
        params.append((k if counts[k] == 1 else f"{k}_{seen[k]}", choices[k]))
    return schema, params


def search_space(bench, form: str = "auto") -> dict[str, BaseDistribution]:
    """The table's functions as Optuna distributions: ``form="auto"`` gives slots where the space allows,
    else the row index (module docstring); ``form="index"`` always the row index (for a table of sampled
    candidates, where most slot combinations name no row)."""
    if form not in ("auto", "index"):
        raise ValueError(f"form must be 'auto' or 'index', got {form!r}")
    slots = _slots(bench) if form == "auto" else None
    if slots is None:
        return {INDEX_PARAM: IntDistribution(0, len(bench) - 1)}
    return {name: CategoricalDistribution(choices) for name, choices in slots[1]}


def name_of(bench, params: Mapping[str, Any]) -> str:
    """The function a parameter set names (a table row's name for the index form).

    Raises:
        ValueError: parameters of another space, or an index outside the table.
    """
    if INDEX_PARAM in params:
        i = params[INDEX_PARAM]
        if not isinstance(i, (int, np.integer)) or not 0 <= i < len(bench):
            raise ValueError(f"{INDEX_PARAM}={i!r} is not a row of {bench.name!r} (0..{len(bench) - 1})")
        return bench.resolver.name(int(i))
    slots = _slots(bench)
    if slots is None or set(params) != {p for p, _ in slots[1]}:
        want = [p for p, _ in slots[1]] if slots else [INDEX_PARAM]
        raise ValueError(f"parameters {sorted(params)} do not name a function of {bench.name!r}; it takes {want}")
    schema, order = slots
    values = iter([params[p] for p, _ in order])
    return re.sub(r"\b(?:unary|binary|nary)(?=\()", lambda m: str(next(values)), schema)


def row_of_trial(bench, params: Mapping[str, Any]) -> int | None:
    """The table row a trial's parameters name, or None (a name the table cannot answer)."""
    if INDEX_PARAM in params:
        i = params[INDEX_PARAM]
        return int(i) if isinstance(i, (int, np.integer)) and 0 <= i < len(bench) else None
    try:
        hit = bench.resolver.find(name_of(bench, params))
    except ValueError:
        return None
    return None if hit is None else hit.row


def params_of(bench, row: int, form: str = "auto") -> dict[str, Any]:
    """Parameters that name table row ``row``: its own name's operators, or its index (see
    :func:`search_space` for ``form``)."""
    slots = _slots(bench) if form == "auto" else None
    if slots is None:
        return {INDEX_PARAM: int(row)}
    from actbench.lang.expr import parse

    schema, order = slots
    for name in (bench.resolver.name(row), *bench.resolver.equivalents(row)):
        ops = _operators(parse(name))
        if len(ops) == len(order) and all(o in choices for o, (_, choices) in zip(ops, order)):
            return {p: o for o, (p, _) in zip(ops, order)}
    raise ValueError(f"row {row} of {bench.name!r} has no name of the form {schema}")


def _operators(expr) -> list[str]:
    out: list[str] = []

    def walk(e) -> None:
        if e.args:
            out.append(e.op)
            for a in e.args:
                walk(a)

    walk(expr)
    return out


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

    Trials it reads: a ``COMPLETE`` trial is an evaluated function with its value; a ``FAIL`` trial with
    the user attribute ``error`` is a function that could not be trained (counted as 0, as divergence);
    ``RUNNING`` and ``WAITING`` trials are pending; other trials (pruned, or failed because their worker
    stopped heartbeating, which a retry re-queues) are ignored.

    Raises:
        ValueError: an unknown regressor or feature set, or an embedding of the wrong shape.
    """

    def __init__(self, bench, regressor: str = "knr", features: str = "both", *, seed: int | None = None,
                 rng: np.random.Generator | None = None, embedding_seed: int = 0,
                 embedding: np.ndarray | None = None, form: str = "auto") -> None:
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
        self._form = form
        self._search_space = search_space(bench, form)

    def _setup(self) -> None:
        if not self._ready:
            self._strategy.setup(self._space, self._rng)
            self._ready = True

    def infer_relative_search_space(self, study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self._search_space)

    def sample_relative(self, study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        self._setup()
        pending: set[int] = set()
        for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
            if t.number == trial.number:
                continue
            row = self.trial_row(t)
            if row is None:
                continue
            finished = t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and "error" in t.user_attrs)
            if finished:
                if t.number not in self._told:
                    self._told.add(t.number)
                    value = float(t.value) if t.state == TrialState.COMPLETE else 0.0
                    self._strategy.tell(self._bench.resolver.name(row), value)
            elif t.state in (TrialState.RUNNING, TrialState.WAITING):
                pending.add(row)
        try:
            row = self._strategy.next_row(pending)
        except IndexError:
            return {}  # nothing left: the trial samples independently (randomly) and the caller sees a repeat
        return params_of(self._bench, row, self._form)

    def trial_row(self, t: FrozenTrial) -> int | None:
        """The table row of a trial (None while it has no parameters yet, or names no row)."""
        if t.number in self._rows:
            return self._rows[t.number]
        if not t.params or set(t.params) != set(self._search_space):
            return None
        row = self._rows[t.number] = row_of_trial(self._bench, t.params)
        return row

    def sample_independent(self, study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution) -> Any:
        return optuna.samplers.RandomSampler(seed=int(self._rng.integers(2**31))).sample_independent(
            study, trial, param_name, param_distribution)

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


def configspace(bench, *, seed: int | None = None):
    """The table's space as a ConfigSpace ``ConfigurationSpace`` (for SMAC, DEHB and other ConfigSpace tools):
    the same parameters as :func:`search_space`, categorical slots or an integer ``function`` row index.
    :func:`name_of` turns a configuration (``dict(config)``) into the function it names."""
    try:
        from ConfigSpace import Categorical, ConfigurationSpace, Integer
    except ImportError as e:
        raise MissingExtraError("ConfigSpace export needs ConfigSpace: pip install 'actbench[optuna]'") from e
    cs = ConfigurationSpace(name=f"actbench-{bench.name}", seed=seed)
    for k, d in search_space(bench).items():
        if isinstance(d, CategoricalDistribution):
            cs.add(Categorical(k, list(d.choices)))
        else:
            cs.add(Integer(k, (d.low, d.high)))
    return cs
