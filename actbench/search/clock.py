"""The simulated clock of :func:`actbench.search.run_search`: one worker evaluating in turn, or several
workers asynchronously, each evaluation finishing after what it is charged (the cost rule of
:mod:`actbench.query.cost`; syne-tune's simulator backend works alike)."""

from __future__ import annotations

from actbench.base.errors import SearchExhausted, UnknownFunctionError
from actbench.base.text import plural

__all__ = ["Limits", "run_async", "run_serial"]


class Limits:
    """When a search stops: ``budget`` distinct functions, ``max_seconds`` training seconds, and a cap on
    asks against strategies that repeat themselves."""

    def __init__(self, bench, budget: int | None, max_seconds: float | None) -> None:
        self.bench, self.budget, self.max_seconds = bench, budget, max_seconds
        self.max_asks = 10 * (budget if budget is not None else len(bench))
        self.asked = 0
        self.exhausted = False  # the strategy had nothing left to propose (SearchExhausted)

    def done(self, started_functions: int) -> bool:
        b = self.bench.budget
        return ((self.budget is not None and started_functions >= self.budget)
                or (self.max_seconds is not None and b.seconds >= self.max_seconds))

    def count_ask(self, strategy, evaluations: int) -> None:
        self.asked += 1
        if self.asked > self.max_asks:
            raise RuntimeError(f"strategy {strategy.name!r} asked {self.asked - 1} times but only "
                               f"{plural(evaluations, 'distinct function')} "
                               f"{'was' if evaluations == 1 else 'were'} new; it keeps repeating itself")


def _split(asked) -> tuple[str, int | None]:
    """(name, epoch) of what a strategy asked for: a name, or (name, epoch)."""
    if isinstance(asked, tuple):
        name, epoch = asked
        return name, int(epoch)
    return asked, None


def _query(bench, strategy, name: str, epoch: int | None = None):
    """(record, seconds charged, whether it was a new evaluation); (None, 0, False) for a name the table
    cannot answer, which is told NaN."""
    before_n, before_s = bench.budget.evaluations, bench.budget.seconds
    try:
        rec = bench.query(name, epoch=epoch)
    except UnknownFunctionError:
        strategy.tell(name, float("nan"))
        return None, 0.0, False
    cost = bench.budget.seconds - before_s
    return rec, cost, bench.budget.evaluations > before_n or cost > 0


def run_serial(bench, strategy, limits: Limits) -> list:
    steps = []
    while not limits.done(bench.budget.evaluations):
        limits.count_ask(strategy, bench.budget.evaluations)
        try:
            asked = strategy.ask()
        except SearchExhausted:
            limits.exhausted = True
            break
        if asked is None:
            raise RuntimeError(f"strategy {strategy.name!r} has nothing to ask with one worker: it waits for "
                               "results that only it can produce")
        name, epoch = _split(asked)
        rec, cost, new = _query(bench, strategy, name, epoch)
        if rec is None:
            continue
        strategy.tell(name, rec.val_acc)
        if new:
            steps.append((rec, cost, epoch or 0))
    return steps


def run_async(bench, strategy, limits: Limits, n_workers: int) -> tuple[list, list]:
    """The simulated clock of :func:`run_search` with several workers: (steps in finish order, finish times)."""
    import heapq

    pending = getattr(strategy, "pending", None)
    running: list[tuple[float, int, int]] = []  # (finish time, start order, row): a heap
    waiting: dict[int, list[str]] = {}  # row -> the names asked for it, told when it finishes
    started: dict[int, tuple] = {}  # row -> (record, cost, epoch)
    steps, wall = [], []
    clock, n_started = 0.0, 0
    rows_started: set[int] = set()
    while True:
        while len(running) < n_workers and not limits.done(len(rows_started)):
            limits.count_ask(strategy, len(rows_started))
            try:
                asked = strategy.ask()
            except SearchExhausted:  # nothing to propose until a running evaluation finishes, if any does
                limits.exhausted = not running
                break
            if asked is None:  # the strategy waits for a result
                break
            name, epoch = _split(asked)
            hit = bench.resolver.find(name)
            if hit is not None and hit.row in waiting:  # being evaluated by another worker
                waiting[hit.row].append(name)
                continue
            rec, cost, new = _query(bench, strategy, name, epoch)
            if rec is None:
                continue
            if not new:  # evaluated earlier: its value is known, free
                strategy.tell(name, rec.val_acc)
                continue
            # it runs for what it is charged (the cost rule, actbench.query.cost: unknown runtimes included)
            heapq.heappush(running, (clock + cost, n_started, rec.row))
            waiting[rec.row], started[rec.row] = [name], (rec, cost, epoch or 0)
            rows_started.add(rec.row)
            n_started += 1
            if pending is not None:
                pending.add(rec.row)
        if not running:
            return steps, wall
        clock, _, row = heapq.heappop(running)
        step = started.pop(row)
        if pending is not None:
            pending.discard(row)
        for name in waiting.pop(row):
            strategy.tell(name, step[0].val_acc)
        steps.append(step)
        wall.append(clock)
