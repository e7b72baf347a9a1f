"""The bureau's outgoing SMS and email (verification codes, filing passwords, shell warnings).

A message is written in the transaction that decides to send it and sent by the bureau's worker
through the outbox both sides share (beian/messaging/outbox.py): retried with backoff while the
gateway or mail server is down, sent once, its body blanked once sent so that a filing password
is not kept in the bureau's database. Nothing is sent from the request that caused it.
"""

from __future__ import annotations

from django.conf import settings

from beian.bureau.models import OutgoingMessage
from beian.core import clock
from beian.messaging import outbox

SENDER = "bureau"
SENT_PLACEHOLDER = OutgoingMessage.SENT_PLACEHOLDER


def sms(to: str, body: str) -> OutgoingMessage:
    return _queue(OutgoingMessage.Channel.SMS, to, "", body)


def email(to: str, subject: str, body: str) -> OutgoingMessage:
    return _queue(OutgoingMessage.Channel.EMAIL, to, subject, body)


def _queue(channel: str, to: str, subject: str, body: str) -> OutgoingMessage:
    now = clock.now()
    return OutgoingMessage.objects.create(
        channel=channel, recipient=to, subject=subject, body=body, created_at=now, next_attempt_at=now
    )


def dispatch(*, ids: list[int] | None = None, limit: int = 100) -> int:
    """Send what is due; returns how many were sent."""
    return outbox.dispatch(
        OutgoingMessage, sender=SENDER, from_email=settings.BEIAN_BUREAU_FROM_EMAIL, ids=ids, limit=limit
    )
