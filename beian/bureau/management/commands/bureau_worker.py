"""The bureau's worker: expires unverified operations, carries out the simulation's planned
decisions, deregisters shells past their grace period and sends queued messages. Several may run
at once; each claims its rows by compare-and-set."""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from beian.bureau import work
from beian.core import clock
from beian.ops import connections, health

log = logging.getLogger("beian.bureau.worker")


class Command(BaseCommand):
    help = "Run the bureau's background work in a loop (or once with --once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run what is due once and exit")
        parser.add_argument("--interval", type=float, default=settings.BEIAN_WORKER_INTERVAL_SECONDS)

    def handle(self, *args, once: bool, interval: float, **options):
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        worker, started_at = health.worker_name(), clock.now()
        while True:
            try:
                work.run_due(worker=worker)
            except Exception:  # one bad round must not stop the worker; the next round retries
                log.exception("bureau work failed", extra={"worker": worker})
                connections.drop_broken()  # e.g. PostgreSQL restarted: the next round connects afresh
            health.beat("bureau", worker=worker, started_at=started_at)
            if once or stop.wait(interval):
                return
