"""Convert the official Act-Bench JSON release into table v1, in bounded memory.

The official files (``act-bench-cnn.json``, ``act-bench-resnet.json``, ``act-bench-vit.json``)
map each function name to a record::

    {"Train Accuracy": ..., "Validation Accuracy": ..., "Test Accuracy": ...,
     "Train Loss": ..., "Validation Loss": ..., "Test Loss": ..., "Runtime (s)": ...,
     "Equivalent Activation Functions": [names...],
     "Fisher log eigenvalue CDF": [floats...]}          # may be empty

Each file is ~127 MB, mostly FIM CDFs; ``json.load`` would hold all of it as Python floats
(gigabytes). The converter instead reads one record at a time with a streaming reader built on
``json.JSONDecoder.raw_decode`` and writes rows in batches, so memory stays at one record plus
one batch whatever the file size. Every value is kept: NaN metrics (diverged runs) are flagged
``diverged``, absent ones ``missing``, empty FIM lists are flagged ``fim/missing``.

The official files carry no outputs; the table's outputs on the sample points are computed by
actbench from each name (float64, stored as float32), and the provenance says so.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from actbench.base.errors import ConversionError, ParseError
from actbench.base.text import clip, listing, mask_url
from actbench.table.provenance import Provenance, SourceFile
from actbench.table.writer import TableWriter

__all__ = ["OFFICIAL_KEYS", "ConversionError", "JsonObjectStream", "convert_official_json"]

#: Official record keys -> our metric columns.
OFFICIAL_METRICS: dict[str, str] = {
    "Train Accuracy": "train_acc",
    "Validation Accuracy": "val_acc",
    "Test Accuracy": "test_acc",
    "Train Loss": "train_loss",
    "Validation Loss": "val_loss",
    "Test Loss": "test_loss",
    "Runtime (s)": "runtime_s",
}
EQUIVALENTS_KEY = "Equivalent Activation Functions"
FIM_KEY = "Fisher log eigenvalue CDF"
OFFICIAL_KEYS: tuple[str, ...] = (*OFFICIAL_METRICS, EQUIVALENTS_KEY, FIM_KEY)

_CHUNK = 1 << 20
_WS = " \t\n\r"


class _Reader:
    """A growing text buffer over a binary file, decoded incrementally as UTF-8, hashing the bytes."""

    def __init__(self, fh: IO[bytes], progress=None) -> None:
        self.fh = fh
        self.dec = codecs.getincrementaldecoder("utf-8")()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.offset = 0  # characters dropped from the front of buf
        self.sha = hashlib.sha256()
        self.size = 0
        self.progress = progress

    def more(self, at_least: int = _CHUNK) -> bool:
        if self.eof:
            return False
        block = self.fh.read(max(_CHUNK, at_least))
        self.sha.update(block)
        self.size += len(block)
        if self.progress is not None:
            self.progress.update(len(block))
        try:
            if not block:
                self.eof = True
                self.buf += self.dec.decode(b"", final=True)
                return False
            text = self.dec.decode(block)
        except UnicodeDecodeError as e:
            gz = self.size == len(block) and block[:2] == b"\x1f\x8b"
            raise ConversionError(
                "the file is not UTF-8 JSON text" + (" (it is gzip-compressed: decompress it first, e.g. "
                                                      "`gunzip -k FILE`)" if gz else f" (byte {self.size - len(block) + e.start:,} "
                                                      "is not UTF-8)") + "; the official release is plain JSON") from None
        self.buf = self.buf[self.pos:] + text
        self.offset += self.pos
        self.pos = 0
        return True

    def skip_ws(self) -> str:
        """Skip whitespace and return the next character ('' at the end of the input)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def value(self, dec: json.JSONDecoder, what: str) -> Any:
        while True:
            try:
                val, end = dec.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                # raw_decode fails on an incomplete value too: read more before calling it an error, as much
                # again as is buffered, so that a long value is parsed O(log n) times, not once per MiB
                if self.more(len(self.buf) - self.pos):
                    continue
                raise ConversionError(f"{what}: {e.msg} at character {self.offset + e.pos} "
                                      f"(the file is truncated or not JSON)") from e
            except ConversionError as e:  # a record's key given twice
                raise ConversionError(f"{what}: {e}") from None
            except RecursionError:
                raise ConversionError(f"{what}: the JSON is nested too deeply at character {self.offset + self.pos} "
                                      f"(the official records are flat objects)") from None
            # a number that ends exactly at the end of the buffer might continue in the next chunk
            if end == len(self.buf) and not self.eof and isinstance(val, (int, float)) and self.more():
                continue
            self.pos = end
            return val


class JsonObjectStream:
    """Iterate over the ``(key, value)`` pairs of the top-level JSON object in ``fh``, one at a time.

    Memory holds one value (plus a 1 MiB read buffer). NaN/Infinity literals are accepted, as
    Python's json module writes them. After a complete iteration, :attr:`sha256` and :attr:`size`
    describe the bytes read.

    Raises (while iterating):
        ConversionError: the input is not a JSON object, or is truncated; says where.
    """

    def __init__(self, fh: IO[bytes], *, progress=None) -> None:
        self._reader = _Reader(fh, progress)
        self.sha256: str | None = None
        self.size: int | None = None

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        r = self._reader
        yield from _pairs(r)
        if r.skip_ws() != "":
            raise ConversionError(f"unexpected text after the top-level object at character {r.offset + r.pos}")
        self.sha256, self.size = r.sha.hexdigest(), r.size


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ConversionError(f"the key {clip(k)!r} appears twice in one object; a record holds each key once")
        out[k] = v
    return out


def _pairs(r: _Reader) -> Iterator[tuple[str, Any]]:
    dec = json.JSONDecoder(object_pairs_hook=_unique)
    c = r.skip_ws()
    if c != "{":
        raise ConversionError("the file must hold one JSON object mapping function names to records; "
                              f"it starts with {c!r}" if c else "the file is empty")
    r.pos += 1
    if r.skip_ws() == "}":
        r.pos += 1
        return
    last = None
    while True:
        if r.skip_ws() != '"':
            raise ConversionError(f"expected a function name in quotes after {last!r} at character "
                                  f"{r.offset + r.pos}" + (" (the file is truncated)" if r.eof else ""))
        key = r.value(dec, f"reading the name after {last!r}")
        if r.skip_ws() != ":":
            raise ConversionError(f"expected ':' after {key!r} at character {r.offset + r.pos}")
        r.pos += 1
        r.skip_ws()
        yield key, r.value(dec, f"reading the record of {key!r}")
        last = key
        c = r.skip_ws()
        r.pos += 1
        if c == "}":
            return
        if c != ",":
            raise ConversionError(f"expected ',' or '}}' after the record of {key!r} at character "
                                  f"{r.offset + r.pos - 1}" + (" (the file is truncated)" if c == "" else ""))


def convert_official_json(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    bench: str,
    source: str = "official-json",
    progress: bool = False,
    notes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Convert an official Act-Bench JSON file into a table v1 at ``out``.

    Args:
        src: the official JSON file.
        out: the table to write (atomically).
        bench: ``"cnn"``, ``"resnet"`` or ``"vit"``: sets what the table says it measures
            (model, data, splits, aggregation) and the FIM per-layer layout of its network, attached
            when the file's FIM length equals the layout's number of bins.
        source: provenance label; ``"test-fixture"`` for synthetic files made by tests.
        progress: show a progress bar over the bytes read.
        notes: more provenance notes (e.g. where the file was downloaded from).

    Returns:
        A report: rows, aliases, diverged and missing counts, FIM length, input sha256.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        IsADirectoryError, ValueError: ``out`` is a folder or another non-regular file, or is ``src`` itself.
        ConversionError: the file is not in the official shape (with the record and reason).
        actbench.UnknownBenchmarkError: ``bench`` is not registered.
    """
    from actbench.sources.registry import BENCHMARKS
    from actbench.base.errors import UnknownBenchmarkError
    from actbench.base.text import did_you_mean

    spec = BENCHMARKS.get(bench)
    if spec is None or spec.json_name is None:
        official = [b for b, s in BENCHMARKS.items() if s.json_name]
        raise UnknownBenchmarkError(f"{bench!r} is not a benchmark with an official JSON release"
                                    f"{did_you_mean(bench, official)}; those are: {', '.join(official)}")
    src, out = Path(src), Path(out)
    total = src.stat().st_size
    from actbench.base.files import check_target

    check_target(out, inputs=(src,))  # never a device, a folder, or the input itself
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"convert {src.name}")
    counts = {"rows": 0, "diverged_values": 0, "missing_values": 0, "fim_missing": 0, "fim_length": None,
              "accuracies": 0, "above_1": 0, "first_above_1": None, "first_above_100": None}
    layers = spec.layout()
    prov = Provenance.now(
        source=source,
        description=f"{spec.title} ({spec.info.description}) converted from {src.name}",
        command=_command_line(),
        notes=("outputs on the sample points computed by actbench from the function names "
               "(float64, stored as float32); the official files carry none",
               f"metrics are the {spec.info.aggregation} as released", *notes),
    )
    # the release's features were computed by the reference implementation: its K-FAC convention
    writer = TableWriter(out, info=spec.info, provenance=prov, fim_layers=None, fim_convention="reference",
                         strict_aliases=True)  # a name claimed by two records is a damaged file, never a choice
    try:
        with src.open("rb") as fh, writer:
            stream = JsonObjectStream(fh, progress=bar)
            for name, rec in stream:
                _add_record(writer, name, rec, counts, layers)
            writer.provenance = writer.provenance.model_copy(
                update={"inputs": (SourceFile(name=src.name, sha256=stream.sha256, size=stream.size),)})
            if layers is not None and counts["fim_length"] == sum(l.n_bins for l in layers):
                writer.fim_layers = layers
            if _accuracy_unit(counts) == "percent":  # the release's accuracies are fractions; say so if not
                writer.info = writer.info.model_copy(update={"accuracy_unit": "percent"})
    finally:
        if bar is not None:
            bar.close()
    counts["sha256"] = stream.sha256
    return counts


def _add_record(writer: TableWriter, name: str, rec: Any, counts: dict, layers) -> None:
    if not isinstance(rec, dict):
        raise ConversionError(f"the record of {clip(name)!r} is a {type(rec).__name__}, expected an object with keys "
                              f"{list(OFFICIAL_KEYS)}")
    unknown = set(rec) - set(OFFICIAL_KEYS)
    if unknown:
        raise ConversionError(f"the record of {clip(name)!r} has {len(unknown):,} unexpected key(s) "
                              f"{listing(sorted(unknown))}; this converter reads the official Act-Bench JSON "
                              f"(keys: {list(OFFICIAL_KEYS)})")
    metrics: dict[str, float | None] = {}
    for key, col in OFFICIAL_METRICS.items():
        if key not in rec or rec[key] is None:
            counts["missing_values"] += 1
            continue
        v = rec[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConversionError(f"{clip(name)!r}: {key!r} is {_short(v)}, expected a number (or NaN)")
        try:
            metrics[col] = float(v)
        except OverflowError:
            raise ConversionError(f"{clip(name)!r}: {key!r} is {_short(v)}, too large for a float64") from None
        if math.isnan(v):
            counts["diverged_values"] += 1
            continue
        _check_domain(name, key, col, float(v), counts)
    eq = rec.get(EQUIVALENTS_KEY, [])
    fim = rec.get(FIM_KEY, [])
    if not isinstance(eq, list) or not all(isinstance(e, str) for e in eq):
        raise ConversionError(f"{clip(name)!r}: {EQUIVALENTS_KEY!r} must be a list of names")
    if not isinstance(fim, list):
        raise ConversionError(f"{clip(name)!r}: {FIM_KEY!r} must be a list of numbers")
    if fim:
        if counts["fim_length"] is None:
            counts["fim_length"] = len(fim)
        elif len(fim) != counts["fim_length"]:
            raise ConversionError(f"{clip(name)!r}: {FIM_KEY!r} has {len(fim)} values, earlier records have "
                                  f"{counts['fim_length']}")
    else:
        counts["fim_missing"] += 1
    try:
        writer.add(name, metrics, fim=fim or None, equivalents=eq)
    except ParseError as e:
        raise ConversionError(f"function name in the file does not parse: {e}") from e
    except (TypeError, ValueError, OverflowError) as e:
        raise ConversionError(f"{clip(name)!r}: {e}") from e
    counts["rows"] += 1


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def _check_domain(name: str, key: str, col: str, v: float, counts: dict) -> None:
    """Every value in its domain: accuracies finite and not negative (fractions or percent, decided from the
    whole file by :func:`_accuracy_unit`), losses not negative (+inf allowed), runtimes positive and finite;
    a value outside is refused naming its record."""
    where = f"{clip(name)!r}: {key!r} is {v!r}"
    if col.endswith("_acc"):
        if not math.isfinite(v) or v < 0:
            raise ConversionError(f"{where}; an accuracy is a fraction (0-1) or a percentage (0-100), or NaN for a "
                                  "diverged run")
        counts["accuracies"] += 1
        if v > 1:
            counts["above_1"] += 1
            counts["first_above_1"] = counts["first_above_1"] or (name, key, v)
        if v > 100:
            counts["first_above_100"] = counts["first_above_100"] or (name, key, v)
    elif col.endswith("_loss"):
        if v < 0:
            raise ConversionError(f"{where}; a loss is not negative (or NaN for a diverged run)")
    elif not (math.isfinite(v) and v > 0):
        raise ConversionError(f"{where}; a runtime is a positive number of seconds (or NaN when unknown)")


def _accuracy_unit(counts: dict) -> str:
    """``"percent"`` when most of the file's accuracies exceed 1, else ``"fraction"``; decided from the whole
    file, never from one value, and every accuracy must then lie in that unit's range."""
    n, above = counts["accuracies"], counts["above_1"]
    unit = "percent" if above * 2 > n else "fraction"
    bad = counts["first_above_100"] if unit == "percent" else counts["first_above_1"]
    if bad is not None:
        name, key, v = bad
        many = above if unit == "fraction" else None
        raise ConversionError(
            f"{clip(name)!r}: {key!r} is {v!r}, outside the file's accuracies, which are "
            f"{'percentages (0-100)' if unit == 'percent' else 'fractions (0-1)'}"
            + (f" ({many:,} of {n:,} accuracies exceed 1)" if many else "")
            + "; a file holds one unit (a value in another is a damaged record)")
    return unit


def _command_line() -> str | None:
    """The command line, for the provenance: arguments that are not valid UTF-8 (file names of another
    encoding) shown with backslash escapes, credentials in URLs masked."""
    if not sys.argv or not sys.argv[0]:
        return None
    words = [Path(sys.argv[0]).name, *sys.argv[1:]]
    return mask_url(" ".join(w.encode("utf-8", "backslashreplace").decode("utf-8") for w in words))
