"""Compare a finished search study with a reference table that has every candidate's values.

Usage: python docs/scripts/study_report.py STUDY [--reference mini] [--draws 10000]

For a study on the digits task the shipped mini table knows the validation accuracy of every candidate
(trained by the same recipe), so it can say how good the study's pick is: its rank among the candidates,
the regret of the study's best (reference values) against the best candidate, and what random search
with the same budget over the same candidates reaches (``--draws`` random draws). It also compares the
values the study measured with the reference's for the same functions (the same recipe trained again).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actbench import ActBench  # noqa: E402
from generation.study import Study  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("study", type=Path)
    ap.add_argument("--reference", default="mini")
    ap.add_argument("--draws", type=int, default=10_000)
    args = ap.parse_args()
    st, ref, found = Study(args.study), ActBench(args.reference), ActBench(args.study)
    cand = np.array([ref.query(n).val_acc for n in st.candidates])
    cand = np.where(np.isnan(cand), 0.0, cand)
    budget = st.config.budget
    studied = list(found)
    ref_studied = np.array([ref.query(n).val_acc for n in studied])
    own = np.array([found.query(n).val_acc for n in studied])
    best_name = found.best(1).index[0]
    best_ref = ref.query(best_name).val_acc
    ref_best_seen = np.nanmax(ref_studied)
    rng = np.random.default_rng(0)
    rand = np.array([cand[rng.choice(len(cand), budget, replace=False)].max() for _ in range(args.draws)])
    ok = ~np.isnan(own) & ~np.isnan(ref_studied)
    print(f"study {st.config.name}: {st.config.surrogate} on {st.config.feature_set}, budget {budget}, "
          f"{len(cand)} candidates")
    print(f"best candidate (reference): {cand.max():.4f}; top-1% threshold {np.quantile(cand, 0.99):.4f}")
    print(f"study's best by its own training: {best_name} (own {found.query(best_name).val_acc:.4f}, "
          f"reference {best_ref:.4f}, rank {int((cand > best_ref).sum()) + 1} of {len(cand)})")
    print(f"best reference value among the studied functions: {ref_best_seen:.4f} "
          f"(regret {cand.max() - ref_best_seen:.4f})")
    print(f"random search, same budget, {args.draws} draws: best {rand.mean():.4f} on average "
          f"(regret {cand.max() - rand.mean():.4f}); P(random >= study) = {(rand >= ref_best_seen).mean():.3f}")
    print(f"own vs reference on the {ok.sum()} functions trained in both: Spearman "
          f"{_spearman(own[ok], ref_studied[ok]):.3f}, median |diff| {np.median(np.abs(own[ok] - ref_studied[ok])):.4f}")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


if __name__ == "__main__":
    main()
