"""A provider with a loaded registry behind it catches up through its event feed (issue 10): every
website it has (or had) an access to reaches its mirror exactly once, as the bureau's snapshot
says, whether the feed is read a page at a time or an event at a time."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beian.bureau import bulkload
from beian.bureau.models import Event, Provider
from beian.provider import sync
from beian.provider.models import FiledDomain, FiledEntity, FiledWebsite, SyncCursor

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def mirror() -> dict[str, dict]:
    """The mirror, by website number, without its own ids and times."""
    found = {}
    for w in FiledWebsite.objects.select_related("entity"):
        found[w.number] = {
            "entity": (w.entity.number, w.entity.name, w.entity.status, w.entity.unit_type, w.entity.province),
            "website": (w.name, w.home_url, w.status, w.deregistered_reason, w.shell_since, w.shell_deadline),
            "access": (w.access_state, w.access_ended_reason, w.ips),
            "version": w.version,
            "domains": sorted(w.domains.values_list("name", flat=True)),
        }
    return found


def expected(events: list[dict]) -> dict[str, dict]:
    """Each website as its last snapshot says, with its entity as the entity's last snapshot says
    (in a snapshot of another of its websites, maybe)."""
    snapshots = [event for event in events if event["kind"] == "website.updated"]  # not the calendar
    entities = {event["data"]["entity"]["number"]: event["data"]["entity"] for event in snapshots}
    found = {}
    for event in snapshots:
        s = event["data"]
        e = entities[s["entity"]["number"]]
        access = s["access"] or {}
        found[s["number"]] = {
            "entity": (e["number"], e["name"], e["status"], e["unit_type"], e["province"]),
            "website": (
                s["name"],
                s["home_url"],
                s["status"],
                s["deregistered_reason"],
                sync._dt(s["shell_since"]),
                sync._d(s["shell_deadline"]),
            ),
            "access": (access.get("state", ""), access.get("ended_reason") or "", access.get("ips", [])),
            "version": event["seq"],
            "domains": sorted(s["domains"]),
        }
    return found


def test_s24_a_provider_catches_up_from_the_loaded_feed_into_its_mirror(bureau, keys, monkeypatch):
    monkeypatch.setattr(sync, "_apply_one_by_one", None)  # every page is applied together
    bulkload.load(entities=150, websites=320, seed=5, provider="operator", batch=50, jobs=0)
    operator = Provider.objects.get(slug="operator")
    events = [
        {"seq": e.seq, "kind": e.kind, "data": e.data} for e in Event.objects.filter(provider=operator).order_by("seq")
    ]
    assert len(events) > 10

    applied = 0
    while n := sync.sync_once(client=bureau, limit=13):
        applied += n
    assert applied == len(events)
    assert SyncCursor.objects.get(id=1).after == events[-1]["seq"]
    assert mirror() == expected(events)
    assert sync.sync_once(client=bureau) == 0  # caught up: nothing is applied twice


def test_a_page_applied_together_ends_as_events_applied_one_by_one(bureau, keys):
    """follow_websites is follow_website for a run: the later snapshot of a website wins, domains
    removed in between are removed, versions are the last sequence numbers."""
    bulkload.load(entities=60, websites=140, seed=6, provider="operator", batch=60, jobs=0)
    operator = Provider.objects.get(slug="operator")
    events = [
        {"seq": e.seq, "kind": e.kind, "data": e.data}
        for e in Event.objects.filter(provider=operator, kind="website.updated").order_by("seq")
    ]
    # The same website again, renamed, with a domain dropped and its access ended.
    again = dict(events[0]["data"], name="改名后的网站", domains=events[0]["data"]["domains"][:1])
    again["access"] = dict(again["access"] or {}, state="ended")
    again["entity"] = dict(again["entity"], name="改名后的主体")
    events.append({"seq": events[-1]["seq"] + 1, "kind": "website.updated", "data": again})

    with transaction.atomic():
        for event in events:
            sync.follow_website(event["data"], version=event["seq"])
        one_by_one = mirror()
        transaction.set_rollback(True)
    assert FiledWebsite.objects.count() == 0

    sync.follow_websites(events[: len(events) // 2])
    sync.follow_websites(events[len(events) // 2 :])
    assert mirror() == one_by_one == expected(events)
    assert FiledEntity.objects.filter(name="改名后的主体").count() == 1
    assert FiledDomain.objects.filter(website__number=again["number"]).count() == 1


def test_a_page_that_fails_is_applied_one_event_at_a_time(bureau, keys, monkeypatch):
    """What precedes a bad event is kept, exactly once; the bad one is retried on the next round."""
    bulkload.load(entities=80, websites=150, seed=4, provider="operator", batch=80, jobs=0)
    total = Event.objects.filter(provider__slug="operator").count()
    assert total > 6
    real = sync.follow_website

    def fails_on_the_fifth(snapshot, *, version):
        if version == 5:
            raise RuntimeError("a snapshot this platform cannot apply")
        return real(snapshot, version=version)

    monkeypatch.setattr(sync, "follow_websites", lambda events: (_ for _ in ()).throw(RuntimeError("page")))
    monkeypatch.setattr(sync, "follow_website", fails_on_the_fifth)
    monkeypatch.setitem(sync.HANDLERS, "website.updated", lambda e: sync.follow_website(e["data"], version=e["seq"]))
    with pytest.raises(RuntimeError, match="cannot apply"):
        sync.sync_once(client=bureau)
    # Event 1 is the calendar the feed starts with; 2–4 are the websites before the bad one.
    assert SyncCursor.objects.get(id=1).after == 4
    assert FiledWebsite.objects.count() == 3

    monkeypatch.setattr(sync, "follow_website", real)
    while sync.sync_once(client=bureau):
        pass
    assert SyncCursor.objects.get(id=1).after == total
    assert FiledWebsite.objects.count() == total - 1


# A small world of snapshots for the property below: a few websites of two entities, whose
# snapshots change every field the mirror keeps, between which come events of other kinds.
WEBSITES = ["京ICP备10000001号-1", "京ICP备10000001号-2", "沪ICP备20000002号-1"]
SNAPSHOT = st.fixed_dictionaries(
    {
        "number": st.sampled_from(WEBSITES),
        "name": st.sampled_from(["网站甲", "网站乙", "改名后的网站"]),
        "home_url": st.sampled_from(["https://a.cn/", "https://b.cn/"]),
        "status": st.sampled_from(["active", "deregistered"]),
        "deregistered_reason": st.sampled_from(["", "cancel_website", "shell"]),
        "shell_since": st.sampled_from([None, "2026-03-01T09:30:00+08:00", "2026-05-02T00:00:00+00:00"]),
        "shell_deadline": st.sampled_from([None, "2026-04-01", "2026-06-01"]),
        "domains": st.lists(st.sampled_from(["a.cn", "b.cn", "c.com.cn", "例子.中国"]), unique=True, max_size=3),
        "entity_name": st.sampled_from(["主体甲", "主体乙"]),
        "entity_status": st.sampled_from(["active", "deregistered"]),
        "access": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "state": st.sampled_from(["provisional", "active", "ended"]),
                    "ips": st.lists(st.sampled_from(["192.0.2.1", "2001:db8::1"]), unique=True, max_size=2),
                    "ended_reason": st.sampled_from(["", "cancel_access"]),
                }
            ),
        ),
    }
)
# An event the sync applies in its turn between runs of snapshots: an operation this platform
# did not originate (so it changes nothing here), or an event of a kind it does not know.
OTHER = st.sampled_from(
    [
        {"kind": "operation.updated", "data": {"idempotency_key": "00000000-0000-4000-8000-000000000001"}},
        {"kind": "something.new", "data": {}},
    ]
)


def as_event(drawn: dict) -> dict:
    if "kind" in drawn:
        return dict(drawn)
    s = dict(drawn)
    entity_number = s["number"].rsplit("-", 1)[0]
    s["entity"] = {
        "number": entity_number,
        "name": s.pop("entity_name"),
        "unit_type": "enterprise",
        "province": "11" if entity_number.startswith("京") else "31",
        "status": s.pop("entity_status"),
    }
    return {"kind": "website.updated", "data": s}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    drawn=st.lists(st.one_of(SNAPSHOT, SNAPSHOT, OTHER), min_size=1, max_size=25),
    page=st.integers(min_value=1, max_value=26),
)
def test_a_catch_up_in_big_pages_ends_as_one_event_at_a_time(bureau, keys, drawn, page):
    """Whatever the history and however it is cut into pages: the later snapshot of a website (and
    of its entity) wins, its domains are the last snapshot's, its version the last sequence number,
    and the cursor ends on the last event."""
    events = [dict(as_event(d), seq=seq) for seq, d in enumerate(drawn, start=1)]

    def caught_up(apply) -> tuple[dict, int]:
        with transaction.atomic():
            SyncCursor.objects.update_or_create(id=1, defaults={"after": 0})
            apply()
            found = (mirror(), SyncCursor.objects.get(id=1).after)
            transaction.set_rollback(True)
        return found

    def in_pages() -> None:
        for start in range(0, len(events), page):
            sync._apply_page(events[start : start + page])

    one_by_one = caught_up(lambda: sync._apply_one_by_one(events))
    assert caught_up(in_pages) == one_by_one
    assert one_by_one == (expected(events), len(events))
