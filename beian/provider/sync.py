"""Sync: the worker that reads the bureau's event feed and keeps this provider's picture of it.

Each event is applied in the same transaction as the cursor that records it, under a row lock on
the cursor, so an event is applied exactly once even with several workers, a crash between two
events, or the same page read twice. Applying an event only sets what the bureau says is now true
(upserts, and steps that only go forward), so applying one again changes nothing.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from django.db import router, transaction

from beian.core import clock
from beian.core.catalogue import OPERATION_CODES, Hosting, Serving, shape
from beian.provider import bureau_client, holders, holidays, listing, notices, rules, upserts, withdrawn
from beian.provider.models import Application, FiledDomain, FiledEntity, FiledWebsite, SyncCursor, TimelineEntry
from beian.provider.transitions import BUREAU_STATES, Role, allowed, apply

log = logging.getLogger("beian.provider.sync")
S = Application.State

# The types that bring a website filed elsewhere here: whoever asked for one owns it here after.
MOVE_HERE = [code for code in OPERATION_CODES if shape(code).hosting is Hosting.NOT_HERE]

# What the customer hears when the bureau moves an application to a state.
NOTICE_ON: dict[str, str] = {
    S.AWAITING_VERIFICATION: "awaiting_verification",
    S.BUREAU_REVIEW: "bureau_review",
    S.APPROVED: "approved",
    S.REJECTED: "rejected",
    S.EXPIRED: "expired",
}


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _d(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def follow_operation(operation: dict) -> Application | None:
    """Bring the application behind a bureau operation up to what the bureau says of it. Called
    with the answer to a delivery and with every `operation.updated` event."""
    app = Application.objects.select_for_update().filter(pk=operation["idempotency_key"]).first()
    if app is None:
        return None  # an operation this platform did not originate (e.g. made by hand at the bureau)
    window = operation.get("window") or {}
    facts = {
        "bureau_operation_id": operation["id"],
        "verification_deadline": _dt(operation.get("verification_deadline")),
        "window_earliest": _d(window.get("earliest")),
        "window_latest": _d(window.get("latest")),
        "window_provisional": bool(window.get("calendar_provisional")),
        "decided_at": _dt(operation.get("decided_at")),
        "entity_number": operation.get("entity_number") or "",
        "website_number": operation.get("website_number") or "",
    }
    target = BUREAU_STATES.get(operation["state"])
    action = f"bureau:{operation['state']}"
    if target and app.state != target and allowed(app, action, Role.BUREAU):
        reason = operation.get("reason") or ""
        accepted_now = app.state == S.DELIVERED
        app = apply(
            app, action, actor=Role.BUREAU, reason=reason, reason_code=operation.get("reason_code", ""), **facts
        )
        if accepted_now and rules.operation_type(app.type).serving is Serving.STOPS_AT_SUBMISSION:
            notices.tell(app, "stopped_at_submission")  # S12: say it stopped, and what to do now
        elif app.state in NOTICE_ON:
            notices.tell(app, NOTICE_ON[app.state])
    else:
        # Facts only (or an event older than what we know): never a step back.
        before = (app.window_earliest, app.window_latest)
        known = {k: v for k, v in facts.items() if v not in (None, "")}
        numbers = {k: known.get(k, getattr(app, k)) for k in ("entity_number", "website_number")}
        Application.objects.filter(pk=app.pk).update(**known, **listing.keys(app.type, app.data, **numbers))
        app.refresh_from_db()
        after = (app.window_earliest, app.window_latest)
        if operation.get("window_recomputed") and app.window_latest and after != before:
            # A change of holiday arrangement moved the bureau's window: the history says so, once
            # (the same event again finds the window already moved).
            TimelineEntry.objects.create(
                application=app,
                at=clock.now(),
                actor=Role.BUREAU,
                action="bureau:window_recomputed",
                reason=f"{before[0]} – {before[1]} → {after[0]} – {after[1]}",
            )
    if app.state == S.APPROVED and app.entity_number:
        holders.hand_over(app.entity_number, app)
    return app


def follow_website(snapshot: dict, *, version: int) -> FiledWebsite:
    """Upsert the mirror of a website (and its entity) from the bureau's snapshot."""
    e = snapshot["entity"]
    entity, _ = FiledEntity.objects.update_or_create(
        number=e["number"],
        defaults={
            "name": e["name"],
            "unit_type": e["unit_type"],
            "province": e["province"],
            "status": e["status"],
            "updated_at": clock.now(),
        },
    )
    access = snapshot.get("access") or {}
    website, _ = FiledWebsite.objects.update_or_create(
        number=snapshot["number"],
        defaults={
            "entity": entity,
            "name": snapshot["name"],
            "home_url": snapshot["home_url"],
            "status": snapshot["status"],
            "deregistered_reason": snapshot.get("deregistered_reason") or "",
            "shell_since": _dt(snapshot.get("shell_since")),
            "shell_deadline": _d(snapshot.get("shell_deadline")),
            "access_state": access.get("state", ""),
            "access_ended_reason": access.get("ended_reason") or "",
            "ips": access.get("ips", []),
            "version": version,
            "updated_at": clock.now(),
        },
    )
    domains = set(snapshot.get("domains", []))
    gone = list(website.domains.exclude(name__in=domains).values_list("name", flat=True))
    if gone:
        website.domains.filter(name__in=gone).delete()
        withdrawn.record((website.id, name, version) for name in gone)
    for name in domains - set(website.domains.values_list("name", flat=True)):
        FiledDomain.objects.create(website=website, name=name)
    # A website that moved here (by transfer-in) belongs to whoever asked for it.
    if entity.owner_id is None and entity.organisation_id is None:
        asked = Application.objects.filter(
            type__in=MOVE_HERE, website_number=snapshot["number"], state=S.APPROVED
        ).first()
        if asked is not None:
            holders.hand_over(entity, asked)
    return website


# The columns `follow_websites` writes, the unique number first.
ENTITY_FIELDS = ["number", "name", "unit_type", "province", "status", "updated_at"]
WEBSITE_FIELDS = [
    "number",
    "entity",
    "name",
    "home_url",
    "status",
    "deregistered_reason",
    "shell_since",
    "shell_deadline",
    "access_state",
    "access_ended_reason",
    "ips",
    "version",
    "updated_at",
]

HANDLERS = {
    "operation.updated": lambda event: follow_operation(event["data"]),
    "website.updated": lambda event: follow_website(event["data"], version=event["seq"]),
    "calendar.updated": holidays.follow,
}


def apply_event(event: dict) -> None:
    handler = HANDLERS.get(event["kind"])
    if handler is None:
        log.warning("event %s of unknown kind %s skipped", event["seq"], event["kind"])
        return
    handler(event)


def follow_websites(events: list[dict]) -> None:
    """`follow_website` for a run of consecutive `website.updated` events at once, with the same end
    state as applying them one by one in sequence order: the last snapshot of a website (and of an
    entity) wins, a website's version is its last event's sequence number, and an entity without
    an owner takes the owner of the first of its websites that moved here by an approved
    transfer-in. One statement for each table of the mirror, whatever the length of the run
    (`upserts`), instead of about ten queries an event."""
    now = clock.now()
    last: dict[str, tuple[int, dict]] = {}
    entities: dict[str, dict] = {}
    for event in events:
        snapshot = event["data"]
        last[snapshot["number"]] = (event["seq"], snapshot)
        entities[snapshot["entity"]["number"]] = snapshot["entity"]
    entity_rows = {
        number: (pk, owner is not None or organisation is not None)
        for number, pk, owner, organisation in upserts.upsert(
            FiledEntity,
            ENTITY_FIELDS,
            [(e["number"], e["name"], e["unit_type"], e["province"], e["status"], now) for e in entities.values()],
            unique=["number"],
            update=ENTITY_FIELDS[1:],
            returning=["number", "id", "owner", "organisation"],
        )
    }
    website_rows = []
    for number, (seq, snapshot) in last.items():
        access = snapshot.get("access") or {}
        website_rows.append(
            (
                number,
                entity_rows[snapshot["entity"]["number"]][0],
                snapshot["name"],
                snapshot["home_url"],
                snapshot["status"],
                snapshot.get("deregistered_reason") or "",
                _dt(snapshot.get("shell_since")),
                _d(snapshot.get("shell_deadline")),
                access.get("state", ""),
                access.get("ended_reason") or "",
                access.get("ips", []),
                seq,
                now,
            )
        )
    website_ids = dict(
        upserts.upsert(
            FiledWebsite,
            WEBSITE_FIELDS,
            website_rows,
            unique=["number"],
            update=WEBSITE_FIELDS[1:],
            returning=["number", "id"],
        )
    )
    taken_off = upserts.keep_only(
        FiledDomain,
        "website",
        "name",
        {website_ids[number]: snapshot.get("domains", []) for number, (_, snapshot) in last.items()},
    )
    if taken_off:
        version_of = {website_ids[number]: seq for number, (seq, _) in last.items()}
        withdrawn.record((website, name, version_of[website]) for website, name in taken_off)
    # A website that moved here (by transfer-in) belongs to whoever asked for it.
    asked = {
        app.website_number: app
        for app in Application.objects.filter(
            type__in=MOVE_HERE, state=S.APPROVED, website_number__in=upserts.among(Application, "website_number", last)
        )
    }
    claimed: set[str] = set()
    for number, (_, snapshot) in sorted(last.items(), key=lambda item: item[1][0]):
        entity_number = snapshot["entity"]["number"]
        _pk, held = entity_rows[entity_number]
        if number in asked and not held and entity_number not in claimed:
            holders.hand_over(entity_number, asked[number])
            claimed.add(entity_number)


def _without_waiting_for_the_disk() -> None:
    """A page's commit need not wait for its WAL to reach the disk (PostgreSQL's
    `synchronous_commit = off`, for this transaction only): a crash can lose only the last pages
    applied, with the cursor that records them, and they are read and applied again, which
    changes nothing that stayed. Catching up, a page of thousands of rows then no longer waits
    for a flush of its own."""
    connection = transaction.get_connection(router.db_for_write(SyncCursor))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _apply_page(events: list[dict]) -> int:
    """The events after the cursor, in one transaction with the cursor; consecutive website
    snapshots together (`follow_websites`), every other event in its turn."""
    _without_waiting_for_the_disk()
    locked = SyncCursor.objects.select_for_update().get(id=1)
    fresh = [e for e in events if e["seq"] > locked.after]  # another worker may have applied some
    run: list[dict] = []
    for event in fresh:
        if event["kind"] == "website.updated":
            run.append(event)
            continue
        if run:
            follow_websites(run)
            run = []
        apply_event(event)
    if run:
        follow_websites(run)
    if fresh:
        SyncCursor.objects.filter(id=1).update(after=fresh[-1]["seq"], updated_at=clock.now())
    return len(fresh)


def _apply_one_by_one(events: list[dict]) -> int:
    applied = 0
    for event in events:
        with transaction.atomic():
            locked = SyncCursor.objects.select_for_update().get(id=1)
            if event["seq"] <= locked.after:
                continue  # another worker, or an earlier run, applied it already
            apply_event(event)
            SyncCursor.objects.filter(id=1).update(after=event["seq"], updated_at=clock.now())
            applied += 1
    return applied


# A page of the feed: the most the bureau gives at once. Catching up, each page is a request and a
# transaction at both ends, so the fewer the better; a page is a few MB of JSON.
PAGE = 5000


def sync_once(*, client: bureau_client.BureauClient, limit: int = PAGE) -> int:
    """Read one page of the feed after the stored cursor and apply it; returns events applied.

    The page is applied in one transaction with the cursor (a provider catching up on a million
    filings applies thousands of events a second). If any event of it fails, the page is applied
    again one event at a time, so that what precedes a bad event is kept and the bad one is
    retried alone, as before."""
    cursor, _ = SyncCursor.objects.get_or_create(id=1)
    page = client.events(after=cursor.after, limit=limit)
    events = page["events"]
    if len(events) < limit:  # this read reached the end of the feed: no lag now (beian_feed_lag_seconds)
        SyncCursor.objects.filter(id=1).update(caught_up_at=clock.now())
    if not events:
        return 0
    try:
        with transaction.atomic():
            return _apply_page(events)
    except Exception:
        log.warning("applying events %s..%s together failed; one at a time", events[0]["seq"], events[-1]["seq"])
        return _apply_one_by_one(events)
