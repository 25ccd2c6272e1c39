"""One objective for every optimiser (:class:`Objective`), in the convention HPO benchmark suites share
(HPOBench's ``get_configuration_space``, ``get_fidelity_space``, ``objective_function`` and
``objective_function_test``), and callable the way SMAC, Optuna and DEHB call their targets.

What it answers, whoever calls it:

- **the value**: the validation error ``1 - val_acc`` to minimise (``direction="maximize"``: ``val_acc``). A
  run that diverged, or a value the table is missing, is the **worst value**: error 1.0 (accuracy 0.0),
  never NaN, and ``info`` says which (``diverged``, ``missing``, and ``val_acc`` as the table has it).
- **the cost**: the simulated seconds this call added to the table's budget (``info["charged_s"]``, the
  same number), by the one cost rule of :mod:`actbench.query.cost` whatever the fidelity's spelling
  (``None``, ``10``, ``10.0``, ``{"epoch": 10}`` are one fidelity): a function's first evaluation costs
  training it to that epoch (``info["cost_s"]``: its runtime's share up to the epoch, the whole run at the
  last epoch or when it stopped earlier; the table's median where its runtime is unknown,
  ``info["runtime_known"]`` False); a later epoch of it costs the seconds between; an equivalent
  configuration, a repeat or an earlier epoch costs 0.
- **the budget**: every call charges ``bench.budget`` as :meth:`actbench.ActBench.query` does: a function is
  one evaluation however many equivalent configurations name it. With ``max_evaluations`` (distinct functions) or ``max_seconds`` (simulated
  seconds), :attr:`Objective.exhausted` turns True when they are spent, :attr:`Objective.stopper` stops SMAC
  and Optuna there, and a further new evaluation raises :class:`actbench.base.errors.BudgetExhausted`
  (functions already evaluated are still answered, free).

>>> from actbench import ActBench
>>> from actbench.interop import Objective
>>> objective = Objective(ActBench("mini"), max_evaluations=2)
>>> r = objective.objective_function({"binary": "mul", "unary_1": "identity", "unary_2": "sigmoid"})
>>> info = r["info"]
>>> round(r["function_value"], 4), info["function"]
(0.0539, 'sub(swish(x),zero(x))')
>>> round(objective("swish(x)"), 4)   # a name works too; the same function: not charged again
0.0539
>>> objective.budget.evaluations, objective.exhausted
(1, False)
>>> info["charged_s"] == r["cost"] == info["cost_s"] == objective.budget.seconds
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actbench.base.errors import BudgetExhausted, ConfigurationError, FidelityError
from actbench.base.text import plural
from actbench.interop.configspace import FIDELITY
from actbench.query.budget import check_limits
from actbench.query.epochs import whole_epoch
from actbench.query.slots import INDEX_PARAM, name_of, slot_params

__all__ = ["Evaluation", "Objective"]


@dataclass(frozen=True)
class Evaluation:
    """One answer of :class:`Objective`: ``value`` (to minimise or maximise, never NaN), ``cost`` (simulated
    seconds) and ``info`` (function, row, epoch, raw metrics, diverged/missing, what was charged)."""

    value: float
    cost: float
    info: dict[str, Any] = field(default_factory=dict)


class Objective:
    """A table as an objective function for external optimisers (module docstring).

    Args:
        bench: an :class:`actbench.ActBench`.
        direction: ``"minimize"`` (the value is the validation error ``1 - val_acc``; HPOBench's convention)
            or ``"maximize"`` (``val_acc``).
        seed: answer with that seed's run (one of ``bench.seeds``; its values and its cost) instead of the
            aggregate over seeds. The seeds that optimisers pass (SMAC's ``seed``, HPOBench's ``rng``) are
            ignored: they are not the table's.
        max_evaluations: distinct functions this objective may evaluate (a whole number, at least 1).
        max_seconds: simulated training seconds it may spend (finite, above 0; the evaluation that crosses the
            limit is made, as in :func:`actbench.search.run_search`).
        round_fidelity: accept fractional fidelities within 1..epochs (DEHB's ``10 / 9``, SMAC's ``3.33``) and
            answer at the next whole epoch (``info["epoch"]``); without it only whole numbers (``3`` or ``3.0``)
            are accepted.
        form: the parameters configurations use, ``"auto"`` or ``"index"`` (:mod:`actbench.query.slots`).
        optuna_pruning: called with an Optuna trial on a table with learning curves, report the value after
            every epoch and stop when Optuna's pruner says so (``optuna.TrialPruned``), so that Optuna's
            Hyperband and median pruners see the curve; the trial is charged up to the epoch it reached.

    The table's budget starts from zero (as :func:`actbench.search.run_search` starts it).
    """

    def __init__(self, bench, *, direction: str = "minimize", seed: int | None = None,
                 max_evaluations: int | None = None, max_seconds: float | None = None,
                 round_fidelity: bool = False, form: str = "auto", optuna_pruning: bool = False) -> None:
        if direction not in ("minimize", "maximize"):
            raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
        check_limits(max_evaluations, max_seconds)
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or seed not in (bench.seeds or [])):
            raise ValueError(f"seed {seed!r} is not one of the table's seeds ({bench.seeds}); seed=None answers "
                             "with the aggregate over seeds")
        self.bench, self.direction, self.seed = bench, direction, seed
        self.max_evaluations, self.max_seconds = max_evaluations, max_seconds
        self.round_fidelity, self.form, self.optuna_pruning = round_fidelity, form, optuna_pruning
        self._slots = slot_params(bench, form)
        self.calls = 0  #: evaluations answered (trials of the optimiser), however many were new functions
        self.refused = 0  #: calls refused: a bad configuration or fidelity, or a new evaluation past the budget
        #: the ``info`` of every evaluation, in order (what an optimiser asked, and what it was charged)
        self.history: list[dict[str, Any]] = []
        bench.budget.reset()

    # --- what it is ------------------------------------------------------------------------------

    @property
    def worst(self) -> float:
        """The value of a diverged or missing run: 1.0 when minimising the error, 0.0 when maximising."""
        return 1.0 if self.direction == "minimize" else 0.0

    @property
    def budget(self):
        """The table's :class:`actbench.Budget`: distinct functions evaluated and simulated seconds."""
        return self.bench.budget

    @property
    def exhausted(self) -> bool:
        """True once ``max_evaluations`` functions or ``max_seconds`` seconds are spent."""
        b = self.bench.budget
        return ((self.max_evaluations is not None and b.evaluations >= self.max_evaluations)
                or (self.max_seconds is not None and b.seconds >= self.max_seconds))

    @property
    def stopper(self) -> _Stopper:
        """Stops an optimiser once :attr:`exhausted`: a SMAC callback (``HPOFacade(..., callbacks=[
        objective.stopper])``) and an Optuna callback (``study.optimize(..., callbacks=[objective.stopper])``)."""
        return _Stopper(self)

    def best(self, epoch: int | None = None) -> dict[str, Any] | None:
        """The ``info`` of the best function evaluated so far at ``epoch`` (highest validation accuracy; ties:
        the first evaluated), or None when no evaluation at that epoch has a value: what an optimiser found,
        on the table's terms. ``epoch=None`` is the deepest epoch evaluated so far: the end of training for a
        single-fidelity optimiser, the optimiser's maximum fidelity for a multi-fidelity one (DEHB with
        ``max_fidelity=9`` is judged at epoch 9)."""
        if epoch is None:
            epoch = max((h["epoch"] for h in self.history), default=None)
        done = [h for h in self.history if h["epoch"] == epoch and h["val_acc"] == h["val_acc"]]
        return max(done, key=lambda h: h["val_acc"]) if done else None

    def get_configuration_space(self, seed: int | None = None):
        """The functions as a ConfigSpace (:func:`actbench.interop.configspace`)."""
        from actbench.interop.configspace import configspace

        return configspace(self.bench, seed=seed, form=self.form)

    def get_fidelity_space(self, seed: int | None = None):
        """The epochs as a ConfigSpace (:func:`actbench.interop.fidelity_space`)."""
        from actbench.interop.configspace import fidelity_space

        return fidelity_space(self.bench, seed=seed)

    @property
    def fidelity_range(self) -> tuple[int, int] | None:
        """(1, epochs) as plain numbers, or None on a table without learning curves."""
        return (1, int(self.bench.epochs)) if self.bench.epochs else None

    def get_meta_information(self) -> dict[str, Any]:
        """What the benchmark is (HPOBench's ``get_meta_information``)."""
        info = self.bench.info
        return {"name": f"actbench-{self.bench.name}", "functions": len(self.bench), "space": info.space,
                "seeds": self.bench.seeds, "epochs": self.bench.epochs, "aggregation": info.aggregation,
                "description": info.description, "value": self._value_words()}

    def _value_words(self) -> str:
        return ("validation error 1 - val_acc (1.0 for a diverged or missing run)" if self.direction == "minimize"
                else "validation accuracy val_acc (0.0 for a diverged or missing run)")

    # --- evaluating ------------------------------------------------------------------------------

    def function(self, config) -> str:
        """The function a configuration names: a name or Expr, a dict or ConfigSpace configuration of the
        space's parameters (:func:`actbench.query.slots.name_of`)."""
        if isinstance(config, str) or hasattr(config, "op"):
            return str(config)
        if isinstance(config, Mapping) or hasattr(config, "keys"):
            return name_of(self.bench, {k: config[k] for k in config.keys() if k != FIDELITY})
        raise TypeError(f"a configuration is a function name, a dict or a ConfigSpace configuration, got "
                        f"{type(config).__name__}")

    def evaluate(self, config, fidelity=None) -> Evaluation:
        """The value, cost and info of ``config`` at ``fidelity`` (epochs: a number, ``{"epoch": k}``, a
        ConfigSpace configuration, or None for the end of training; a configuration may carry the fidelity
        as its ``"epoch"`` key instead); charged to the budget.

        Raises:
            BudgetExhausted: a new evaluation after the budget is spent.
            ConfigurationError: a configuration that names no function of the table's space.
            FidelityError: a fidelity outside 1..epochs or not whole (without ``round_fidelity``), two
                different fidelities (the argument and the configuration's key), or a fidelity on a table
                without learning curves.
        """
        try:
            name = self.function(config)
            epoch = self._epoch(self._fidelity_of(config, fidelity))
        except (ValueError, TypeError):
            self.refused += 1
            raise
        b = self.bench.budget
        row = self.bench.resolver.resolve(name).row
        spent, paid = self.exhausted, b.paid(row)
        n, s = b.evaluations, b.seconds
        rec = self.bench.query(name, seed=self.seed, epoch=epoch)
        if spent and (b.evaluations > n or b.seconds > s):
            b.refund(row, paid)
            self.refused += 1
            raise BudgetExhausted(
                f"the objective's budget is spent ({plural(b.evaluations, 'function')}, {b.seconds:.1f} simulated "
                f"seconds; max_evaluations={self.max_evaluations}, max_seconds={self.max_seconds}): stop the "
                "optimiser (objective.stopper, or check objective.exhausted)", evaluations=b.evaluations,
                seconds=b.seconds)
        self.calls += 1
        val = rec.val_acc
        bad = val != val
        value = self.worst if bad else (1.0 - val if self.direction == "minimize" else val)
        charged = b.seconds - s
        info = {"function": rec.representative, "row": rec.row, "epoch": rec.epoch or self.bench.epochs,
                "val_acc": val, "test_acc": rec.test_acc, "val_loss": rec.val_loss, "diverged": rec.diverged,
                "missing": list(rec.missing), "worst_value": bool(bad), "runtime_known": rec.runtime_s == rec.runtime_s,
                "cost_s": rec.cost_s, "charged_s": charged, "new": b.evaluations > n,
                "evaluations": b.evaluations, "seconds": b.seconds}
        self.history.append(info)
        return Evaluation(float(value), float(charged), info)

    def _fidelity_of(self, config, fidelity):
        """The fidelity of a call: the argument, or the configuration's ``"epoch"`` key; both must agree."""
        carried = config[FIDELITY] if not isinstance(config, str) and hasattr(config, "keys") \
            and FIDELITY in config.keys() else None
        if carried is None:
            return fidelity
        if fidelity is not None and self._epoch(fidelity) != self._epoch(carried):
            raise FidelityError(f"two fidelities: {fidelity!r} as the argument and {FIDELITY}={carried!r} in the "
                                "configuration; give one")
        return carried

    def _epoch(self, fidelity) -> int | None:
        if fidelity is None:
            return None
        if isinstance(fidelity, Mapping) or hasattr(fidelity, "keys"):
            keys = list(fidelity.keys())
            if keys != [FIDELITY]:
                raise FidelityError(f"a fidelity is {{'epoch': k}}, got the keys {keys}")
            fidelity = fidelity[FIDELITY]
        e = self.bench.epochs
        if not e:
            raise FidelityError(f"{self.bench.name!r} has no learning curves, so no fidelity: evaluate without one")
        if self.round_fidelity and isinstance(fidelity, (int, float, np.integer, np.floating)) \
                and not isinstance(fidelity, (bool, np.bool_)) and not float(fidelity).is_integer():
            if not (np.isfinite(fidelity) and 1 - 1e-9 <= fidelity <= e + 1e-9):
                raise FidelityError(f"fidelity {fidelity!r} is outside the table's epochs 1..{e}; round_fidelity "
                                    "rounds a fidelity within them up to the next whole epoch")
            return min(math.ceil(float(fidelity) - 1e-9), e)
        return whole_epoch(fidelity, e)  # whole numbers in 1..epochs, or FidelityError saying what to do

    # --- the conventions of optimisers ------------------------------------------------------------

    def objective_function(self, configuration, fidelity=None, rng=None, **kwargs) -> dict[str, Any]:
        """HPOBench's call: ``{"function_value", "cost", "info"}`` of ``configuration`` at ``fidelity``
        (``rng`` and other arguments are accepted and ignored)."""
        e = self.evaluate(configuration, fidelity)
        return {"function_value": e.value, "cost": e.cost, "info": e.info}

    def objective_function_test(self, configuration, fidelity=None, rng=None, **kwargs) -> dict[str, Any]:
        """HPOBench's test call: the test error (or accuracy) at the end of training, for reporting an
        incumbent. Free: not charged, not for the optimiser to learn from. ``fidelity`` must be None or the
        last epoch (test values exist only there)."""
        if fidelity is not None and self._epoch(fidelity) not in (None, self.bench.epochs):
            raise FidelityError(f"test values exist only at the end of training (epoch {self.bench.epochs})")
        name = self.function(configuration)
        row = self.bench.resolver.resolve(name).row
        if self.seed is None:
            test = float(self.bench.metric("test_acc")[row])
        else:
            test = float(self.bench.per_seed("test_acc")[row, self.bench.seeds.index(self.seed)])
        cost = self.bench.cost(name, seed=self.seed)  # what training it costs (the rule); free, not charged
        bad = test != test
        value = self.worst if bad else (1.0 - test if self.direction == "minimize" else test)
        return {"function_value": float(value), "cost": cost,
                "info": {"function": self.bench.resolver.name(row), "row": row, "test_acc": test, "worst_value": bad,
                         "cost_s": cost, "charged_s": 0.0}}

    def __call__(self, config, seed: int | None = None, budget: float | None = None) -> float:
        """The value of ``config``: a name, dict or ConfigSpace configuration (``seed`` is ignored, ``budget`` is
        the fidelity in epochs), or an Optuna trial (Optuna's objective: the parameters are suggested from the
        space; with ``optuna_pruning`` the curve is reported epoch by epoch)."""
        if hasattr(config, "suggest_categorical"):
            return self._optuna(config)
        return self.evaluate(config, budget).value

    def smac(self, config, seed: int = 0) -> float:
        """SMAC's target function (``HyperparameterOptimizationFacade(scenario, objective.smac)``): the value of
        a configuration at the end of training; SMAC's ``seed`` is ignored."""
        return self.evaluate(config).value

    def smac_multifidelity(self, config, seed: int = 0, budget: float | None = None) -> float:
        """SMAC's target function for its multi-fidelity facades (``MultiFidelityFacade``,
        ``HyperbandFacade``), with ``Scenario(min_budget=1, max_budget=bench.epochs)``: ``budget`` is epochs.
        SMAC's successive-halving budgets are fractions (1.11, 3.33 and 10 for 10 epochs): create the objective
        with ``round_fidelity=True`` so that they train to the next whole epoch; without it, SMAC records the
        fractional ones as crashed trials."""
        return self.evaluate(config, budget).value

    def dehb(self, config, fidelity=None, **kwargs) -> dict[str, Any]:
        """DEHB's call: ``{"fitness", "cost", "info"}`` (fitness minimised; create the objective with
        ``direction="minimize"``, the default, and ``round_fidelity=True`` unless DEHB's fidelities are whole)."""
        e = self.evaluate(config, fidelity)
        return {"fitness": e.value if self.direction == "minimize" else -e.value, "cost": e.cost, "info": e.info}

    def _optuna(self, trial) -> float:
        study = getattr(trial, "study", None)
        directions = [d.name.lower() for d in getattr(study, "directions", [])] if study is not None else []
        if directions and directions != [self.direction]:
            raise ConfigurationError(
                f"the Optuna study {'maximizes' if directions == ['maximize'] else 'has directions ' + str(directions)}"
                f" but this objective's value is to {self.direction} ({self._value_words()}): create the study with "
                f"direction={self.direction!r}, or the objective with direction={directions[0]!r}")
        if self._slots is None:
            params = {INDEX_PARAM: trial.suggest_int(INDEX_PARAM, 0, len(self.bench) - 1)}
        else:
            params = {p: trial.suggest_categorical(p, list(choices)) for p, choices in self._slots[1]}
        if not (self.optuna_pruning and self.bench.epochs):
            e = self.evaluate(params)
        else:
            import optuna

            for k in range(1, int(self.bench.epochs) + 1):
                e = self.evaluate(params, k)
                trial.report(e.value, k)
                if k < self.bench.epochs and trial.should_prune():
                    _user_attrs(trial, e)
                    raise optuna.TrialPruned(f"pruned after epoch {k}")
        _user_attrs(trial, e)
        return e.value


def _user_attrs(trial, e: Evaluation) -> None:
    for k in ("function", "epoch", "val_acc", "test_acc", "diverged"):
        v = e.info[k]
        trial.set_user_attr(k, None if isinstance(v, float) and v != v else v)
    trial.set_user_attr("cost_s", e.cost)


class _Stopper:
    """Stops an optimiser once its objective's budget is spent: SMAC calls ``on_tell_end`` after each trial
    (False stops it), Optuna calls the object itself with the study (``study.stop()``)."""

    def __init__(self, objective: Objective) -> None:
        self._objective = objective

    def __call__(self, study, trial) -> None:  # Optuna's callback
        if self._objective.exhausted:
            study.stop()

    def on_tell_end(self, smbo, info, value) -> bool | None:  # SMAC's callback
        return False if self._objective.exhausted else None

    # SMAC calls every hook of a callback; the others do nothing
    def on_start(self, smbo) -> None: ...
    def on_end(self, smbo) -> None: ...
    def on_iteration_start(self, smbo) -> None: ...
    def on_iteration_end(self, smbo) -> None: ...
    def on_next_configurations_start(self, config_selector) -> None: ...
    def on_next_configurations_end(self, config_selector, config) -> None: ...
    def on_ask_start(self, smbo) -> None: ...
    def on_ask_end(self, smbo, info) -> None: ...
    def on_tell_start(self, smbo, info, value) -> bool | None: ...
