"""A simulation that can start on any day (issue 13): a fresh world is created at a given date and
runs forward from there, so a Spring Festival can be shown and tested whenever one likes."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command

from beian.bureau import simulation, submission
from beian.bureau.models import Operation, Provider, Website
from beian.core import clock

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


@pytest.fixture(autouse=True)
def _sandbox(settings):
    settings.EMAIL_BACKEND = "beian.messaging.backends.SandboxEmailBackend"
    settings.BEIAN_SIMULATION = True


def test_a_world_created_on_2026_02_13_shows_a_cancellation_window_ending_on_the_20th_working_day_after_the_holiday(
    sim_clock, capsys
):
    call_command("demo_world", "--at", "2026-02-13")
    assert "simulated clock starts at 2026-02-13 09:00" in capsys.readouterr().out
    assert clock.today() == date(2026, 2, 13)
    assert {op.submitted_at.astimezone(clock.CHINA).date() for op in Operation.objects.all()} == {date(2026, 2, 13)}

    # It runs forward from there: into the Spring Festival holiday (15–23 February).
    simulation.advance(timedelta(days=3))
    assert clock.today() == date(2026, 2, 16)
    site = Website.objects.get(domains__name="demo-tech.cn")
    op = submission.submit(
        provider=Provider.objects.get(slug="democloud"),
        op_type="cancel_website",
        data={"website_number": site.number},
        idempotency_key=uuid.uuid4(),
    ).operation
    assert op.state == Operation.State.UNDER_REVIEW
    # 24 Feb is the first working day after the holiday; the 28th (Saturday) is worked: the 20th
    # working day after the holiday is 20 March.
    assert (op.window_earliest, op.window_latest) == (date(2026, 2, 26), date(2026, 3, 20))


def test_a_world_that_exists_keeps_its_clock(sim_clock, capsys):
    call_command("demo_world", "--at", "2026-02-13")
    with pytest.raises(CommandError, match="only runs forward"):
        call_command("demo_world", "--at", "2025-01-01")
    with pytest.raises(simulation.AlreadyRunning):
        simulation.start_at(date(2025, 1, 1))
    assert clock.today() == date(2026, 2, 13)


def test_the_start_day_may_come_from_the_setting(sim_clock, settings, capsys):
    settings.BEIAN_SIM_START = date(2026, 9, 30)
    call_command("demo_world")
    assert clock.today() == date(2026, 9, 30)
    call_command("demo_world")  # `make run` again: the world is there, its clock untouched
    assert "already present" in capsys.readouterr().out


def test_a_bad_start_day_is_refused_clearly():
    with pytest.raises(CommandError, match="expected a date as YYYY-MM-DD"):
        call_command("demo_world", "--at", "2026-02-30")
