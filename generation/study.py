"""A surrogate-guided search with real training, shared by several workers through one folder.

    python -m generation.study init runs/c100 --task cifar100-resnet --features cifar100-resnet-features.h5 \\
        --budget 100 [--surrogate knr] [--feature-set both] [--ttl 900]
    python -m generation.study work runs/c100 --data-root /datasets      # on every GPU / in every array job
    python -m generation.study status runs/c100
    actbench best runs/c100                                              # the best function so far

Each worker repeatedly asks the study for the next function, trains it under the task's recipe, and
records it. Asking happens under an exclusive lock on ``STUDY/lock`` (``fcntl.flock``), so every
decision sees every other worker's claims and results:

1. the study is finished when ``budget`` functions are recorded;
2. a claim whose worker stopped heartbeating for ``ttl_s`` seconds (killed, crashed, node lost) is
   taken over first: its function is trained again by the asking worker, so nothing is lost. A claim of
   a worker on the asking worker's own machine (same host, boot and pid namespace) whose process is
   gone is taken over at once, without waiting for the TTL;
3. the 8 baselines come first (those the feature table has), as in the paper;
4. then the surrogate (a regressor on the cached 2-D embedding of the feature table, fitted on the
   recorded functions' validation accuracy; diverged and failed count as 0) picks the unclaimed
   candidate with the highest prediction. A candidate is trained under its shortest name
   (``elu(x)``, not its class representative ``sum_n(zero(x),zero(x),elu(x))``);
5. when the running claims already fill the budget the worker waits (a running claim may still expire).

A claim is a file ``claims/<class key>.json`` named by the function's equivalence class (two hashes of
its outputs on the sample points, :func:`actbench.space.output_keys`), so two equivalent functions can
never both be claimed. Its worker touches it every ``ttl_s / 4`` seconds. A worker records its result
only if it still owns the claim (a worker that was paused past the TTL and lost its claim discards its
result instead of duplicating a row). Results are written in ``generation.worker``'s format under
``results/``, and after every record the study's table ``study.h5`` (table v1, written atomically) is
rebuilt, so ``ActBench("runs/c100")`` or ``actbench best runs/c100`` can read it at any moment.
``events.jsonl`` logs every claim, take-over, record and discard.

The folder must be on a file system where ``flock`` works across the hosts that share it (local disk;
NFSv4, Lustre or GPFS mounted with locking), and the hosts' clocks must agree to well within the TTL.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import socket
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from actbench._version import __version__
from actbench.ops import BASELINES
from actbench.table import sha256_file
from generation.recipes import Recipe
from generation.worker import _atomic_write as _write_atomic

__all__ = ["Claim", "Study", "StudyConfig", "StudyError", "main", "work"]

STUDY_FORMAT = "actbench-study-v1"
WAIT = "wait"


class StudyError(ValueError):
    """A study folder that cannot be created or used; the message says what to do."""


class StudyConfig(BaseModel):
    """What ``init`` fixed; stored in ``study.json`` and never changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = STUDY_FORMAT
    name: str
    task: str
    recipe: Recipe
    features_table: str = Field(description="path of the feature table the candidates and embedding come from")
    features_sha256: str
    feature_set: Literal["fim", "outputs", "both"]
    surrogate: Literal["knr", "rf", "svr"]
    budget: int = Field(ge=1)
    ttl_s: float = Field(gt=0)
    seed: int = 0
    n_candidates: int
    first: tuple[str, ...] = Field(default=(), description="candidates evaluated before the surrogate (baselines)")
    features_fim_convention: Literal["reference", "kfac"] | None = Field(
        default=None, description="K-FAC convention of the feature table's FIM features (None: unknown or unused)")
    created: str
    actbench_version: str = __version__


@dataclass(frozen=True)
class Claim:
    """One worker's hold on one function."""

    key: str
    name: str
    token: str
    worker: str
    takeover: bool = False


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _start_ticks(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None when it does not exist
    or has exited (a zombie that its parent has not reaped yet counts as exited)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # the name in (...) may hold spaces
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])  # state is field 3, start time field 22


def _machine() -> dict:
    """What makes a pid meaningful: host, boot and pid namespace (Linux; empty elsewhere)."""
    try:
        return {"host": socket.gethostname(), "boot_id": Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
                "pidns": os.stat("/proc/self/ns/pid").st_ino}
    except OSError:
        return {}


def _process_gone(rec: dict) -> bool:
    """True when a claim's worker ran on this machine (same host, boot and pid namespace) and its process
    no longer exists (or its pid now belongs to a later process). False when that cannot be known."""
    here = _machine()
    if not here or any(rec.get(k) != v for k, v in here.items()) or "start" not in rec:
        return False
    return _start_ticks(rec["pid"]) != rec["start"]


def _training_names(tab) -> list[str]:
    """One name per row to train: the row's shortest name (its representative when that is among the
    shortest, else the lexicographically greatest of them), so that ``elu(x)`` is trained rather than
    its class representative ``sum_n(zero(x),zero(x),elu(x))``: the same function, fewer kernels."""
    best = list(tab.names)
    for name, row in tab.aliases.items():
        cur = best[row]
        if len(name) < len(cur) or (len(name) == len(cur) and cur != tab.names[row] and name > cur):
            best[row] = name
    return best


def _key(h1: int, h2: int) -> str:
    return f"{int(h1):016x}{int(h2):016x}"


class Study:
    """A study folder. ``Study.create`` makes one; ``Study(path)`` opens it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        cfg = self.path / "study.json"
        if not cfg.is_file():
            raise StudyError(f"{self.path} is not a study (no study.json); create one with "
                             "python -m generation.study init")
        self.config = StudyConfig.model_validate_json(cfg.read_text())
        self.claims_dir = self.path / "claims"
        self.results_dir = self.path / "results"
        self.table_path = self.path / "study.h5"
        self._candidates: list[str] | None = None
        self._keys: list[str] | None = None
        self._embedding: np.ndarray | None = None
        self._row_of: dict[str, int] | None = None
        self._first_rows: list[int] | None = None
        self._key_of_name: dict[str, str] | None = None

    # --- creation -------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike, *, task: str, features: str | os.PathLike, budget: int,
               surrogate: str = "knr", feature_set: str = "both", ttl_s: float = 900.0, seed: int = 0,
               recipe: Recipe | None = None, name: str | None = None,
               embedding: np.ndarray | None = None, other_task_features: bool = False,
               other_fim_convention: bool = False) -> Study:
        """Make a study folder: the candidates (rows of the feature table that have the features needed),
        their class keys, and the embedding the surrogate works on, computed once here.

        Raises:
            StudyError: the folder is already a study, the feature table lacks the features asked for,
                or the budget exceeds the candidates.

        ``embedding`` replaces the UMAP embedding by one of your own: an (n_rows, d) array, one row per row
        of the feature table (``feature_set`` is then only a label). FIM features computed for another
        model or data set than the task's are refused unless ``other_task_features``, and FIM features in
        another K-FAC convention than the recipe's (``recipe.fim_convention``: the features of the functions
        the study trains) unless ``other_fim_convention``.
        """
        from actbench import ActBench
        from actbench.features import FEATURE_SETS
        from actbench.features import embedding as umap_embedding
        from generation.tasks import get_task

        path = Path(path)
        if (path / "study.json").exists():
            raise StudyError(f"{path} is already a study; open it with 'work' or 'status', or pick a new folder")
        if feature_set not in FEATURE_SETS:
            raise StudyError(f"feature set must be one of {FEATURE_SETS}, got {feature_set!r}")
        if surrogate not in ("knr", "rf", "svr"):
            raise StudyError(f"surrogate must be knr, rf or svr, got {surrogate!r}")
        t = get_task(task)
        recipe = recipe or t.recipe
        bench = ActBench(features)
        tab = bench._table
        if feature_set in ("fim", "both") and embedding is None:
            if not tab.n_fim:
                raise StudyError(f"{features} has no FIM features; use --feature-set outputs, or compute FIM "
                                 "features (generation.precompute)")
            if tab.fim_missing().any():
                raise StudyError(f"{features}: {int(tab.fim_missing().sum()):,} of {len(bench):,} rows have no FIM "
                                 f"feature; for --feature-set {feature_set} build the table with "
                                 "'generation.precompute table --only-fim', or use --feature-set outputs")
        made_by = bench.provenance.config or {}
        if (feature_set in ("fim", "both") and embedding is None and not other_task_features
                and made_by.get("model") and (made_by.get("model"), made_by.get("data")) != (recipe.model, recipe.data)):
            raise StudyError(f"{features} holds FIM features of {made_by.get('model')} on {made_by.get('data')}, but "
                             f"task {task!r} trains {recipe.model} on {recipe.data}; compute the task's own "
                             "(generation.precompute), or pass --other-task-features to use them anyway")
        uses_fim = feature_set in ("fim", "both") and embedding is None
        if (uses_fim and not other_fim_convention and bench.fim_convention is not None
                and bench.fim_convention != recipe.fim_convention):
            raise StudyError(f"{features} holds FIM features in the {bench.fim_convention!r} K-FAC convention, but "
                             f"task {task!r} computes {recipe.fim_convention!r} features: their scales differ by "
                             "several nats. Compute the features in the task's convention (generation.worker "
                             f"--fim-convention {recipe.fim_convention}), or pass --other-fim-convention to use "
                             "them anyway")
        if not 1 <= budget <= len(bench):
            raise StudyError(f"budget must be between 1 and the {len(bench):,} candidates, got {budget}")
        if embedding is not None:
            emb = np.asarray(embedding, dtype=np.float64)
            if emb.ndim != 2 or len(emb) != len(bench) or not np.isfinite(emb).all():
                raise StudyError(f"embedding must be a finite ({len(bench)}, d) array, one row per row of "
                                 f"{features}; got shape {emb.shape}")
        else:
            emb = umap_embedding(bench, feature_set, seed=seed)
        names = _training_names(tab)
        keys = [_key(a, b) for a, b in zip(tab.h1, tab.h2)]
        first = []
        for b in BASELINES:
            hit = bench._find(b)
            if hit is not None and names[hit[0]] not in first:
                first.append(names[hit[0]])
        cfg = StudyConfig(name=name or path.name, task=t.name, recipe=recipe,
                          features_table=str(Path(features).resolve()), features_sha256=sha256_file(features),
                          feature_set=feature_set, surrogate=surrogate, budget=budget, ttl_s=ttl_s, seed=seed,
                          n_candidates=len(names), first=tuple(first),
                          features_fim_convention=bench.fim_convention if uses_fim else None, created=_now())
        path.mkdir(parents=True, exist_ok=True)
        (path / "claims").mkdir(exist_ok=True)
        (path / "results").mkdir(exist_ok=True)
        _write_atomic(path / "candidates.txt", "\n".join(names) + "\n")
        _write_atomic(path / "keys.txt", "\n".join(keys) + "\n")
        tmp = path / f".embedding.npy.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(emb, dtype=np.float64), allow_pickle=False)
        os.replace(tmp, path / "embedding.npy")
        _write_atomic(path / "study.json", cfg.model_dump_json(indent=2))  # last: its presence means ready
        study = cls(path)
        study._log({"event": "init", "candidates": len(names), "budget": budget})
        return study

    # --- state ----------------------------------------------------------------------------------

    @property
    def candidates(self) -> list[str]:
        if self._candidates is None:
            self._candidates = (self.path / "candidates.txt").read_text().splitlines()
            self._keys = (self.path / "keys.txt").read_text().splitlines()
        return self._candidates

    @property
    def keys(self) -> list[str]:
        self.candidates
        return self._keys

    @property
    def row_of(self) -> dict[str, int]:
        """Candidate row by class key."""
        if self._row_of is None:
            self._row_of = {k: i for i, k in enumerate(self.keys)}
        return self._row_of

    @property
    def embedding(self) -> np.ndarray:
        if self._embedding is None:
            self._embedding = np.load(self.path / "embedding.npy", allow_pickle=False)
        return self._embedding

    @contextlib.contextmanager
    def lock(self):
        """The study's exclusive lock (blocking)."""
        with open(self.path / "lock", "a") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def claims(self) -> dict[str, dict]:
        """Every claim by class key, with ``age_s`` (seconds since its last heartbeat) added."""
        out, now = {}, time.time()
        for p in self.claims_dir.glob("*.json"):
            rec = json.loads(p.read_text())  # written by rename: never seen half-written
            rec["age_s"] = now - p.stat().st_mtime
            out[p.stem] = rec
        return out

    def status(self) -> dict:
        claims = self.claims()
        done = [c for c in claims.values() if c["state"] in ("done", "failed")]
        running = [c for c in claims.values() if c["state"] == "running"]
        stale = [c for c in running if c["age_s"] > self.config.ttl_s or _process_gone(c)]
        return {"budget": self.config.budget, "recorded": len(done),
                "failed": sum(c["state"] == "failed" for c in done), "running": len(running) - len(stale),
                "expired": len(stale), "candidates": self.config.n_candidates,
                "finished": len(done) >= self.config.budget}

    def _log(self, event: dict) -> None:
        line = json.dumps({"time": _now(), **event}) + "\n"
        with open(self.path / "events.jsonl", "a") as f:  # one write of one line: appends do not interleave
            f.write(line)

    def events(self) -> list[dict]:
        p = self.path / "events.jsonl"
        return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []

    def trajectory(self):
        """The recorded functions in the order they were recorded, with their validation accuracy (the
        table's aggregate; NaN when diverged or failed) and the best so far, as a DataFrame."""
        import pandas as pd

        from actbench import ActBench

        rows = [e for e in self.events() if e["event"] in ("record", "failed")]
        cols = ["function", "worker", "time", "val_acc", "best_val"]
        if not rows or not self.table_path.exists():
            return pd.DataFrame(columns=cols)
        bench = ActBench(self.table_path)
        vals = np.array([bench.query(e["name"]).val_acc for e in rows], dtype=float)
        best = np.fmax.accumulate(np.where(np.isnan(vals), -np.inf, vals))
        return pd.DataFrame({"function": [e["name"] for e in rows], "worker": [e["worker"] for e in rows],
                             "time": [e["time"] for e in rows], "val_acc": vals,
                             "best_val": np.where(np.isinf(best), np.nan, best)})

    # --- the protocol ---------------------------------------------------------------------------

    def next_claim(self, worker: str) -> Claim | None | str:
        """The next function for ``worker`` (a :class:`Claim`), ``None`` when the study is finished, or
        ``"wait"`` when the budget is taken by running claims that may yet expire."""
        with self.lock():
            claims = self.claims()
            done = [k for k, c in claims.items() if c["state"] in ("done", "failed")]
            if len(done) >= self.config.budget:
                return None
            stale = sorted((c["age_s"], k) for k, c in claims.items() if c["state"] == "running"
                           and (c["age_s"] > self.config.ttl_s or _process_gone(c)))
            if stale:
                key = stale[-1][1]
                old = claims[key]
                claim = self._write_claim(key, old["name"], worker, takeover=True)
                why = "silent past the TTL" if old["age_s"] > self.config.ttl_s else "its process is gone"
                self._log({"event": "takeover", "name": old["name"], "key": key, "worker": worker,
                           "from_worker": old["worker"], "silent_s": round(old["age_s"], 1), "why": why})
                return claim
            if len(claims) >= self.config.budget:
                return WAIT
            row = self._choose(claims)
            if row is None:
                return WAIT if len(done) < len(claims) else None
            claim = self._write_claim(self.keys[row], self.candidates[row], worker)
            self._log({"event": "claim", "name": claim.name, "key": claim.key, "worker": worker})
            return claim

    def _write_claim(self, key: str, name: str, worker: str, *, takeover: bool = False) -> Claim:
        token = uuid.uuid4().hex
        rec = {"key": key, "name": name, "state": "running", "worker": worker, "token": token,
               "host": socket.gethostname(), "pid": os.getpid(), "start": _start_ticks(os.getpid()),
               **_machine(), "claimed": _now()}
        _write_atomic(self.claims_dir / f"{key}.json", json.dumps(rec))
        return Claim(key, name, token, worker, takeover)

    def _targets(self) -> dict[str, float]:
        """Validation accuracy of every recorded function by class key (diverged and failed: 0)."""
        from generation.merge import aggregate

        if self._key_of_name is None:
            self._key_of_name = dict(zip(self.candidates, self.keys))
        key_of = self._key_of_name
        out = {}
        for p in self.results_dir.glob("*.json"):
            d = json.loads(p.read_text())
            key = key_of.get(d["name"])
            if key is None:
                continue
            if p.name.endswith(".failed.json"):
                out.setdefault(key, 0.0)
                continue
            v = aggregate(d["runs"])[0]["val_acc"] if d.get("runs") else float("nan")
            out[key] = 0.0 if np.isnan(v) else float(v)
        return out

    def _choose(self, claims: dict[str, dict]) -> int | None:
        row_of = self.row_of
        if self._first_rows is None:
            wanted = set(self.config.first)
            found = {n: i for i, n in enumerate(self.candidates) if n in wanted}
            self._first_rows = [found[n] for n in self.config.first]
        for row in self._first_rows:
            if self.keys[row] not in claims:
                return row
        taken = np.zeros(len(self.keys), dtype=bool)
        taken[[row_of[k] for k in claims if k in row_of]] = True
        free = np.flatnonzero(~taken)
        if not len(free):
            return None
        rng = np.random.default_rng([self.config.seed, len(claims)])
        targets = {k: v for k, v in self._targets().items() if k in row_of}
        if not targets:
            return int(rng.choice(free))
        from actbench.surrogate import make_regressor

        rows = np.array([row_of[k] for k in targets])
        model = make_regressor(self.config.surrogate, seed=self.config.seed)
        model.fit(self.embedding[rows], np.array(list(targets.values())))
        pred = model.predict(self.embedding[free])
        best = np.flatnonzero(pred >= pred.max() - 1e-12)  # ties at random, not by table order
        return int(free[rng.choice(best)])

    def owns(self, claim: Claim) -> bool:
        try:
            rec = json.loads((self.claims_dir / f"{claim.key}.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        return rec.get("token") == claim.token and rec.get("state") == "running"

    def heartbeat(self, claim: Claim) -> bool:
        """Refresh the claim; False when it is no longer this worker's."""
        if not self.owns(claim):
            return False
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.claims_dir / f"{claim.key}.json")
        return True

    def record(self, claim: Claim, result: dict, fim_npy: bytes) -> bool:
        """Write a trained function's result if ``claim`` is still this worker's; rebuild the table.
        Returns False (and keeps nothing) when the claim was lost."""
        from generation.worker import write_result

        with self.lock():
            if not self.owns(claim):
                self._log({"event": "discard", "name": claim.name, "key": claim.key, "worker": claim.worker,
                           "why": "the claim expired and another worker took it over"})
                return False
            write_result(self.results_dir, result, fim_npy)
            self._finish_claim(claim, "done")
            accs = [r["val_acc"] for r in result["runs"]]
            self._log({"event": "record", "name": claim.name, "key": claim.key, "worker": claim.worker,
                       "val_acc": accs, "seconds": round(result["seconds"], 2)})
            self.rebuild_table()
            return True

    def fail(self, claim: Claim, error: BaseException) -> bool:
        """Record that training ``claim`` raised (kept in the table as missing; not retried)."""
        from generation.worker import result_key

        with self.lock():
            if not self.owns(claim):
                return False
            doc = {"format": "actbench-result-v1", "name": claim.name, "error": f"{type(error).__name__}: {error}",
                   "traceback": "".join(traceback.format_exception(error)), "recipe": self.config.recipe.model_dump(),
                   "created": _now()}
            _write_atomic(self.results_dir / f"{result_key(claim.name)}.failed.json", json.dumps(doc))
            self._finish_claim(claim, "failed")
            self._log({"event": "failed", "name": claim.name, "key": claim.key, "worker": claim.worker,
                       "error": doc["error"]})
            self.rebuild_table()
            return True

    def _finish_claim(self, claim: Claim, state: str) -> None:
        p = self.claims_dir / f"{claim.key}.json"
        rec = json.loads(p.read_text())
        rec.update(state=state, finished=_now())
        _write_atomic(p, json.dumps(rec))

    def rebuild_table(self) -> None:
        """Write ``study.h5`` from the recorded results (called under the lock)."""
        from generation.merge import merge

        cfg = self.config
        merge(self.results_dir, self.table_path, benchmark=f"study-{cfg.name}",
              description=f"surrogate-guided search study {cfg.name!r}: task {cfg.task} ({cfg.recipe.description}), "
                          f"{cfg.surrogate} on {cfg.feature_set} features of {Path(cfg.features_table).name}, "
                          f"budget {cfg.budget}",
              command=f"python -m generation.study work {self.path}")


class _Heartbeat(threading.Thread):
    def __init__(self, study: Study, claim: Claim, interval: float, log) -> None:
        super().__init__(daemon=True)
        self.study, self.claim, self.interval, self.log = study, claim, interval, log
        self.stop = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            if not self.study.heartbeat(self.claim):
                self.lost = True
                self.log(f"lost the claim on {self.claim.name} (expired); its result will be discarded")
                return


def work(study: Study, *, data, device: str = "cpu", worker: str | None = None, max_functions: int | None = None,
         time_limit_s: float | None = None, poll_s: float | None = None, log=print) -> dict:
    """Ask, train, record until the study is finished (or ``max_functions`` are recorded, or the time left
    of ``time_limit_s`` is shorter than the longest function this worker has trained); returns counts."""
    from generation.worker import compute_result

    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    poll = poll_s if poll_s is not None else min(30.0, study.config.ttl_s / 4)
    counts = {"recorded": 0, "failed": 0, "discarded": 0, "takeovers": 0}
    t_start, longest = time.monotonic(), 0.0
    while max_functions is None or counts["recorded"] + counts["failed"] < max_functions:
        if time_limit_s is not None and time.monotonic() - t_start + longest > time_limit_s:
            log(f"{worker}: stopping: {time_limit_s - (time.monotonic() - t_start):.0f} s left of the time limit, "
                f"the longest function took {longest:.0f} s")
            counts["stopped_for_time"] = True
            break
        claim = study.next_claim(worker)
        if claim is None:
            break
        if claim == WAIT:
            time.sleep(poll)
            continue
        counts["takeovers"] += claim.takeover
        log(f"{worker}: {'taking over' if claim.takeover else 'training'} {claim.name}")
        hb = _Heartbeat(study, claim, study.config.ttl_s / 4, log)
        hb.start()
        t_fn = time.monotonic()
        try:
            result, buf = compute_result(study.config.recipe, claim.name, data, device,
                                         extra={"study": {"name": study.config.name, "worker": worker}})
        except Exception as e:  # one bad function must not stop the worker
            hb.stop.set()
            counts["failed"] += study.fail(claim, e)
            log(f"{worker}: {claim.name} FAILED {type(e).__name__}: {e}")
            continue
        hb.stop.set()
        hb.join()
        longest = max(longest, time.monotonic() - t_fn)
        if study.record(claim, result, buf):
            counts["recorded"] += 1
            log(f"{worker}: {claim.name} val_acc {[round(r['val_acc'], 4) for r in result['runs']]}")
        else:
            counts["discarded"] += 1
    return counts


def best(study_or_table: str | os.PathLike, k: int = 5):
    """The ``k`` best recorded functions (a DataFrame), from a study folder or its table."""
    from actbench import ActBench

    return ActBench(study_or_table).best(k)


def _print_status(study: Study) -> None:
    st = study.status()
    cfg = study.config
    print(f"study {cfg.name}: task {cfg.task}, {cfg.surrogate} on {cfg.feature_set} features, "
          f"{cfg.n_candidates:,} candidates")
    print(f"recorded {st['recorded']}/{st['budget']} ({st['failed']} failed), running {st['running']}, "
          f"expired claims {st['expired']}{', finished' if st['finished'] else ''}")
    if study.table_path.exists():
        from actbench import ActBench

        df = ActBench(study.table_path).best(5)
        print(df[["val_acc", "test_acc"]].to_string())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generation.study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("init", help="create a study folder")
    i.add_argument("study", type=Path)
    i.add_argument("--task", required=True, help="registered task (python -m generation.tasks)")
    i.add_argument("--recipe-file", type=Path, help="override the task's recipe (JSON of generation.recipes.Recipe)")
    i.add_argument("--features", required=True, help="feature table (generation.precompute table)")
    i.add_argument("--budget", type=int, default=100, help="functions to train (default 100, as in the paper)")
    i.add_argument("--surrogate", default="knr", choices=["knr", "rf", "svr"])
    i.add_argument("--feature-set", default="both", choices=["fim", "outputs", "both"])
    i.add_argument("--ttl", type=float, default=900.0,
                   help="seconds without a heartbeat after which a claim expires (default 900)")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--other-task-features", action="store_true",
                   help="accept FIM features computed for another model or data set than the task's")
    i.add_argument("--other-fim-convention", action="store_true",
                   help="accept FIM features in another K-FAC convention than the task's recipe")
    w = sub.add_parser("work", help="train functions the study chooses until it is finished")
    w.add_argument("study", type=Path)
    w.add_argument("--data-root", type=Path)
    w.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    w.add_argument("--worker", help="worker name in the study's log (default host:pid)")
    w.add_argument("--max-functions", type=int, help="stop after recording this many")
    w.add_argument("--time-limit", type=float, help="seconds this worker may run (e.g. the job's wall-time limit): "
                   "it claims no new function when the time left is shorter than its longest function so far")
    w.add_argument("--threads", type=int, help="torch CPU threads")
    s = sub.add_parser("status", help="progress and the best functions so far")
    s.add_argument("study", type=Path)
    s.add_argument("--trajectory", action="store_true", help="also every record in order, with the best so far")
    b = sub.add_parser("best", help="print the best function so far")
    b.add_argument("study", type=Path)
    b.add_argument("-k", type=int, default=1)
    for q in (i, w):
        q.add_argument("--import", dest="plugins", action="append", default=[],
                       help="module or .py file that registers your own models, data sets or tasks")
    args = p.parse_args(argv)
    try:
        from generation.tasks import import_plugin

        for spec in getattr(args, "plugins", []):
            import_plugin(spec)
        if args.cmd == "init":
            recipe = Recipe.model_validate_json(args.recipe_file.read_text()) if args.recipe_file else None
            study = Study.create(args.study, task=args.task, features=args.features, budget=args.budget,
                                 surrogate=args.surrogate, feature_set=args.feature_set, ttl_s=args.ttl,
                                 seed=args.seed, recipe=recipe, other_task_features=args.other_task_features,
                                 other_fim_convention=args.other_fim_convention)
            print(f"created {args.study}: {study.config.n_candidates:,} candidates, budget {args.budget}, "
                  f"first {len(study.config.first)} baselines")
            return 0
        study = Study(args.study)
        if args.cmd == "status":
            _print_status(study)
            if args.trajectory:
                print(study.trajectory().to_string(float_format=lambda v: f"{v:.4f}"))
            return 0
        if args.cmd == "best":
            if not study.table_path.exists():
                raise StudyError(f"{args.study}: nothing recorded yet")
            for name, row in best(study.table_path, args.k).iterrows():
                print(f"{name}\tval_acc {row['val_acc']:.4f}\ttest_acc {row['test_acc']:.4f}")
            return 0
        import torch

        from generation.data import load_data

        if args.threads:
            torch.set_num_threads(args.threads)
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        data = load_data(study.config.recipe, args.data_root)
        counts = work(study, data=data, device=device, worker=args.worker, max_functions=args.max_functions,
                      time_limit_s=args.time_limit, log=lambda m: print(m, flush=True))
        print(f"worker done: {counts}; {study.status()}", flush=True)
        return 0
    except (StudyError, KeyError, ValueError, FileNotFoundError) as e:
        print(f"study: error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
