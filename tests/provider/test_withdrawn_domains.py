"""The mirror keeps the names taken off its websites with the version of the change (issue 11: the
feed's pages then say of every name an edge withdraws whether anything still serves it, and edges
need not ask /served). Written by sync in the transaction of the change, whether a page of events is
applied together or one event at a time; pruned past the feed's snapshot horizon."""

from __future__ import annotations

import pytest
from django.db import transaction

from beian.enforcement import feed
from beian.provider import sync, withdrawn, work
from beian.provider.models import FiledDomain, FiledEntity, FiledWebsite, WithdrawnDomain

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def snapshot(n: int, *domains: str, status: str = "active", access: str = "active") -> dict:
    """The bureau's snapshot of website n, as `website.updated` carries it."""
    return {
        "number": f"京ICP备2026{n:06d}号-1",
        "name": f"网站{n}",
        "home_url": f"http://{domains[0] if domains else f'site{n}.cn'}/",
        "status": status,
        "deregistered_reason": "cancel_website" if status != "active" else "",
        "shell_since": None,
        "shell_deadline": None,
        "access": {"state": access, "ended_reason": "deregistered" if access == "ended" else "", "ips": []},
        "domains": list(domains),
        "entity": {
            "number": f"京ICP备2026{n:06d}号",
            "name": f"主体{n}",
            "unit_type": "enterprise",
            "province": "11",
            "status": "active",
        },
    }


def event(seq: int, data: dict) -> dict:
    return {"seq": seq, "kind": "website.updated", "data": data}


EVENTS = [
    event(1, snapshot(1, "a.cn", "b.cn")),
    event(2, snapshot(2, "c.cn", "shared.cn")),
    event(3, snapshot(1, "a.cn")),  # b.cn taken off
    event(4, snapshot(2, status="deregistered", access="ended")),  # c.cn and shared.cn with it
]


def kept() -> set[tuple[str, str, int]]:
    return set(WithdrawnDomain.objects.values_list("website__number", "name", "version"))


def apply(how: str, events: list[dict]) -> None:
    if how == "page":
        sync.follow_websites(events)
    else:
        for e in events:
            sync.follow_website(e["data"], version=e["seq"])


@pytest.mark.parametrize("how", ["page", "one by one"])
def test_a_name_taken_off_is_kept_with_its_changes_version_once_however_often_applied(how):
    apply(how, EVENTS[:2])
    assert kept() == set()
    apply(how, EVENTS[2:])
    one, two = (s["data"]["number"] for s in EVENTS[:2])
    expected = {(one, "b.cn", 3), (two, "c.cn", 4), (two, "shared.cn", 4)}
    assert kept() == expected
    assert not FiledDomain.objects.filter(website__number=two).exists()
    # A page read twice (sync's cursor keeps that from happening; applying is idempotent anyway).
    apply(how, EVENTS[2:])
    assert kept() == expected


def test_a_name_taken_off_again_keeps_one_row_at_the_later_version():
    sync.follow_websites(EVENTS[:1])
    sync.follow_websites([event(5, snapshot(1, "a.cn"))])
    sync.follow_websites([event(6, snapshot(1, "a.cn", "b.cn"))])  # filed again: the row stays, harmless
    sync.follow_websites([event(7, snapshot(1, "a.cn"))])
    assert kept() == {(EVENTS[0]["data"]["number"], "b.cn", 7)}


def test_the_names_taken_off_are_written_in_the_changes_transaction():
    sync.follow_websites(EVENTS[:2])
    with transaction.atomic():
        sync.follow_websites(EVENTS[2:])
        assert len(kept()) == 3
        transaction.set_rollback(True)  # the page failed: neither the change nor its rows stay
    assert kept() == set()
    assert FiledDomain.objects.filter(name="b.cn").exists()


def test_names_taken_off_are_pruned_once_no_edge_can_need_them(monkeypatch):
    """An edge at version V needs the rows above V; one behind by more than HORIZON changed
    websites is sent to a fresh snapshot (the feed's TOO_FAR is the same number), so the rows at
    or below the (HORIZON + 1)-th newest change serve no edge."""
    assert feed.TOO_FAR == withdrawn.HORIZON
    monkeypatch.setattr(withdrawn, "HORIZON", 2)
    entity = FiledEntity.objects.create(number="e", name="e", unit_type="enterprise", province="11", status="active")
    for v in range(1, 6):
        site = FiledWebsite.objects.create(
            entity=entity, number=f"w{v}", name="w", home_url="http://x.cn/", status="active", version=v
        )
        withdrawn.record([(site.pk, f"gone{v}.cn", v)])
    assert withdrawn.horizon() == 3
    assert withdrawn.prune() == 3
    assert sorted(WithdrawnDomain.objects.values_list("version", flat=True)) == [4, 5]
    assert withdrawn.prune() == 0

    monkeypatch.setattr(withdrawn, "HORIZON", 10)  # fewer websites than that: every row is kept
    assert withdrawn.horizon() is None
    assert withdrawn.prune() == 0


def test_the_worker_prunes_now_and_then_not_every_round(monkeypatch):
    calls = []
    now = [100.0]
    monkeypatch.setattr(work.prune_withdrawn, "job", lambda: calls.append(now[0]) or 0)
    monkeypatch.setattr(work.prune_withdrawn, "clock", lambda: now[0])
    monkeypatch.setattr(work.prune_refusals, "job", lambda: 0)
    for step in (0, 10, 500, 100, 1):
        now[0] += step
        work.JOBS["prune"](None)
    assert calls == [100.0, 710.0]  # withdrawn.PRUNE_EVERY apart, not every round
