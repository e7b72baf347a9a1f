"""Backends for SMS and email.

Email goes through Django's email backends (`settings.EMAIL_BACKEND`); `SandboxEmailBackend` is the
one for the embedded default. SMS goes through `settings.BEIAN_SMS_BACKEND`, any class with
`send(to, body, *, sender)`: `SandboxSmsBackend` stores it, `ConsoleSmsBackend` prints it for a
deployment without an SMS gateway.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Protocol, TextIO

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage
from django.db import transaction
from django.utils.html import strip_tags

from beian.core import clock

from . import addresses
from .models import Message

SENDER_HEADER = "X-Beian-Sender"


class SmsBackend(Protocol):
    def send(self, to: str, body: str, *, sender: str) -> None: ...


class SandboxSmsBackend:
    """Keeps the SMS in the sandbox, shown at /messages/<phone>/."""

    def send(self, to: str, body: str, *, sender: str) -> None:
        Message.objects.create(
            channel=Message.Channel.SMS,
            recipient=addresses.phone(to),
            sender=sender[: addresses.MAX_LENGTH],
            body=body,
            created_at=clock.now(),
        )


class ConsoleSmsBackend:
    """Writes the SMS to standard output (or `stream`), one block per message, for deployments
    without an SMS gateway: the operator reads codes and notices from the process's log."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, to: str, body: str, *, sender: str) -> None:
        number = addresses.phone(to)
        stream = self._stream or sys.stdout  # looked up per call, so redirected stdout is honoured
        at = clock.now().astimezone(clock.CHINA).isoformat(timespec="seconds")
        text = f"----- SMS to {number} from {sender} at {at} -----\n{body}\n{'-' * 40}\n"
        with self._lock:
            stream.write(text)
            stream.flush()


def _sender(message: EmailMessage) -> str:
    for name, value in (message.extra_headers or {}).items():
        if name.lower() == SENDER_HEADER.lower() and str(value).strip():
            return str(value).strip()
    return message.from_email


def _plain_body(message: EmailMessage) -> str:
    body = message.body or ""
    return strip_tags(body) if message.content_subtype == "html" else body


class SandboxEmailBackend(BaseEmailBackend):
    """Keeps every email in the sandbox: one Message per recipient address (to, cc and bcc),
    shown at /messages/<address>/."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            try:
                if self._store(message):
                    sent += 1
            except Exception:
                if not self.fail_silently:
                    raise
        return sent

    def _store(self, message: EmailMessage) -> bool:
        message.message()  # the same header checks (BadHeaderError) an SMTP backend would make
        recipients = list(dict.fromkeys(addresses.email_address(a) for a in message.recipients()))
        if not recipients:
            return False
        sender = _sender(message)[: addresses.MAX_LENGTH]
        body = _plain_body(message)
        now = clock.now()
        with transaction.atomic(using="default"):
            Message.objects.bulk_create(
                Message(
                    channel=Message.Channel.EMAIL,
                    recipient=recipient,
                    sender=sender,
                    subject=message.subject,
                    body=body,
                    created_at=now,
                )
                for recipient in recipients
            )
        return True
