"""Tables that cannot lie: checksums, index and shape checks on open, one file view, refused storage
outside the file, bounded validation. Every table here is a synthetic fixture written by the tests (or
the frozen synthetic format-v1 file in tests/data)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from actbench import ActBench
from actbench.errors import ActBenchError
from actbench.table import (
    CorruptTableError,
    Provenance,
    TableFormatError,
    TableInfo,
    TableWriter,
    read_table,
    upgrade_table,
    validate_table,
)

ROOT = Path(__file__).resolve().parent.parent
FROZEN = ROOT / "tests" / "data" / "table-v1.h5"


def _table(path, *, val=0.75, fim_scale=1.0):
    """A small synthetic table with per-seed values and FIM features."""
    info = TableInfo(benchmark="fixture", description="synthetic reliability fixture", n_seeds=2)
    prov = Provenance.now(source="test-fixture", description="synthetic values written by tests")
    with TableWriter(path, info=info, provenance=prov, seeds=[0, 1]) as w:
        w.add("add(relu(x),zero(x))", {"val_acc": val, "test_acc": 0.7}, per_seed={"val_acc": [val, 0.5]},
              fim=np.linspace(0, 1, 8) * fim_scale, equivalents=["add(zero(x),relu(x))"])
        w.add("tanh(x)", {"val_acc": 0.5, "test_acc": 0.4}, per_seed={"val_acc": [0.4, 0.6]}, fim=np.ones(8))
        w.add("swish(x)", {"val_acc": 0.9, "test_acc": 0.8}, per_seed={"val_acc": [0.9, 0.9]}, fim=np.zeros(8))
    return path


def _old(tmp_path):
    """A copy of the frozen format-v1 table (written before tables carried checksums)."""
    return Path(shutil.copy(FROZEN, tmp_path / "old.h5"))


# --- 1. byte damage -------------------------------------------------------------------------------


def test_new_tables_carry_checksums_and_no_variable_length_data(tmp_path):
    path = _table(tmp_path / "t.h5")
    with ActBench(path) as b:
        assert b.integrity == "fletcher32"
    with h5py.File(path, "r") as f:
        datasets = []
        f.visititems(lambda k, o: datasets.append(o) if isinstance(o, h5py.Dataset) else None)
        assert datasets and all(d.fletcher32 for d in datasets)
        assert f.id.get_create_plist().get_version()[0] >= 2  # superblock with a checksum
    assert b"GCOL" not in path.read_bytes()  # no global heap: nothing outside a checksum
    old = read_table(FROZEN)
    assert old.integrity is None
    old.close()


def test_a_flipped_byte_in_values_is_detected(tmp_path):
    path = _table(tmp_path / "t.h5")
    with h5py.File(path, "r") as f:
        offset = f["metrics/val_acc"].id.get_offset() if f["metrics/val_acc"].chunks is None else None
        chunk = f["metrics/val_acc"].id.get_chunk_info(0)
        offset = chunk.byte_offset if offset is None else offset
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10  # inside the stored float64 of row 0
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptTableError, match="truncated or damaged"):
        ActBench(path)
    assert validate_table(path)


def test_damage_sample_is_never_silent_on_checksummed_tables():
    """benchmarks/corrupt_tables.py on a seeded sample: with checksums, no damaged copy reads as different
    values without an error, and nothing escapes as another exception or hangs."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "corrupt_tables.py"), "--trials", "160",
                          "--json", "--timeout", "20"], capture_output=True, text=True, timeout=600, check=True)
    old, new = (json.loads(line) for line in out.stdout.splitlines())
    assert new["table"] == "frozen-v1-checksummed.h5" and new["trials"] > 120
    assert new.get("silent", 0) == 0 and new.get("crash", 0) == 0 and new.get("hang", 0) == 0, new
    assert new["detected"] > 0.9 * new["trials"], new
    assert old.get("crash", 0) == 0, old  # old files: never a raw exception


def test_damage_to_learning_curves_is_detected(tmp_path):
    """The same on a table whose bytes are mostly learning curves (compressed, format version 2; SYNTHETIC
    values written here): the damage sample reads every curve, and none of it passes silently."""
    from actbench import get_space
    from actbench.table import CURVE_METRICS

    rng = np.random.default_rng(0)
    path = tmp_path / "curves.h5"
    with TableWriter(path, info=TableInfo(benchmark="curves", description="test fixture (synthetic)"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic curves"),
                     seeds=[0, 1, 2], epochs=20) as w:
        for name in get_space("act-bench").representatives[:150]:
            w.add(name, {"val_acc": 0.5, "runtime_s": 1.0}, per_seed={"val_acc": [0.5] * 3},
                  curves={c: [list(rng.random(20)) for _ in range(3)] for c in CURVE_METRICS})
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "corrupt_tables.py"), "--trials", "80",
                          "--json", "--timeout", "20", "--table", str(path)],
                         capture_output=True, text=True, timeout=600, check=True)
    res = json.loads(out.stdout)
    assert res.get("silent", 0) == 0 and res.get("crash", 0) == 0 and res.get("hang", 0) == 0, res
    assert res["detected"] >= 0.9 * res["trials"], res  # curve bytes count as read, not as unused


def test_upgrade_copies_every_value_and_adds_checksums(tmp_path, capsys):
    from actbench.cli import main

    old = _old(tmp_path)
    new = upgrade_table(old, tmp_path / "new.h5")
    a, b = read_table(old), read_table(new)
    assert (a.integrity, b.integrity) == (None, "fletcher32")
    assert a.names == b.names and a.aliases == b.aliases and a.seeds == b.seeds and a.fim_layers == b.fim_layers
    for c in a.metrics:
        np.testing.assert_array_equal(a.metrics[c], b.metrics[c])
        np.testing.assert_array_equal(a.flags[c], b.flags[c])
        np.testing.assert_array_equal(a.per_seed(c), b.per_seed(c))
    np.testing.assert_array_equal(a.fim(), b.fim())
    np.testing.assert_array_equal(a.outputs(), b.outputs())
    assert json.loads(a.info_json) == json.loads(b.info_json)
    assert "rewritten with integrity checks" in b.provenance.notes[-1]
    assert validate_table(new) == []
    a.close(), b.close()
    assert main(["upgrade", str(old)]) == 0 and read_table(old).integrity == "fletcher32"  # in place
    assert main(["upgrade", str(old)]) == 0 and "nothing to do" in capsys.readouterr().out
    assert main(["info", str(new)]) == 0 and "fletcher32 checksums" in capsys.readouterr().out
    assert main(["info", str(FROZEN)]) == 0 and "unprotected" in capsys.readouterr().out


def test_upgrade_refuses_a_damaged_source(tmp_path):
    old = _old(tmp_path)
    with h5py.File(old, "r+") as f:
        f["flags/val_acc"][1] = 9
    with pytest.raises(TableFormatError, match="fails validation, not upgrading"):
        upgrade_table(old, tmp_path / "new.h5")
    assert not (tmp_path / "new.h5").exists() and not list(tmp_path.glob("*.tmp-*"))


# --- 2. index arrays checked on open --------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 3, 1 << 30])
@pytest.mark.parametrize("make", ["old", "new"])
def test_alias_rows_outside_the_table_are_refused_on_open(tmp_path, value, make):
    path = _old(tmp_path) if make == "old" else _table(tmp_path / "t.h5")
    with h5py.File(path, "r+") as f:
        rows = f["aliases/rows"][...]
        rows[0] = value
        f["aliases/rows"][...] = rows
    with pytest.raises(TableFormatError, match="index is damaged"):
        ActBench(path)
    assert any("outside the table" in p for p in validate_table(path))


def test_duplicate_names_are_refused_on_open(tmp_path):
    path = _old(tmp_path)
    with h5py.File(path, "r+") as f:
        f["names"][1] = f["names"][0]
    with pytest.raises(TableFormatError, match="row names are not unique"):
        ActBench(path)


def _damage(path, how):
    with h5py.File(path, "r+") as f:
        if how == "row outside":
            rows = f["aliases/rows"][...]
            rows[0] = 1 << 30
            f["aliases/rows"][...] = rows
        elif how == "unsorted":
            names = f["aliases/names"][...]
            names[[0, -1]] = names[[-1, 0]]
            f["aliases/names"][...] = names
        elif how == "name answers another row":  # a row's own name pointed at another row
            names, rows = f["aliases/names"][...], f["aliases/rows"][...]
            i = int(np.flatnonzero(names == f["names"][0])[0])
            rows[i] = 1
            f["aliases/rows"][...] = rows


@pytest.mark.parametrize("how", ["row outside", "unsorted", "name answers another row"])
def test_a_large_index_is_checked_on_first_use_before_any_answer(tmp_path, monkeypatch, how):
    """An index above CHECK_AT_OPEN names (the large space's) is read when a name is first looked up, and
    checked then: a damaged one raises there, never answers from a wrong row. Smaller ones: at open."""
    from actbench.table import index

    path = _table(tmp_path / "t.h5")
    _damage(path, how)
    with pytest.raises(TableFormatError, match="index is damaged"):
        ActBench(path)
    monkeypatch.setattr(index, "CHECK_AT_OPEN", 0)
    bench = ActBench(path)  # opens: the index is not read yet
    assert len(bench) == 3
    for use in (lambda: bench.query("add(zero(x),relu(x))"), lambda: bench.resolver.equivalents(0),
                lambda: bench.table()):
        with pytest.raises(TableFormatError, match="index is damaged"):
            use()
    assert validate_table(path)


def test_a_large_index_answers_as_a_small_one(tmp_path, monkeypatch):
    from actbench.table import index

    path = _table(tmp_path / "t.h5")
    small = ActBench(path)
    monkeypatch.setattr(index, "CHECK_AT_OPEN", 0)
    large = ActBench(path)
    assert list(large.data.names) == list(small.data.names) and large.data.names == small.data.names
    assert dict(large.data.aliases.items()) == dict(small.data.aliases.items())
    for name in [*small.data.aliases, "add(relu(x),zero(x))", "swish(x)", "", "x\0"]:
        assert large.data.row_of(name) == small.data.row_of(name)
    assert large.query("add(zero(x),relu(x))") == small.query("add(zero(x),relu(x))")
    assert large.resolver.equivalents(0) == small.resolver.equivalents(0)


# --- 3. one consistent view per handle ------------------------------------------------------------


def test_a_handle_reads_the_file_it_opened_even_after_an_atomic_replace(tmp_path):
    path = _table(tmp_path / "t.h5", val=0.75, fim_scale=1.0)
    bench = ActBench(path)
    assert bench.query("add(zero(x),relu(x))", seed=0).val_acc == 0.75
    _table(tmp_path / "new.h5", val=0.25, fim_scale=0.5)
    os.replace(tmp_path / "new.h5", path)  # what a study rebuild does
    fim = bench.features("fim")
    np.testing.assert_allclose(fim[0], np.linspace(0, 1, 8), rtol=1e-6)  # the old file's features
    bench2 = ActBench(path)
    bench._per_seed = None  # force the lazy per-seed read to happen after the replace
    assert bench.query("add(zero(x),relu(x))", seed=0).val_acc == 0.75
    assert bench2.query("add(zero(x),relu(x))", seed=0).val_acc == 0.25
    np.testing.assert_allclose(bench2.features("fim")[0], np.linspace(0, 0.5, 8), rtol=1e-6)
    bench.close()
    with pytest.raises(ValueError, match="has been closed"):
        bench.features("fim")
    bench.close()  # idempotent
    with ActBench(path) as b:
        assert len(b) == 3
    with pytest.raises(ValueError, match="has been closed"):
        b.features("outputs")


# --- 4. every failure maps to the table errors ----------------------------------------------------


def _replace(key, make):
    def tamper(f):
        del f[key]
        make(f, key)
    return tamper


STRUCTURAL = {
    "names is a group": _replace("names", lambda f, k: f.create_group(k)),
    "names are integers": _replace("names", lambda f, k: f.create_dataset(k, data=np.arange(3))),
    "names are 2-D": _replace("names", lambda f, k: f.create_dataset(k, data=np.array([["a"] * 2] * 3, dtype="S1"))),
    "names are not UTF-8": _replace("names", lambda f, k: f.create_dataset(
        k, data=np.array([b"\xff\xfe", b"b", b"c"], dtype=h5py.string_dtype("utf-8", 2)))),
    "metrics are compound": _replace("metrics/val_acc", lambda f, k: f.create_dataset(
        k, data=np.zeros(3, dtype=[("a", "f8"), ("b", "i4")]))),
    "metrics are text": _replace("metrics/val_acc", lambda f, k: f.create_dataset(k, data=np.array([b"x"] * 3))),
    "alias rows are floats": _replace("aliases/rows", lambda f, k: f.create_dataset(k, data=np.full(4, 0.5))),
    "alias rows are text": _replace("aliases/rows", lambda f, k: f.create_dataset(k, data=np.array([b"0"] * 4))),
    "seeds are 2-D": _replace("per_seed/seeds", lambda f, k: f.create_dataset(k, data=np.zeros((3, 2)))),
    "n_rows is text": lambda f: f.attrs.__setitem__("n_rows", "three"),
    "format_version is text": lambda f: f.attrs.__setitem__("format_version", "one"),
    "info is a number": lambda f: f.attrs.__setitem__("info", 5),
    "info is not UTF-8": lambda f: f.attrs.__setitem__("info", np.bytes_(b"\xff{")),
    "layout is a dataset": _replace("fim/layout", lambda f, k: f.create_dataset(k, data=np.zeros(2))),
    "layout offsets lie": lambda f: f["fim/layout/offset"].__setitem__(1, 3),
    "outputs have 999 points": _replace("outputs/values", lambda f, k: f.create_dataset(k, data=np.zeros((3, 999)))),
    "fim cdf is 1-D": _replace("fim/cdf", lambda f, k: f.create_dataset(k, data=np.zeros(3))),
    "a named datatype": lambda f: f.__setitem__("dtype", np.dtype("f8")),
}


@pytest.mark.parametrize("case", sorted(STRUCTURAL))
def test_structural_damage_gives_table_errors_never_tracebacks(tmp_path, case, capsys):
    from actbench.cli import main

    path = _old(tmp_path)
    with h5py.File(path, "r+") as f:
        STRUCTURAL[case](f)
    with pytest.raises(ActBenchError):
        ActBench(path)
    problems = validate_table(path)
    assert problems and all(isinstance(p, str) for p in problems)
    assert main(["validate", str(path), "--timeout", "60"]) == 1
    out = capsys.readouterr()
    assert "NOT a valid actbench table" in out.out and "Traceback" not in out.out + out.err


def test_a_truncated_file_gives_a_table_error(tmp_path):
    path = _table(tmp_path / "t.h5")
    data = path.read_bytes()
    for cut in (100, len(data) // 2, len(data) - 10):
        path.write_bytes(data[:cut])
        with pytest.raises(ActBenchError):
            ActBench(path)
        assert validate_table(path)


# --- 5. a libhdf5 hang is bounded -----------------------------------------------------------------


def test_validate_of_a_file_that_hangs_libhdf5_finishes_with_an_error(tmp_path, capsys):
    """Zeroing 16 bytes 16 past the global heap's signature of an old (variable-length text) table makes
    libhdf5 loop forever; validate reads in a child and calls the file damaged after the timeout."""
    from actbench.cli import main

    path = _old(tmp_path)
    data = bytearray(path.read_bytes())
    at = data.find(b"GCOL")
    data[at + 16:at + 32] = bytes(16)
    path.write_bytes(bytes(data))
    t0 = time.perf_counter()
    problems = validate_table(path, timeout=3)
    assert time.perf_counter() - t0 < 30
    assert len(problems) == 1 and "did not finish within 3 s" in problems[0]
    assert main(["validate", str(path), "--timeout", "3"]) == 1
    assert "treat the file as damaged" in capsys.readouterr().out


def test_validate_in_a_child_reports_what_the_child_says(tmp_path):
    path = _table(tmp_path / "t.h5")
    assert validate_table(path, timeout=120) == []
    (tmp_path / "junk.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    problems = validate_table(tmp_path / "junk.h5", timeout=120)
    assert len(problems) == 1 and "truncated or damaged" in problems[0]


# --- 6. declared shapes are checked against the stored bytes --------------------------------------


@pytest.mark.parametrize("rows", [20_000_000, 1 << 40])
def test_declared_rows_beyond_the_stored_bytes_are_refused_fast(tmp_path, rows):
    path = _old(tmp_path)
    with h5py.File(path, "r+") as f:
        def grow(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.maxshape and obj.maxshape[0] is None:
                obj.resize((rows,) + obj.shape[1:])
        f.visititems(grow)
        f.attrs["n_rows"] = rows
    t0 = time.perf_counter()
    with pytest.raises(TableFormatError, match="declares .* values but stores"):
        ActBench(path)
    assert time.perf_counter() - t0 < 5
    assert any("declares" in p for p in validate_table(path))


def test_compressed_columns_read_at_open_are_refused(tmp_path):
    path = _old(tmp_path)
    with h5py.File(path, "r+") as f:
        del f["metrics/val_acc"]
        f.create_dataset("metrics/val_acc", data=np.zeros(3), compression="gzip")
    with pytest.raises(TableFormatError, match="metrics/val_acc is compressed"):
        ActBench(path)


# --- 7. nothing is read from outside the file -----------------------------------------------------


def test_external_storage_external_links_and_virtual_datasets_are_refused(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3.0)
        f["s"] = np.array([b"a", b"b", b"c"])
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.arange(3.0).tobytes())

    def external_storage(f):
        del f["metrics/val_acc"]
        f.create_dataset("metrics/val_acc", shape=(3,), dtype="f8", external=[(str(raw), 0, 24)])

    def external_link(f):
        f["extra"] = h5py.ExternalLink(str(other), "/x")

    def soft_link(f):
        del f["metrics/val_acc"]
        f["metrics/val_acc"] = h5py.SoftLink("/metrics/test_acc")

    def virtual(f):
        layout = h5py.VirtualLayout(shape=(3,), dtype="S1")
        layout[:] = h5py.VirtualSource(str(other), "s", shape=(3,))
        del f["names"]
        f.create_virtual_dataset("names", layout)

    for tamper, fragment in ((external_storage, "stores its data in external files"),
                             (external_link, "is a ExternalLink"), (soft_link, "is a SoftLink"),
                             (virtual, "is a virtual dataset")):
        path = _old(tmp_path)
        with h5py.File(path, "r+") as f:
            tamper(f)
        with pytest.raises(TableFormatError, match=fragment):
            ActBench(path)
        assert any(fragment in p for p in validate_table(path)), validate_table(path)


def test_a_table_stating_checksums_must_have_them(tmp_path):
    path = _table(tmp_path / "t.h5")
    with h5py.File(path, "r+") as f:
        del f["metrics/val_acc"]
        f.create_dataset("metrics/val_acc", data=np.zeros(3))
    with pytest.raises(TableFormatError, match="metrics/val_acc has no fletcher32 checksum"):
        ActBench(path)
    with h5py.File(path, "r+") as f:
        f.attrs["integrity"] = "sha3"
    with pytest.raises(TableFormatError, match="integrity is 'sha3'"):
        ActBench(path)
    path = _table(tmp_path / "t2.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["info"] = f.attrs["info"].decode()  # variable-length text: outside every checksum
    with pytest.raises(TableFormatError, match="variable-length text"):
        ActBench(path)


# --- 12. an unknown name is rejected in milliseconds ----------------------------------------------


def test_did_you_mean_is_fast_and_agrees_with_difflib():
    import difflib
    import random

    from actbench.errors import Suggester, UnknownFunctionError, did_you_mean

    bench = ActBench()
    names = list(bench._table.aliases)
    sugg = Suggester(names)
    rng = random.Random(0)
    typos = []
    for _ in range(40):
        w = list(rng.choice(names))
        w[rng.randrange(len(w))] = rng.choice("abcdefghijklmnopqrstuvwxyz")
        typos.append("".join(w))
    t0 = time.perf_counter()
    fast = [sugg.suggest(w) for w in typos]
    t_fast = (time.perf_counter() - t0) / len(typos)
    t0 = time.perf_counter()
    full = [difflib.get_close_matches(w, names, n=3, cutoff=0.6) for w in typos[:8]]
    t_full = (time.perf_counter() - t0) / 8
    assert all(f[:1] == g[:1] for f, g in zip(fast, full))  # the best suggestion is difflib's
    assert t_fast * 10 < t_full, (t_fast, t_full)  # measured: ~3 ms against ~230 ms
    assert did_you_mean("RELU", ["relu", *names]) == " (did you mean 'relu'?)"
    outside = [f"erf({n})" for n in bench._table.names[:4]]  # valid names, deeper than mini's space
    with pytest.raises(UnknownFunctionError, match="did you mean"):
        bench.query(outside[0])  # builds the suggester once
    t0 = time.perf_counter()
    for w in outside[1:]:
        with pytest.raises(UnknownFunctionError):
            bench.query(w)
    assert (time.perf_counter() - t0) / 3 < t_full / 5


# --- 13. evaluation and hand-built expressions ----------------------------------------------------


def test_float32_evaluation_never_warns_and_hand_built_trees_are_validated():
    import warnings

    from actbench import evaluate
    from actbench.errors import ArityError, ParseError, UnknownOperatorError
    from actbench.expr import X, Expr

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert evaluate("relu(x)", [1e300, -1e300], dtype=np.float32).tolist() == [np.inf, 0.0]
    with pytest.raises(ArityError, match="takes exactly 1 argument, got 0"):
        Expr("relu")
    with pytest.raises(UnknownOperatorError, match="unknown operator 'foo'") as info:
        Expr("foo", (X,))
    assert isinstance(info.value, ParseError) and isinstance(info.value, ValueError)
    with pytest.raises(ArityError, match="takes exactly 2 arguments, got 1"):
        Expr("add", (X,))
    with pytest.raises(ArityError, match="takes no arguments"):
        Expr("x", (X,))
    with pytest.raises(TypeError, match="must be Expr objects"):
        Expr("relu", ("x",))
    assert str(Expr("relu", [X])) == "relu(x)" and Expr("relu", [X]) == Expr("relu", (X,))
    with pytest.raises(ArityError, match="takes exactly 2 arguments, got 3"):
        Expr("max", (X, X, Expr("tanh", (X,))))


# --- 14. the resolved-spelling cache is bounded in bytes ------------------------------------------


def test_resolved_spelling_cache_is_bounded_in_characters(monkeypatch):
    import actbench.query.resolver as resolver_mod

    monkeypatch.setattr(resolver_mod, "_RESOLVED_CHARS", 100_000)
    bench = ActBench()
    name = bench._table.names[0]
    long_spellings = [name.replace(",", " " * k + ",", 1) for k in range(1, 400)]  # each ~k characters longer
    for s in long_spellings:
        assert bench.query(s).representative == name
    held = sum(len(k) for k in bench.resolver._resolved)
    assert held <= 100_000 and len(bench.resolver._resolved) < len(long_spellings)
    assert bench.query(long_spellings[-1]).representative == name  # beyond the cache: still answered


def test_validate_in_a_child_that_dies_calls_the_file_damaged(tmp_path, monkeypatch):
    """A child that exits without answering (libhdf5 can abort the process) is reported, not trusted."""
    path = _table(tmp_path / "t.h5")
    monkeypatch.setattr(sys, "executable", "/bin/false")
    problems = validate_table(path, timeout=60)
    assert len(problems) == 1 and "the process that read it failed (exit code 1" in problems[0]


def test_names_and_index_error_paths():
    """A stored name that is not UTF-8 is a damaged table, not a wrong name; a missing name says so; an unknown
    embedding method is refused when the search is made."""
    import numpy as np

    from actbench.search import SurrogateSearch
    from actbench.table.index import Names

    names = Names(np.array([b"relu(x)", b"\xff(x)"]))
    assert names[0] == "relu(x)" and names.index("relu(x)") == 0 and "relu(x)" in names
    with pytest.raises(TableFormatError, match="not UTF-8"):
        names[1]
    with pytest.raises(ValueError, match="is not a row name"):
        names.index("tanh(x)")
    with pytest.raises(ValueError, match="unknown embedding method"):
        SurrogateSearch("knr", "outputs", embedding_method="quick")
