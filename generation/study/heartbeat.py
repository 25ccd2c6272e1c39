"""Heartbeats of a running trial, recorded by a thread beside the training (Optuna records them only inside
``optimize``)."""

from __future__ import annotations

import contextlib
import threading
import warnings



__all__ = ["Heartbeat", "quiet_optuna"]


class Heartbeat(threading.Thread):
    """Records a trial's heartbeat every ``interval`` seconds (Optuna does so only inside ``optimize``)."""

    def __init__(self, storage, trial_id: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # a database hiccup: the next beat retries; a long outage fails the trial
                pass


@contextlib.contextmanager
def quiet_optuna():
    """Silence what Optuna says about using heartbeats outside ``optimize`` (we record them ourselves) and
    about ``fail_stale_trials`` being experimental (since 2.9)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        yield
