"""The Chinese working-day calendar that every review window and grace period is counted in.

A `Calendar` is handed the published arrangements (国务院办公厅 notices: statutory holidays and the
adjusted working Saturdays and Sundays, 调休) year by year, as data; it keeps none itself. The State
Council publishes each year's arrangement late in the year before, so whoever holds the data must be
able to add a year without a release: the bureau keeps them in a table (`beian.bureau.holidays`),
filled from `chinese_calendar` for the years that package knows and extended by its admin or a file.

The providers receive the bureau's table through its feed (`beian.provider.holidays`). `BUILTIN` is
the calendar of `chinese_calendar` alone, for callers with no table yet (a provider before its first
calendar event, the tests of this module). For a year without an arrangement a deadline
must still be computable, so such a year counts Monday to Friday as working days; windows that reach
into it are marked provisional (节假日安排未公布) and a warning is logged once per year.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType

import chinese_calendar
from chinese_calendar import constants as chinese_calendar_data

log = logging.getLogger("beian.core.workdays")

_ONE_DAY = timedelta(days=1)
_LAST_WEEKDAY = 4  # date.weekday(): Monday 0 … Friday 4

# Years already warned about; the lock keeps two threads from both logging the first warning.
_warned: set[int] = set()
_warned_lock = threading.Lock()


@dataclass(frozen=True)
class Arrangement:
    """One year's published arrangement: the days off (including the weekend days inside a holiday,
    as the notices list them) and the weekend days that are worked instead (调休上班)."""

    year: int
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)
    names: Mapping[date, str] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))
        strays = sorted(d for d in self.holidays | self.workdays if d.year != self.year)
        if strays:
            raise ValueError(f"{self.year}: days of another year: {', '.join(map(str, strays))}")
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ValueError(f"{self.year}: both a holiday and a working day: {', '.join(map(str, both))}")

    def is_working_day(self, d: date) -> bool:
        if d in self.workdays:
            return True
        if d in self.holidays:
            return False
        return d.weekday() <= _LAST_WEEKDAY

    def __reduce__(self):
        # `names` is a read-only view, which pickle refuses; the national loader hands a calendar
        # to its worker processes.
        return (Arrangement, (self.year, self.holidays, self.workdays, dict(self.names)))


class Calendar:
    """Working days from the arrangements it was handed; weekends only for any other year."""

    def __init__(self, arrangements: Iterable[Arrangement] = ()):
        by_year: dict[int, Arrangement] = {}
        for arrangement in arrangements:
            if arrangement.year in by_year:
                raise ValueError(f"two arrangements for {arrangement.year}")
            by_year[arrangement.year] = arrangement
        self.arrangements: Mapping[int, Arrangement] = MappingProxyType(by_year)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Calendar) and dict(self.arrangements) == dict(other.arrangements)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):
        return (Calendar, (tuple(self.arrangements.values()),))

    def is_published(self, year: int) -> bool:
        return year in self.arrangements

    def is_working_day(self, d: date) -> bool:
        arrangement = self.arrangements.get(d.year)
        if arrangement is not None:
            return arrangement.is_working_day(d)
        _warn_unpublished(d.year)
        return d.weekday() <= _LAST_WEEKDAY

    def add(self, d: date, n: int) -> date:
        """The date `n` working days after `d`; `d` itself is not counted, so add(d, 0) is d."""
        if n < 0:
            raise ValueError(f"cannot add a negative number of working days: {n}")
        day = d
        left = n
        while left:
            day += _ONE_DAY
            if self.is_working_day(day):
                left -= 1
        return day

    def between(self, start: date, end: date) -> int:
        """Working days in (start, end]: the same counting as `add`, so between(d, add(d, n)) == n."""
        count = 0
        day = start + _ONE_DAY
        while day <= end:
            if self.is_working_day(day):
                count += 1
            day += _ONE_DAY
        return count

    def window(self, start: date, min_days: int, max_days: int) -> Window:
        if not 0 <= min_days <= max_days:
            raise ValueError(f"a window needs 0 <= min_days <= max_days, got {min_days}..{max_days}")
        latest = self.add(start, max_days)
        first_counted = start + _ONE_DAY
        provisional = latest >= first_counted and not all(
            self.is_published(year) for year in range(first_counted.year, latest.year + 1)
        )
        return Window(start=start, earliest=self.add(start, min_days), latest=latest, provisional=provisional)


def _warn_unpublished(year: int) -> None:
    if year in _warned:
        return
    with _warned_lock:
        if year in _warned:
            return
        _warned.add(year)
    log.warning("calendar not yet published for %d; counting weekends only", year)


def from_chinese_calendar() -> list[Arrangement]:
    """Every year `chinese_calendar` knows, as arrangements (the seed of the bureau's table)."""
    known: dict[int, dict[str, dict[date, str]]] = {}
    for kind, days in (("holidays", chinese_calendar_data.holidays), ("workdays", chinese_calendar_data.workdays)):
        for day, name in days.items():
            known.setdefault(day.year, {"holidays": {}, "workdays": {}})[kind][day] = str(name)
    return [
        Arrangement(
            year=year,
            holidays=frozenset(kinds["holidays"]),
            workdays=frozenset(kinds["workdays"]),
            names={**kinds["holidays"], **kinds["workdays"]},
        )
        for year, kinds in sorted(known.items())
        if _package_knows(year)
    ]


def _package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        # The package signals "no data for this year" only by raising.
        return False
    return True


BUILTIN = Calendar(from_chinese_calendar())


@dataclass(frozen=True)
class Window:
    start: date  # the day the clock started (e.g. review started)
    earliest: date  # add(start, min_days)
    latest: date  # add(start, max_days): the due date
    # Some day in (start, latest] lies in a year whose holidays are not published yet, so the dates
    # may still move; the UI says "calendar not yet published".
    provisional: bool


# The module's functions count on the calendar they are handed, `BUILTIN` when none is.


def is_published(year: int, calendar: Calendar = BUILTIN) -> bool:
    return calendar.is_published(year)


def is_working_day(d: date, calendar: Calendar = BUILTIN) -> bool:
    return calendar.is_working_day(d)


def add(d: date, n: int, calendar: Calendar = BUILTIN) -> date:
    return calendar.add(d, n)


def between(start: date, end: date, calendar: Calendar = BUILTIN) -> int:
    return calendar.between(start, end)


def window(start: date, min_days: int, max_days: int, calendar: Calendar = BUILTIN) -> Window:
    return calendar.window(start, min_days, max_days)
