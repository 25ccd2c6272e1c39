"""Start a throw-away PostgreSQL server for the tests: initdb in a temporary folder, listening on a free
loopback port, trust authentication, no fsync; stopped and removed afterwards. As root, the server runs as
the ``postgres`` user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _bin(tool: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    return found[-1] if found else shutil.which(tool)


@contextlib.contextmanager
def running_server():
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("no PostgreSQL server here (initdb, pg_ctl): install Debian's postgresql package "
                    "(.ci/run does so when it is absent)")
    pytest.importorskip("psycopg2")
    home = Path(tempfile.mkdtemp(prefix="actbench-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(home, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = home / "data"
    run = lambda *cmd: subprocess.run(prefix + list(cmd), check=True, capture_output=True, text=True, timeout=120)
    try:
        run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        run(pg_ctl, "-D", str(data), "-l", str(home / "server.log"), "-w", "-t", "60", "start", "-o",
            f"-k {home} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off")
        run(_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "actbench")
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/actbench"
    except subprocess.CalledProcessError as e:
        log = (home / "server.log").read_text() if (home / "server.log").exists() else ""
        raise RuntimeError(f"could not start PostgreSQL: {e.cmd}: {e.stderr}\n{log}") from e
    finally:
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)
