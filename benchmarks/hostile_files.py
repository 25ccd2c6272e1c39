"""Convert hostile and damaged files in the official JSON shape, and count how each conversion ended.

Usage: python benchmarks/hostile_files.py [--seeds 5]

Each trial takes a SYNTHETIC file in the official shape (tests/fixtures.py: seeded random values, never the
paper's data), damages it one way (a value outside its domain, a key given twice, a name taken from another
record, an accuracy unit mixed into one record, wrong types, deep nesting, 100,000 unknown keys, a huge
record, truncation, gzip, bytes that are not UTF-8, a control character in a name ...) with a seeded choice of
record and value, converts it with ``convert_official_json`` and classes the result:

* ``converted``: a table whose every value and alias equals the file's (the damage was harmless);
* ``refused``: ``ConversionError`` (or another actbench error) saying what and where;
* ``wrong``: a table that differs from the file (a silent wrong answer);
* ``crash``: any other exception.

It also records the longest message of a refusal (a message quotes the file, bounded). Written for
docs/reliability.md ("Official files"); ``wrong`` and ``crash`` should be 0.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _outcomes import print_outcomes  # noqa: E402

ACC = ("Train Accuracy", "Validation Accuracy", "Test Accuracy")


def _pick(recs, rng):
    return sorted(recs)[int(rng.integers(len(recs)))]


def damage(kind: str, recs: dict, rng) -> str | bytes:
    """The file's text (or bytes) after one damage of ``kind``."""
    name = _pick(recs, rng)
    rec = recs[name]
    if kind == "accuracy_above_1":
        rec[ACC[int(rng.integers(3))]] = float(rng.uniform(1.01, 99))
    elif kind == "accuracy_infinite":
        rec[ACC[int(rng.integers(3))]] = math.inf
    elif kind == "accuracy_negative":
        rec[ACC[int(rng.integers(3))]] = -float(rng.uniform(0.01, 5))
    elif kind == "runtime_not_positive":
        rec["Runtime (s)"] = -float(rng.uniform(0, 1e12))
    elif kind == "loss_negative":
        rec["Train Loss"] = -float(rng.uniform(0.01, 5))
    elif kind == "wrong_type":
        rec["Test Loss"] = str(rec["Test Loss"])
    elif kind == "bool_value":
        rec["Validation Accuracy"] = True
    elif kind == "hijack_name":
        rec["Equivalent Activation Functions"] = [*rec["Equivalent Activation Functions"], _pick(recs, rng)]
    elif kind == "shared_equivalent":
        other = recs[_pick(recs, rng)]
        other["Equivalent Activation Functions"] = [*other["Equivalent Activation Functions"], "tanh(x)"]
        rec["Equivalent Activation Functions"] = [*rec["Equivalent Activation Functions"], "tanh(x)"]
    elif kind == "fim_length":
        rec["Fisher log eigenvalue CDF"] = rec["Fisher log eigenvalue CDF"][:-1] or [0.5]
    elif kind == "unknown_keys":
        rec.update({f"k{i}": i for i in range(100_000)})
    elif kind == "control_in_name":
        recs[name + "\x1b[2J"] = recs.pop(name)
    text = json.dumps(recs)
    if kind == "duplicate_key":
        i = text.index('"Validation Accuracy"')
        text = text[:i] + '"Validation Accuracy": 0.5, ' + text[i:]
    elif kind == "truncated":
        text = text[: int(rng.integers(1, len(text)))]
    elif kind == "deep_nesting":
        text = '{"relu(x)": ' + "[" * 100_000 + "]" * 100_000 + "}"
    elif kind == "gzip":
        return gzip.compress(text.encode())
    elif kind == "not_utf8":
        b = bytearray(text.encode())
        b[int(rng.integers(10, len(b)))] = 0xFF
        return bytes(b)
    return text


KINDS = ["none", "accuracy_above_1", "accuracy_infinite", "accuracy_negative", "runtime_not_positive",
         "loss_negative", "wrong_type", "bool_value", "duplicate_key", "hijack_name", "shared_equivalent",
         "fim_length", "unknown_keys", "control_in_name", "truncated", "deep_nesting", "gzip", "not_utf8"]


def same_as_file(path: Path, recs: dict) -> bool:
    from actbench import ActBench

    b = ActBench(path)
    keys = {"Train Accuracy": "train_acc", "Validation Accuracy": "val_acc", "Test Accuracy": "test_acc",
            "Train Loss": "train_loss", "Validation Loss": "val_loss", "Test Loss": "test_loss",
            "Runtime (s)": "runtime_s"}
    if len(b) != len(recs):
        return False
    for name, rec in recs.items():
        row = b.data.aliases.get(name)
        if row is None or b.names[row] != name:
            return False
        for key, col in keys.items():
            v, w = float(b.data.metrics[col][row]), rec[key]
            if not (v == w or (v != v and w != w)):
                return False
        if any(b.data.aliases.get(e) != row for e in rec["Equivalent Activation Functions"]):
            return False
    return True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args()
    from fixtures import official_records

    from actbench.errors import ActBenchError
    from actbench.sources.convert import convert_official_json

    table: dict[str, collections.Counter] = {}
    longest = 0
    t0 = time.monotonic()
    for kind in KINDS:
        table[kind] = collections.Counter()
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            recs = official_records(40, 6, seed=seed, nan_every=7)
            data = damage(kind, recs, rng)
            with tempfile.TemporaryDirectory() as tmp:
                src, out = Path(tmp) / "act-bench-cnn.json", Path(tmp) / "cnn.h5"
                src.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
                try:
                    convert_official_json(src, out, bench="cnn", source="test-fixture")
                except ActBenchError as e:
                    table[kind]["refused"] += 1
                    longest = max(longest, len(str(e)))
                    continue
                except Exception as e:  # noqa: BLE001 - what this script counts
                    table[kind]["crash"] += 1
                    print(f"crash on {kind} (seed {seed}): {type(e).__name__}: {str(e)[:200]}", file=sys.stderr)
                    continue
                table[kind]["converted" if same_as_file(out, recs) else "wrong"] += 1
    kinds = ["converted", "refused", "wrong", "crash"]
    print(f"{len(KINDS) * args.seeds} conversions ({args.seeds} seeds per damage), {time.monotonic() - t0:.0f} s; "
          f"longest refusal message {longest:,} characters")
    print_outcomes(table, kinds, first="damage")


if __name__ == "__main__":
    main()
