"""The Chinese working-day calendar that every review window and grace period is counted in.

Statutory holidays and the adjusted working Saturdays and Sundays (调休) come from
`chinese_calendar`, which knows a year only once the State Council has published it (usually in
November of the year before). For a year it does not know yet, a deadline must still be computable,
so such a year counts Monday to Friday as working days; windows that reach into it are marked
provisional and a warning is logged once per year, so an outdated package is noticed.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import chinese_calendar

log = logging.getLogger("beian.core.workdays")

_ONE_DAY = timedelta(days=1)
_LAST_WEEKDAY = 4  # date.weekday(): Monday 0 … Friday 4

# Years already warned about; the lock keeps two threads from both logging the first warning.
_warned: set[int] = set()
_warned_lock = threading.Lock()


@cache
def is_published(year: int) -> bool:
    """Whether `chinese_calendar` has the holiday arrangement for `year`."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        # The package signals "no data for this year" only by raising.
        return False
    return True


def _warn_unpublished(year: int) -> None:
    if year in _warned:
        return
    with _warned_lock:
        if year in _warned:
            return
        _warned.add(year)
    log.warning("calendar not yet published for %d; counting weekends only", year)


def is_working_day(d: date) -> bool:
    if is_published(d.year):
        return chinese_calendar.is_workday(d)
    _warn_unpublished(d.year)
    return d.weekday() <= _LAST_WEEKDAY


def add(d: date, n: int) -> date:
    """The date `n` working days after `d`; `d` itself is not counted, so add(d, 0) is d."""
    if n < 0:
        raise ValueError(f"cannot add a negative number of working days: {n}")
    day = d
    left = n
    while left:
        day += _ONE_DAY
        if is_working_day(day):
            left -= 1
    return day


def between(start: date, end: date) -> int:
    """Working days in (start, end]: the same counting as `add`, so between(d, add(d, n)) == n."""
    count = 0
    day = start + _ONE_DAY
    while day <= end:
        if is_working_day(day):
            count += 1
        day += _ONE_DAY
    return count


@dataclass(frozen=True)
class Window:
    start: date  # the day the clock started (e.g. review started)
    earliest: date  # add(start, min_days)
    latest: date  # add(start, max_days): the due date
    # Some day in (start, latest] lies in a year whose holidays are not published yet, so the dates
    # may still move; the UI says "calendar not yet published".
    provisional: bool


def window(start: date, min_days: int, max_days: int) -> Window:
    if not 0 <= min_days <= max_days:
        raise ValueError(f"a window needs 0 <= min_days <= max_days, got {min_days}..{max_days}")
    latest = add(start, max_days)
    first_counted = start + _ONE_DAY
    provisional = latest >= first_counted and not all(
        is_published(year) for year in range(first_counted.year, latest.year + 1)
    )
    return Window(start=start, earliest=add(start, min_days), latest=latest, provisional=provisional)
