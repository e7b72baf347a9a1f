"""The bureau's outgoing SMS and email.

A message is written in the transaction that decides to send it, then handed to the messaging
backend after commit (and by the worker, if that first attempt failed or the process died). Once
sent, the body is blanked: a filing password is not kept in the bureau's database.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from beian.bureau.models import OutgoingMessage
from beian.core import clock
from beian.messaging import send

log = logging.getLogger("beian.bureau.outbox")
SENDER = "bureau"
SENT_PLACEHOLDER = "[sent]"
LEASE = timedelta(seconds=60)


def sms(to: str, body: str) -> OutgoingMessage:
    return _queue(OutgoingMessage.Channel.SMS, to, "", body)


def email(to: str, subject: str, body: str) -> OutgoingMessage:
    return _queue(OutgoingMessage.Channel.EMAIL, to, subject, body)


def _queue(channel: str, to: str, subject: str, body: str) -> OutgoingMessage:
    message = OutgoingMessage.objects.create(
        channel=channel, recipient=to, subject=subject, body=body, created_at=clock.now()
    )
    transaction.on_commit(lambda: dispatch(ids=[message.pk]), using="bureau")
    return message


def dispatch(*, ids: list[int] | None = None, limit: int = 100) -> int:
    """Send pending messages; returns how many were sent. Each is claimed by compare-and-set so
    two dispatchers never send the same message twice."""
    pending = OutgoingMessage.objects.filter(sent_at__isnull=True)
    if ids is not None:
        pending = pending.filter(pk__in=ids)
    sent = 0
    now = clock.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    for message in pending.filter(free).order_by("id")[:limit]:
        claimed = OutgoingMessage.objects.filter(free, pk=message.pk, sent_at__isnull=True).update(
            attempts=F("attempts") + 1, claimed_until=now + LEASE
        )
        if not claimed:
            continue
        try:
            if message.channel == OutgoingMessage.Channel.SMS:
                send.sms(message.recipient, message.body, sender=SENDER)
            else:
                send.email(
                    message.recipient,
                    message.subject,
                    message.body,
                    sender=SENDER,
                    from_email=settings.BEIAN_BUREAU_FROM_EMAIL,
                )
        except Exception as exc:  # a gateway failure must not lose the message: the worker retries
            log.warning("sending message %s failed: %s", message.pk, exc)
            OutgoingMessage.objects.filter(pk=message.pk).update(last_error=str(exc)[:1000], claimed_until=None)
            continue
        OutgoingMessage.objects.filter(pk=message.pk).update(sent_at=clock.now(), body=SENT_PLACEHOLDER, last_error="")
        sent += 1
    return sent
