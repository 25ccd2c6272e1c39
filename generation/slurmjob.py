"""What a worker learns of the Slurm job it runs in: the time it has left.

Slurm 23.02 and newer put the job's end time in ``SLURM_JOB_END_TIME`` (seconds since the epoch); older
releases tell it through ``squeue -j $SLURM_JOB_ID -o %L`` (the time left, ``[days-]hours:minutes:seconds``).
``generation.study work --time-limit job`` uses :func:`job_time_limit`, so that a job script's ``--time`` is
the only place a time limit is written.
"""

from __future__ import annotations

import os
import subprocess
import time

__all__ = ["SIGNAL_LEAD_S", "job_time_left", "job_time_limit", "parse_slurm_duration"]

SIGNAL_LEAD_S = 300.0  # the job scripts' --signal=B:USR1@300: the workers are stopped this long before the end


def parse_slurm_duration(text: str) -> float | None:
    """Seconds in a Slurm duration (``2-03:04:05``, ``03:04:05``, ``04:05``, ``45``); None for ``UNLIMITED``,
    ``NOT_SET`` and ``INVALID``."""
    text = text.strip()
    if text.upper() in ("UNLIMITED", "NOT_SET", "INVALID", "INFINITE", ""):
        return None
    days, _, clock = text.rpartition("-")
    try:
        parts = [int(v) for v in clock.split(":")]
        if len(parts) > 3 or any(v < 0 for v in parts):
            raise ValueError
        seconds = 0
        for v in parts:
            seconds = seconds * 60 + v
        if len(parts) == 1 and days:  # "days-hours"
            seconds *= 3600
        return float(seconds + (int(days) * 86400 if days else 0))
    except ValueError:
        raise ValueError(f"not a Slurm duration: {text!r}") from None


def job_time_left(env: dict | None = None, now: float | None = None) -> float | None:
    """Seconds until this Slurm job's end; None outside a job or for a job without a time limit."""
    env = os.environ if env is None else env
    now = time.time() if now is None else now
    if env.get("SLURM_JOB_END_TIME", "").strip().isdigit():
        end = int(env["SLURM_JOB_END_TIME"])
        return None if end == 0 else float(end - now)
    job = env.get("SLURM_JOB_ID")
    if not job:
        return None
    try:
        done = subprocess.run(["squeue", "-h", "-j", job, "-o", "%L"], capture_output=True, text=True, timeout=60,
                              env=dict(env))
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"cannot ask Slurm for job {job}'s time left (squeue: {e}); give --time-limit SECONDS")
    lines = done.stdout.split()
    if done.returncode or not lines:
        raise RuntimeError(f"cannot ask Slurm for job {job}'s time left (squeue: {done.stderr.strip() or 'no answer'}); "
                           "give --time-limit SECONDS")
    return parse_slurm_duration(lines[0])


def job_time_limit(lead_s: float = SIGNAL_LEAD_S, env: dict | None = None) -> float | None:
    """The seconds a worker may use in this job: the time left less ``lead_s`` (when the job script's signal
    stops the workers), or half the time left when that is shorter; None outside a Slurm job or without a limit."""
    left = job_time_left(env)
    if left is None:
        return None
    return max(left - lead_s, left / 2, 0.0)
