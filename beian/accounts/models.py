"""What every deployment keeps of an account beyond Django's user: its email, sealed (issue 14).

Django's `auth_user.email` stays empty (`emails.py` moves whatever is written there into this
row); a custom user model, the other way to seal it, cannot be taken on by a project that already
has Django's users and their migrations."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from beian.sealing import DigestField, SealedCharField


class AccountEmail(models.Model):
    """An account's email address: a customer's (where notices go), a staff member's. Sealed at
    rest; found by its keyed digest (the customer list matches accounts by email). No row: no email."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="sealed_email"
    )
    email = SealedCharField(max_length=254)
    email_digest = DigestField(of="email", kind="email", db_index=True)
