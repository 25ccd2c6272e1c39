"""Fetch the official release from a hostile loopback server, many ways, and count how each fetch ended.

Usage: python benchmarks/hostile_server.py [--repeats 2]

A loopback HTTP server (127.0.0.1 only; the requests are bounded in number and time) serves a SYNTHETIC file
in the official JSON shape (tests/fixtures.py: seeded random values, never the paper's data) and misbehaves in
one way per trial: drips its headers or a chunk-size line, cuts every body, declares less than it sends, sends
no length, sends more than is allowed (declared, or not), cuts the first answer and then ignores the Range
request of the resume (answering 200 with the whole file), answers 404/500/416, sends gzip or garbage, changes the file between a
cut and its resume, or is reached through a URL with credentials. Each trial runs ``ensure_official`` in a
fresh process with a 60 s limit and is classed as:

* ``ok``: a table whose every value equals the served file's;
* ``refused``: an actbench error (``ActBenchError``) saying what happened, nothing trusted left in the cache;
* ``wrong``: a table whose values differ from what the server last served (a silent wrong answer);
* ``crash``: any other exception (a traceback);
* ``hang``: still running after 60 s.

Written for docs/reliability.md ("Downloads"); ``wrong``, ``crash`` and ``hang`` should be 0.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import http.server
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _outcomes import print_outcomes  # noqa: E402

CHILD = r"""
import json, sys
from actbench.errors import ActBenchError
from actbench.sources.official import ensure_official
try:
    path = ensure_official("resnet", source=sys.argv[1], cache=sys.argv[2], accept_license=True, progress=False,
                           timeout=3)
except ActBenchError as e:
    print(json.dumps({"outcome": "refused", "error": type(e).__name__}))
except Exception as e:
    print(json.dumps({"outcome": "crash", "error": f"{type(e).__name__}: {e}"[:300]}))
else:
    from actbench import ActBench
    b = ActBench(path)
    print(json.dumps({"outcome": "table", "val": {n: b.query(n).val_acc for n in b.names}}))
"""


class Hostile(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b""
    other = b""  # a different file, for "changed between a cut and its resume"
    mode = "ok"
    served = b""  # what a complete answer last held
    calls = 0

    def do_GET(self):  # noqa: N802
        cls = type(self)
        cls.calls += 1
        m = self.mode
        if m in ("404", "500"):
            self.send_error(int(m))
            return
        if m == "drip_headers":
            return self._drip(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 400, headers_sent=False)
        if m == "drip_chunked":
            return self._drip(b"0" * 400, headers_sent=True)
        body = cls.body
        if m == "gzip":
            body = gzip.compress(body)
        elif m == "garbage":
            body = bytes((i * 7919) % 251 for i in range(len(body)))
        elif m == "changed" and cls.calls > 1:
            body = cls.other
        cls.served = body
        start = 0
        rng = self.headers.get("Range")
        etag = f'"v{min(cls.calls, 2)}"'
        if m == "changed" and self.headers.get("If-Range") not in (None, etag):
            rng = None  # the file changed since the part was fetched: the whole new file (RFC 9110 If-Range)
        if rng and m != "ignore_range":
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        if m == "changed":
            self.send_header("ETag", etag)
        payload = body[start:]
        if m in ("huge", "huge_no_length"):
            payload = payload + b" " * (3 << 20)  # valid JSON whitespace, past the allowed size
        declared = len(payload)
        if m == "overlong":
            declared = declared // 2  # declares less than it sends
        if m not in ("no_length", "huge_no_length"):
            self.send_header("Content-Length", str(declared))
        self.send_header("Connection", "close")
        self.end_headers()
        if m == "cut" or (m in ("changed", "ignore_range") and cls.calls == 1):
            payload = payload[: len(payload) // 3]
        try:
            self.wfile.write(payload)
        except OSError:
            pass
        self.close_connection = True

    def _drip(self, data: bytes, *, headers_sent: bool) -> None:
        if headers_sent:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        end = time.monotonic() + 20
        try:
            for b in data:
                if time.monotonic() > end:
                    break
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass
        self.close_connection = True

    def log_message(self, *args):
        pass


MODES = ["ok", "drip_headers", "drip_chunked", "cut", "overlong", "no_length", "huge", "huge_no_length",
         "ignore_range", "404", "500", "gzip", "garbage", "changed", "credentials"]


def run_trial(base: str, mode: str, work: Path, handler, *, resume: bool) -> str:
    handler.mode, handler.calls, handler.served = mode, 0, b""
    url = f"{base}/act-bench-resnet.json"
    if mode == "credentials":
        url = url.replace("http://", "http://user:secret@")
    cache = work / "cache"
    env = {"ACTBENCH_MIN_RATE": "1000", "ACTBENCH_MAX_DOWNLOAD": str(len(handler.body) + (1 << 20))}
    import os

    outcomes = []
    for attempt in range(2 if resume else 1):  # a second call resumes what the first left
        try:
            done = subprocess.run([sys.executable, "-c", CHILD, url, str(cache)], capture_output=True, text=True,
                                  timeout=60, env={**os.environ, **env})
            res = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {
                "outcome": "crash", "error": done.stderr[-300:]}
        except subprocess.TimeoutExpired:
            res = {"outcome": "hang"}
        if res["outcome"] == "table":
            served = json.loads(handler.served.decode()) if handler.served else {}
            same = all(abs(res["val"].get(n, float("nan")) - r["Validation Accuracy"]) < 1e-12 or
                       (r["Validation Accuracy"] != r["Validation Accuracy"]) for n, r in served.items()
                       if n in res["val"])
            res["outcome"] = "ok" if served and same and len(res["val"]) == len(served) else "wrong"
        outcomes.append(res["outcome"])
        if res["outcome"] == "ok":
            break
    return outcomes[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--rows", type=int, default=2791, help="rows of the synthetic file (2,791: complete)")
    args = p.parse_args()
    from fixtures import official_records

    handler = type("H", (Hostile,), {})
    handler.body = json.dumps(official_records(args.rows, 8, seed=1)).encode()
    handler.other = json.dumps(official_records(args.rows, 8, seed=2)).encode()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    table: dict[str, collections.Counter] = {}
    t0 = time.monotonic()
    try:
        for mode in MODES:
            table[mode] = collections.Counter()
            for r in range(args.repeats):
                with tempfile.TemporaryDirectory() as tmp:
                    table[mode][run_trial(base, mode, Path(tmp), handler, resume=mode in ("cut", "changed", "ignore_range"))] += 1
    finally:
        srv.shutdown()
    kinds = ["ok", "refused", "wrong", "crash", "hang"]
    print(f"{len(MODES) * args.repeats} trials ({args.repeats} per way), {time.monotonic() - t0:.0f} s")
    print_outcomes(table, kinds, first="server")


if __name__ == "__main__":
    main()
