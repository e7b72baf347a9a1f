"""The working days the provider counts its own deadlines in (its specialists' review of about one
working day, DESIGN §3): the bureau's published holiday arrangements, as the bureau's feed carries
them (`calendar.updated`, beian/bureau/holidays.py `publish`), so that a year the State Council
publishes late reaches the provider without a release, as it reaches the bureau.

Until the first such event arrives (a provider whose feed predates it), the calendar is the one
built from `chinese-calendar`, which is what the bureau's own table starts from.
"""

from __future__ import annotations

import threading
import time
from datetime import date

from beian.core import clock, workdays
from beian.provider.models import BureauCalendar

# How long a process keeps the calendar before looking at the table again. The worker that takes
# in a new calendar forgets its copy at once; the web processes see it within this long, which is
# nothing against a notice published weeks before the year it arranges.
REREAD_SECONDS = 60.0

_lock = threading.Lock()
_cached: tuple[float, workdays.Calendar] | None = None


def _build(arrangements: list[dict]) -> workdays.Calendar:
    return workdays.Calendar(
        workdays.Arrangement(
            year=item["year"],
            holidays=frozenset(date.fromisoformat(d) for d in item["holidays"]),
            workdays=frozenset(date.fromisoformat(d) for d in item["workdays"]),
            names={date.fromisoformat(d): name for d, name in item.get("names", {}).items()},
        )
        for item in arrangements
    )


def calendar() -> workdays.Calendar:
    global _cached
    cached = _cached
    if cached is not None and time.monotonic() - cached[0] < REREAD_SECONDS:
        return cached[1]
    row = BureauCalendar.objects.filter(id=1).values_list("arrangements", flat=True).first()
    built = workdays.BUILTIN if row is None else _build(row)
    with _lock:
        _cached = (time.monotonic(), built)
    return built


def forget_cache() -> None:
    global _cached
    _cached = None


def follow(event: dict) -> None:
    """Take in the calendar an event carries, unless a later one is already held (the feed is read
    in order, but a page retried one event at a time may offer an older one again)."""
    arrangements = event["data"]["arrangements"]
    _build(arrangements)  # a calendar that does not make sense is refused before it is stored
    held = BureauCalendar.objects.select_for_update().filter(id=1).first()
    if held is not None and held.seq >= event["seq"]:
        return
    BureauCalendar.objects.update_or_create(
        id=1, defaults={"arrangements": arrangements, "seq": event["seq"], "received_at": clock.now()}
    )
    forget_cache()
