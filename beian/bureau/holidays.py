"""The published holiday arrangements, as the bureau keeps them (`HolidayYear`, `HolidayDay`), and
the working-day calendar built from them for `beian.core.workdays`.

The State Council publishes each year's arrangement late in the year before; the bureau takes it in
without a release, by its admin or by a file (`python -m beian load_holidays FILE`). A change of
arrangement moves the decision windows that are open: they are recomputed, and the operation's
history and the provider's feed say so (`beian.bureau.review.recompute_windows`). Every provider's
feed also carries the whole calendar after each change (`calendar.updated`, `publish`), so that the
provider counts its own deadlines (its specialists' review) in the same working days as the bureau.

The file format, one day or a run of days per line (docs/calendar.md):

    # 2027 (an example; the notice's own dates go here)
    2027-01-01              holiday  元旦
    2027-02-05..2027-02-13  holiday  春节
    2027-02-14              workday  春节

Every year named in a file is replaced whole, as a notice publishes a whole year.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Count, F, Max, Sum

from beian.bureau.models import HolidayDay, HolidayYear, Provider
from beian.core import clock, workdays

KINDS = {kind.value for kind in HolidayDay.Kind}
# A run of days is one notice's holiday: never longer than this (Spring Festival and National Day: 8–9).
LONGEST_RUN = 31

_cache_lock = threading.Lock()
_cache: tuple[tuple, workdays.Calendar] | None = None


def _version() -> tuple:
    """What the table looks like now, in one cheap query: any change of a year moves its
    `revision`, and a year added or removed moves the count."""
    row = HolidayYear.objects.aggregate(n=Count("year"), revisions=Sum("revision"), last=Max("changed_at"))
    return (row["n"], row["revisions"], row["last"])


def calendar() -> workdays.Calendar:
    """The calendar of the arrangements in the table, rebuilt only when the table changed (so that
    every process of a deployment follows a change made in another)."""
    global _cache
    version = _version()
    cached = _cache
    if cached is not None and cached[0] == version:
        return cached[1]
    days: dict[int, dict[str, dict[date, str]]] = {
        year: {"holiday": {}, "workday": {}} for year in HolidayYear.objects.values_list("year", flat=True)
    }
    for year, day, kind, name in HolidayDay.objects.values_list("arrangement_id", "day", "kind", "name"):
        days[year][kind][day] = name
    built = workdays.Calendar(
        workdays.Arrangement(
            year=year,
            holidays=frozenset(kinds["holiday"]),
            workdays=frozenset(kinds["workday"]),
            names={**kinds["holiday"], **kinds["workday"]},
        )
        for year, kinds in days.items()
    )
    with _cache_lock:
        _cache = (version, built)
    return built


def forget_cache() -> None:
    global _cache
    _cache = None


# ---------------------------------------------------------------- the providers' copy

CALENDAR_EVENT = "calendar.updated"


def snapshot() -> dict:
    """The whole calendar as a feed event carries it: every year at once (a few hundred days), so
    that a provider replaces its copy whole and a lost or repeated event cannot leave it half-right."""
    return {
        "arrangements": [
            {
                "year": year,
                "holidays": sorted(d.isoformat() for d in arrangement.holidays),
                "workdays": sorted(d.isoformat() for d in arrangement.workdays),
                "names": {d.isoformat(): name for d, name in sorted(arrangement.names.items()) if name},
            }
            for year, arrangement in sorted(calendar().arrangements.items())
        ]
    }


def publish(providers: Iterable[Provider] | None = None) -> None:
    """Tell each provider (every one, unless named) the calendar as it stands, in the transaction of
    the change."""
    from beian.bureau import feed  # feed → registry; imported here to keep this module's imports light

    data = snapshot()
    for provider in Provider.objects.all() if providers is None else providers:
        feed.emit(provider, CALENDAR_EVENT, data)


# ---------------------------------------------------------------- the file


@dataclass(frozen=True)
class LineError:
    line: int
    message: str
    message_en: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message_en}（{self.message}）"


class BadFile(ValueError):
    def __init__(self, errors: list[LineError]):
        super().__init__("\n".join(map(str, errors)))
        self.errors = errors


_LINE = re.compile(
    r"^(?P<first>\d{4}-\d{2}-\d{2})(?:\.\.(?P<last>\d{4}-\d{2}-\d{2}))?\s+(?P<kind>\S+)(?:\s+(?P<name>.*))?$"
)


def _date(text: str) -> date:
    return date.fromisoformat(text)


def parse(text: str) -> list[workdays.Arrangement]:
    """The arrangements a file holds, or `BadFile` with every line at fault."""
    errors: list[LineError] = []
    seen: dict[date, int] = {}
    years: dict[int, dict[str, dict[date, str]]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None:
            errors.append(
                LineError(
                    number,
                    "格式应为“日期[..日期] holiday|workday [名称]”",
                    "expected 'DATE[..DATE] holiday|workday [name]'",
                )
            )
            continue
        try:
            first = _date(match["first"])
            last = _date(match["last"]) if match["last"] else first
        except ValueError:
            errors.append(LineError(number, "日期不存在", "no such date"))
            continue
        kind = match["kind"].lower()
        if kind not in KINDS:
            errors.append(LineError(number, "类型须为 holiday 或 workday", "the kind must be holiday or workday"))
            continue
        if last < first or last.year != first.year or (last - first).days >= LONGEST_RUN:
            errors.append(
                LineError(
                    number,
                    f"日期区间须在同一年内、由早到晚且不超过 {LONGEST_RUN} 天",
                    f"a run of days must go forward within one year and last at most {LONGEST_RUN} days",
                )
            )
            continue
        day = first
        while day <= last:
            if day in seen:
                errors.append(
                    LineError(number, f"{day} 已在第 {seen[day]} 行出现", f"{day} is already on line {seen[day]}")
                )
            elif kind == HolidayDay.Kind.WORKDAY and day.weekday() < 5:
                errors.append(
                    LineError(
                        number,
                        f"{day} 是工作日，调休上班只能是周六或周日",
                        f"{day} is a weekday; a make-up working day is a Saturday or Sunday",
                    )
                )
            else:
                seen[day] = number
                years.setdefault(day.year, {"holiday": {}, "workday": {}})[kind][day] = (match["name"] or "").strip()
            day += timedelta(days=1)
    if not years and not errors:
        errors.append(LineError(0, "文件中没有任何日期", "the file holds no day"))
    if errors:
        raise BadFile(errors)
    return [
        workdays.Arrangement(
            year=year,
            holidays=frozenset(kinds["holiday"]),
            workdays=frozenset(kinds["workday"]),
            names={**kinds["holiday"], **kinds["workday"]},
        )
        for year, kinds in sorted(years.items())
    ]


# ---------------------------------------------------------------- storing


@dataclass
class LoadReport:
    added: list[int] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    # (operation id, old latest, new latest): the open windows the change moved.
    moved: list[tuple[str, date, date]] = field(default_factory=list)
    dry_run: bool = False

    def lines(self) -> list[str]:
        said = "would be " if self.dry_run else ""
        out = [
            f"{label}: {', '.join(map(str, years))}"
            for label, years in (
                (f"{said}added", self.added),
                (f"{said}replaced", self.replaced),
                ("unchanged", self.unchanged),
            )
            if years
        ]
        out += [f"window of operation {op} {said}moved: due {old} → {new}" for op, old, new in self.moved]
        if not self.moved:
            out.append("no open window moves")
        return out


def stored(year: int) -> workdays.Arrangement | None:
    return calendar().arrangements.get(year)


def _store(arrangement: workdays.Arrangement, *, source: str) -> None:
    year, created = HolidayYear.objects.get_or_create(
        year=arrangement.year, defaults={"source": source[:200], "changed_at": clock.now()}
    )
    if not created:
        HolidayYear.objects.filter(pk=year.pk).update(
            source=source[:200], changed_at=clock.now(), revision=F("revision") + 1
        )
    HolidayDay.objects.filter(arrangement_id=arrangement.year).delete()
    HolidayDay.objects.bulk_create(
        HolidayDay(
            arrangement_id=arrangement.year,
            day=day,
            kind=HolidayDay.Kind.HOLIDAY if day in arrangement.holidays else HolidayDay.Kind.WORKDAY,
            name=arrangement.names.get(day, "")[:60],
        )
        for day in sorted(arrangement.holidays | arrangement.workdays)
    )


def load(
    arrangements: Iterable[workdays.Arrangement], *, source: str, by: str = "system", dry_run: bool = False
) -> LoadReport:
    """Replace each year given, recompute the open windows, and say what changed. A dry run does
    all of it in a transaction that is then rolled back, so its report is exactly what a load
    would do."""
    from beian.bureau import review  # review counts in this calendar: imported here, not at the top

    report = LoadReport(dry_run=dry_run)
    with transaction.atomic(using="bureau"):
        for arrangement in arrangements:
            before = stored(arrangement.year)
            if before == arrangement:
                report.unchanged.append(arrangement.year)
                continue
            (report.replaced if before is not None else report.added).append(arrangement.year)
            _store(arrangement, source=source)
        forget_cache()
        if report.added or report.replaced:
            report.moved = review.recompute_windows(years=sorted(report.added + report.replaced), by=by)
            publish()
        if dry_run:
            transaction.set_rollback(True, using="bureau")
    forget_cache()
    return report


def changed_in_admin(year: int, *, by: str) -> list[tuple[str, date, date]]:
    """After the admin saved a year (its days are inline): note the change and move the windows."""
    from beian.bureau import review

    with transaction.atomic(using="bureau"):
        HolidayYear.objects.filter(year=year).update(changed_at=clock.now(), revision=F("revision") + 1)
        forget_cache()
        moved = review.recompute_windows(years=[year], by=by)
        publish()
    forget_cache()
    return moved
