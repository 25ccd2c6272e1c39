"""Damage a table byte by byte and count what reading it does (docs/reliability.md).

Usage: python benchmarks/corrupt_tables.py [--trials 300] [--seed 0] [--table PATH ...] [--json]

For each table (default: the frozen format-v1 test table, written before tables carried checksums, and
the same table rewritten by ``actbench.table.upgrade_table``), a seeded sample of damage (one flipped bit,
a random byte, 16 zeroed bytes, or a truncation, at uniformly drawn offsets) is applied to a copy, and
the copy is opened and read whole in a child process with a time limit. Each trial ends as:

* ``detected``: opening or reading raised one of actbench's table errors;
* ``harmless``: every value read equals the undamaged file's (the damage hit unused bytes);
* ``silent``: values differ and nothing was said (the failure this script exists to count);
* ``crash``: another exception escaped (a bug: every failure must map to the table errors);
* ``hang``: no answer within the time limit (libhdf5 loops on some damaged files).

Nothing here is the paper's data; the tables are synthetic test fixtures and the copies are deleted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

FROZEN = Path(__file__).resolve().parent.parent / "tests" / "data" / "table-v1.h5"
KINDS = ("bit", "byte", "zero16", "truncate")

# Runs in the child: read every value of the table and print a digest of them, or the error's class.
_CHILD = r"""
import hashlib, json, sys
import numpy as np
from actbench.base.errors import ActBenchError
from actbench.table import CURVE_METRICS, METRICS, read_table

def digest(t):
    h = hashlib.sha256()
    def add(x):
        h.update(np.ascontiguousarray(np.asarray(x)).tobytes() if not isinstance(x, str) else x.encode())
    for x in (t.info_json, t.provenance_json, json.dumps(list(t.names)), json.dumps(dict(t.aliases.items()), sort_keys=True),
              json.dumps(t.seeds), repr(t.fim_layers), str(t.fim_convention_attr), t.h1, t.h2, t.outputs(),
              t.fim_missing()):
        add(x)
    for c in METRICS:
        add(t.metrics[c]); add(t.flags[c])
        if t.seeds is not None:
            add(t.per_seed(c))
    if t.seeds is not None:
        add(t.seed_diverged())
    if t.n_fim:
        add(t.fim())
    if t.n_epochs:
        for c in CURVE_METRICS:
            add(t.curves(c))
    return h.hexdigest()

for path in sys.argv[1:]:
    try:
        out = digest(read_table(path))
    except ActBenchError as e:
        out = "detected:" + type(e).__name__
    except Exception as e:
        out = "crash:" + type(e).__name__ + ": " + str(e)[:200]
    print(json.dumps(out), flush=True)
"""


def damage(data: bytes, kind: str, rng: random.Random) -> bytes:
    b = bytearray(data)
    pos = rng.randrange(len(b))
    if kind == "bit":
        b[pos] ^= 1 << rng.randrange(8)
    elif kind == "byte":
        b[pos] = (b[pos] + rng.randrange(1, 256)) % 256
    elif kind == "zero16":
        b[pos:pos + 16] = bytes(len(b[pos:pos + 16]))
    else:
        del b[pos:]
    return bytes(b)


def read_digests(paths: list[Path], timeout: float) -> list[str]:
    """Digest (or outcome) of each file, read in order by one child that prints a line per file; a file that
    gets no answer within ``timeout`` seconds is a hang: the child is killed and a new one goes on after it."""
    out: list[str] = []
    while len(out) < len(paths):
        rest = paths[len(out):]
        child = subprocess.Popen([sys.executable, "-c", _CHILD, *map(str, rest)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in child.stdout] + [lines.put(None)], daemon=True).start()
        while len(out) < len(paths):
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                child.kill()
                out.append("hang")
                break
            if line is None:  # the child died (a crash inside libhdf5 takes the process with it)
                child.wait()
                out.append(f"crash:child exited {child.returncode}: {child.stderr.read().strip()[-200:]}")
                break
            out.append(json.loads(line))
        child.wait()
    return out


def run(table: Path, trials: int, seed: int, work: Path, timeout: float) -> dict:
    data = table.read_bytes()
    clean = read_digests([table], timeout)[0]
    if ":" in clean:
        raise SystemExit(f"{table} does not read cleanly: {clean}")
    rng = random.Random(seed)
    paths, kinds, seen = [], [], set()
    for i in range(trials):
        kind = KINDS[i % len(KINDS)]
        damaged = damage(data, kind, rng)
        key = hashlib.sha256(damaged).digest()
        if key in seen:
            continue
        seen.add(key)
        p = work / f"{table.stem}-{i}.h5"
        p.write_bytes(damaged)
        paths.append(p)
        kinds.append(kind)
    outcomes = Counter()
    examples: dict[str, str] = {}
    for kind, out in zip(kinds, read_digests(paths, timeout)):
        verdict = ("harmless" if out == clean else "detected" if out.startswith("detected:")
                   else out.split(":")[0] if out.startswith(("crash:", "hang")) else "silent")
        outcomes[verdict] += 1
        examples.setdefault(verdict, f"{kind}: {out}")
    return {"table": table.name, "bytes": len(data), "trials": len(paths), **dict(outcomes), "examples": examples}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--table", type=Path, action="append", help="table(s) to damage (default: frozen v1 and its upgrade)")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds a read may take before it counts as a hang")
    ap.add_argument("--json", action="store_true", help="print one JSON object per table")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="actbench-corrupt-") as tmp:
        work = Path(tmp)
        tables = args.table
        if not tables:
            from actbench.table import upgrade_table

            old = work / "frozen-v1.h5"
            shutil.copy(FROZEN, old)
            tables = [old, upgrade_table(old, work / "frozen-v1-checksummed.h5")]
        for table in tables:
            res = run(table, args.trials, args.seed, work, args.timeout)
            if args.json:
                print(json.dumps(res))
                continue
            counts = ", ".join(f"{k} {res.get(k, 0)}" for k in ("detected", "harmless", "silent", "crash", "hang"))
            print(f"{res['table']} ({res['bytes']:,} bytes): {res['trials']} damaged copies -> {counts}")
            for verdict, example in res["examples"].items():
                if verdict in ("silent", "crash", "hang"):
                    print(f"  e.g. {verdict}: {example}")


if __name__ == "__main__":
    main()
