"""Start a throw-away one-node Slurm cluster for the tests: a munge key made for the occasion, ``munged``,
``slurmctld`` and ``slurmd`` (Debian's munge, slurmctld, slurmd and slurm-client packages; `.ci/run` installs
them when absent) with every file in a temporary folder, ports of their own, the machine's cores, and a
controller that requeues a job within seconds. Stopped by their process ids afterwards, jobs first.

Slurm's daemons run as root here (``SlurmUser=root``, as on the CI machine): without root the tests that need
this cluster are skipped with the reason."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 * 3 // 4  # leave the rest to the tests themselves
    return 4000


class Cluster:
    """The running cluster: ``env`` for the client commands (``SLURM_CONF``), ``run`` to call them, and waits."""

    def __init__(self, home: Path, node: str):
        self.home, self.node = home, node
        self.env = {**os.environ, "SLURM_CONF": str(home / "slurm.conf")}

    def run(self, *cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), env=kw.pop("env", self.env), capture_output=True, text=True,
                              timeout=kw.pop("timeout", 60), check=check, **kw)

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

    def wait(self, job: str, timeout: float = 300, until=None) -> dict[str, str]:
        """Wait until every task of ``job`` has ended (or ``until()`` is true); their final states."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.states(job)
            if until is not None and until():
                return states
            if until is None and states and all(s in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY",
                                                      "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE")
                                                for s in states.values()):
                return states
            time.sleep(0.3)
        raise AssertionError(f"job {job} still {self.states(job)} after {timeout:.0f} s\n{self.logs()}")

    def logs(self) -> str:
        return "".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted((self.home / "log").glob("*.log")))


def _config(home: Path, node: str) -> str:
    return "\n".join([
        "ClusterName=actbench-test",
        f"SlurmctldHost={node}(127.0.0.1)",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        # a requeued job may start again once its last credential expired: 5 s instead of 120
        f"AuthInfo=socket={home / 'munge' / 'munge.sock'},cred_expire=5",
        f"StateSaveLocation={home / 'state'}",
        f"SlurmdSpoolDir={home / 'spool'}",
        f"SlurmctldPidFile={home / 'slurmctld.pid'}",
        f"SlurmdPidFile={home / 'slurmd.pid'}",
        f"SlurmctldLogFile={home / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={home / 'log' / 'slurmd.log'}",
        "MailProg=/bin/true",
        "ProctrackType=proctrack/linuxproc",  # no cgroups needed
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SchedulerParameters=sched_interval=1",
        "MpiDefault=none",
        "ReturnToService=2",
        "KillWait=20",  # seconds between SIGTERM and SIGKILL: a run saves its checkpoint in between
        "MinJobAge=3600",  # finished jobs stay visible to squeue for the whole session
        f"NodeName={node} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} RealMemory={_memory_mb()} State=UNKNOWN",
        f"PartitionName=cpu Nodes={node} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


@contextlib.contextmanager
def running_cluster():
    missing = [d for d in DAEMONS if not shutil.which(d) and not Path("/usr/sbin", d).exists()]
    if missing:
        pytest.skip(f"no Slurm here ({', '.join(missing)} missing): install Debian's munge, slurmctld, slurmd and "
                    "slurm-client packages (.ci/run does so when they are absent)")
    if os.geteuid() != 0:
        pytest.skip("the one-node Slurm of the tests runs its daemons as root (SlurmUser=root); run the tests as root")
    home = Path(tempfile.mkdtemp(prefix="actbench-slurm-"))
    home.chmod(0o755)  # munged refuses a socket folder that others cannot reach
    for sub in ("state", "spool", "log", "munge", "key"):
        (home / sub).mkdir()
    (home / "munge").chmod(0o755)
    (home / "key").chmod(0o700)
    key = home / "key" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    node = socket.gethostname().split(".")[0]
    (home / "slurm.conf").write_text(_config(home, node))
    sbin = lambda d: shutil.which(d) or f"/usr/sbin/{d}"
    started: list[Path] = []
    cluster = Cluster(home, node)
    try:
        subprocess.run([sbin("munged"), f"--socket={home / 'munge' / 'munge.sock'}", f"--key-file={key}",
                        f"--log-file={home / 'log' / 'munged.log'}", f"--pid-file={home / 'munge' / 'munged.pid'}",
                        f"--seed-file={home / 'key' / 'seed'}"], check=True, capture_output=True, text=True, timeout=30)
        started.append(home / "munge" / "munged.pid")
        conf = str(home / "slurm.conf")
        subprocess.run([sbin("slurmctld"), "-f", conf, "-i"], check=True, capture_output=True, text=True, timeout=30,
                       env=cluster.env)
        started.append(home / "slurmctld.pid")
        subprocess.run([sbin("slurmd"), "-f", conf, "-N", node], check=True, capture_output=True, text=True,
                       timeout=30, env=cluster.env)
        started.append(home / "slurmd.pid")
        deadline = time.monotonic() + 60
        while "idle" not in cluster.run("sinfo", "-h", "-o", "%T", check=False).stdout:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Slurm node did not become idle in 60 s:\n{cluster.logs()}")
            time.sleep(0.3)
        yield cluster
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"could not start Slurm: {e.cmd}: {e.stderr}\n{cluster.logs()}") from e
    finally:
        pids = []
        for pid_file in started:
            with contextlib.suppress(OSError, ValueError):
                pids.append(int(pid_file.read_text().split()[0]))
        if len(started) == 3:  # cancel what is left and let the job steps end before their daemon goes
            cluster.run("scancel", "--full", "-u", "root", check=False)
            deadline = time.monotonic() + 30
            while (cluster.run("squeue", "-h", "-t", "running,completing", "-o", "%i", check=False).stdout.strip()
                   and time.monotonic() < deadline):
                time.sleep(0.3)
        for pid in reversed(pids):  # slurmd, slurmctld, munged
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        _reap(pids)
        shutil.rmtree(home, ignore_errors=True)


def _reap(pids: list[int], timeout: float = 20) -> None:
    """Wait for the daemons to end; kill what outlives ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
