"""The provider's background work: delivery and sync, run by `python -m beian provider_worker`."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from beian.provider import bureau_client, delivery, notices, passwords, sync

log = logging.getLogger("beian.provider.worker")

JOBS: dict[str, Callable[[bureau_client.BureauClient], int]] = {
    "deliver": lambda client: delivery.deliver_due(client=client),
    "sync": lambda client: sync.sync_once(client=client),
    "notify": lambda client: notices.dispatch(),
    "prune": lambda client: passwords.prune(),
}


def run(jobs: list[str], *, interval: float, once: bool, client: bureau_client.BureauClient | None = None) -> None:
    client = client or bureau_client.BureauClient()
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    while True:
        busy = False
        for name in jobs:
            try:
                busy |= JOBS[name](client) > 0
            except bureau_client.Unavailable as exc:
                log.info("%s: bureau unavailable (%s); will retry", name, exc)
            except Exception:  # one bad round must not stop the worker; the next round retries
                log.exception("%s failed", name)
        if once:
            return
        # A busy round goes again at once: a backlog drains without waiting an interval per page.
        if not busy and stop.wait(interval):
            return
        if stop.is_set():
            return
