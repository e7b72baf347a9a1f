"""A change of holiday arrangement at the bureau moves an open window, and the customer's timeline
says so (issue 13): the provider hears it in the feed like any other fact about its operation."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from beian.bureau import holidays
from beian.core.clock import CHINA
from beian.provider import applications, delivery, review, sync
from beian.provider.models import Application
from tests.provider.test_flow import _filed
from tests.provider.test_portal_pages import signed_in, text

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
EXAMPLE_2027 = Path(__file__).parent.parent / "data" / "holidays-2027-example.txt"


def test_a_recomputed_window_is_on_the_customers_timeline_once(people, bureau, sim_clock):
    sim_clock.set(datetime(2027, 2, 1, 10, tzinfo=CHINA))
    filed = _filed(people, bureau, 270, "hol-timeline.cn")
    cancel = applications.create_draft(
        owner=people["alice"], op_type="cancel_website", data={"website_number": filed.website_number}
    )
    cancel = applications.submit(app=cancel, user=people["alice"], confirm_irreversible=True)
    review.approve(app=cancel, specialist=people["bob"])
    delivery.deliver_due(client=bureau)
    sync.sync_once(client=bureau)
    cancel.refresh_from_db()
    assert cancel.state == Application.State.BUREAU_REVIEW
    assert (cancel.window_latest, cancel.window_provisional) == (date(2027, 3, 1), True)

    holidays.load(holidays.parse(EXAMPLE_2027.read_text()), source="test")
    sync.sync_once(client=bureau)
    cancel.refresh_from_db()
    assert (cancel.window_latest, cancel.window_provisional) == (date(2027, 3, 8), False)
    entries = list(cancel.timeline.filter(action="bureau:window_recomputed"))
    assert len(entries) == 1
    assert "2027-03-01 → 2027-02-04 – 2027-03-08" in entries[0].reason
    page = text(signed_in(people["alice"]).get(f"/portal/applications/{cancel.pk}/"))
    assert "节假日安排变更，管局重新计算审核期限" in page
    assert "2027-03-08" in page


def test_the_providers_review_deadline_counts_in_the_bureaus_published_arrangement(people, bureau, sim_clock):
    """Issue 13: the calendar reaches the provider through the feed, so a year published late moves
    the specialists' review deadline without a release, as it moves the bureau's windows."""
    from beian.provider import holidays as provider_holidays
    from beian.provider.models import BureauCalendar

    sim_clock.set(datetime(2027, 2, 4, 10, tzinfo=CHINA))  # Thursday, the eve of the example's festival
    sync.sync_once(client=bureau)  # a new provider's feed starts with the calendar
    held = BureauCalendar.objects.get()
    assert provider_holidays.calendar() == holidays.calendar()
    submitted = Application(submitted_at=sim_clock.now())
    assert review.due(submitted) == date(2027, 2, 5)  # 2027 not yet published: weekdays only

    holidays.load(holidays.parse(EXAMPLE_2027.read_text()), source="test")
    assert review.due(submitted) == date(2027, 2, 5)  # the provider has not read its feed yet
    sync.sync_once(client=bureau)
    assert provider_holidays.calendar().is_published(2027)
    assert review.due(submitted) == date(2027, 2, 15)  # after the festival and its weekend

    # An older calendar offered again (a page retried event by event) does not undo the newer one.
    provider_holidays.follow({"seq": held.seq, "data": {"arrangements": held.arrangements}})
    assert review.due(submitted) == date(2027, 2, 15)
