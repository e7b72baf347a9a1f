"""Wrong filing passwords, on the provider's side (DESIGN §9, issue 14).

Only the bureau can tell whether a filing password is right; it counts wrong ones per entity and
per client, and a provider's customers all reach it from the provider's delivery worker. So that
one customer's wrong passwords never stop another's operations:

- the provider limits its own customers before the bureau sees them: a customer (the account that
  holds the application: a person's own, or an organisation) whose passwords the bureau refused
  `BEIAN_CUSTOMER_PASSWORD_MAX_FAILURES` times within `BEIAN_PASSWORD_LOCK_MINUTES` cannot submit
  another password until the oldest of them is that old;
- every password delivered goes with the customer's key (`customer_key`): an HMAC of the holder
  under the deployment's secret, the same for every operation of that customer, which lets the
  bureau count per customer without learning who the customer is.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils.crypto import salted_hmac

from beian.core import clock
from beian.provider.holders import Holder
from beian.provider.models import Application, PasswordRefusal

WRONG = "filing_password_wrong"  # the bureau's code for a wrong password
_SALT = "beian.provider.passwords.customer_key"


def _holder(app: Application) -> str:
    holder = Holder.of(app)
    return f"organisation:{holder.organisation_id}" if holder.organisation_id else f"person:{holder.user_id}"


def customer_key(app: Application) -> str:
    """The opaque key the bureau counts this application's customer by (64 hex digits)."""
    return salted_hmac(_SALT, _holder(app), algorithm="sha256").hexdigest()


def refused(app: Application, code: str) -> None:
    """The bureau answered a delivery with `code`: remember a wrong password against its customer."""
    if code == WRONG:
        PasswordRefusal.objects.create(holder=_holder(app), at=clock.now())


def locked_until(app: Application) -> datetime | None:
    """When the customer holding `app` may give a filing password again; None if it may now."""
    window = timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES)
    recent = list(
        PasswordRefusal.objects.filter(holder=_holder(app), at__gt=clock.now() - window)
        .order_by("-at")
        .values_list("at", flat=True)[: settings.BEIAN_CUSTOMER_PASSWORD_MAX_FAILURES]
    )
    if len(recent) < settings.BEIAN_CUSTOMER_PASSWORD_MAX_FAILURES:
        return None
    return recent[-1] + window  # the oldest of the last N leaves the window then


def prune() -> int:
    """Forget refusals older than any lock they could still hold; returns how many."""
    cutoff = clock.now() - timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES)
    deleted, _ = PasswordRefusal.objects.filter(at__lt=cutoff).delete()
    return deleted
