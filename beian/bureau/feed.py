"""The providers' event feeds (DESIGN §6).

An event is written in the transaction of the change it reports. Each provider's events carry a
sequence number taken from that provider's counter row under a row lock, so they commit in
sequence order: a reader that has seen N and asks for `after=N` never skips one that commits later.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.db.models import TextField
from django.db.models.functions import Cast

from beian.bureau import registry
from beian.bureau.models import Access, Entity, Event, FeedCounter, Operation, Provider, Website
from beian.core import clock


def emit(provider: Provider | int, kind: str, data: dict) -> Event:
    """`provider` or its id: an operation's step names its provider by id, with no query for the row."""
    provider_id = provider if isinstance(provider, int) else provider.pk
    counter, _ = FeedCounter.objects.select_for_update().get_or_create(provider_id=provider_id)
    seq = counter.last_seq + 1
    FeedCounter.objects.filter(provider_id=provider_id).update(last_seq=seq)
    return Event.objects.create(provider_id=provider_id, seq=seq, kind=kind, data=data, created_at=clock.now())


# The most events a page of the feed holds: a provider catching up on a national registry reads
# about a hundred thousand, and a page costs a request and a transaction of its own at each end.
PAGE_MAX = 5000


def read(provider: Provider, *, after: int, limit: int) -> list[Event]:
    return list(Event.objects.filter(provider=provider, seq__gt=after).order_by("seq")[:limit])


def page_json(provider: Provider, *, after: int, limit: int) -> str:
    """The page after `after` as the API's JSON text (`EventsOut`), in one query by the feed's
    unique (provider, seq) index. Each event's data goes out as the database holds it, as JSON
    text, never decoded and encoded again: that and the schema's validation of every event were
    most of a page's cost when a provider catches up on a national registry."""
    rows = list(
        Event.objects.filter(provider=provider, seq__gt=after)
        .order_by("seq")
        .values_list("seq", "kind", "created_at", Cast("data", TextField()))[:limit]
    )
    events = ",".join(
        f'{{"seq":{seq},"kind":{json.dumps(kind)},"created_at":"{at.isoformat()}","data":{data}}}'
        for seq, kind, at, data in rows
    )
    next_after = rows[-1][0] if rows else after
    return f'{{"events":[{events}],"next_after":{next_after}}}'


def operation_snapshot(op: Operation) -> dict:
    return {
        "id": str(op.id),
        "idempotency_key": str(op.idempotency_key),
        "type": op.type,
        "state": op.state,
        "reason_code": op.reason_code,
        "reason": op.reason,
        "submitted_at": op.submitted_at.isoformat(),
        "verification_deadline": op.verification_deadline.isoformat() if op.verification_deadline else None,
        "review_started_at": op.review_started_at.isoformat() if op.review_started_at else None,
        "window": {
            "earliest": op.window_earliest.isoformat(),
            "latest": op.window_latest.isoformat(),
            "calendar_provisional": op.window_provisional,
        }
        if op.window_latest
        else None,
        "decided_at": op.decided_at.isoformat() if op.decided_at else None,
        "result": op.result,
        "entity_number": op.entity.number if op.entity_id else op.result.get("entity_number"),
        "website_number": op.website.number if op.website_id else op.result.get("website_number"),
    }


def entity_snapshot(entity: Entity) -> dict:
    return {
        "number": entity.number,
        "name": entity.name,
        "unit_type": entity.unit_type,
        "province": entity.province_id,
        "status": entity.status,
        "deregistered_at": entity.deregistered_at.isoformat() if entity.deregistered_at else None,
    }


def website_snapshot(website: Website, provider: Provider | int) -> dict:
    """The website as one provider (or the provider of this id) may see it: its own access only."""
    access = Access.objects.filter(website=website, provider=provider).order_by("-since", "-id").first()
    return {
        "number": website.number,
        "name": website.name,
        "home_url": website.home_url,
        "status": website.status,
        "deregistered_at": website.deregistered_at.isoformat() if website.deregistered_at else None,
        "deregistered_reason": website.deregistered_reason,
        "shell_since": website.shell_since.isoformat() if website.shell_since else None,
        # The bureau's own date: a provider must not compute it from settings it does not share.
        "shell_deadline": registry.grace_deadline(website.shell_since).isoformat() if website.shell_since else None,
        "domains": _domains(website),
        "entity": entity_snapshot(website.entity),
        "access": {
            "state": access.state,
            "ips": access.ips,
            "since": access.since.isoformat(),
            "until": access.until.isoformat() if access.until else None,
            "ended_reason": access.ended_reason,
        }
        if access
        else None,
    }


def _domains(website: Website) -> list[str]:
    """The active domains; for a deregistered website, the ones it had when it was deregistered, so
    that a provider can still tell a visitor why such a domain is no longer served."""
    if website.status == "active" or website.deregistered_at is None:
        names = website.domains.filter(active=True)
    else:
        names = website.domains.filter(removed_at=website.deregistered_at)
    return sorted(names.values_list("name", flat=True))


def websites_changed(websites: Iterable[Website]) -> None:
    """Each provider that has or had an access to one of these websites hears of it: a provider
    keeps hearing about a website it once served, so it learns of a later deregistration (S13).
    Who had which is one query (not one a provider and website), provider by provider in order."""
    websites = list(websites)
    served = set(
        Access.objects.filter(website_id__in={w.pk for w in websites}).values_list("provider_id", "website_id")
    )
    for provider_id in sorted({provider_id for provider_id, _ in served}):
        for website in websites:
            if (provider_id, website.pk) in served:
                emit(provider_id, "website.updated", website_snapshot(website, provider_id))
