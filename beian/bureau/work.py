"""The bureau's background work, run by `python -m beian bureau_worker` (and at once after the
simulation moves its clock). Each step claims its rows by compare-and-set, so several workers
may run side by side."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from beian.bureau import audit, outbox, passwords, registry, review, verification
from beian.core.periodic import AtMostEvery

log = logging.getLogger("beian.bureau.worker")


@dataclass(frozen=True)
class Done:
    expired: int
    decided: int
    shells_deregistered: int
    messages_sent: int
    password_failures_pruned: int = 0  # housekeeping: not counted in `total`
    audit_sealed: int = 0

    @property
    def total(self) -> int:
        return self.expired + self.decided + self.shells_deregistered + self.messages_sent + self.audit_sealed


PRUNE_EVERY = 60.0  # seconds of a worker's process between two prunes

JOBS: dict[str, Callable[[], int]] = {
    "expired": verification.expire_overdue,
    "decided": review.decide_due,
    "shells_deregistered": registry.sweep_shells,
    "messages_sent": outbox.dispatch,
    # Old failures only have to go eventually: a DELETE a round per worker was most of an idle round's writes.
    "password_failures_pruned": AtMostEvery(passwords.prune, every=PRUNE_EVERY),
    # Each commit seals its own records; this seals those of a process that died before it could.
    "audit_sealed": audit.seal,
}


def run_due(*, worker: str = "") -> Done:
    """Each job once, in this order; a line for each that did something."""
    done = {}
    for name, job in JOBS.items():
        began = time.perf_counter()
        done[name] = job()
        log.log(
            logging.INFO if done[name] else logging.DEBUG,
            "%s: %d",
            name,
            done[name],
            extra={
                "job": name,
                "done": done[name],
                "worker": worker,
                "duration_ms": round((time.perf_counter() - began) * 1000, 2),
            },
        )
    return Done(**done)
