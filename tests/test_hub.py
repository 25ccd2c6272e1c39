"""Hub downloads against a loopback HTTP server that speaks the Hub's file protocol (no network)."""

import hashlib
import http.server
import json
import os
import threading
import time

import numpy as np
import pytest

from actbench import ActBench
from actbench.cli import main
from actbench.hub import (
    ChecksumError,
    DownloadError,
    TableNotAvailableError,
    ensure_table,
    load_manifest,
    publish,
)
from actbench.table import Provenance, TableInfo, TableWriter

REPO = "test-org/act-bench-fixture"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Hub(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    hits: list = []
    cut_after: int | None = None  # send only this many bytes of a GET body, then drop the connection
    drip: tuple[int, float] | None = None  # send the body this many bytes at a time, sleeping between

    def _head(self):
        prefix = f"/datasets/{REPO}/resolve/"
        if not self.path.startswith(prefix):
            self.send_error(404)
            return None
        rev, _, name = self.path[len(prefix):].partition("/")
        body = self.files.get((rev, name))
        if body is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.end_headers()
            return None
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", '"' + hashlib.sha256(body).hexdigest() + '"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return body

    def do_HEAD(self):  # noqa: N802
        self._head()

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        body = self._head()
        if body is not None:
            if self.cut_after is not None:
                self.wfile.write(body[: self.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return
            if self.drip is not None:
                size, pause = self.drip
                try:
                    for i in range(0, len(body), size):
                        self.wfile.write(body[i:i + size])
                        self.wfile.flush()
                        time.sleep(pause)
                except OSError:  # the client gave up
                    pass
                return
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def table_bytes(tmp_path):
    path = tmp_path / "src" / "act-bench-cnn.h5"
    info = TableInfo(benchmark="cnn", space="act-bench", description="synthetic hub fixture")
    with TableWriter(path, info=info, provenance=Provenance.now(source="test-fixture", description="synthetic")) as w:
        w.add("sub(relu(x),zero(x))", {"val_acc": 0.9}, fim=np.zeros(4))
    return path.read_bytes()


@pytest.fixture()
def hub(tmp_path, monkeypatch, table_bytes):
    """Serve the fixture table on 127.0.0.1 and point actbench's manifest and endpoint at it."""
    _Hub.files = {("main", "act-bench-cnn.h5"): table_bytes}
    _Hub.hits = []
    _Hub.cut_after = None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({
        "repo_id": REPO, "revision": "main",
        "files": {"cnn": {"filename": "act-bench-cnn.h5", "sha256": hashlib.sha256(table_bytes).hexdigest(),
                          "size": len(table_bytes)}},
    }))
    monkeypatch.setenv("ACTBENCH_MANIFEST", str(manifest))
    monkeypatch.setenv("ACTBENCH_HUB_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("ACTBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ACTBENCH_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.shutdown()
    server.server_close()


def test_download_verify_and_open_offline(hub, tmp_path):
    b = ActBench("cnn")
    assert b.query("relu(x)").val_acc == 0.9
    cached = tmp_path / "cache" / "cnn" / "main" / "act-bench-cnn.h5"
    assert b.path == cached and (cached.parent / "act-bench-cnn.h5.verified").exists()
    n_get = len(_Hub.hits)
    hub.shutdown()  # from now on the network is gone
    again = ActBench("cnn", offline=True)
    assert again.query("sub(relu(x),zero(x))").val_acc == 0.9
    assert ActBench("cnn").path == cached  # verified copy: no request even when online is allowed
    assert len(_Hub.hits) == n_get


def test_corrupt_cache_is_detected_and_repaired(hub, tmp_path):
    path = ensure_table("cnn", progress=False)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    path.write_bytes(bytes(data))
    os.utime(path, ns=(1, 1))
    repaired = ensure_table("cnn", progress=False)  # re-download repairs it
    assert hashlib.sha256(repaired.read_bytes()).hexdigest() == load_manifest().files["cnn"].sha256
    repaired.write_bytes(b"x" * 10)
    with pytest.raises(ChecksumError, match="did not match its checksum and was deleted"):
        ensure_table("cnn", offline=True)
    assert not repaired.exists()


def test_interrupted_download_leaves_nothing_usable_and_retry_repairs(hub, tmp_path):
    _Hub.cut_after = 1000  # the connection drops mid-file
    with pytest.raises((DownloadError, ChecksumError)):
        ensure_table("cnn", progress=False)
    dest = tmp_path / "cache" / "cnn" / "main" / "act-bench-cnn.h5"
    assert not dest.exists()  # nothing half-downloaded under the real name
    _Hub.cut_after = None
    assert ActBench("cnn").query("relu(x)").val_acc == 0.9


def test_wrong_bytes_on_the_hub_are_refused(hub, tmp_path):
    _Hub.files[("main", "act-bench-cnn.h5")] = b"tampered"
    with pytest.raises(ChecksumError, match="the manifest expects"):
        ensure_table("cnn", progress=False)
    assert not (tmp_path / "cache" / "cnn" / "main" / "act-bench-cnn.h5").exists()


def test_hub_refusal_and_offline_without_cache(hub, monkeypatch):
    with pytest.raises(TableNotAvailableError, match="offline mode is on") as info:
        ensure_table("cnn", offline=True)
    assert "actbench convert act-bench-cnn.json --bench cnn" in str(info.value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TableNotAvailableError):
        ensure_table("cnn")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    # the Hub answers but lacks the file (a closed port would do too, after the client's retries)
    _Hub.files.clear()
    with pytest.raises(DownloadError, match="act-bench-cnn.h5 answered HTTP 404") as info:
        ensure_table("cnn", progress=False)
    assert isinstance(info.value, ConnectionError) and "actbench convert" in str(info.value)


def test_unpinned_revision_is_validated_not_verified(hub, table_bytes):
    _Hub.files[("v2", "act-bench-cnn.h5")] = table_bytes
    with pytest.warns(UserWarning, match="NOT verified"):
        path = ensure_table("cnn", revision="v2", progress=False)
    assert path.parent.name == "v2"
    for _ in range(2):  # every later open, offline, says it again
        with pytest.warns(UserWarning, match="NOT verified"):
            assert ensure_table("cnn", revision="v2", offline=True) == path
        with pytest.warns(UserWarning, match="NOT verified"):
            ActBench("cnn", revision="v2", offline=True).close()
    _Hub.files[("v3", "act-bench-cnn.h5")] = b"garbage"
    with pytest.raises(ChecksumError):
        ensure_table("cnn", revision="v3", progress=False)


def test_not_published(hub):
    with pytest.raises(TableNotAvailableError, match="not published") as info:
        ensure_table("vit")
    assert "actbench convert act-bench-vit.json --bench vit" in str(info.value)


def test_cli_download_and_info(hub, capsys):
    assert main(["download", "cnn"]) == 0
    path = capsys.readouterr().out.strip()
    assert path.endswith("act-bench-cnn.h5")
    assert main(["info", "cnn", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["rows"] == 1 and info["provenance"]["source"] == "test-fixture"
    assert main(["info", "cnn"]) == 0
    assert "synthetic hub fixture" in capsys.readouterr().out
    assert main(["query", "relu(x)", "--bench", "cnn", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["val_acc"] == 0.9
    assert main(["query", "relu(x)", "-b", "cnn"]) == 0
    assert "resolved_by        outputs" in capsys.readouterr().out
    assert main(["query", "tanh(tanh(tanh(x)))", "-b", "cnn"]) == 2
    assert "outside the benchmark's search space" in capsys.readouterr().err
    assert main(["download", "vit"]) == 2


def test_shipped_manifest_is_valid_and_honest(monkeypatch):
    monkeypatch.delenv("ACTBENCH_MANIFEST", raising=False)
    man = load_manifest()
    assert man.format == "actbench-manifest" and man.files == {}  # nothing published yet: no made-up checksums


def test_publish_dry_run_and_upload(tmp_path, table_bytes, monkeypatch, capsys):
    folder = tmp_path / "pub"
    folder.mkdir()
    (folder / "act-bench-cnn.h5").write_bytes(table_bytes)
    man = publish(folder, repo_id=REPO, dry_run=True)
    assert man.files["cnn"].sha256 == hashlib.sha256(table_bytes).hexdigest() and man.revision is None
    assert json.loads((folder / "manifest.json").read_text())["files"]["cnn"]["size"] == len(table_bytes)

    calls = []

    class FakeApi:  # records what would be sent; the real upload needs the network and a token
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw))

        def upload_folder(self, **kw):
            calls.append(("upload_folder", kw))
            return type("CommitInfo", (), {"oid": COMMIT})()

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    man = publish(folder, repo_id=REPO)
    assert man.revision == COMMIT
    assert calls[1][1]["repo_type"] == "dataset" and calls[1][1]["folder_path"] == str(folder)
    assert main(["publish", str(folder), "--repo-id", REPO, "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out
    (folder / "broken.h5").write_bytes(b"nope")
    with pytest.raises(ValueError, match="fails validation"):
        publish(folder, repo_id=REPO, dry_run=True)
    with pytest.raises(FileNotFoundError, match="no .h5 tables"):
        publish(tmp_path, repo_id=REPO, dry_run=True)


HOSTILE = ["../../../victim", "..", ".", "a/b", "a\\b", "/etc", "v1/../../x", "~root", "x" * 300, "a\x00b"]


@pytest.mark.parametrize("revision", HOSTILE)
def test_hostile_revisions_never_leave_the_cache(hub, tmp_path, revision):
    """A revision becomes a folder name: only safe ones are accepted, before any file is touched."""
    from actbench.hub import UnsafeNameError

    victim = tmp_path / "victim" / "act-bench-cnn.h5"
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    for offline in (True, False):
        with pytest.raises(UnsafeNameError, match="is not allowed"):
            ensure_table("cnn", revision=revision, offline=offline, progress=False)
        with pytest.raises(UnsafeNameError):
            ActBench("cnn", revision=revision, offline=offline)
    assert victim.read_bytes() == b"precious"
    assert isinstance(UnsafeNameError("x"), ValueError)


def test_hostile_names_in_a_manifest_or_call_are_refused(hub, tmp_path):
    from actbench.hub import Manifest, ManifestEntry, UnsafeNameError

    entry = ManifestEntry(filename="../../outside.h5", sha256="0" * 64, size=1)
    man = Manifest(repo_id=REPO, revision=COMMIT, files={"cnn": entry, "../x": entry.model_copy(
        update={"filename": "ok.h5"})})
    with pytest.raises(UnsafeNameError, match="file name in the manifest"):
        ensure_table("cnn", manifest=man, progress=False)
    with pytest.raises(UnsafeNameError, match="benchmark name"):
        ensure_table("../x", manifest=man, progress=False)
    assert not (tmp_path / "outside.h5").exists()


def test_inside_refuses_a_symlink_out_of_the_cache(tmp_path):
    from actbench.hub import UnsafeNameError, inside

    root = tmp_path / "cache"
    (root / "cnn").mkdir(parents=True)
    (root / "cnn" / "main").symlink_to(tmp_path)
    assert inside(root, root / "cnn" / "x.h5") == root / "cnn" / "x.h5"
    with pytest.raises(UnsafeNameError, match="outside the cache"):
        inside(root, root / "cnn" / "main" / "x.h5")


def test_a_dripping_server_is_stopped_by_the_minimum_rate(hub, tmp_path, monkeypatch):
    """A server that sends a few bytes at a time never trips the per-read timeout; the rate floor stops it,
    keeps what arrived, and the next call resumes."""
    import actbench._download as dl

    monkeypatch.setattr(dl, "RATE_WINDOW_S", 0.5)
    monkeypatch.setattr(_Hub, "drip", (16, 0.05))  # 16 bytes every 50 ms: 320 B/s
    monkeypatch.setenv("ACTBENCH_MIN_RATE", "5000")
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="too slow: .* below the minimum of 5,000") as info:
        ensure_table("cnn", progress=False)
    assert time.perf_counter() - t0 < 10 and "run the same call again to resume" in str(info.value)
    part = next((tmp_path / "cache" / "cnn").rglob("*.part"))
    assert part.stat().st_size > 0
    monkeypatch.setattr(_Hub, "drip", None)
    assert ensure_table("cnn", progress=False).exists()
    monkeypatch.setenv("ACTBENCH_MIN_RATE", "fast")
    with pytest.raises(ValueError, match="ACTBENCH_MIN_RATE='fast' is not a number"):
        ensure_table("cnn", progress=False, force=True)


def test_two_processes_fetching_one_table_share_the_download(hub, tmp_path):
    """Two processes that fetch the same table into one cache at once: the download's lock makes the second
    wait for the first and find the verified file (one request), instead of both writing one ``.part``."""
    import subprocess
    import sys

    _Hub.drip = (4096, 0.02)  # a slow transfer, so that the two processes overlap
    code = "from actbench.hub import ensure_table; print(ensure_table('cnn', progress=False))"
    try:
        procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        _Hub.drip = None
    dest = tmp_path / "cache" / "cnn" / "main" / "act-bench-cnn.h5"
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    assert [out.strip() for out, _ in outs] == [str(dest)] * 2
    assert sum(h.endswith("act-bench-cnn.h5") for h in _Hub.hits) == 1
    assert not dest.with_name(dest.name + ".part").exists()
    assert ActBench("cnn", offline=True).query("relu(x)").val_acc == 0.9


def test_a_held_hub_lock_times_out_with_a_clear_error(hub, tmp_path):
    from filelock import FileLock

    dest = tmp_path / "cache" / "cnn" / "main" / "act-bench-cnn.h5"
    dest.parent.mkdir(parents=True)
    with FileLock(dest.with_name(f".{dest.name}.lock")):  # another process is fetching it
        with pytest.raises(DownloadError, match="another process has been fetching the 'cnn' table"):
            ensure_table("cnn", progress=False, lock_timeout=0.2)


def test_an_invalid_manifest_is_a_clear_error(hub, tmp_path, monkeypatch):
    from actbench.errors import ManifestError

    bad = tmp_path / "bad-manifest.json"
    doc = json.loads((tmp_path / "manifest.json").read_text())
    doc["files"]["cnn"]["mirror"] = "https://elsewhere.example/x.h5"
    bad.write_text(json.dumps(doc))
    monkeypatch.setenv("ACTBENCH_MANIFEST", str(bad))
    with pytest.raises(ManifestError, match=r"is not valid: Extra inputs are not permitted at files\.cnn\.mirror"):
        load_manifest()
    assert main(["download", "cnn"]) == 2


def test_a_body_larger_than_the_manifest_says_is_stopped(hub, tmp_path, table_bytes):
    _Hub.files[("main", "act-bench-cnn.h5")] = table_bytes + b"\0" * 100_000
    with pytest.raises(DownloadError, match="more than the .* its source allows"):
        ensure_table("cnn", progress=False)
    dest = tmp_path / "cache" / "cnn" / "main" / "act-bench-cnn.h5"
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
