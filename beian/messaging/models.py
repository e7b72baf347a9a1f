"""Every SMS and email sent through `beian.messaging.send` while the sandbox backends are in use."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from beian.core import clock
from beian.sealing import DigestField, SealedCharField, SealedTextField

from .addresses import MAX_LENGTH


def _now():
    return clock.now()


class Message(models.Model):
    class Channel(models.TextChoices):
        SMS = "sms", _("短信")
        EMAIL = "email", _("邮件")

    channel = models.CharField(max_length=10, choices=Channel.choices)
    # Canonical: a phone as 11 digits, an email address in lower case (see addresses.normalise).
    # Sealed (beian.sealing): a person's mobile or address; the inbox is found by its digest.
    recipient = SealedCharField(max_length=MAX_LENGTH)
    recipient_digest = DigestField(of="recipient", kind="recipient")
    # Who sent it: "bureau", "provider", or the from address of an email without X-Beian-Sender.
    sender = models.CharField(max_length=MAX_LENGTH)
    subject = models.TextField(blank=True)  # blank for SMS
    body = SealedTextField()  # sealed: it may carry a filing password or a code
    # From the injectable clock, not auto_now: tests and the simulated bureau move time.
    created_at = models.DateTimeField(default=_now)
    # The outbox's idempotency key (an SMS's key, an email's Message-ID): a repeated try is kept once.
    key = models.CharField(max_length=300, null=True, blank=True, unique=True)

    class Meta:
        indexes = [models.Index(fields=["recipient_digest", "created_at"], name="messaging_recipient_time")]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient} from {self.sender} at {self.created_at:%Y-%m-%d %H:%M}"
