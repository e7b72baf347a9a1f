"""The simulation's shared switches: the clock offset, the outage flag and the faults.

They live in the bureau's database so that the web server's processes and the worker see the same
simulated time and the same outage. The offset is cached for a second per process; the process
that moves the clock sees the move at once. The public query, asked thousands of times a second,
reads the outage and the faults the same way (`recent_faults`, at most once a second per process);
every other request to the bureau's API reads them afresh.

Faults are what a real authority's API does on a bad day, drawn at random for each request to the
bureau's API that an outage would refuse (`beian.bureau.api._available`):

- `fail_share`: that share of requests is refused with 503 `bureau_unavailable` before the bureau
  does anything;
- `drop_share`: that share is carried out (an operation is created, a code confirmed, events read)
  and then the connection is closed without an answer, so that the client cannot tell whether its
  request arrived: a retry must find what the first one did (by idempotency key). The drop needs
  the server's socket, which gunicorn hands over (`gunicorn.socket`); under another server, and
  under Django's test client, the answer goes out as usual.
"""

from __future__ import annotations

import random
import socket
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as time_of_day

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F

from beian.bureau import query
from beian.bureau.models import Operation, SimState
from beian.core import clock

_CACHE_SECONDS = 1.0
_cached: tuple[float, int] | None = None


def state() -> SimState:
    return SimState.objects.get_or_create(id=1)[0]


def offset() -> timedelta:
    """The shared offset, read at most once a second. While the database cannot be read (it is
    restarting) the last offset read stands: every clock reading goes through here, and a worker
    that cannot tell the time cannot even log that its round failed."""
    global _cached
    now = time.monotonic()
    if _cached is None or now - _cached[0] > _CACHE_SECONDS:
        try:
            # Through the ORM, not `query.fetch`: read at most once a second, and a worker's round that
            # meets a lost connection must fail here, at its first read, before it claims anything
            # (tests/ops/test_database_restart.py), not reconnect one database and meet the other's
            # lost connection in the middle of a send.
            row = SimState.objects.filter(id=1).values_list("clock_offset_seconds", flat=True).first()
        except DatabaseError:
            if _cached is None:
                raise
            return timedelta(seconds=_cached[1])
        _cached = (now, row or 0)
    return timedelta(seconds=_cached[1])


def forget_cache() -> None:
    """The next reading reads the offset again (kept meanwhile, should the database not answer)."""
    global _cached
    if _cached is not None:
        _cached = (float("-inf"), _cached[1])


def advance(delta: timedelta) -> None:
    if delta < timedelta(0):
        raise ValueError("time does not run backwards")
    with transaction.atomic(using="bureau"):
        state()
        SimState.objects.filter(id=1).update(
            clock_offset_seconds=F("clock_offset_seconds") + int(delta.total_seconds())
        )
    forget_cache()


# A fresh world starts at the opening of a working day, so that what is made at once is made that day.
START_TIME = time_of_day(9, 0)


class AlreadyRunning(ValueError):
    pass


def start_at(day: date) -> datetime:
    """Make the simulated time `day` at 09:00 in China, for a fresh world: one that has received no
    operation yet. From there it only runs forward (`advance`), so an existing world's history is
    never contradicted. Returns the simulated moment now."""
    if Operation.objects.exists():
        raise AlreadyRunning("the simulation has begun (operations exist): time does not run backwards")
    target = datetime.combine(day, START_TIME, tzinfo=clock.CHINA)
    current = clock.current()
    base = current.base if isinstance(current, clock.OffsetClock) else current
    with transaction.atomic(using="bureau"):
        state()
        SimState.objects.filter(id=1).update(clock_offset_seconds=int((target - base.now()).total_seconds()))
    forget_cache()
    return clock.now()


def set_outage(on: bool) -> None:
    with transaction.atomic(using="bureau"):
        state()
        SimState.objects.filter(id=1).update(outage=on)
    forget_faults()


def outage() -> bool:
    return faults().outage


@dataclass(frozen=True)
class Faults:
    outage: bool = False
    fail_share: float = 0.0
    drop_share: float = 0.0

    def fails(self) -> bool:
        return self.fail_share > 0 and random.random() < self.fail_share

    def drops(self) -> bool:
        return self.drop_share > 0 and random.random() < self.drop_share


NO_FAULTS = Faults()


def faults() -> Faults:
    """The switches as they stand, in one read (none when the simulation is off)."""
    if not settings.BEIAN_SIMULATION:
        return NO_FAULTS
    # Asked by every request to the bureau's API: written out, since compiling the ORM's query
    # costs more than reading the row (`beian.bureau.query` does the same for the records).
    rows = query.fetch(
        f"SELECT outage, fail_share, drop_share FROM {SimState._meta.db_table} WHERE id = 1", [], primary=True
    )
    return Faults(bool(rows[0][0]), rows[0][1], rows[0][2]) if rows else NO_FAULTS


def set_faults(*, fail_share: float, drop_share: float) -> None:
    with transaction.atomic(using="bureau"):
        state()
        SimState.objects.filter(id=1).update(fail_share=fail_share, drop_share=drop_share)
    forget_faults()


_FAULTS_SECONDS = 1.0
_faults_read: tuple[float, Faults] | None = None  # (when, by time.monotonic; what)


def recent_faults(now: float | None = None) -> Faults:
    """The switches as read at most `_FAULTS_SECONDS` ago in this process: what the public query
    asks, so that its answers cost no round trip for them (issue 10). Another process's switch is
    seen within that second; this process's own at once (`set_outage`, `set_faults`)."""
    global _faults_read
    now = time.monotonic() if now is None else now
    kept = _faults_read
    if kept is not None and 0 <= now - kept[0] <= _FAULTS_SECONDS:
        return kept[1]
    read = faults()
    _faults_read = (now, read)
    return read


def forget_faults() -> None:
    global _faults_read
    _faults_read = None


DROP = "beian.drop_connection"


def drop_after_answering(request) -> None:
    """Marks the request: once its answer is made, its connection is closed unanswered (DropConnections)."""
    request.META[DROP] = True


class DropConnections:
    """Middleware: closes the connection of a request marked by `drop_after_answering` after the
    view has done its work and before gunicorn writes the answer, which then goes nowhere (gunicorn
    takes the broken pipe quietly and forgets the connection)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        drop_if_marked(request.META)
        return response


def drop_if_marked(environ: dict) -> None:
    """Closes the connection of a request marked by `drop_after_answering` (its environ)."""
    sock = environ.get("gunicorn.socket") if environ.get(DROP) else None
    if sock is not None:
        with suppress(OSError):  # the client has gone already
            sock.shutdown(socket.SHUT_RDWR)


def install_clock() -> None:
    """Simulated time = the process's clock + the shared offset."""
    if not isinstance(clock.current(), clock.OffsetClock):
        clock.install(clock.OffsetClock(clock.current(), offset))
