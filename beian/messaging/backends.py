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

import httpx
from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage
from django.db import IntegrityError, transaction
from django.utils.html import strip_tags

from beian.core import clock

from . import addresses
from .models import Message

SENDER_HEADER = "X-Beian-Sender"


class SmsBackend(Protocol):
    def send(self, to: str, body: str, *, sender: str, key: str | None = None) -> None:
        """`key`: the same on every try of one message; a gateway that takes an idempotency key
        (a client reference, an out id) should be given it, so that a repeat is dropped."""


def _store_once(message: Message) -> None:
    """The sandbox keeps one message per key: a repeated try (beian/messaging/outbox.py) is dropped."""
    if message.key is None:
        message.save()
        return
    try:
        with transaction.atomic(using="default"):
            message.save()
    except IntegrityError:
        if not Message.objects.filter(key=message.key).exists():
            raise


class SandboxSmsBackend:
    """Keeps the SMS in the sandbox, shown at /messages/<phone>/."""

    def send(self, to: str, body: str, *, sender: str, key: str | None = None) -> None:
        _store_once(
            Message(
                channel=Message.Channel.SMS,
                recipient=addresses.phone(to),
                sender=sender[: addresses.MAX_LENGTH],
                body=body,
                created_at=clock.now(),
                key=key,
            )
        )


class ConsoleSmsBackend:
    """Writes the SMS to standard output (or `stream`), one block per message, for deployments
    without an SMS gateway: the operator reads codes and notices from the process's log."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, to: str, body: str, *, sender: str, key: str | None = None) -> None:
        number = addresses.phone(to)
        stream = self._stream or sys.stdout  # looked up per call, so redirected stdout is honoured
        at = clock.now().astimezone(clock.CHINA).isoformat(timespec="seconds")
        text = f"----- SMS to {number} from {sender} at {at} -----\n{body}\n{'-' * 40}\n"
        with self._lock:
            stream.write(text)
            stream.flush()


class HttpSmsBackend:
    """Posts each SMS as JSON (`{"to", "body", "sender", "key"}`) to `BEIAN_SMS_URL`: an SMS
    gateway's HTTP API, or a small adapter in front of one. `key` (also the `Idempotency-Key`
    header) is the same on every try of one message, so a gateway can drop a repeat. Any answer
    but 2xx, a timeout or a refused connection is a failure, which the outbox tries again later."""

    TIMEOUT = 10.0  # seconds: well within the outbox's lease

    def send(self, to: str, body: str, *, sender: str, key: str | None = None) -> None:
        headers = {"Idempotency-Key": key} if key else {}
        if settings.BEIAN_SMS_TOKEN:
            headers["Authorization"] = f"Bearer {settings.BEIAN_SMS_TOKEN}"
        response = httpx.post(
            settings.BEIAN_SMS_URL,
            json={"to": to, "body": body, "sender": sender, "key": key},
            headers=headers,
            timeout=self.TIMEOUT,
        )
        response.raise_for_status()


def _sender(message: EmailMessage) -> str:
    for name, value in (message.extra_headers or {}).items():
        if name.lower() == SENDER_HEADER.lower() and str(value).strip():
            return str(value).strip()
    return message.from_email


def _message_id(message: EmailMessage) -> str | None:
    for name, value in (message.extra_headers or {}).items():
        if name.lower() == "message-id" and str(value).strip():
            return str(value).strip()
    return None


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
        # A Message-ID (the outbox's key) makes a repeated try of the same email one message.
        message_id = _message_id(message)
        for recipient in recipients:
            key = None if message_id is None else message_id if len(recipients) == 1 else f"{message_id} {recipient}"
            _store_once(
                Message(
                    channel=Message.Channel.EMAIL,
                    recipient=recipient,
                    sender=sender,
                    subject=message.subject,
                    body=body,
                    created_at=now,
                    key=key,
                )
            )
        return True
