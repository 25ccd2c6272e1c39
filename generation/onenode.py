"""A one-node Slurm cluster in a folder, to try the job scripts on a laptop or a workstation (and what the
tests submit to).

    sudo apt-get install munge slurmctld slurmd slurm-client      # Debian, Ubuntu
    sudo .venv/bin/python -m generation.onenode start /tmp/actbench-slurm
    export SLURM_CONF=/tmp/actbench-slurm/slurm.conf
    sinfo                                                         # one node, idle
    sbatch --array=0-1 --gres=none --cpus-per-task=1 --mem=2G generation/slurm/actbench-array.sbatch \\
        digits @functions.txt results/digits none
    sudo .venv/bin/python -m generation.onenode stop /tmp/actbench-slurm

Everything lives in the folder: a munge key made for the cluster, the configuration, the controller's state,
the daemons' logs (``log/``) and process ids. The daemons run as root (``SlurmUser=root``), on ports of their
own, so they do not meet a Slurm or munge the machine already runs. The node has the machine's cores and
three quarters of its memory, no GPU (``--gres=none`` on the command line drops a template's GPU request;
the templates then run on the CPU), one partition ``cpu``, and process tracking without cgroups. A requeued
job may start again after 5 seconds (Slurm's default is 2 minutes), and finished jobs stay listed by
``squeue -t all`` for an hour.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["DAEMONS", "OneNode", "missing_tools", "start", "stop"]

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")
PID_FILES = ("munge/munged.pid", "slurmctld.pid", "slurmd.pid")  # in the order they start


def _tool(name: str) -> str | None:
    return shutil.which(name) or (f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK) else None)


def missing_tools() -> list[str]:
    """The daemons and client commands this machine lacks."""
    return [t for t in (*DAEMONS, *CLIENTS) if _tool(t) is None]


class OneNode:
    """A started cluster: its folder, node name, and ``env`` (the environment with ``SLURM_CONF``)."""

    def __init__(self, home: Path, node: str):
        self.home, self.node = Path(home), node
        self.conf = self.home / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *cmd: str, check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        """A Slurm command against this cluster."""
        return subprocess.run(list(cmd), env=kw.pop("env", self.env), capture_output=True, text=True,
                              timeout=timeout, check=check, **kw)

    def logs(self, tail: int = 3000) -> str:
        """The end of every daemon's log."""
        return "".join(f"== {p.name}\n{p.read_text(errors='replace')[-tail:]}"
                       for p in sorted((self.home / "log").glob("*.log")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 * 3 // 4
    return 4000


def _config(home: Path, node: str, cpus: int, memory_mb: int) -> str:
    ctld = _free_port()
    slurmd = _free_port()
    while slurmd == ctld:
        slurmd = _free_port()
    return "\n".join([
        "# a one-node Slurm made by python -m generation.onenode",
        "ClusterName=actbench-onenode",
        f"SlurmctldHost={node}(127.0.0.1)",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"SlurmctldPort={ctld}",
        f"SlurmdPort={slurmd}",
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
        "MinJobAge=3600",  # finished jobs stay listed for an hour
        f"NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
        f"PartitionName=cpu Nodes={node} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def start(home: Path, *, cpus: int | None = None, memory_mb: int | None = None, timeout: float = 60) -> OneNode:
    """Create the cluster's folder (it must not exist or be empty), start munged, slurmctld and slurmd, and
    wait until the node is idle. Raises RuntimeError (with the daemons' logs) when it does not come up."""
    if missing_tools():
        raise RuntimeError(f"Slurm is not installed here ({', '.join(missing_tools())} missing): install Debian's "
                           "or Ubuntu's munge, slurmctld, slurmd and slurm-client packages")
    if os.geteuid() != 0:
        raise RuntimeError("the one-node Slurm runs its daemons as root (SlurmUser=root): start it with sudo")
    home = Path(home).resolve()
    if home.exists() and any(home.iterdir()):
        raise RuntimeError(f"{home} is not empty: give a new folder (stop a running cluster with "
                           f"python -m generation.onenode stop {home})")
    for sub in ("state", "spool", "log", "munge", "key"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)  # munged refuses a socket folder that others cannot reach
    (home / "munge").chmod(0o755)
    (home / "key").chmod(0o700)
    key = home / "key" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    node = socket.gethostname().split(".")[0]
    cluster = OneNode(home, node)
    cluster.conf.write_text(_config(home, node, cpus or os.cpu_count() or 1, memory_mb or _memory_mb()))
    steps = [[_tool("munged"), f"--socket={home / 'munge' / 'munge.sock'}", f"--key-file={key}",
              f"--log-file={home / 'log' / 'munged.log'}", f"--pid-file={home / PID_FILES[0]}",
              f"--seed-file={home / 'key' / 'seed'}"],
             [_tool("slurmctld"), "-f", str(cluster.conf), "-i"],
             [_tool("slurmd"), "-f", str(cluster.conf), "-N", node]]
    try:
        for cmd in steps:
            subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30, env=cluster.env)
        deadline = time.monotonic() + timeout
        while "idle" not in cluster.run("sinfo", "-h", "-o", "%T", check=False).stdout:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node did not become idle in {timeout:.0f} s")
            time.sleep(0.3)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, RuntimeError) as e:
        what = f"{e.cmd[0]}: {e.stderr}" if isinstance(e, subprocess.CalledProcessError) else str(e)
        logs = cluster.logs()
        stop(home)
        raise RuntimeError(f"could not start the one-node Slurm in {home}: {what}\n{logs}") from None
    return cluster


def stop(home: Path, timeout: float = 30) -> None:
    """Cancel every job, let their steps end, stop the daemons (by their process ids) and wait for them;
    the folder stays (its logs), remove it yourself."""
    home = Path(home).resolve()
    cluster = OneNode(home, "")
    pids = []
    for name in PID_FILES:
        with contextlib.suppress(OSError, ValueError):
            pids.append(int((home / name).read_text().split()[0]))
    if (home / "slurmctld.pid").exists() and shutil.which("scancel"):
        jobs = sorted(set(cluster.run("squeue", "-h", "-o", "%A", check=False).stdout.split()))
        if jobs:
            cluster.run("scancel", "--full", *jobs, check=False)
        deadline = time.monotonic() + timeout
        while (cluster.run("squeue", "-h", "-t", "running,completing", "-o", "%i", check=False).stdout.strip()
               and time.monotonic() < deadline):
            time.sleep(0.3)
    for pid in reversed(pids):  # slurmd, slurmctld, munged
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generation.onenode", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["start", "stop"])
    p.add_argument("folder", type=Path, help="the cluster's folder (new for start)")
    p.add_argument("--cpus", type=int, help="CPUs of the node (default: the machine's)")
    p.add_argument("--memory", type=int, metavar="MB", help="memory of the node (default: 3/4 of the machine's)")
    args = p.parse_args(argv)
    try:
        if args.action == "start":
            cluster = start(args.folder, cpus=args.cpus, memory_mb=args.memory)
            print(f"one-node Slurm running: node {cluster.node}, partition cpu; logs in {cluster.home / 'log'}\n"
                  f"export SLURM_CONF={cluster.conf}")
        else:
            stop(args.folder)
            print(f"stopped the Slurm of {args.folder.resolve()} (the folder is kept: remove it when done)")
        return 0
    except RuntimeError as e:
        print(f"onenode: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
