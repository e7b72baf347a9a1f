"""The simulation's shared switches: the clock offset and the outage flag.

They live in the bureau's database so that the web server's processes and the worker see the same
simulated time and the same outage. The offset is cached for a second per process; the process
that moves the clock sees the move at once.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from datetime import time as time_of_day

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F

from beian.bureau.models import Operation, SimState
from beian.core import clock

_CACHE_SECONDS = 1.0
_cached: tuple[float, int] | None = None


def state() -> SimState:
    return SimState.objects.get_or_create(id=1)[0]


def offset() -> timedelta:
    global _cached
    now = time.monotonic()
    if _cached is None or now - _cached[0] > _CACHE_SECONDS:
        row = SimState.objects.filter(id=1).values_list("clock_offset_seconds", flat=True).first()
        _cached = (now, row or 0)
    return timedelta(seconds=_cached[1])


def forget_cache() -> None:
    global _cached
    _cached = None


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


def outage() -> bool:
    if not settings.BEIAN_SIMULATION:
        return False
    # Asked by every public request: written out, since compiling the ORM's query costs more than
    # reading the row (`beian.bureau.query` does the same for the records).
    with connections["bureau"].cursor() as cur:
        cur.execute(f"SELECT outage FROM {SimState._meta.db_table} WHERE id = 1")
        row = cur.fetchone()
    return bool(row and row[0])


def install_clock() -> None:
    """Simulated time = the process's clock + the shared offset."""
    if not isinstance(clock.current(), clock.OffsetClock):
        clock.install(clock.OffsetClock(clock.current(), offset))
