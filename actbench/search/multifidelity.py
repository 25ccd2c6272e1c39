"""Multi-fidelity search over epochs: successive halving, Hyperband and asynchronous successive halving.

They need a table with learning curves (``bench.epochs``; format version 2): they ask for ``(name, epoch)``,
evaluate many functions after a few epochs, and continue only the best to more epochs and finally to the
end of training (:func:`actbench.search.run_search` charges a continuation only the seconds between the two
epochs). Rungs are the epochs ``E / eta**s_max, ..., E / eta, E`` (rounded, at least ``min_epoch``), with
``s_max`` the largest integer such that ``E / eta**s_max >= min_epoch``; ``E`` is the table's epochs.

* :class:`SuccessiveHalving` (Jamieson & Talwalkar 2016): a bracket of ``eta**s_max`` random functions at the
  first rung; after all their results, the best ``1/eta`` continue to the next rung; brackets repeat until
  the budget is spent.
* :class:`Hyperband` (Li et al. 2018): brackets ``s = s_max, ..., 0`` in turn, bracket ``s`` starting
  ``ceil((s_max + 1) / (s + 1) * eta**s)`` functions at rung ``s_max - s``.
* :class:`AsyncSuccessiveHalving` (ASHA, Li et al. 2020): no brackets; whenever a worker is free, the best
  function of the highest rung that has one in its top ``1/eta`` not yet continued is continued to the next
  rung, else a new random function starts at the first rung. Made for several workers
  (``run_search(..., n_workers=k)``); the synchronous ones make idle workers wait for their rung.

A function whose training diverged (NaN) ranks last. All are seeded through ``setup``'s generator.
"""

from __future__ import annotations

import math

import numpy as np

from actbench.base.errors import SearchExhausted

__all__ = ["AsyncSuccessiveHalving", "Hyperband", "SuccessiveHalving", "rungs"]


def rungs(epochs: int, eta: int = 3, min_epoch: int = 1) -> list[int]:
    """The epochs of the rungs, lowest first (module docstring)."""
    if epochs < 1 or eta < 2 or min_epoch < 1:
        raise ValueError(f"need epochs >= 1, eta >= 2, min_epoch >= 1; got {epochs}, {eta}, {min_epoch}")
    s_max = int(math.floor(math.log(max(epochs / min_epoch, 1.0), eta) + 1e-9))
    out = sorted({max(min_epoch, int(round(epochs / eta ** (s_max - k)))) for k in range(s_max + 1)} | {epochs})
    return out


def _need_curves(space) -> int:
    e = space.epochs
    if not e:
        raise ValueError("multi-fidelity strategies need a table with learning curves (ActBench.epochs is None "
                         "for this one): tables merged from results that recorded curves have them")
    return e


def _key(v: float) -> float:
    return -math.inf if v != v else v


class _OverEpochs:
    """What the strategies share: ``eta``, ``min_epoch``, the rungs and a random order of the functions."""

    def __init__(self, eta: int = 3, min_epoch: int = 1) -> None:
        if eta < 2 or min_epoch < 1:
            raise ValueError(f"need eta >= 2 and min_epoch >= 1, got eta={eta}, min_epoch={min_epoch}")
        self.eta, self.min_epoch = eta, min_epoch

    def setup(self, space, rng: np.random.Generator) -> None:
        self.rungs = rungs(_need_curves(space), self.eta, self.min_epoch)
        self._space, self._rng = space, rng
        self._order = list(rng.permutation(len(space.names)))  # new functions are popped from its end


class Hyperband(_OverEpochs):
    """Hyperband over epochs (module docstring); ``brackets="sh"`` runs only the largest bracket, which is
    successive halving.

    Args:
        eta: the fraction ``1/eta`` that continues at each rung (default 3).
        min_epoch: the fewest epochs a function is trained for (default 1).
    """

    name = "hyperband"
    _only_largest = False

    def setup(self, space, rng: np.random.Generator) -> None:
        super().setup(space, rng)
        self._s_max = len(self.rungs) - 1
        self._next_s = self._s_max
        self._queue: list[tuple[str, int]] = []
        self._outstanding: dict[str, int] = {}  # name -> rung index asked, awaiting its result
        self._results: dict[str, float] = {}  # this rung's results
        self._rung = 0
        self._start_bracket()

    def _fresh(self, n: int) -> list[str]:
        out = []
        while self._order and len(out) < n:
            out.append(self._space.names[self._order.pop()])
        return out

    def _start_bracket(self) -> None:
        s = self._s_max if self._only_largest else self._next_s
        self._next_s = self._s_max if s == 0 else s - 1
        n = int(math.ceil((self._s_max + 1) / (s + 1) * self.eta ** s))
        self._rung = self._s_max - s
        self._results = {}
        self._queue = [(name, self.rungs[self._rung]) for name in self._fresh(n)]

    def ask(self):
        if not self._queue and not self._outstanding:
            if self._results and self._rung + 1 < len(self.rungs):
                keep = max(1, len(self._results) // self.eta)
                best = sorted(self._results, key=lambda n: _key(self._results[n]), reverse=True)[:keep]
                self._rung += 1
                self._results = {}
                self._queue = [(name, self.rungs[self._rung]) for name in best]
            else:
                self._start_bracket()
            if not self._queue:
                raise SearchExhausted(f"{self.name}: every function of the table has been started")
        if not self._queue:
            return None  # the rung's results are not all in: wait
        name, epoch = self._queue.pop(0)
        self._outstanding[name] = self._rung
        return name, epoch

    def tell(self, name: str, val_acc: float) -> None:
        rung = self._outstanding.pop(name, None)
        if rung == self._rung:
            self._results[name] = val_acc


class SuccessiveHalving(Hyperband):
    """Successive halving over epochs: Hyperband's largest bracket, repeated (module docstring)."""

    name = "sh"
    _only_largest = True


class AsyncSuccessiveHalving(_OverEpochs):
    """Asynchronous successive halving (ASHA) over epochs (module docstring).

    Args:
        eta: a function continues when it is in the top ``1/eta`` of its rung (default 3).
        min_epoch: the fewest epochs a function is trained for (default 1).
    """

    name = "asha"

    def setup(self, space, rng: np.random.Generator) -> None:
        super().setup(space, rng)
        self._results: list[dict[str, float]] = [{} for _ in self.rungs]  # per rung: name -> value
        self._promoted: list[set[str]] = [set() for _ in self.rungs]
        self._asked: dict[str, int] = {}  # name -> rung index of its running evaluation

    def ask(self):
        for k in range(len(self.rungs) - 2, -1, -1):
            res = self._results[k]
            top = sorted(res, key=lambda n: _key(res[n]), reverse=True)[:len(res) // self.eta]
            for name in top:
                if name not in self._promoted[k] and name not in self._asked:
                    self._promoted[k].add(name)
                    self._asked[name] = k + 1
                    return name, self.rungs[k + 1]
        if not self._order:
            if not self._asked:
                raise SearchExhausted(f"{self.name}: every function of the table has been started and no "
                                      "result is awaited")
            return None  # nothing new to start: wait for results that may promote
        name = self._space.names[self._order.pop()]
        self._asked[name] = 0
        return name, self.rungs[0]

    def tell(self, name: str, val_acc: float) -> None:
        k = self._asked.pop(name, None)
        if k is not None:
            self._results[k][name] = val_acc
