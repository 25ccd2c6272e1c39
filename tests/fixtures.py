"""Builders of SYNTHETIC test fixtures in the official Act-Bench JSON shape.

Nothing here is the paper's data: values are drawn from a seeded random generator, and every
table converted from these files is labelled ``source="test-fixture"``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from actbench import get_space

SYNTHETIC_NOTE = "synthetic test fixture, not the paper's data"


def official_records(n_rows: int, fim_len: int, *, seed: int = 0, nan_every: int = 7,
                     empty_fim_every: int = 5) -> dict[str, dict]:
    """``n_rows`` records keyed by Act-Bench class representatives, in the official shape.

    Every ``nan_every``-th row diverged (NaN accuracy and loss), every ``empty_fim_every``-th row has
    an empty FIM list; equivalence lists are the space's real classes.
    """
    rng = np.random.default_rng(seed)
    space = get_space("act-bench")
    reps = sorted(space.representatives)
    picked = [reps[i] for i in rng.choice(len(reps), size=n_rows, replace=False)]
    out = {}
    for i, name in enumerate(picked):
        acc = float(rng.uniform(0.1, 0.95))
        diverged = nan_every and i % nan_every == nan_every - 1
        fim = [] if empty_fim_every and i % empty_fim_every == 0 else np.sort(rng.uniform(0, 1, fim_len)).tolist()
        out[name] = {
            "Train Accuracy": math.nan if diverged else acc + 0.03,
            "Validation Accuracy": math.nan if diverged else acc,
            "Test Accuracy": math.nan if diverged else acc - 0.01,
            "Train Loss": math.nan if diverged else float(rng.uniform(0.1, 2)),
            "Validation Loss": math.nan if diverged else float(rng.uniform(0.1, 2)),
            "Test Loss": math.nan if diverged else float(rng.uniform(0.1, 2)),
            "Equivalent Activation Functions": [m for m in space.equivalents(name) if m != name],
            "Fisher log eigenvalue CDF": fim,
            "Runtime (s)": float(rng.uniform(100, 1000)),
        }
    return out


def write_official_json(path: Path, records: dict[str, dict], *, indent: int | None = None) -> Path:
    """Write records as the official files are written (json.dump, NaN literals allowed)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(records, f, indent=indent)
    return path
