"""Overhead of a search study on Optuna storage (generation.study) against the training it schedules.

Usage: python benchmarks/bench_study.py [--features large-features.h5] [--budget 100] [--storage URL]

Builds a study over a feature table (default: the shipped mini table; pass the large space's feature
table from `python -m generation.precompute table --space large` for 387,235 candidates) with a random
2-D embedding (SYNTHETIC: the cost does not depend on the embedding's values), then runs a worker's steps
for ``--budget`` functions with synthetic results (also SYNTHETIC; nothing is trained) and times: ``ask``
(read the trials, fit the surrogate, predict every free candidate, store the trial), admission (read the
trials again, check duplicates and budget), ``tell`` (result and FIM feature as user attributes) and the
table rebuild, and a reader's check of an up-to-date table (``ActBench(folder)``). Storage: SQLite in a temporary folder, or ``--storage`` (e.g. a PostgreSQL URL).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # generation/ lives in the repository

from actbench import ActBench  # noqa: E402
from generation.recipes import get_recipe  # noqa: E402
from generation.study import Study, _quiet_optuna  # noqa: E402


def fake_result(name: str, val: float, recipe) -> tuple[dict, list]:
    run = {"seed": 0, "train_acc": val, "val_acc": val, "test_acc": val, "train_loss": 1.0, "val_loss": 1.0,
           "test_loss": 1.0, "runtime_s": 1.0, "diverged": False, "epochs_completed": 1}
    return ({"format": "actbench-result-v1", "kind": "train", "name": name, "recipe": recipe.model_dump(),
             "runs": [run] * len(recipe.seeds), "fim_layout": [["conv1", 37800, 0, 377]], "fim_sha256": "",
             "data": "synthetic benchmark result", "seconds": 1.0, "env": {"git": None, "torch": None, "gpu": None,
                                                                          "device": "none"},
             "created": "2026-01-01T00:00:00Z"}, [0.0] * 377)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", default=None)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--surrogates", default="knr,rf,svr")
    ap.add_argument("--storage", help="Optuna storage URL (default: SQLite in a temporary folder)")
    args = ap.parse_args()
    features = args.features or ActBench("mini").path
    n = len(ActBench(features))
    recipe = get_recipe("digits")
    print(f"{Path(features).name}: {n:,} candidates, budget {args.budget}, storage {args.storage or 'sqlite'}")
    for surrogate in args.surrogates.split(","):
        with tempfile.TemporaryDirectory() as tmp, _quiet_optuna():
            t0 = time.perf_counter()
            emb = np.random.default_rng(0).normal(size=(n, 2))
            st = Study.create(Path(tmp) / "st", task="digits", features=features, budget=args.budget,
                              surrogate=surrogate, embedding=emb, recipe=recipe, storage=args.storage,
                              name=f"bench-{uuid.uuid4().hex[:8]}")
            create_s = time.perf_counter() - t0
            ost = st.optuna_study(worker="bench")
            rng = np.random.default_rng(1)
            times: dict[str, list[float]] = {"ask": [], "admit": [], "tell": [], "table": []}
            for _ in range(args.budget):
                t0 = time.perf_counter()
                trial = ost.ask()
                row = trial.suggest_int("function", 0, n - 1)
                t1 = time.perf_counter()
                assert st.verdict(ost.get_trials(deepcopy=False), trial.number, row) is None
                t2 = time.perf_counter()
                doc, fim = fake_result(st.candidates[row], float(rng.uniform(0.1, 0.9)), recipe)
                for k, v in (("function", st.candidates[row]), ("worker", "bench"), ("result", doc), ("fim", fim)):
                    trial.set_user_attr(k, v)
                ost.tell(trial, doc["runs"][0]["val_acc"])
                t3 = time.perf_counter()
                st.table()
                times["ask"].append(t1 - t0)
                times["admit"].append(t2 - t1)
                times["tell"].append(t3 - t2)
                times["table"].append(time.perf_counter() - t3)
            checks = []
            for _ in range(5):
                t0 = time.perf_counter()
                st.table()  # up to date: only the check
                checks.append(time.perf_counter() - t0)
            times["fresh check"] = checks
            print(f"{surrogate}: create {create_s:.2f} s; " + "; ".join(
                f"{k} median {np.median(v) * 1e3:.1f} ms, max {np.max(v) * 1e3:.0f} ms" for k, v in times.items()),
                flush=True)


if __name__ == "__main__":
    main()
