"""The one clock. Everything that asks "what time is it" asks here, so that tests and the
simulated bureau can move time without sleeping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("time does not run backwards")
        self._now += delta

    def set(self, moment: datetime) -> None:
        if moment < self._now:
            raise ValueError("time does not run backwards")
        self._now = moment


class OffsetClock:
    """Another clock plus an offset read on every call: the simulated bureau keeps its offset in
    its database so that every process of a deployment sees the same simulated time."""

    def __init__(self, base: Clock, offset: Callable[[], timedelta]):
        self.base = base
        self._offset = offset

    def now(self) -> datetime:
        return self.base.now() + self._offset()


_clock: Clock = SystemClock()


def now() -> datetime:
    return _clock.now()


def today() -> date:
    """Today in China: filing deadlines are Chinese working days."""
    return _clock.now().astimezone(CHINA).date()


def local_date(moment: datetime) -> date:
    return moment.astimezone(CHINA).date()


def current() -> Clock:
    return _clock


def install(clock: Clock) -> Clock:
    """Make `clock` the clock; returns the previous one."""
    global _clock
    previous, _clock = _clock, clock
    return previous


@contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    previous = install(clock)
    try:
        yield clock
    finally:
        install(previous)
