"""How a search study's outcome is distributed over seeds, replayed offline on a reference table.

Usage: python docs/scripts/study_seeds.py FEATURES [--reference mini] [--budget 50] [--seeds 100]
       [--surrogate knr] [--feature-set fim] [--draws 10000]

FEATURES is the feature table a study is initialised with (``generation.precompute table``); REFERENCE is a
table with every candidate's values under the study's recipe (the shipped mini for the digits task). For
each seed the script runs the study's decision procedure (the 8 baselines first, then the unevaluated
candidate with the best surrogate prediction on the UMAP embedding of the candidates' features, computed
with that seed; ties broken at random with that seed) with the reference's values instead of training, and
reports the distribution of the outcome over the seeds: regret of the best function found, its rank among
the candidates, how often the best candidate is found, and the same for random search with the same budget.
One study on a machine is one draw from this distribution.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from actbench import ActBench
from actbench.table.provenance import Provenance
from actbench.search import SurrogateSearch, run_search
from actbench.table import METRICS, TableWriter


def replay_table(features: ActBench, reference: ActBench, path: Path) -> ActBench:
    """The candidates of ``features`` with their FIM features, and the reference's metrics for them."""
    fim = features.features("fim")
    prov = Provenance.now(source="generation", description=f"replay table: the candidates and FIM features of "
                          f"{features.name!r}, the values of {reference.name!r} (docs/scripts/study_seeds.py)")
    with TableWriter(path, info=reference.info.model_copy(update={"benchmark": "replay"}), provenance=prov,
                     fim_layers=features.fim_layers, fim_convention=features.fim_convention) as w:
        for i, name in enumerate(features):
            rec = reference.query(name)
            w.add(name, {m: getattr(rec, m) for m in METRICS}, fim=fim[i],
                  equivalents=features.resolver.equivalents(i))
    return ActBench(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("features", type=Path)
    ap.add_argument("--reference", default="mini")
    ap.add_argument("--budget", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--surrogate", default="knr", choices=["knr", "rf", "svr"])
    ap.add_argument("--feature-set", default="fim", choices=["fim", "outputs", "both"])
    ap.add_argument("--draws", type=int, default=10_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bench = replay_table(ActBench(args.features), ActBench(args.reference), Path(tmp) / "replay.h5")
        val = np.nan_to_num(bench.metric("val_acc"), nan=0.0)
        best = float(val.max())
        rank = {name: int((val > v).sum()) + 1 for name, v in zip(bench, val)}
        regrets, ranks = [], []
        for s in range(args.seeds):
            r = run_search(bench, SurrogateSearch(args.surrogate, args.feature_set, embedding_seed=s),
                           budget=args.budget, seed=s)
            top = r.names[int(np.nanargmax(np.nan_to_num(r.val_acc, nan=0.0)))]
            regrets.append(best - float(np.nan_to_num(np.nanmax(r.val_acc), nan=0.0)))
            ranks.append(rank[top])
        bench.close()
    regrets, ranks = np.array(regrets), np.array(ranks)
    rng = np.random.default_rng(0)
    rand = np.array([best - val[rng.choice(len(val), args.budget, replace=False)].max() for _ in range(args.draws)])
    p_rand = np.array([(rand <= g).mean() for g in regrets])  # P(random search does at least as well)

    def dist(a: np.ndarray) -> str:
        q = np.quantile(a, [0.25, 0.5, 0.75])
        return f"median {q[1]:.4f}, IQR {q[0]:.4f}-{q[2]:.4f}, mean {a.mean():.4f}"

    print(f"{len(val)} candidates, best {best:.4f}; study: {args.surrogate} on {args.feature_set}, budget "
          f"{args.budget}, seeds 0-{args.seeds - 1} (replayed with the values of {args.reference!r})")
    print(f"study regret:  {dist(regrets)}; found the best candidate in {(regrets <= 1e-12).mean():.0%} of seeds")
    print(f"study rank of its best: median {np.median(ranks):.0f}, IQR {np.quantile(ranks, 0.25):.0f}-"
          f"{np.quantile(ranks, 0.75):.0f}, worst {ranks.max()}")
    print(f"random regret ({args.draws} draws): {dist(rand)}; found the best in {(rand <= 1e-12).mean():.0%}")
    print(f"P(random search >= the study) per seed: median {np.median(p_rand):.3f}, IQR "
          f"{np.quantile(p_rand, 0.25):.3f}-{np.quantile(p_rand, 0.75):.3f}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
