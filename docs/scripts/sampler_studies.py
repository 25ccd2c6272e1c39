"""SurrogateSampler in ordinary Optuna studies on the shipped mini table: maximising the validation accuracy,
minimising the error, a joint search (activation and a learning rate), and Optuna's RandomSampler.

Usage: python docs/scripts/sampler_studies.py [--trials 60] [--seeds 4]

Each study runs ``--trials`` trials (KNR on FIM features; seeds 0..seeds-1); printed: the mean over seeds of
the best validation accuracy found (diverged functions count as 0) and the distinct functions trained.
"""

from __future__ import annotations

import argparse

import numpy as np
import optuna

from actbench import ActBench
from actbench.search.samplers import SurrogateSampler, name_of, search_space


def run(bench, kind: str, seed: int, trials: int) -> tuple[float, int]:
    space = search_space(bench)
    direction = "minimize" if kind == "minimise the error" else "maximize"
    sampler = (optuna.samplers.RandomSampler(seed=seed) if kind == "Optuna's RandomSampler"
               else SurrogateSampler(bench, "knr", "fim", seed=seed))
    study = optuna.create_study(direction=direction, sampler=sampler)
    accs, rows = [], set()

    def objective(trial):
        name = name_of(bench, {k: trial.suggest_categorical(k, d.choices) for k, d in space.items()})
        if kind == "joint (+ learning rate)":
            trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        rec = bench.query(name)
        acc = 0.0 if rec.val_acc != rec.val_acc else rec.val_acc
        accs.append(acc)
        rows.add(rec.row)
        return acc if direction == "maximize" else 1.0 - acc

    study.optimize(objective, n_trials=trials)
    return max(accs), len(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=60)
    p.add_argument("--seeds", type=int, default=4)
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bench = ActBench("mini")
    print(f"| study | best val_acc found (mean of {args.seeds} seeds) | distinct functions (mean) |")
    print("|---|---|---|")
    for kind in ("maximise val_acc", "minimise the error", "joint (+ learning rate)", "Optuna's RandomSampler"):
        res = [run(bench, kind, seed, args.trials) for seed in range(args.seeds)]
        print(f"| {kind} | {np.mean([b for b, _ in res]):.4f} | {np.mean([n for _, n in res]):.1f} |")


if __name__ == "__main__":
    main()
