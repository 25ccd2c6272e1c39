"""What external optimisers and actbench's own strategies find on a table at the same budget of distinct
functions (docs/optimizers.md): each run stops after BUDGET distinct functions (equivalent configurations
are one function), and is scored by the best validation accuracy among the functions it trained to the last
epoch, the test accuracy of that function, and the regret to the table's best validation accuracy.

    python docs/scripts/optimizers_table.py --budget 50 --seeds 10 --json docs/optimizers-mini.json

Optimisers whose package is missing are skipped (with a line saying so); ``--only NAME ...`` runs some and
merges them into an existing JSON (DEHB needs numpy < 2, so it runs from another environment:
``--only dehb``). The table is printed from the JSON (``--table`` prints it without running anything).

Nothing is silenced: every warning that an optimiser logs or raises is shown on stderr as it comes, and
counted per optimiser in the JSON and the table, as are the calls the objective refused (a trial an
optimiser records as crashed).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from actbench import ActBench
from actbench.interop import Objective
from actbench.search import make_strategy, run_search


def _ours(name):
    def run(bench, budget, seed):
        r = run_search(bench, make_strategy(name), budget=budget, seed=seed)
        return {"best_val": float(r.best_val[-1]), "best_test": float(r.best_test[-1]),
                "functions": bench.budget.evaluations, "trials": len(r.names), "refused": 0,
                "seconds": float(bench.budget.seconds)}
    return run


def _score(objective: Objective) -> dict:
    best = objective.best(epoch=objective.bench.epochs)  # judged at the end of training, as every row
    return {"best_val": best["val_acc"] if best else float("nan"), "best_test": best["test_acc"] if best else float("nan"),
            "functions": objective.budget.evaluations, "trials": objective.calls + objective.refused,
            "refused": objective.refused, "seconds": objective.budget.seconds}


def optuna_tpe(bench, budget, seed):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = Objective(bench, max_evaluations=budget)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=20 * budget, callbacks=[objective.stopper])
    return _score(objective)


def smac_hpo(bench, budget, seed):
    from smac import HyperparameterOptimizationFacade, Scenario

    objective = Objective(bench, max_evaluations=budget)
    with tempfile.TemporaryDirectory() as d:
        scenario = Scenario(objective.get_configuration_space(), deterministic=True, n_trials=20 * budget,
                            output_directory=Path(d), seed=seed)
        HyperparameterOptimizationFacade(scenario, objective.smac, callbacks=[objective.stopper], overwrite=True,
                                         logging_level=30).optimize()
    return _score(objective)


def smac_hyperband(bench, budget, seed):
    from smac import HyperbandFacade, Scenario

    objective = Objective(bench, max_evaluations=budget, round_fidelity=True)  # SMAC's budgets: 1.11, 3.33, 10
    with tempfile.TemporaryDirectory() as d:
        scenario = Scenario(objective.get_configuration_space(), deterministic=True, n_trials=20 * budget,
                            min_budget=1, max_budget=bench.epochs, output_directory=Path(d), seed=seed)
        HyperbandFacade(scenario, objective.smac_multifidelity, callbacks=[objective.stopper], overwrite=True,
                        logging_level=30).optimize()
    return _score(objective)


def dehb(bench, budget, seed):
    from dehb import DEHB

    objective = Objective(bench, max_evaluations=budget, round_fidelity=True)
    with tempfile.TemporaryDirectory() as d:
        opt = DEHB(f=objective.dehb, cs=objective.get_configuration_space(seed=seed), min_fidelity=1,
                   max_fidelity=bench.epochs, n_workers=1, seed=seed, output_path=d)
        while not objective.exhausted:
            job = opt.ask()
            opt.tell(job, objective.dehb(job["config"], job["fidelity"]))
    return _score(objective)


def _syne_tune(scheduler_name):
    def run(bench, budget, seed):
        from syne_tune import StoppingCriterion, Tuner
        from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
        from syne_tune.experiments import load_experiment
        from syne_tune.optimizer import baselines

        from actbench.interop import syne_tune_backend, syne_tune_blackbox

        np.random.seed(seed)  # syne-tune's searchers draw from NumPy's global generator
        bb = syne_tune_blackbox(bench)  # the table's aggregate, as the objective answers
        kw = dict(metric="val_error", do_minimize=True, random_seed=seed)
        if scheduler_name == "ASHA":
            sched = baselines.ASHA(bb.configuration_space, time_attr="epoch", max_t=bench.epochs, **kw)
        else:
            sched = getattr(baselines, scheduler_name)(bb.configuration_space, **kw)  # sees every epoch's result
        tuner = Tuner(trial_backend=syne_tune_backend(bb), scheduler=sched,
                      stop_criterion=StoppingCriterion(max_num_trials_started=4 * budget), n_workers=4, sleep_time=0,
                      callbacks=[SimulatorCallback()], save_tuner=False, print_update_interval=1e9,
                      results_update_interval=1e9)
        with contextlib.redirect_stdout(io.StringIO()):  # its banner and progress lines; warnings go to stderr
            tuner.run()
        res = load_experiment(tuner.name).results
        cols = [c for c in res.columns if c.startswith("config_")]
        names = ["{}({}(x),{}(x))".format(*(r[c] for c in cols)) for _, r in res.iterrows()]
        res["row"] = [bench.resolver.resolve(n).row for n in names]
        # the run up to its BUDGET-th distinct function: the trials started before the next new function
        first = res.groupby("trial_id", sort=False)["st_tuner_time"].min().sort_values(kind="stable")
        trial_row = res.groupby("trial_id")["row"].first()
        seen: set[int] = set()
        trials = []
        for tid in first.index:
            if trial_row[tid] not in seen and len(seen) == budget:
                break
            seen.add(int(trial_row[tid]))
            trials.append(tid)
        kept = res[res["trial_id"].isin(trials)]
        val, test = bench.metric("val_acc"), bench.metric("test_acc")
        done = [r for r, e in zip(kept["row"], kept["epoch"]) if e == bench.epochs and np.isfinite(val[r])]
        best = max(done, key=lambda r: val[r]) if done else None
        return {"best_val": float(val[best]) if best is not None else float("nan"),
                "best_test": float(test[best]) if best is not None else float("nan"),
                "functions": len(seen), "trials": len(trials), "refused": 0,
                # each trial trains from scratch (ASHA stops, REA completes): its last elapsed time is its cost
                "seconds": float(kept.groupby("trial_id")["elapsed_time"].max().sum())}
    return run


OPTIMIZERS = {
    # name: (package that must be importable, runner)
    "random (ours)": (None, _ours("random")),
    "evolution (ours)": (None, _ours("evolution")),
    "knr: the paper's surrogate (ours)": (None, _ours("knr")),
    "hyperband (ours)": (None, _ours("hyperband")),
    "optuna TPE": ("optuna", optuna_tpe),
    "SMAC HPO facade": ("smac", smac_hpo),
    "SMAC Hyperband facade": ("smac", smac_hyperband),
    "syne-tune ASHA": ("syne_tune", _syne_tune("ASHA")),
    "syne-tune REA": ("syne_tune", _syne_tune("REA")),
    "DEHB": ("dehb", dehb),
}


class _Warnings:
    """Counts the warnings logged (any logger, WARNING and above) and raised (``warnings.warn``) while open,
    and lets each through to wherever it goes. Logged records are counted where every logger hands them to
    its handlers (``Logger.handle``), because SMAC replaces the root logger's handlers with its own
    (``logging.config.dictConfig``) when a facade is created."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self):
        import warnings

        self._handle = handle = logging.Logger.handle

        def counted(logger, record):
            if record.levelno >= logging.WARNING:
                self.count += 1
            return handle(logger, record)

        logging.Logger.handle = counted
        self._caught = warnings.catch_warnings()
        self._caught.__enter__()
        warnings.simplefilter("always")
        shown = warnings.showwarning

        def show(*args, **kwargs):
            self.count += 1
            shown(*args, **kwargs)

        warnings.showwarning = show
        return self

    def __exit__(self, *exc) -> None:
        self._caught.__exit__(*exc)
        logging.Logger.handle = self._handle


def table(data: dict, bench_best: float) -> str:
    lines = ["| optimiser | distinct functions | trials (median) | refused trials (all runs) | warnings (all runs) | "
             "simulated seconds (median) | best val_acc, median [IQR] | its test_acc, median | regret, median [IQR] |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, runs in data["runs"].items():
        bv = np.array([r["best_val"] for r in runs])
        bt = np.array([r["best_test"] for r in runs])
        reg = bench_best - bv
        q = lambda a: np.nanpercentile(a, [25, 50, 75])
        (b25, b50, b75), (r25, r50, r75) = q(bv), q(reg)
        lines.append(f"| {name} | {int(np.median([r['functions'] for r in runs]))} | "
                     f"{int(np.median([r['trials'] for r in runs]))} | {sum(r['refused'] for r in runs)} | "
                     f"{data.get('warnings', {}).get(name, 0)} | {np.median([r['seconds'] for r in runs]):.1f} | "
                     f"{b50:.4f} [{b25:.4f}, {b75:.4f}] | "
                     f"{np.nanmedian(bt):.4f} | {r50:.4f} [{r25:.4f}, {r75:.4f}] |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--json", type=Path, default=Path("optimizers-mini.json"))
    ap.add_argument("--only", nargs="+", help="run only these (names as in the table, or a prefix such as 'SMAC')")
    ap.add_argument("--table", action="store_true", help="print the table of --json without running anything")
    args = ap.parse_args()
    bench = ActBench("mini")
    data = json.loads(args.json.read_text()) if args.json.exists() else {"runs": {}}
    if not args.table:
        data.update(budget=args.budget, seeds=args.seeds, table=bench.name)
        for name, (package, run) in OPTIMIZERS.items():
            if args.only and not any(name.lower().startswith(o.lower()) for o in args.only):
                continue
            if package and importlib.util.find_spec(package) is None:
                print(f"skipped {name}: {package} is not installed", file=sys.stderr)
                continue
            t0 = time.perf_counter()
            with _Warnings() as seen:
                data["runs"][name] = [run(bench, args.budget, seed) for seed in range(args.seeds)]
            data.setdefault("warnings", {})[name] = seen.count
            print(f"{name}: {time.perf_counter() - t0:.1f} s, {seen.count} warnings", file=sys.stderr)
        args.json.write_text(json.dumps(data, indent=1))
    print(f"{data['table']}: {data['budget']} distinct functions per run, {data['seeds']} seeds "
          f"(table's best val_acc {np.nanmax(bench.metric('val_acc')):.4f})\n")
    print(table(data, float(np.nanmax(bench.metric("val_acc")))))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("SYNETUNE_FOLDER", tempfile.mkdtemp(prefix="syne-tune-"))
    sys.exit(main())
