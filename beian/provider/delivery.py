"""Delivery: the worker that takes approved applications from the outbox to the bureau.

A row is claimed with a lease (compare-and-set), so several workers can share the outbox and one
that dies mid-delivery leaves the row to the next when the lease runs out. The request carries the
application's UUID as idempotency key: a repeated delivery returns the bureau's first operation,
never a second one. Network errors and 5xx wait with exponential backoff; a 4xx returns the
application to the customer with the bureau's field messages.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from beian.core import clock
from beian.messaging import outbox
from beian.provider import bureau_client, notices, passwords, sync
from beian.provider.models import Application, Delivery
from beian.provider.transitions import Role, apply

log = logging.getLogger("beian.provider.delivery")
LEASE = timedelta(seconds=60)
FIRST_BACKOFF = timedelta(seconds=5)


def backoff(attempts: int) -> timedelta:
    cap = timedelta(seconds=settings.BEIAN_DELIVERY_MAX_BACKOFF_SECONDS)
    return min(FIRST_BACKOFF * (2 ** max(attempts - 1, 0)), cap)


def operation_body(app: Application) -> dict:
    body = {"idempotency_key": str(app.pk), "type": app.type, **app.data}
    if app.filing_password:
        body["filing_password"] = app.filing_password
        # So that the bureau counts this customer's wrong passwords apart from the others'.
        body["customer_key"] = passwords.customer_key(app)
    return body


def _claim(delivery: Delivery) -> bool:
    now = clock.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    return bool(
        Delivery.objects.filter(free, pk=delivery.pk, done_at__isnull=True).update(
            claimed_until=now + LEASE, attempts=F("attempts") + 1
        )
    )


def _claimed(due, limit: int):
    """The deliveries this worker has claimed, one at a time (on PostgreSQL without losing a claim
    to another worker, `outbox.claim_next`), at most `limit`."""
    if outbox.skips_locked(Delivery):
        for _ in range(limit):
            delivery = outbox.claim_next(due, until=clock.now() + LEASE)
            if delivery is None:
                return
            yield delivery
        return
    for delivery in list(due[:limit]):
        if _claim(delivery):  # else another worker took it
            delivery.refresh_from_db()
            yield delivery


def deliver_due(*, client: bureau_client.BureauClient, limit: int = 50) -> int:
    """Deliver what is due; returns how many the bureau answered (accepted or refused)."""
    now = clock.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    due = Delivery.objects.filter(free, done_at__isnull=True, next_attempt_at__lte=now).order_by("next_attempt_at")
    answered = 0
    for delivery in _claimed(due, limit):
        app = delivery.application
        try:
            operation = client.submit(operation_body(app))
        except bureau_client.Unavailable as exc:
            Delivery.objects.filter(pk=delivery.pk).update(
                claimed_until=None, next_attempt_at=clock.now() + backoff(delivery.attempts), last_error=str(exc)[:1000]
            )
            log.info("delivery of %s postponed: %s", app.pk, exc)
            continue
        except bureau_client.Refused as refused:
            _refused(delivery, refused)
        else:
            _accepted(delivery, operation)
        answered += 1
    return answered


def _finish(delivery: Delivery, outcome: str, error: str = "") -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        done_at=clock.now(), outcome=outcome, claimed_until=None, last_error=error
    )


def _accepted(delivery: Delivery, operation: dict) -> None:
    with transaction.atomic():
        _finish(delivery, "accepted")
        sync.follow_operation(operation)


def _refused(delivery: Delivery, refused: bureau_client.Refused) -> None:
    with transaction.atomic():
        _finish(delivery, "refused", str(refused))
        app = Application.objects.get(pk=delivery.application_id)
        passwords.refused(app, refused.code)
        reasons = [e.as_dict() for e in refused.errors] or [
            {"field": "", "code": refused.code, "message": refused.detail, "message_en": refused.detail_en}
        ]
        app = apply(
            app,
            "bureau:refused",
            actor=Role.BUREAU,
            reason=refused.detail,
            field_reasons=reasons,
            reason_code=refused.code,
        )
        notices.tell(app, "returned")
