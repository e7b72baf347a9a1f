"""The provider's background work (delivery, sync, notices, pruning, sealing the timeline), run by
`python -m beian provider_worker`."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

from beian.core import clock
from beian.core.periodic import AtMostEvery
from beian.ops import connections, health
from beian.provider import bureau_client, delivery, notices, passwords, sync, timeline, withdrawn

log = logging.getLogger("beian.provider.worker")

PRUNE_EVERY = 60.0  # seconds of a worker's process between two prunes of old refusals
# Old refusals only have to go eventually: a DELETE every round per worker was an idle round's one write.
prune_refusals = AtMostEvery(passwords.prune, every=PRUNE_EVERY)
prune_withdrawn = AtMostEvery(withdrawn.prune, every=withdrawn.PRUNE_EVERY)

JOBS: dict[str, Callable[[bureau_client.BureauClient], int]] = {
    "deliver": lambda client: delivery.deliver_due(client=client),
    "sync": lambda client: sync.sync_once(client=client),
    "notify": lambda client: notices.dispatch(),
    "prune": lambda client: prune_refusals() + prune_withdrawn(),
    # Each commit seals its own timeline entries; this seals those written in bulk, or by a process
    # that died before it could.
    "seal": lambda client: timeline.seal(),
}


def run(jobs: list[str], *, interval: float, once: bool, client: bureau_client.BureauClient | None = None) -> None:
    client = client or bureau_client.BureauClient()
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    worker, started_at = health.worker_name(), clock.now()
    while True:
        busy = False
        for name in jobs:
            began = time.perf_counter()
            try:
                done = JOBS[name](client)
            except bureau_client.Unavailable as exc:
                log.info("%s: bureau unavailable (%s); will retry", name, exc, extra={"job": name, "worker": worker})
            except Exception:  # one bad round must not stop the worker; the next round retries
                log.exception("%s failed", name, extra={"job": name, "worker": worker})
                connections.drop_broken()  # e.g. PostgreSQL restarted: the next job connects afresh
            else:
                busy |= done > 0
                # A line for each run that did something; an idle poll every few seconds would drown them.
                log.log(
                    logging.INFO if done else logging.DEBUG,
                    "%s: %d done",
                    name,
                    done,
                    extra={"job": name, "done": done, "worker": worker, "duration_ms": _ms(began)},
                )
        health.beat("provider", worker=worker, started_at=started_at)
        if once:
            return
        # A busy round goes again at once: a backlog drains without waiting an interval per page.
        if not busy and stop.wait(interval):
            return
        if stop.is_set():
            return


def _ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 2)
