"""The one-node Slurm cluster of the tests: ``python -m generation.onenode``'s cluster (munge, slurmctld and
slurmd with every file in a temporary folder; Debian's munge, slurmctld, slurmd and slurm-client packages,
which `.ci/run` installs when absent), with the waits the tests need. Without the packages or without root
(the daemons run as root) the tests that need it are skipped with the reason."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
         "DEADLINE"}


class Cluster:
    """The running cluster (:class:`generation.onenode.OneNode`), with submission and waits."""

    def __init__(self, node):
        self.node = node
        self.env, self.run, self.logs = node.env, node.run, node.logs

    def sbatch(self, *args: str, cwd: Path, env: dict | None = None) -> str:
        """Submit; the job's id."""
        done = self.run("sbatch", "--parsable", *args, cwd=cwd, env={**self.env, **(env or {})}, check=False)
        if done.returncode:
            raise AssertionError(f"sbatch {' '.join(args)}: {done.stderr}")
        return done.stdout.strip().split(";")[0]

    def states(self, job: str) -> dict[str, str]:
        """Array task (or job) id -> state, for the jobs still known to the controller."""
        out = self.run("squeue", "-h", "-j", job, "-t", "all", "-o", "%i %T", check=False).stdout
        return dict(line.split() for line in out.splitlines() if line.strip())

    def wait(self, job: str, timeout: float = 300) -> dict[str, str]:
        """Wait until every task of ``job`` has ended; their final states."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.states(job)
            if states and all(s in ENDED for s in states.values()):
                return states
            time.sleep(0.3)
        raise AssertionError(f"job {job} still {self.states(job)} after {timeout:.0f} s\n{self.logs()}")


@contextlib.contextmanager
def running_cluster():
    from generation.onenode import missing_tools, start, stop

    if missing_tools():
        pytest.skip(f"no Slurm here ({', '.join(missing_tools())} missing): install Debian's munge, slurmctld, "
                    "slurmd and slurm-client packages (.ci/run does so when they are absent)")
    if os.geteuid() != 0:
        pytest.skip("the one-node Slurm of the tests runs its daemons as root (SlurmUser=root); run the tests as root")
    home = Path(tempfile.mkdtemp(prefix="actbench-slurm-"))
    try:
        yield Cluster(start(home))
    finally:
        stop(home)
        shutil.rmtree(home, ignore_errors=True)
