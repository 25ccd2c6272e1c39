"""Write a SYNTHETIC frozen example of table format v1 with today's writer.

Usage: python tests/data/make_frozen.py FILENAME

Run once per format version (or per change of how a version is written) and commit the file; never
regenerate an existing file (tests read each to prove that later readers still read it). The values
are made up for the test and labelled ``source="test-fixture"``. Files so far:

* ``table-v1.h5``: actbench 0.1.0 (variable-length text, no checksums);
* ``table-v1-checksummed.h5``: actbench 0.3.0 (fletcher32 on every dataset, fixed-length text).
"""

import sys
from pathlib import Path

import numpy as np

from actbench.table import Provenance, TableInfo, TableWriter, fim_layout

if __name__ == "__main__":
    OUT = Path(__file__).with_name(sys.argv[1])
    if OUT.exists():
        raise SystemExit(f"{OUT} exists: frozen files are never regenerated")
    info = TableInfo(benchmark="frozen-v1", space="act-bench", description="synthetic frozen format example",
                     n_seeds=3, aggregation="median of 3 runs")
    prov = Provenance.now(source="test-fixture", description="synthetic values; frozen example of format v1",
                          command=f"python tests/data/make_frozen.py {OUT.name}")
    layers = fim_layout([("conv", 700), ("dense", 500)])  # 6 + 4 bins
    with TableWriter(OUT, info=info, provenance=prov, seeds=[0, 1, 2], fim_layers=layers) as w:
        w.add("add(relu(x),zero(x))", {"val_acc": 0.75, "test_acc": 0.7, "runtime_s": 1.0},
              per_seed={"test_acc": [0.6, 0.7, 0.8]}, fim=np.arange(10) / 10,
              equivalents=["add(zero(x),relu(x))"])
        w.add("mul(tanh(x),sigmoid(x))", {"val_acc": float("nan"), "test_acc": float("nan")},
              per_seed={"test_acc": [float("nan")] * 3}, seed_diverged=[True, True, True])
        w.add("max(swish(x),elu(x))", {"val_acc": 0.5, "test_acc": 0.5, "runtime_s": 2.0},
              per_seed={"test_acc": [0.25, 0.5, 0.75]}, fim=np.ones(10))
    print(f"wrote {OUT}")
