"""An account's email, sealed (issue 14, DESIGN §9): the one place that reads, writes and looks up
the addresses of customers and staff (`models.AccountEmail`).

Django's user model has an `email` column that code, the admin and `createsuperuser` write to;
each save of a user moves a value found there into the sealed row and stores the column empty, so
no path leaves an address in clear in `auth_user`. Readers ask `of` (or `of_many` for a page of
accounts), never `user.email`, which is empty once read back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.db.models.signals import post_save, pre_save

from beian.accounts.models import AccountEmail
from beian.sealing import digest

KIND = "email"  # sealing.NORMALISE: compared as the customer list always did, case aside


def of(user: AbstractBaseUser) -> str:
    """The account's email ("" when it has none)."""
    if user.pk is None:
        return ""
    return AccountEmail.objects.filter(user_id=user.pk).values_list("email", flat=True).first() or ""


def of_many(user_ids: Iterable[int]) -> dict[int, str]:
    """The emails of these accounts, in one query: user id → email (accounts without one absent)."""
    return dict(AccountEmail.objects.filter(user_id__in=set(user_ids)).values_list("user_id", "email"))


def keep(user: AbstractBaseUser, email: str, *, using: str | None = None, new: bool = False) -> None:
    """Set the account's email, sealed; "" removes it. `new`: the account was just created, so it
    has no row yet and one INSERT makes it (update_or_create's lock, look-up and two savepoints
    are five more statements on every user a fixture or a sign-up makes)."""
    email = (email or "").strip()
    rows = AccountEmail.objects.using(using) if using else AccountEmail.objects
    if email and new:
        rows.create(user_id=user.pk, email=email)
    elif email:
        rows.update_or_create(user_id=user.pk, defaults={"email": email})
    else:
        rows.filter(user_id=user.pk).delete()


def users_with(email: str) -> QuerySet:
    """The accounts whose email is `email` (any case), found by the keyed digest."""
    return get_user_model().objects.filter(sealed_email__email_digest=digest(KIND, email))


# ---------------------------------------------------------------- Django's column stays empty

_PENDING = "_beian_email_to_seal"


def _take_email(sender: Any, instance: AbstractBaseUser, **kwargs: Any) -> None:
    # Before the row is written: whatever was put in the clear column leaves it.
    if getattr(instance, "email", ""):
        setattr(instance, _PENDING, instance.email)
        instance.email = ""


def _seal_email(sender: Any, instance: AbstractBaseUser, using: str, created: bool = False, **kwargs: Any) -> None:
    # After: the user has its primary key, and the sealed row is written in the same transaction.
    email = instance.__dict__.pop(_PENDING, None)
    if email:
        keep(instance, email, using=using, new=created)


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(_take_email, sender=user_model, dispatch_uid="beian.accounts.take_email")
    post_save.connect(_seal_email, sender=user_model, dispatch_uid="beian.accounts.seal_email")
