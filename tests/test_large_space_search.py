"""docs/scripts/large_space_search.py, the large-space experiment of docs/study.md, at toy size: the sample,
FIM features, the feature table and a random-search study with real training (2 functions) (digits, CPU), resumed by a
second `run`, then the report and the table of trained functions."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("optuna")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docs" / "scripts" / "large_space_search.py"

pytestmark = pytest.mark.torch


def _script(*args, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_toy_run_resumes_reports_and_writes_the_table(tmp_path):
    from actbench import ActBench

    out = tmp_path / "exp"
    args = ["run", out, "--n-fim", 10, "--budget", 2, "--seeds", 0, "--methods", "random", "--procs", 1,
            "--space", "act-bench"]  # the script's default is the large space, whose enumeration takes ~10 s each time
    done = _script(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "all 1 studies done" in done.stdout
    again = _script(*args, cwd=tmp_path)  # everything exists: nothing is recomputed, the study is at its budget
    assert again.returncode == 0 and "precompute" not in again.stdout and "study init" not in again.stdout
    rep = _script("report", out, "--table", tmp_path / "pool.h5", cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr[-2000:]
    assert "2 distinct functions trained by 1 studies" in rep.stdout
    assert "| random | 1 | 2 (2–2) |" in rep.stdout and "mini's best" in rep.stdout
    pool = ActBench(tmp_path / "pool.h5")
    assert len(pool) == 2 and pool.info.space == "act-bench"
    best = pool.best(1)
    assert best.index[0] in rep.stdout and 0 <= best.val_acc.iloc[0] <= 1
