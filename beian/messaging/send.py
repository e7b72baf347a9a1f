"""The one interface through which the bureau and the provider send SMS and email.

    from beian.messaging import send
    send.sms("13800138000", "验证码 123456", sender="bureau")
    send.email("li@example.cn", "备案通过", "…", sender="provider")
    send.received("+86 138-0013-8000")   # sandbox read, oldest first

SMS goes through `settings.BEIAN_SMS_BACKEND`, email through Django's `settings.EMAIL_BACKEND`.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils.module_loading import import_string

from beian.sealing import digest

from . import addresses
from .backends import SENDER_HEADER, SmsBackend
from .models import Message


@lru_cache(maxsize=4)
def _sms_backend(dotted_path: str) -> SmsBackend:
    return import_string(dotted_path)()


def sms(to: str, body: str, *, sender: str, key: str | None = None) -> None:
    """Send an SMS to a mainland mobile number (any common spelling); ValueError if `to` is not one.
    `key`: the outbox row's idempotency key, the same on every try (beian/messaging/outbox.py)."""
    _sms_backend(settings.BEIAN_SMS_BACKEND).send(addresses.phone(to), body, sender=sender, key=key)


def email(
    to: str, subject: str, body: str, *, sender: str, from_email: str | None = None, headers: dict | None = None
) -> None:
    """Send a plain-text email from `from_email` (default `settings.DEFAULT_FROM_EMAIL`); `sender`
    travels in the X-Beian-Sender header. ValueError if `to` is not an email address."""
    EmailMessage(
        subject=subject,
        body=body,
        from_email=from_email or settings.DEFAULT_FROM_EMAIL,
        to=[addresses.email_address(to)],
        headers={SENDER_HEADER: sender, **(headers or {})},
    ).send(fail_silently=False)


def received(recipient: str) -> list[Message]:
    """Everything the sandbox holds for a phone or address, oldest first."""
    found = Message.objects.filter(recipient_digest=digest("recipient", addresses.normalise(recipient)))
    return list(found.order_by("created_at", "id"))
