"""Checkpoints inside a training run, and stopping on a signal (pre-emption, a job's time limit).

A run (:func:`generation.train.train_run`) given a :class:`RunCheckpoint` saves its whole state at a step
boundary every ``every_s`` seconds, and at the next step boundary after SIGTERM or SIGUSR1 (what Slurm sends
before pre-empting a job, and with ``--signal=B:USR1@SECONDS`` before its time limit), then raises
:class:`Preempted`; the worker exits with :data:`EXIT_REQUEUE` (75) for its job script to requeue it. The same
run started again continues from the checkpoint: on the CPU it ends with the values of a run that was never
interrupted, bit for bit (``tests/test_checkpoint.py`` checks it with a real signal); only the timings differ.

The state: model and optimiser state, epoch and step, the epoch's data order, the run's random generator,
PyTorch's global CPU (and CUDA) random states, the curve so far and the seconds spent. Loss scaling is not
part of it: bf16 autocast needs none. The file holds arrays and JSON only (an ``.npz`` read with
``allow_pickle=False``: no pickled objects), is written atomically, and names what it belongs to (function,
seed, the recipe's hash): a checkpoint of another run, or a damaged one, is set aside (renamed
``*.refused``) and the run starts from the beginning, never continues from the wrong state.
"""

from __future__ import annotations

import hashlib
import io
import json
import signal
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actbench.base.files import write_atomic

__all__ = ["EXIT_REQUEUE", "CHECKPOINT_FORMAT", "Preempted", "RunCheckpoint", "STOP", "install_stop_signals",
           "load_state", "save_state"]

CHECKPOINT_FORMAT = "actbench-checkpoint-v1"
#: Exit status of a worker that stopped on a signal after checkpointing (EX_TEMPFAIL): requeue it.
EXIT_REQUEUE = 75


class Preempted(Exception):
    """A run stopped on a signal after saving its checkpoint; start it again to continue."""


@dataclass
class StopFlag:
    """Set by a signal handler; runs look at it between steps."""

    signal: str | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def request(self, why: str) -> None:
        self.signal = why

    def clear(self) -> None:
        self.signal = None


#: The process's stop flag (signals set it; :func:`install_stop_signals`).
STOP = StopFlag()


def install_stop_signals(names: tuple[str, ...] = ("SIGTERM", "SIGUSR1")) -> StopFlag:
    """Make SIGTERM and SIGUSR1 request a stop at the next step boundary (after a checkpoint) instead of
    killing the process. Returns :data:`STOP`."""
    for name in names:
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, lambda signum, frame: STOP.request(signal.Signals(signum).name))
    return STOP


# --- arrays and JSON, no pickle ----------------------------------------------------------------------


def _pack(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"a{len(arrays)}"
        t = obj.detach().cpu()
        if t.dtype == torch.bfloat16:
            arrays[key] = t.view(torch.int16).numpy().copy()
        else:
            arrays[key] = t.numpy().copy()
        return {"__tensor__": key, "dtype": str(t.dtype).removeprefix("torch.")}
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[_pack(k, arrays), _pack(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__" if isinstance(obj, list) else "__tuple__": [_pack(v, arrays) for v in obj]}
    if isinstance(obj, float) and not np.isfinite(obj):
        return {"__float__": repr(obj)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    raise TypeError(f"a checkpoint holds tensors, arrays, numbers, strings, lists and dicts, not {type(obj).__name__}")


def _unpack(obj: Any, arrays) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            a = arrays[obj["__tensor__"]]
            if obj["dtype"] == "bfloat16":
                return torch.from_numpy(a.copy()).view(torch.bfloat16)
            return torch.from_numpy(a.copy())
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__dict__" in obj:
            return {_unpack(k, arrays): _unpack(v, arrays) for k, v in obj["__dict__"]}
        if "__float__" in obj:
            return float(obj["__float__"])
        for kind, make in (("__list__", list), ("__tuple__", tuple)):
            if kind in obj:
                return make(_unpack(v, arrays) for v in obj[kind])
        raise ValueError(f"unknown entry {sorted(obj)} in a checkpoint")
    return obj


def save_state(path: Path, state: dict, identity: dict) -> None:
    """Write ``state`` (tensors, arrays, numbers, strings, lists, dicts) and ``identity`` to ``path``,
    atomically, as arrays and JSON in one ``.npz``."""
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": CHECKPOINT_FORMAT, "identity": identity, "state": _pack(state, arrays),
            "saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_atomic(Path(path), buf.getvalue(), fsync=True)


def load_state(path: Path) -> tuple[dict, dict]:
    """(state, identity) of a checkpoint written by :func:`save_state`.

    Raises:
        ValueError: not a checkpoint, or damaged (the zip members' CRCs are checked as they are read)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("__meta__").tobytes())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path} is not a readable checkpoint: {e}") from e
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a checkpoint of this format ({meta.get('format')!r})")
    return _unpack(meta["state"], arrays), meta["identity"]


# --- one run's checkpoint ----------------------------------------------------------------------------


def recipe_hash(recipe) -> str:
    """A short hash of a recipe's JSON: a checkpoint continues only the run of the same recipe."""
    return hashlib.sha256(recipe.model_dump_json().encode()).hexdigest()[:16]


class RunCheckpoint:
    """The checkpoint file of one run (one function, one seed, one recipe).

    Args:
        path: the ``.npz`` file (on shared storage, a re-queued job on another node continues from it).
        identity: what the run is (function, seed, recipe hash); a file of another identity is refused.
        every_s: save every this many seconds of training (0: at every step, for tests; None: only on a stop).
        stop: the flag that requests a stop (default :data:`STOP`, set by :func:`install_stop_signals`).
        log: where to say what happened.
        write: whether this process writes the file (False on the other ranks of a data-parallel run, which
            save at the same steps and read the file rank 0 wrote).
    """

    def __init__(self, path: Path, identity: dict, *, every_s: float | None = 900.0,
                 stop: StopFlag | None = None, log=print, write: bool = True) -> None:
        self.path, self.identity, self.every_s, self.write = Path(path), identity, every_s, write
        self.stop = STOP if stop is None else stop
        self.log = log
        self._last = time.monotonic()
        self.saves = 0
        self.resumed_from: tuple[int, int] | None = None  # (epoch, step) a run continued from

    def load(self) -> dict | None:
        """The saved state of this run, or None (no file; a refused file is renamed ``*.refused``)."""
        if not self.path.exists():
            return None
        try:
            state, identity = load_state(self.path)
            if identity != self.identity:
                raise ValueError(f"it belongs to another run ({identity}, not {self.identity})")
        except ValueError as e:
            refused = self.path.with_name(self.path.name + ".refused")
            self.path.replace(refused)
            self.log(f"checkpoint {self.path} set aside as {refused.name}: {e}; the run starts from the beginning")
            return None
        self.resumed_from = (int(state["epoch"]), int(state["step"]))
        what = f"{self.identity.get('function', '?')} seed {self.identity.get('seed', '?')}"
        self.log(f"{what}: continuing from its checkpoint at epoch {self.resumed_from[0] + 1}, "
                 f"step {self.resumed_from[1] + 1}")
        return state

    def due(self) -> bool:
        """Whether to save now: a stop was requested, or ``every_s`` seconds passed since the last save."""
        return self.stop.requested or (self.every_s is not None and time.monotonic() - self._last >= self.every_s)

    def save(self, state: dict) -> None:
        """Write the state (only where ``write``: rank 0 of a data-parallel run) and restart the clock."""
        if self.write:
            save_state(self.path, state, self.identity)
        self._last = time.monotonic()
        self.saves += 1

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
