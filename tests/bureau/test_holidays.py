"""The calendar as data (issue 13): the bureau's table of published holiday arrangements, filled
from chinese-calendar and extended by a file or the admin without a release; windows, deadlines and
the shell sweep count in it; a change of arrangement recomputes the open windows and says so."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from beian.bureau import holidays, registry
from beian.bureau.models import AuditRecord, Event, HolidayDay, HolidayYear, Operation, Website
from beian.core import workdays
from beian.core.clock import CHINA
from tests.bureau.conftest import enterprise, person, website

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

EXAMPLE_2027 = Path(__file__).parent.parent / "data" / "holidays-2027-example.txt"


def _at(clock, day: date, hour: int = 10) -> None:
    clock.set(datetime(day.year, day.month, day.day, hour, 0, tzinfo=CHINA))


def test_the_table_starts_with_every_year_chinese_calendar_knows():
    assert holidays.calendar() == workdays.BUILTIN
    assert HolidayYear.objects.get(year=2026).source == "chinese-calendar"
    assert HolidayDay.objects.get(day=date(2026, 2, 14)).kind == "workday"  # the make-up Saturday
    assert not holidays.calendar().is_published(2027)


def test_a_year_without_an_arrangement_is_still_provisional():
    win = holidays.calendar().window(date(2026, 12, 20), 3, 20)
    assert win.provisional  # 节假日安排未公布: the window reaches into 2027


def test_windows_across_spring_festival_2027_are_computed_from_a_loaded_arrangement():
    before = holidays.calendar().window(date(2027, 2, 1), 3, 20)
    assert (before.latest, before.provisional) == (date(2027, 3, 1), True)  # weekends only
    report = holidays.load(holidays.parse(EXAMPLE_2027.read_text()), source="test")
    assert report.added == [2027]
    after = holidays.calendar().window(date(2027, 2, 1), 3, 20)
    # 2 Feb – 4 Feb, then 5–13 off, the 20th (Saturday) worked: the 20th working day is 8 March.
    assert (after.earliest, after.latest, after.provisional) == (date(2027, 2, 4), date(2027, 3, 8), False)
    assert not holidays.calendar().is_working_day(date(2027, 2, 8))
    assert holidays.calendar().is_working_day(date(2027, 2, 20))


def test_load_holidays_file_is_checked_line_by_line_and_nothing_is_loaded_on_error(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(
        "2027-01-01 holiday 元旦\n"
        "2027-02-30 holiday 不存在\n"
        "2027-02-08 workday 周一\n"
        "2027-01-01 holiday 重复\n"
        "2027-03-01..2027-02-01 holiday 倒序\n"
        "2027-05-01 vacation\n"
        "not a line\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError) as refused:
        call_command("load_holidays", str(bad))
    said = str(refused.value)
    for line, words in (
        (2, "no such date"),
        (3, "a make-up working day is a Saturday or Sunday"),
        (4, "already on line 1"),
        (5, "must go forward"),
        (6, "holiday or workday"),
        (7, "expected 'DATE[..DATE]"),
    ):
        said_of_line = [text for text in said.splitlines() if text.startswith(f"line {line}: ")]
        assert said_of_line, (line, said)
        assert words in said_of_line[0], (line, said)
    assert not HolidayYear.objects.filter(year=2027).exists()


def test_load_holidays_dry_run_reports_and_changes_nothing(capsys):
    call_command("load_holidays", str(EXAMPLE_2027), "--dry-run")
    out = capsys.readouterr().out
    assert "2027: 12 days off, 2 make-up working days" in out
    assert "would be added: 2027" in out
    assert "dry run: nothing was changed" in out
    assert not HolidayYear.objects.filter(year=2027).exists()
    call_command("load_holidays", str(EXAMPLE_2027))
    assert "added: 2027" in capsys.readouterr().out
    assert HolidayYear.objects.get(year=2027).days.count() == 14
    call_command("load_holidays", str(EXAMPLE_2027))
    assert "unchanged: 2027" in capsys.readouterr().out


def _cancellation_under_review(world, sim_clock, day: date) -> Operation:
    _at(sim_clock, day)
    filed = world.file(f"hol-{day:%m%d}.cn")
    op = world.submit("cancel_website", {"website_number": filed.website.number})
    assert op.state == Operation.State.UNDER_REVIEW  # faq: a cancellation waits for no SMS
    return op


def test_a_change_of_arrangement_recomputes_open_windows_and_says_so(world, sim_clock, operator_http):
    op = _cancellation_under_review(world, sim_clock, date(2027, 2, 1))
    assert (op.window_latest, op.window_provisional) == (date(2027, 3, 1), True)
    events_before = Event.objects.count()

    report = holidays.load(holidays.parse(EXAMPLE_2027.read_text()), source="test", by="system:test")
    op.refresh_from_db()
    assert (op.window_latest, op.window_provisional) == (date(2027, 3, 8), False)
    assert report.moved == [(str(op.pk), date(2027, 3, 1), date(2027, 3, 8))]
    record = AuditRecord.objects.filter(subject=f"operation:{op.pk}", action="window_recomputed").get()
    assert "2027-03-01 → 2027-02-04 – 2027-03-08" in record.reason
    event = Event.objects.filter(seq__gt=0).order_by("-pk").filter(kind="operation.updated").first()
    assert Event.objects.count() > events_before
    assert event.data["window"]["latest"] == "2027-03-08"
    assert event.data["window_recomputed"] is True
    # The same arrangement again moves nothing and says nothing.
    again = holidays.load(holidays.parse(EXAMPLE_2027.read_text()), source="test")
    assert again.unchanged == [2027]
    assert again.moved == []


def test_the_admin_adds_a_year_and_the_open_windows_move(world, sim_clock, client):
    op = _cancellation_under_review(world, sim_clock, date(2027, 2, 1))
    User.objects.create_superuser("root", "root@example.cn", "root-pass")
    client.login(username="root", password="root-pass")
    form = {
        "year": "2027",
        "source": "国办发明电〔2026〕example",
        "days-TOTAL_FORMS": "3",
        "days-INITIAL_FORMS": "0",
        "days-MIN_NUM_FORMS": "0",
        "days-MAX_NUM_FORMS": "1000",
        "days-0-day": "2027-02-08",
        "days-0-kind": "holiday",
        "days-0-name": "春节",
        "days-1-day": "2027-02-09",
        "days-1-kind": "holiday",
        "days-1-name": "春节",
        "days-2-day": "",
    }
    bad = client.post("/admin/bureau/holidayyear/add/", {**form, "days-1-kind": "workday"})
    assert bad.status_code == 200
    assert "A make-up working day is a Saturday or Sunday" in bad.content.decode()
    assert not HolidayYear.objects.filter(year=2027).exists()
    r = client.post("/admin/bureau/holidayyear/add/", form)
    assert r.status_code == 302, r.content.decode()[:2000]
    op.refresh_from_db()
    assert op.window_latest == date(2027, 3, 3)  # two weekdays off more than weekends only
    assert not op.window_provisional
    assert AuditRecord.objects.filter(subject=f"operation:{op.pk}", action="window_recomputed").exists()


def test_s13_the_shell_deadline_counts_in_the_loaded_arrangement(world, sim_clock, settings):
    settings.BEIAN_SHELL_GRACE_DAYS = 20
    _at(sim_clock, date(2027, 2, 1))
    filed = world.file("hol-shell.cn")
    world.submit("cancel_access", {"website_number": filed.website.number})
    shell = filed.website
    shell.refresh_from_db()
    assert registry.grace_deadline(shell.shell_since) == date(2027, 3, 1)
    holidays.load(holidays.parse(EXAMPLE_2027.read_text()), source="test")
    assert registry.grace_deadline(shell.shell_since) == date(2027, 3, 8)
    sim_clock.set(datetime(2027, 3, 5, 12, tzinfo=CHINA))
    assert registry.sweep_shells() == 0  # weekends-only counting would have swept it on 1 March
    sim_clock.set(datetime(2027, 3, 8, 12, tzinfo=CHINA))
    assert registry.sweep_shells() == 1


def test_a_change_of_arrangement_tells_only_the_shells_whose_deadline_it_can_move(world, sim_clock, settings):
    """The providers hear a shell's deadline again only where its count reaches the changed year."""
    settings.BEIAN_SHELL_GRACE_DAYS = 20
    shells = {}
    for day in (date(2026, 11, 2), date(2027, 1, 25)):  # 20 working days end in 2026, and in 2027
        _at(sim_clock, day)
        filed = world.file(f"hol-shell-{day:%m%d}.cn")
        world.submit("cancel_access", {"website_number": filed.website.number})
        shells[day] = filed.website.number
    assert registry.grace_deadline(Website.objects.get(number=shells[date(2026, 11, 2)]).shell_since).year == 2026
    last = Event.objects.order_by("-pk").values_list("pk", flat=True).first()

    holidays.load(holidays.parse(EXAMPLE_2027.read_text()), source="test")
    told = {
        e.data["number"]: e.data["shell_deadline"] for e in Event.objects.filter(pk__gt=last, kind="website.updated")
    }
    assert told == {shells[date(2027, 1, 25)]: "2027-02-26"}  # across Spring Festival, as loaded


def test_the_cached_calendar_follows_a_change_made_elsewhere():
    first = holidays.calendar()
    HolidayYear.objects.create(year=2030, source="elsewhere")
    HolidayDay.objects.create(arrangement_id=2030, day=date(2030, 1, 1), kind="holiday", name="元旦")
    assert holidays.calendar() is not first
    assert holidays.calendar().is_published(2030)
    assert not holidays.calendar().is_working_day(date(2030, 1, 1))


def test_new_filing_window_uses_the_table(world, sim_clock):
    """Not only cancellations: every operation's window counts in the bureau's table."""
    holidays.load(holidays.parse(EXAMPLE_2027.read_text()), source="test")
    _at(sim_clock, date(2027, 2, 1))
    principal = person(900)
    op = world.submit(
        "new_filing",
        {
            "entity": enterprise(900, principal=principal),
            "website": website("hol-new.cn", principal=principal),
            "access": {"ips": ["121.40.18.10"]},
        },
    )
    op = world.verify_all(op)
    assert op.window_latest == holidays.calendar().add(date(2027, 2, 1), 20) == date(2027, 3, 8)
    assert op.window_latest - op.window_earliest > timedelta(days=20)
