"""The specialists' whole work in the console (issue 12): every application, found by number,
domain, entity name and account, filtered by state, type, province and lateness in working days,
in keyset pages; the mirror with who holds each filing; the deliveries that failed, with their last
error and a retry; CSV exports of both lists. Only specialists see any of it."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.test import Client

from beian.provider import applications, console_lists, delivery, listing, review
from beian.provider.models import Application, Delivery, TimelineEntry
from tests.provider.conftest import enterprise, person, website
from tests.provider.test_portal_pages import mirror, signed_in, text

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State
SIM = "http://127.0.0.1/bureau/sim/v1"


def filing(n: int, domain: str, province: str = "44") -> dict:
    principal = person(n, division={"44": "440305", "33": "330106"}[province])
    return {
        "entity": enterprise(n, province=province, principal=principal),
        "website": website(domain, principal=principal, name=f"网站{n}"),
        "access": {"ips": ["121.40.18.10"]},
    }


@pytest.fixture
def work(people, clock):
    """alice submitted one on Monday (late by Thursday) and one on Thursday; charlie has a draft in
    Zhejiang; the clock stands on Thursday."""
    alice, charlie = people["alice"], people["charlie"]
    monday = applications.submit(
        app=applications.create_draft(owner=alice, op_type="new_filing", data=filing(1, "monday-shop.cn")), user=alice
    )
    clock.advance(timedelta(days=3))
    thursday = applications.submit(
        app=applications.create_draft(owner=alice, op_type="new_filing", data=filing(2, "thursday-news.cn")),
        user=alice,
    )
    clock.advance(timedelta(minutes=5))
    draft = applications.create_draft(owner=charlie, op_type="new_filing", data=filing(3, "west-lake.cn", "33"))
    return {"monday": monday, "thursday": thursday, "draft": draft}


def listed(page: str) -> list[str]:
    return re.findall(r'data-application="([0-9a-f-]{36})"', page)


def test_every_application_found_by_number_domain_name_and_account(work, people):
    bob = signed_in(people["bob"])
    everything = listed(text(bob.get("/console/applications/")))
    assert everything == [str(work[k].pk) for k in ("draft", "thursday", "monday")]  # newest first
    for q, expected in (
        ("thursday-news", ["thursday"]),
        ("测试科技有限公司3号", ["draft"]),
        ("charlie", ["draft"]),
        ("alice", ["thursday", "monday"]),
        ("网站1", ["monday"]),
    ):
        assert listed(text(bob.get("/console/applications/", {"q": q}))) == [str(work[k].pk) for k in expected], q


def test_filters_by_state_type_province_and_lateness_in_working_days(work, people):
    bob = signed_in(people["bob"])
    ids = {k: str(v.pk) for k, v in work.items()}
    assert listed(text(bob.get("/console/applications/", {"state": "drafts"}))) == [ids["draft"]]
    assert listed(text(bob.get("/console/applications/", {"state": "submitted"}))) == [ids["thursday"], ids["monday"]]
    assert listed(text(bob.get("/console/applications/", {"province": "33"}))) == [ids["draft"]]
    assert listed(text(bob.get("/console/applications/", {"type": "cancel_entity"}))) == []
    # Submitted on Monday, due on Tuesday (one working day): late on Thursday; Thursday's is not.
    page = text(bob.get("/console/applications/", {"overdue": "on"}))
    assert listed(page) == [ids["monday"]]
    assert 'data-late="true"' in page
    assert review.due(work["monday"]).isoformat() == "2026-03-03"


def test_late_counts_working_days_not_calendar_days(people, clock):
    """Submitted on a Friday, the review is due on Monday: on Saturday and Monday it is not late."""
    alice = people["alice"]
    clock.advance(timedelta(days=4))  # Friday 2026-03-06
    friday = applications.submit(
        app=applications.create_draft(owner=alice, op_type="new_filing", data=filing(4, "friday.cn")), user=alice
    )
    for days, expected in ((1, False), (3, False), (4, True)):  # Saturday, Monday, Tuesday
        clock.set(friday.submitted_at + timedelta(days=days))
        assert Application.objects.filter(review.overdue_q(), pk=friday.pk).exists() is expected, days


def test_keyset_pages_and_bad_input(work, people, monkeypatch):
    monkeypatch.setattr(console_lists, "PER_PAGE", 2)
    bob = signed_in(people["bob"])
    first = text(bob.get("/console/applications/"))
    assert len(listed(first)) == 2
    following = re.search(r'id="page-next" href="\?([^"]+)"', first)[1].replace("&amp;", "&")
    second = text(bob.get(f"/console/applications/?{following}"))
    assert listed(first) + listed(second) == [str(work[k].pk) for k in ("draft", "thursday", "monday")]
    assert 'id="page-next"' not in second
    assert bob.get("/console/applications/", {"after": "not-a-cursor"}).status_code == 404
    r = bob.get("/console/applications/", {"state": "bogus"})
    assert r.status_code == 200
    assert listed(text(r)) == []
    assert "errorlist" in text(r)
    r = bob.get("/console/applications/", {"q": "x" * (listing.SEARCH_MAX + 1)})
    assert r.status_code == 200
    assert listed(text(r)) == []
    assert "搜索内容过长" in text(r)


def test_the_mirror_with_who_holds_it_and_its_export(people):
    mirror(people["alice"], number="粤ICP备2026000201号", sites=1)
    mirror(None, number="粤ICP备2026000202号", sites=1)
    bob = signed_in(people["bob"])
    page = text(bob.get("/console/filings/", {"held": "unheld"}))
    assert "粤ICP备2026000202号-1" in page
    assert "粤ICP备2026000201号-1" not in page
    page = text(bob.get("/console/filings/", {"q": "alice"}))
    assert "粤ICP备2026000201号-1" in page
    assert "粤ICP备2026000202号-1" not in page
    r = bob.get("/console/exports/mirror.csv")
    rows = list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode("utf-8-sig"))))
    assert rows[0][-1] == "account"
    assert {(row[0], row[-1]) for row in rows[2:]} == {
        ("粤ICP备2026000201号-1", "alice"),
        ("粤ICP备2026000202号-1", ""),
    }


def test_the_applications_export_follows_the_filters(work, people):
    bob = signed_in(people["bob"])
    r = bob.get("/console/exports/applications.csv", {"q": "alice"})
    assert r["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode("utf-8-sig"))))
    rows = rows[1:]  # the second line names the columns for people
    assert sorted(row["id"] for row in rows) == sorted([str(work["monday"].pk), str(work["thursday"].pk)])
    assert {row["account"] for row in rows} == {"alice"}
    assert all("id_number" not in key for key in rows[0])


def test_a_failed_delivery_shows_its_last_error_and_is_retried_now(people, bureau, sim_clock):
    alice, bob_user = people["alice"], people["bob"]
    app = applications.submit(
        app=applications.create_draft(owner=alice, op_type="new_filing", data=filing(5, "retry.cn")), user=alice
    )
    review.approve(app=app, specialist=bob_user)
    assert bureau._http.put(f"{SIM}/outage", json={"on": True}).status_code == 200
    assert delivery.deliver_due(client=bureau) == 0
    row = Delivery.objects.get(application=app)
    assert row.last_error
    assert row.next_attempt_at > sim_clock.now()
    bob = signed_in(bob_user)
    page = text(bob.get("/console/deliveries/"))
    assert f'data-delivery="{row.pk}"' in page
    assert "503" in page
    assert bureau._http.put(f"{SIM}/outage", json={"on": False}).status_code == 200
    assert delivery.deliver_due(client=bureau) == 0  # not due yet: the backoff holds it
    r = bob.post(f"/console/deliveries/{row.pk}/retry/")
    assert r.status_code == 302
    assert TimelineEntry.objects.filter(application=app, action="delivery_retry", actor="specialist:bob").exists()
    assert delivery.deliver_due(client=bureau) == 1
    app.refresh_from_db()
    assert app.state == S.AWAITING_VERIFICATION
    assert 'id="no-failures"' in text(bob.get("/console/deliveries/"))
    # Done: a retry now changes nothing.
    bob.post(f"/console/deliveries/{row.pk}/retry/")
    assert TimelineEntry.objects.filter(application=app, action="delivery_retry").count() == 1


@pytest.mark.parametrize(
    "path",
    [
        "/console/applications/",
        "/console/filings/",
        "/console/deliveries/",
        "/console/exports/applications.csv",
        "/console/exports/mirror.csv",
        "/console/import/",
    ],
)
def test_only_specialists(people, path):
    assert signed_in(people["alice"]).get(path).status_code == 403
    assert Client().get(path).status_code == 302


@pytest.mark.parametrize("count", [3, 60])
def test_each_console_page_reads_a_fixed_number_of_queries(people, django_assert_max_num_queries, count):
    from tests.provider.test_lists import drafts, filed

    filed(None, sites=count)
    drafts(people["alice"], count)
    bob = signed_in(people["bob"])
    for path in (
        "/console/applications/?q=many",
        "/console/applications/?overdue=on",
        "/console/filings/?held=unheld",
        "/console/deliveries/",
    ):
        with django_assert_max_num_queries(14):
            assert bob.get(path).status_code == 200, path


def test_an_application_links_to_its_filing_in_the_console(people):
    entity = mirror(people["alice"], number="粤ICP备2026000401号", sites=1)
    alice = people["alice"]
    app = applications.create_draft(
        owner=alice, op_type="change_website", data={"website_number": "粤ICP备2026000401号-1"}
    )
    page = text(signed_in(people["bob"]).get(f"/console/applications/{app.pk}/"))
    assert f'href="/console/entities/{entity.pk}/" id="filing-link"' in page
