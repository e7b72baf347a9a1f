"""Housekeeping a worker need not do every round: a job run at most once every so many seconds of
its process. A worker's round comes every second or so when idle and at once when busy; a prune of
rows that only have to go eventually is a statement a round for nothing most of the time."""

from __future__ import annotations

import time
from collections.abc import Callable

_all: list[AtMostEvery] = []


class AtMostEvery:
    """`job`, run when called unless it ran less than `every` seconds ago (by `clock`, monotonic
    seconds, injectable for tests); returns what `job` returned, or 0 when it was not run."""

    def __init__(self, job: Callable[[], int], *, every: float, clock: Callable[[], float] = time.monotonic):
        self.job, self.every, self.clock = job, every, clock
        self.ran_at: float | None = None
        _all.append(self)

    def __call__(self) -> int:
        now = self.clock()
        if self.ran_at is not None and now - self.ran_at < self.every:
            return 0
        self.ran_at = now  # before the job: one that fails is not retried every round either
        return self.job()

    def forget(self) -> None:
        self.ran_at = None


def forget_all() -> None:
    """Every throttled job is due again (tests start each from a fresh process's state)."""
    for throttled in _all:
        throttled.forget()
