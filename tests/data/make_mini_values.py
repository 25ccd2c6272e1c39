"""Write mini-0.3-values.json: the values of every 9th row of the shipped mini table (actbench 0.3.0).

Usage: python tests/data/make_mini_values.py [OUT]

Kept so that a regenerated mini table (actbench 0.4.0 regenerated it with learning curves) is checked
against the released one: same rows; the per-seed values and divergence as close as two CPUs' rounding
allows (tests/test_mini.py). Running this now writes the values of the mini shipped today, not 0.3.0's.
Values are written with Python's float repr, which JSON reads back exactly.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from actbench import ActBench
from actbench.table import METRICS

COLUMNS = [c for c in METRICS if c != "runtime_s"]


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("mini-0.3-values.json"))
    b = ActBench("mini")
    t = b._table
    rows = list(range(0, len(b), 9))
    per = {c: t.per_seed(c) for c in COLUMNS}
    div = t.seed_diverged()
    enc = lambda v: None if math.isnan(v) else float(v)
    doc = {"source": f"actbench/data/mini.h5 as shipped with actbench 0.3.0 ({b.path.name}), every 9th row",
           "seeds": b.seeds, "columns": COLUMNS,
           "rows": [{"name": t.names[r], "diverged": [bool(x) for x in div[r]],
                     **{c: [enc(v) for v in per[c][r]] for c in COLUMNS}} for r in rows]}
    out.write_text(json.dumps(doc, indent=0) + "\n")
    print(f"wrote {out}: {len(rows)} rows")


if __name__ == "__main__":
    main()
