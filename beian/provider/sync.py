"""Sync: the worker that reads the bureau's event feed and keeps this provider's picture of it.

Each event is applied in the same transaction as the cursor that records it, under a row lock on
the cursor, so an event is applied exactly once even with several workers, a crash between two
events, or the same page read twice. Applying an event only sets what the bureau says is now true
(upserts, and steps that only go forward), so applying one again changes nothing.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from django.db import transaction

from beian.core import clock
from beian.core.catalogue import OPERATION_CODES, Hosting, Serving, shape
from beian.provider import bureau_client, notices, rules
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
        Application.objects.filter(pk=app.pk).update(**{k: v for k, v in facts.items() if v not in (None, "")})
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
        FiledEntity.objects.filter(number=app.entity_number, owner__isnull=True).update(owner=app.owner)
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
    website.domains.exclude(name__in=domains).delete()
    for name in domains - set(website.domains.values_list("name", flat=True)):
        FiledDomain.objects.create(website=website, name=name)
    # A website that moved here (by transfer-in) belongs to whoever asked for it.
    owner = (
        Application.objects.filter(type__in=MOVE_HERE, website_number=snapshot["number"], state=S.APPROVED)
        .values_list("owner", flat=True)
        .first()
    )
    if owner and entity.owner_id is None:
        FiledEntity.objects.filter(pk=entity.pk).update(owner_id=owner)
    return website


HANDLERS = {
    "operation.updated": lambda event: follow_operation(event["data"]),
    "website.updated": lambda event: follow_website(event["data"], version=event["seq"]),
}


def apply_event(event: dict) -> None:
    handler = HANDLERS.get(event["kind"])
    if handler is None:
        log.warning("event %s of unknown kind %s skipped", event["seq"], event["kind"])
        return
    handler(event)


def sync_once(*, client: bureau_client.BureauClient, limit: int = 200) -> int:
    """Read one page of the feed after the stored cursor and apply it; returns events applied."""
    cursor, _ = SyncCursor.objects.get_or_create(id=1)
    page = client.events(after=cursor.after, limit=limit)
    applied = 0
    for event in page["events"]:
        with transaction.atomic():
            locked = SyncCursor.objects.select_for_update().get(id=1)
            if event["seq"] <= locked.after:
                continue  # another worker, or an earlier run, applied it already
            apply_event(event)
            SyncCursor.objects.filter(id=1).update(after=event["seq"], updated_at=clock.now())
            applied += 1
    return applied
