import hashlib
import json
import math
import re
import tracemalloc

import numpy as np
import pytest
from fixtures import official_records, write_official_json

from actbench import ActBench, UnknownBenchmarkError
from actbench import convert as convert_mod
from actbench.cli import main
from actbench.convert import ConversionError, JsonObjectStream, convert_official_json
from actbench.table import DIVERGED, OK, read_table, validate_table


def _convert(tmp_path, records, bench="cnn", **kw):
    src = write_official_json(tmp_path / f"act-bench-{bench}.json", records, **kw)
    out = tmp_path / f"{bench}.h5"
    report = convert_official_json(src, out, bench=bench, source="test-fixture")
    return src, out, report


@pytest.mark.parametrize("chunk", [7, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_every_value_round_trips(tmp_path, monkeypatch, chunk, indent):
    monkeypatch.setattr(convert_mod, "_CHUNK", chunk)  # tiny chunks: records straddle every boundary
    records = official_records(30, 40, seed=3)
    src, out, report = _convert(tmp_path, records, indent=indent)
    assert report["rows"] == 30 and report["fim_length"] == 40 and report["fim_missing"] == 6
    assert report["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    t = read_table(out)
    assert validate_table(out) == []
    keys = {"Train Accuracy": "train_acc", "Validation Accuracy": "val_acc", "Test Accuracy": "test_acc",
            "Train Loss": "train_loss", "Validation Loss": "val_loss", "Test Loss": "test_loss",
            "Runtime (s)": "runtime_s"}
    fim = t.fim()
    for name, rec in records.items():
        row = t.names.index(name)
        for key, col in keys.items():
            v = t.metrics[col][row]
            if math.isnan(rec[key]):
                assert math.isnan(v) and t.flags[col][row] == DIVERGED
            else:
                assert v == rec[key] and t.flags[col][row] == OK  # float64: bit-exact
        if rec["Fisher log eigenvalue CDF"]:
            np.testing.assert_array_equal(fim[row], np.float32(rec["Fisher log eigenvalue CDF"]))
        else:
            assert np.isnan(fim[row]).all()
        for eq in rec["Equivalent Activation Functions"]:
            assert t.aliases[eq] == row
    assert t.provenance.source == "test-fixture"
    assert t.provenance.inputs[0].sha256 == report["sha256"]
    assert t.info.benchmark == "cnn" and t.info.aggregation == "median of 3 runs"
    assert t.fim_layers is None  # 40 != All-CNN-C's 13,683 bins: layout unknown, not invented


def test_cnn_layout_attached_at_full_length(tmp_path):
    _, out, _ = _convert(tmp_path, official_records(3, 13683, seed=1))
    layers = read_table(out).fim_layers
    assert [l.n_weights for l in layers] == [2688, 83040, 83040, 166080, 331968, 331968, 331968, 37056, 1930]
    assert layers[-1].offset + layers[-1].n_bins == 13683


def test_vit_says_validation_is_test(tmp_path):
    _, out, _ = _convert(tmp_path, official_records(4, 10, seed=2), bench="vit")
    bench = ActBench(out)
    assert bench.info.val_is_test and bench.info.aggregation == "single run"
    rec = bench.query(bench.table().index[0])
    assert rec.val_is_test and "same split" in rec.test_split


def test_percent_accuracies_are_labelled(tmp_path):
    recs = official_records(3, 5, seed=4, nan_every=0)
    for r in recs.values():
        for key in ("Train Accuracy", "Validation Accuracy", "Test Accuracy"):
            r[key] *= 100
    _, out, _ = _convert(tmp_path, recs)
    assert read_table(out).info.accuracy_unit == "percent"


def test_empty_object(tmp_path):
    _, out, report = _convert(tmp_path, {})
    assert report["rows"] == 0 and read_table(out).n_rows == 0


def _bad(tmp_path, text: str):
    src = tmp_path / "bad.json"
    src.write_text(text)
    out = tmp_path / "bad.h5"
    with pytest.raises(ConversionError) as info:
        convert_official_json(src, out, bench="cnn", source="test-fixture")
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))
    return str(info.value)


def test_conversion_errors(tmp_path):
    good = json.dumps(official_records(3, 8, seed=5))
    assert "truncated" in _bad(tmp_path, good[: len(good) // 2])
    assert "truncated" in _bad(tmp_path, good[:-1])
    assert "file is empty" in _bad(tmp_path, "")
    assert "starts with '['" in _bad(tmp_path, "[1, 2]")
    assert "unexpected text after" in _bad(tmp_path, good + " {}")
    assert "expected ':'" in _bad(tmp_path, '{"relu(x)" 1}')
    assert "expected a function name" in _bad(tmp_path, '{"relu(x)": {}, 3: {}}')
    assert "is a list, expected an object" in _bad(tmp_path, '{"relu(x)": []}')
    assert "unexpected key(s) 'Accuracy'" in _bad(tmp_path, '{"relu(x)": {"Accuracy": 1}}')
    assert "expected a number" in _bad(tmp_path, '{"relu(x)": {"Test Loss": "low"}}')
    assert "must be a list of names" in _bad(tmp_path, '{"relu(x)": {"Equivalent Activation Functions": 3}}')
    assert "must be a list of numbers" in _bad(tmp_path, '{"relu(x)": {"Fisher log eigenvalue CDF": 3}}')
    assert "does not parse" in _bad(tmp_path, '{"relu(x": {}}')
    assert "has 2 values, earlier records have 3" in _bad(
        tmp_path, '{"relu(x)": {"Fisher log eigenvalue CDF": [1,2,3]}, "tanh(x)": {"Fisher log eigenvalue CDF": [1,2]}}')
    assert "relu(x)" in _bad(tmp_path, '{"relu(x)": {"Fisher log eigenvalue CDF": ["a"]}}')
    assert "duplicate row" in _bad(tmp_path, '{"relu(x)": {}, "relu( x )": {}}')
    big = "9" * 401
    assert "too large for a float64" in _bad(tmp_path, '{"relu(x)": {"Test Loss": %s}}' % big)
    assert "(401 characters)" in _bad(tmp_path, '{"relu(x)": {"Test Loss": %s}}' % big)
    assert "relu(x)" in _bad(tmp_path, '{"relu(x)": {"Fisher log eigenvalue CDF": [%s]}}' % big)
    assert "nested too deeply" in _bad(tmp_path, '{"relu(x)": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "nested too deeply" in _bad(tmp_path, '{"relu(x)": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001)
    with pytest.raises(UnknownBenchmarkError, match="did you mean 'cnn'"):
        convert_official_json(tmp_path / "bad.json", tmp_path / "x.h5", bench="cnnn")
    with pytest.raises(FileNotFoundError):
        convert_official_json(tmp_path / "absent.json", tmp_path / "x.h5", bench="cnn")


def test_missing_keys_are_flagged_missing(tmp_path):
    src = tmp_path / "m.json"
    src.write_text('{"relu(x)": {"Validation Accuracy": 0.5, "Test Loss": null}}')
    convert_official_json(src, tmp_path / "m.h5", bench="resnet", source="test-fixture")
    rec = ActBench(tmp_path / "m.h5").query("relu(x)")
    assert rec.val_acc == 0.5 and "test_loss" in rec.missing and "train_acc" in rec.missing
    assert not rec.diverged


def test_stream_reader_pairs():
    import io

    data = b'{ "a" : {"x": NaN}, "b":[1,2,{"c":"}"}] ,"d": 1.5e3 }'
    stream = JsonObjectStream(io.BytesIO(data))
    pairs = list(stream)
    assert [k for k, _ in pairs] == ["a", "b", "d"] and pairs[2][1] == 1500.0 and math.isnan(pairs[0][1]["x"])
    assert stream.size == len(data) and stream.sha256 == hashlib.sha256(data).hexdigest()


def test_memory_is_bounded_compared_to_json_load(tmp_path):
    """Conversion holds one record at a time: its peak Python allocation is a fraction of json.load's."""
    src = write_official_json(tmp_path / "big.json", official_records(150, 4000, seed=6, empty_fim_every=0))
    tracemalloc.start()
    with open(src) as f:
        json.load(f)
    _, load_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    convert_official_json(src, tmp_path / "big.h5", bench="cnn", source="test-fixture")
    _, conv_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert conv_peak < load_peak / 2, (conv_peak, load_peak)


def test_cli_convert(tmp_path, capsys):
    src = write_official_json(tmp_path / "act-bench-resnet.json", official_records(5, 6, seed=7))
    assert main(["convert", str(src), "--bench", "resnet", "--source", "test-fixture", "--no-progress"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "act-bench-resnet.h5").exists()
    assert main(["validate", str(tmp_path / "act-bench-resnet.h5")]) == 0
    capsys.readouterr()
    # the release's features are the reference implementation's: the converted table says so
    assert main(["info", str(tmp_path / "act-bench-resnet.h5")]) == 0
    assert re.search(r"fim_convention\s+reference\n", capsys.readouterr().out)
    (tmp_path / "bad.json").write_text("[")
    assert main(["convert", str(tmp_path / "bad.json"), "--bench", "resnet", "--no-progress"]) == 2
    assert "must hold one JSON object" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "absent.h5")]) == 2
    assert "no file at" in capsys.readouterr().err
    (tmp_path / "junk.h5").write_bytes(b"junk")
    assert main(["validate", str(tmp_path / "junk.h5")]) == 1
    assert "NOT a valid actbench table" in capsys.readouterr().out


def test_a_killed_conversion_leaves_a_temporary_file_that_the_next_run_removes(tmp_path):
    """SIGKILL a real `actbench convert` mid-way: its temporary file stays; the next run for the same output
    deletes it (and any other dead writer's), keeps those of live processes and other hosts, and succeeds."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from actbench.base.files import tmp_path as _tmp_path

    src = write_official_json(tmp_path / "act-bench-cnn.json", official_records(1500, 50, seed=1))
    out = tmp_path / "cnn.h5"
    proc = subprocess.Popen([sys.executable, "-m", "actbench", "convert", str(src), "-o", str(out), "--bench", "cnn",
                             "--source", "test-fixture", "--no-progress"])
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("cnn.h5.tmp-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = list(tmp_path.glob("cnn.h5.tmp-*"))
    assert len(left) == 1 and not out.exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    legacy = tmp_path / f"cnn.h5.tmp-{dead}"  # the name before 0.3.0
    live = _tmp_path(out).with_name(_tmp_path(out).name.rsplit("-", 1)[0] + f"-{os.getppid()}")
    other_host = tmp_path / f"cnn.h5.tmp-elsewhere-{dead}"
    for p in (legacy, live, other_host):
        p.write_bytes(b"partial")
    convert_official_json(src, out, bench="cnn", source="test-fixture")
    assert read_table(out).n_rows == 1500
    assert sorted(p.name for p in tmp_path.glob("cnn.h5.tmp-*")) == sorted([live.name, other_host.name])


def _one_changed(tmp_path, key, value, name_index=1):
    recs = official_records(6, 4, seed=6, nan_every=0)
    name = sorted(recs)[name_index]
    recs[name][key] = value
    return name, _bad(tmp_path, json.dumps(recs))


@pytest.mark.parametrize("key, value, fragment", [
    ("Validation Accuracy", 1.5, "outside the file's accuracies, which are fractions (0-1) (1 of 18"),
    ("Validation Accuracy", 87.0, "outside the file's accuracies, which are fractions"),
    ("Validation Accuracy", float("inf"), "an accuracy is a fraction"),
    ("Test Accuracy", -3.0, "an accuracy is a fraction"),
    ("Runtime (s)", -1e12, "a runtime is a positive number"),
    ("Runtime (s)", float("-inf"), "a runtime is a positive number"),
    ("Train Loss", -0.5, "a loss is not negative"),
])
def test_values_outside_their_domain_are_refused_naming_the_record(tmp_path, key, value, fragment):
    name, msg = _one_changed(tmp_path, key, value)
    assert fragment in msg and repr(name) in msg


def test_a_percent_file_is_decided_by_all_its_values_and_checked(tmp_path):
    recs = official_records(6, 4, seed=6, nan_every=0)
    for r in recs.values():
        for key in ("Train Accuracy", "Validation Accuracy", "Test Accuracy"):
            r[key] *= 100
    name = sorted(recs)[2]
    recs[name]["Test Accuracy"] = 140.0
    msg = _bad(tmp_path, json.dumps(recs))
    assert "outside the file's accuracies, which are percentages (0-100)" in msg and repr(name) in msg


def test_a_key_given_twice_in_a_record_is_refused(tmp_path):
    text = '{"relu(x)": {"Validation Accuracy": 0.5, "Validation Accuracy": 0.9}}'
    msg = _bad(tmp_path, text)
    assert "appears twice" in msg and "relu(x)" in msg


def test_what_a_message_quotes_of_the_file_is_bounded(tmp_path):
    rec = {f"k{i}": 1 for i in range(100_000)}
    msg = _bad(tmp_path, json.dumps({"relu(x)": rec}))
    assert len(msg) < 1_000 and "(99,995 more)" in msg
    msg = _bad(tmp_path, json.dumps({"relu(x)" + " " * 50_000: {"Test Loss": "low"}}))
    assert len(msg) < 1_000 and "more characters" in msg


def test_a_body_that_is_not_utf8_text_is_a_conversion_error(tmp_path):
    import gzip

    good = json.dumps(official_records(3, 4, seed=5)).encode()
    src = tmp_path / "act-bench-cnn.json"
    src.write_bytes(gzip.compress(good))
    with pytest.raises(ConversionError, match="gzip-compressed: decompress it first"):
        convert_official_json(src, tmp_path / "x.h5", bench="cnn", source="test-fixture")
    src.write_bytes(good[:20] + b"\xff\xfe" + good[20:])
    with pytest.raises(ConversionError, match="is not UTF-8"):
        convert_official_json(src, tmp_path / "x.h5", bench="cnn", source="test-fixture")


def test_a_long_record_is_read_in_linear_time(tmp_path, monkeypatch):
    """A record of many MiB is parsed a logarithmic number of times (reads double), not once per chunk."""
    monkeypatch.setattr(convert_mod, "_CHUNK", 4096)
    calls = []
    real = convert_mod._Reader.more

    def counting(self, at_least=4096):
        calls.append(at_least)
        return real(self, at_least)

    monkeypatch.setattr(convert_mod._Reader, "more", counting)
    recs = official_records(2, 400_000, seed=1, nan_every=0, empty_fim_every=0)  # ~8 MiB per record
    src = write_official_json(tmp_path / "act-bench-cnn.json", recs)
    convert_official_json(src, tmp_path / "x.h5", bench="cnn", source="test-fixture")
    assert src.stat().st_size > 12 << 20 and len(calls) < 60  # a read per 4 KiB would be over 3,000


def test_a_name_claimed_by_two_records_is_refused_naming_both(tmp_path):
    """A record listing another record's own name as its equivalent (placed first or last), or two records
    listing one equivalent, is a damaged file: refused, never a row answering another's name."""
    recs = official_records(4, 4, seed=2, nan_every=0)
    a, b = sorted(recs)[:2]
    hijack = {a: {**recs[a], "Equivalent Activation Functions": [b]}, b: recs[b]}
    msg = _bad(tmp_path, json.dumps(hijack))
    assert "claimed by two rows" in msg and repr(a) in msg and repr(b) in msg
    late = {b: recs[b], a: {**recs[a], "Equivalent Activation Functions": [b]}}
    assert "claimed by two rows" in _bad(tmp_path, json.dumps(late))
    both = {a: {**recs[a], "Equivalent Activation Functions": ["tanh(x)"]},
            b: {**recs[b], "Equivalent Activation Functions": ["tanh(x)"]}}
    msg = _bad(tmp_path, json.dumps(both))
    assert "'tanh(x)' is claimed by two rows" in msg and repr(a) in msg and repr(b) in msg
