"""The simulated bureau's switches (in the spirit of Pebble): auto review with a decision drawn
inside each operation's window, instant mode, a reject share, and the clock the worker follows."""

from datetime import timedelta

import pytest

from beian.bureau import simulation, work
from beian.bureau.models import Operation
from beian.core import clock, workdays

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Operation.State


@pytest.fixture
def auto(settings):
    settings.BEIAN_BUREAU_REVIEW = "auto"
    settings.BEIAN_BUREAU_DELAY = "window"
    settings.BEIAN_BUREAU_REJECT_SHARE = 0.0
    return settings


def _under_review(world, domain: str) -> Operation:
    op = world.file(domain)  # approved by a reviewer before the plan is due
    return world.submit("change_access", {"website_number": op.website.number, "access": {"ips": ["121.40.18.77"]}})


def test_auto_review_plans_a_decision_inside_the_window(world, auto):
    op = _under_review(world, "planned.cn")
    assert op.state == S.UNDER_REVIEW
    day = clock.local_date(op.planned_decision_at)
    assert op.window_earliest <= day <= op.window_latest
    assert workdays.is_working_day(day)
    assert op.planned_decision == "approve"


def test_auto_review_carries_out_the_plan_when_due(world, auto, sim_clock):
    op = _under_review(world, "due.cn")
    sim_clock.set(op.planned_decision_at - timedelta(minutes=1))
    work.run_due()
    op.refresh_from_db()
    assert op.state == S.UNDER_REVIEW
    sim_clock.advance(timedelta(minutes=2))
    work.run_due()
    op.refresh_from_db()
    assert op.state == S.APPROVED
    assert op.decided_at is not None


def test_instant_mode_decides_at_the_first_run(world, auto):
    auto.BEIAN_BUREAU_DELAY = "instant"
    op = _under_review(world, "instant.cn")
    assert work.run_due().decided == 1
    op.refresh_from_db()
    assert op.state == S.APPROVED


def test_reject_share_rejects_but_never_a_cancel_access(world, auto):
    auto.BEIAN_BUREAU_DELAY = "instant"
    auto.BEIAN_BUREAU_REJECT_SHARE = 1.0
    change = _under_review(world, "share.cn")
    work.run_due()
    change.refresh_from_db()
    assert change.state == S.REJECTED
    assert change.reason_code == "simulated_rejection"
    cancel = world.submit("cancel_access", {"website_number": change.website.number})
    work.run_due()
    cancel.refresh_from_db()
    assert cancel.state == S.APPROVED


def test_moving_the_simulated_clock_is_seen_by_every_reader(world, sim_clock):
    before = clock.now()
    simulation.advance(timedelta(days=2))
    assert clock.now() - before >= timedelta(days=2)
    assert simulation.state().clock_offset_seconds == 2 * 86400


def test_the_simulated_clock_does_not_run_backwards(world):
    with pytest.raises(ValueError, match="backwards"):
        simulation.advance(timedelta(seconds=-1))
