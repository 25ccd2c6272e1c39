"""The paper's tables on a user's machine: the official release fetched, converted and cached.

Everything is served by a loopback HTTP server from a SYNTHETIC file in the official JSON shape
(tests/fixtures.py: seeded random values, never the paper's data). The server speaks HTTP Range and
can fail in the ways a real download fails.
"""

import http.server
import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from fixtures import official_records, write_official_json

from actbench import ActBench
from actbench.cli import main
from actbench.convert import ConversionError, convert_official_json
from actbench.hub import ChecksumError, DownloadError, TableNotAvailableError
from actbench.official import LicenseNotAcceptedError, OfficialDataError, ensure_official, license_accepted
from actbench.registry import BENCHMARKS
from actbench.table import CorruptTableError, read_table


@pytest.fixture(scope="module")
def full_json(tmp_path_factory) -> bytes:
    """Every unique Act-Bench function once, with the space's equivalents: a complete synthetic release."""
    path = tmp_path_factory.mktemp("official") / "act-bench-resnet.json"
    write_official_json(path, official_records(2791, 12, seed=11))
    return path.read_bytes()


class _Release(http.server.BaseHTTPRequestHandler):
    body: bytes = b""
    mode = "ok"  # ok | cut | 404 | 500
    requests: list = []

    def do_GET(self):  # noqa: N802
        type(self).requests.append((self.path, self.headers.get("Range")))
        if self.mode in ("drip_headers", "drip_chunked"):
            self._drip()
            return
        if self.mode in ("404", "500"):
            self.send_error(int(self.mode))
            return
        body, start = self.body, 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[len("bytes="):].split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.mode == "cut":  # half the body, then the connection drops
            self.wfile.write(body[start:start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def _drip(self, pause: float = 0.2, seconds: float = 8.0) -> None:
        """A hostile server: the headers, or a chunk-size line, one byte at a time (each within a read's
        timeout), for ``seconds``."""
        import time

        if self.mode == "drip_chunked":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        line = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000 if self.mode == "drip_headers" else b"0" * 1000
        end = time.monotonic() + seconds
        try:
            for b in line:
                if time.monotonic() > end:
                    break
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                time.sleep(pause)
        except OSError:  # the client gave up: what the test wants
            pass
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture()
def server(full_json):
    handler = type("Release", (_Release,), {"body": full_json, "mode": "ok", "requests": []})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _cache(tmp_path) -> Path:
    return tmp_path / "cache"


def _nothing_trusted(tmp_path) -> bool:
    root = _cache(tmp_path) / "official"
    return not list(root.glob("*.h5")) and not list(root.glob(".*unchecked*"))


def test_first_call_downloads_converts_and_second_is_offline(server, tmp_path, monkeypatch, capfd):
    handler, base = server
    monkeypatch.setenv("ACTBENCH_OFFICIAL_URL", base)  # a mirror, as a cluster would set it
    bench = ActBench("resnet", cache_dir=_cache(tmp_path), accept_license=True)
    err = capfd.readouterr().err
    assert "Academic Public License" in err and "non-commercial" in err  # the notice, before the download
    assert "download act-bench-resnet.json" in err  # the progress bar
    assert handler.requests == [("/act-bench-resnet.json", None)]
    assert len(bench) == 2791 and bench.provenance.source == "official-json" and bench.fim_convention == "reference"
    rec = bench.query("swish(x)")  # not in the schema: answered by outputs
    assert rec.resolved_by == "outputs" and 0 < rec.val_acc < 1
    src = bench.provenance.inputs[0]
    assert src.size == len(handler.body) and len(src.sha256) == 64
    assert any("unverified (first download)" in n for n in bench.provenance.notes)
    assert not (_cache(tmp_path) / "official" / "downloads" / "act-bench-resnet.json").exists()  # not kept
    assert license_accepted(_cache(tmp_path))

    monkeypatch.setenv("ACTBENCH_OFFLINE", "1")
    again = ActBench("resnet", cache_dir=_cache(tmp_path))
    assert again.query("swish(x)").val_acc == rec.val_acc and len(handler.requests) == 1

    assert main(["info", "resnet", "--cache-dir", str(_cache(tmp_path))]) == 0
    out = capfd.readouterr().out
    assert "unverified (first download)" in out and "2,791 rows; the paper's release has 2,913" in out
    assert main(["list", "--cache-dir", str(_cache(tmp_path))]) == 0
    out = capfd.readouterr().out
    assert "official release (no checksum pinned)" in out and "act-bench-resnet.h5" in out


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path, monkeypatch):
    handler, base = server
    handler.mode = "cut"
    url = f"{base}/act-bench-resnet.json"
    with pytest.raises(DownloadError, match="run the same call again to resume"):
        ensure_official("resnet", source=url, cache=_cache(tmp_path), accept_license=True, progress=False)
    part = _cache(tmp_path) / "official" / "downloads" / "act-bench-resnet.json.part"
    assert 0 < part.stat().st_size < len(handler.body) and _nothing_trusted(tmp_path)
    handler.mode = "ok"
    path = ensure_official("resnet", source=url, cache=_cache(tmp_path), progress=False)
    assert handler.requests[-1] == ("/act-bench-resnet.json", f"bytes={len(handler.body) // 2}-")
    assert len(ActBench(path)) == 2791 and not part.exists()
    assert ActBench(path).provenance.inputs[0].size == len(handler.body)


@pytest.mark.parametrize("mode, error, match", [
    ("404", DownloadError, "HTTP 404"),
    ("500", DownloadError, "HTTP 500"),
    ("truncated", ConversionError, "truncated or not JSON"),
    ("not-json", ConversionError, "JSON"),
    ("incomplete", OfficialDataError, "answer no row"),
])
def test_bad_answers_leave_nothing_trusted(server, tmp_path, mode, error, match):
    handler, base = server
    if mode in ("404", "500"):
        handler.mode = mode
    elif mode == "truncated":
        handler.body = handler.body[: len(handler.body) // 3]
    elif mode == "not-json":
        handler.body = b"<html>Access denied</html>"
    else:  # a well-formed file that lacks most functions
        buf = io.StringIO()
        json.dump(official_records(50, 12, seed=3), buf)
        handler.body = buf.getvalue().encode()
    with pytest.raises(error, match=match):
        ensure_official("resnet", source=f"{base}/act-bench-resnet.json", cache=_cache(tmp_path),
                        accept_license=True, progress=False)
    assert _nothing_trusted(tmp_path)
    assert not list((_cache(tmp_path) / "official" / "downloads").glob("*.json"))  # fetched again next time
    with pytest.raises(TableNotAvailableError):
        ActBench("resnet", cache_dir=_cache(tmp_path), offline=True)


def test_pinned_checksums_verify_or_refuse(server, tmp_path, monkeypatch, capsys):
    handler, base = server
    pins = tmp_path / "pins.json"
    monkeypatch.setenv("ACTBENCH_OFFICIAL_PINS", str(pins))
    other = tmp_path / "other.json"
    other.write_bytes(handler.body.replace(b"0.", b"0.1", 1))
    assert main(["pin", "resnet", str(other), "--pins", str(pins)]) == 0  # a maintainer pinned another file
    assert "pinned resnet" in capsys.readouterr().out
    url = f"{base}/act-bench-resnet.json"
    with pytest.raises(ChecksumError, match="pinned"):
        ensure_official("resnet", source=url, cache=_cache(tmp_path), accept_license=True, progress=False)
    assert _nothing_trusted(tmp_path)
    assert not list((_cache(tmp_path) / "official" / "downloads").glob("*"))
    served = tmp_path / "served.json"
    served.write_bytes(handler.body)
    assert main(["pin", "resnet", str(served), "--pins", str(pins)]) == 0
    path = ensure_official("resnet", source=url, cache=_cache(tmp_path), progress=False)
    assert any(n.startswith("input verified: sha256") for n in ActBench(path).provenance.notes)
    assert main(["list"]) == 0 and "official release (sha256 pinned)" in capsys.readouterr().out


def test_licence_without_a_terminal(server, tmp_path, monkeypatch):
    handler, base = server
    url = f"{base}/act-bench-resnet.json"
    with pytest.raises(LicenseNotAcceptedError, match="ACTBENCH_ACCEPT_LICENSE=1"):  # stdin is no tty here
        ensure_official("resnet", source=url, cache=_cache(tmp_path), progress=False)
    assert handler.requests == [] and not license_accepted(_cache(tmp_path))
    monkeypatch.setenv("ACTBENCH_ACCEPT_LICENSE", "1")  # clusters and scripts
    ensure_official("resnet", source=url, cache=_cache(tmp_path), progress=False)
    assert len(handler.requests) == 1


def test_licence_prompt_on_a_terminal(server, tmp_path, monkeypatch):
    handler, base = server

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Tty("n\n"))
    with pytest.raises(LicenseNotAcceptedError):
        ensure_official("resnet", source=f"{base}/act-bench-resnet.json", cache=_cache(tmp_path), progress=False)
    monkeypatch.setattr("sys.stdin", Tty("yes\n"))
    ensure_official("resnet", source=f"{base}/act-bench-resnet.json", cache=_cache(tmp_path), progress=False)
    assert license_accepted(_cache(tmp_path))


def test_local_file_source_converts_once_and_keeps_the_file(full_json, tmp_path, monkeypatch, capsys):
    src = tmp_path / "act-bench-resnet.json"
    src.write_bytes(full_json)
    monkeypatch.setenv("ACTBENCH_OFFLINE", "1")  # a cluster node without internet
    b = ActBench("resnet", source=src, cache_dir=_cache(tmp_path), accept_license=True)
    assert len(b) == 2791 and src.exists()
    assert any(f"local file {src}" in n for n in b.provenance.notes)
    assert len(ActBench("resnet", cache_dir=_cache(tmp_path))) == 2791
    assert main(["download", "resnet", "--cache-dir", str(_cache(tmp_path))]) == 0  # cached: prints the path
    assert capsys.readouterr().out.strip().endswith("act-bench-resnet.h5")
    with pytest.raises(FileNotFoundError, match="no official file"):
        ActBench("vit", source=tmp_path / "absent.json", cache_dir=_cache(tmp_path), accept_license=True)


def test_cli_download_with_flags(server, tmp_path, capsys):
    handler, base = server
    assert main(["download", "resnet", "--source", f"{base}/act-bench-resnet.json", "--accept-license",
                 "--keep-json", "--no-progress", "--cache-dir", str(_cache(tmp_path))]) == 0
    assert capsys.readouterr().out.strip().endswith("act-bench-resnet.h5")
    assert (_cache(tmp_path) / "official" / "downloads" / "act-bench-resnet.json").exists()  # --keep-json
    assert main(["download", "mini"]) == 0
    assert "ships with the package" in capsys.readouterr().out
    assert main(["download", "resnet", "--revision", "abc", "--cache-dir", str(tmp_path / "c2")]) == 2
    assert "not published on the Hub" in capsys.readouterr().err


def test_a_json_file_where_a_table_is_expected(full_json, tmp_path, capsys):
    path = tmp_path / "act-bench-resnet.json"
    path.write_bytes(full_json)
    with pytest.raises(CorruptTableError) as info:
        ActBench(path)
    msg = str(info.value)
    assert "is a JSON file, not an actbench table" in msg and "actbench convert" in msg and "delete" not in msg
    assert path.read_bytes() == full_json
    (tmp_path / "notes.h5").write_text("hello")
    assert main(["info", str(tmp_path / "notes.h5")]) == 2
    err = capsys.readouterr().err
    assert "not an HDF5 file" in err and "delete" not in err


@pytest.mark.parametrize("bench", ["cnn", "resnet", "vit"])
def test_layouts_are_attached_only_at_their_length(bench, tmp_path):
    layout = BENCHMARKS[bench].layout()
    n_bins = sum(layer.n_bins for layer in layout)
    assert n_bins == {"cnn": 13683, "resnet": 8418, "vit": 10948}[bench]
    src = write_official_json(tmp_path / "a.json", official_records(3, n_bins, seed=1))
    convert_official_json(src, tmp_path / "a.h5", bench=bench, source="test-fixture")
    assert read_table(tmp_path / "a.h5").fim_layers == layout
    src = write_official_json(tmp_path / "b.json", official_records(3, n_bins - 1, seed=1))
    convert_official_json(src, tmp_path / "b.h5", bench=bench, source="test-fixture")
    assert read_table(tmp_path / "b.h5").fim_layers is None


def test_info_says_why_a_layout_is_unknown(tmp_path, capsys):
    src = write_official_json(tmp_path / "act-bench-vit.json", official_records(3, 40, seed=1))
    convert_official_json(src, tmp_path / "v.h5", bench="vit", source="test-fixture")
    assert main(["info", str(tmp_path / "v.h5")]) == 0
    out = capsys.readouterr().out
    assert "the FIM feature has 40 values, our vit network's layout has 10,948 bins" in out
    assert np.isfinite(ActBench(tmp_path / "v.h5").metric("runtime_s")).all()


def test_concurrent_processes_fetch_once(server, tmp_path):
    """Array jobs of a cluster opening the same benchmark in a shared cache: one download, one table."""
    import subprocess
    import sys

    handler, base = server
    code = ("import sys; from actbench.official import ensure_official; "
            f"print(ensure_official('resnet', source={base + '/act-bench-resnet.json'!r}, cache={str(_cache(tmp_path))!r}, "
            "accept_license=True, progress=False))")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    assert len({o[0].strip() for o in outs}) == 1
    assert len(handler.requests) == 1  # the others waited for the first and opened its table
    assert len(ActBench(outs[0][0].strip())) == 2791


def test_stale_partial_download_restarts(server, tmp_path):
    """A .part as long as the file (the server answers 416 to its Range): thrown away, fetched again."""
    handler, base = server
    part = _cache(tmp_path) / "official" / "downloads" / "act-bench-resnet.json.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * len(handler.body))
    url = f"{base}/act-bench-resnet.json"
    (part.parent / f".{part.name}.source.json").write_text(json.dumps({"url": url}))  # a part of this source
    path = ensure_official("resnet", source=url, cache=_cache(tmp_path), accept_license=True, progress=False)
    assert [r[1] for r in handler.requests] == [f"bytes={len(handler.body)}-", None]
    assert len(ActBench(path)) == 2791


def test_a_held_lock_times_out_with_a_clear_error(tmp_path):
    from filelock import FileLock

    root = _cache(tmp_path) / "official"
    root.mkdir(parents=True)
    with FileLock(root / ".act-bench-resnet.lock"):  # another process is fetching resnet
        with pytest.raises(DownloadError, match="another process has been fetching 'resnet'"):
            ensure_official("resnet", source=tmp_path / "x.json", cache=_cache(tmp_path), accept_license=True,
                            lock_timeout=0.2)


def test_argument_errors(tmp_path, capsys):
    from actbench import UnknownBenchmarkError

    with pytest.raises(UnknownBenchmarkError, match="has no official release"):
        ensure_official("mini", cache=_cache(tmp_path))
    with pytest.raises(TableNotAvailableError, match="not published on the Hub"):
        ActBench("resnet", revision="abc", cache_dir=_cache(tmp_path))
    assert main(["pin", "resnet", str(tmp_path / "absent.json"), "--pins", str(tmp_path / "p.json")]) == 2
    assert "no file at" in capsys.readouterr().err


# --- hostile sources ------------------------------------------------------------------------------------


def test_a_leftover_download_of_another_source_is_fetched_again(server, tmp_path):
    """A download that a killed call left (complete, unconverted) belongs to its URL: a call with another URL
    fetches its own file, and the table's provenance names the URL it was converted from."""
    from actbench.sources.download import download

    handler, base = server
    url_a, url_b = f"{base}/a/act-bench-resnet.json", f"{base}/b/act-bench-resnet.json"
    local = _cache(tmp_path) / "official" / "downloads" / "act-bench-resnet.json"
    download(url_a, local, progress=False, timeout=10)  # as a call killed during conversion leaves it
    handler.requests.clear()
    path = ensure_official("resnet", source=url_b, cache=_cache(tmp_path), accept_license=True, progress=False)
    assert [r[0] for r in handler.requests] == ["/b/act-bench-resnet.json"]
    assert any(n.startswith(f"official file from {url_b}, ") for n in ActBench(path).provenance.notes)


def test_a_source_that_differs_from_the_cached_tables_is_never_ignored(server, tmp_path):
    from actbench.errors import SourceMismatchError

    handler, base = server
    url_a, url_b = f"{base}/a/act-bench-resnet.json", f"{base}/b/act-bench-resnet.json"
    path = ensure_official("resnet", source=url_a, cache=_cache(tmp_path), accept_license=True, progress=False)
    assert ActBench("resnet", source=url_a, cache_dir=_cache(tmp_path)).path == path  # the same source: cached
    with pytest.raises(SourceMismatchError, match=r"converted from .*/a/act-bench-resnet.json.*--force"):
        ActBench("resnet", source=url_b, cache_dir=_cache(tmp_path))
    handler.requests.clear()
    ensure_official("resnet", source=url_b, cache=_cache(tmp_path), force=True, progress=False)
    assert [r[0] for r in handler.requests] == ["/b/act-bench-resnet.json"]
    assert any(f"from {url_b}" in n for n in ActBench(path).provenance.notes)


def test_credentials_in_a_mirror_url_are_refused_and_never_shown(server, tmp_path):
    handler, base = server
    url = base.replace("http://", "http://user:s3cret@") + "/act-bench-resnet.json"
    with pytest.raises(DownloadError, match="carries credentials") as info:
        ensure_official("resnet", source=url, cache=_cache(tmp_path), accept_license=True, progress=False)
    assert "s3cret" not in str(info.value) and "user:***@" in str(info.value) and not handler.requests


@pytest.mark.parametrize("mode, fragment", [("drip_headers", "sent no complete response within 1.5 s"),
                                            ("drip_chunked", "is too slow")])
def test_a_dripping_server_is_stopped_headers_and_chunk_lines_included(server, tmp_path, monkeypatch, mode, fragment):
    import time

    import actbench.sources.download as dl

    handler, base = server
    handler.mode = mode
    monkeypatch.setattr(dl, "RATE_WINDOW_S", 1.0)
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match=fragment):
        ensure_official("resnet", source=f"{base}/act-bench-resnet.json", cache=_cache(tmp_path), accept_license=True,
                        progress=False, timeout=1.5)
    assert time.monotonic() - t0 < 6  # the server would have dripped for 8 s (and a real one forever)
    assert _nothing_trusted(tmp_path)


def test_a_body_larger_than_allowed_is_stopped(server, tmp_path, monkeypatch):
    handler, base = server
    monkeypatch.setenv("ACTBENCH_MAX_DOWNLOAD", "1000")
    with pytest.raises(DownloadError, match="declares .* more than the 1,000"):
        ensure_official("resnet", source=f"{base}/act-bench-resnet.json", cache=_cache(tmp_path), accept_license=True,
                        progress=False)
    assert not list((_cache(tmp_path) / "official" / "downloads").glob("*.part"))


def test_a_killed_conversions_files_are_removed_by_the_next_run(server, tmp_path):
    """What a conversion killed at any moment leaves (its unchecked table, and that table's own temporary
    file: chained names) is removed by the next run; files of live processes are kept."""
    import os
    import subprocess
    import sys

    handler, base = server
    root = _cache(tmp_path) / "official"
    root.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    from actbench.base.files import tmp_path as tmp_name

    host = tmp_name(root / "x").name.rsplit("-", 1)[0].split(".tmp-", 1)[1]
    left = [root / f".act-bench-resnet.h5.unchecked-{host}-{dead}",
            root / f".act-bench-resnet.h5.unchecked-{host}-{dead}.tmp-{host}-{dead}"]
    live = root / f".act-bench-resnet.h5.unchecked-{host}-{os.getppid()}"
    for p in (*left, live):
        p.write_bytes(b"partial")
    ensure_official("resnet", source=f"{base}/act-bench-resnet.json", cache=_cache(tmp_path), accept_license=True,
                    progress=False)
    assert not any(p.exists() for p in left) and live.exists()
