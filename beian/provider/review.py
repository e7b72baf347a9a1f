"""The provider's review (初审) by its filing specialists: take an application from the queue,
approve it (it goes to the delivery outbox in the same transaction) or return it with a reason per
field (S15)."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from beian.core import clock
from beian.core.errors import FieldError
from beian.provider import holidays, notices
from beian.provider.errors import ProviderError
from beian.provider.models import Application, Delivery
from beian.provider.transitions import Role, apply

S = Application.State
SPECIALISTS = "specialists"
OPERATORS = "operators"  # run the edges; their page is /enforcement/
REVIEW_DAYS = 1  # DESIGN §3: the provider's review takes about one working day


def due(app: Application) -> date | None:
    """By when the review of a submitted application is expected (and after which it is late)."""
    if app.submitted_at is None:
        return None
    return holidays.calendar().add(clock.local_date(app.submitted_at), REVIEW_DAYS)


def overdue_q(today: date | None = None) -> Q:
    """The applications late now, as a query: the provider's review past its working day (as `due`
    counts it), the principals' SMS verification past its deadline, the bureau past the last day of
    its window. `due` grows with the submission date, so the late reviews are those submitted on or
    before the last date whose due day is before today."""
    today = today or clock.today()
    last = today - timedelta(days=1)
    calendar = holidays.calendar()
    while calendar.add(last, REVIEW_DAYS) >= today:
        last -= timedelta(days=1)
    submitted_by = datetime.combine(last + timedelta(days=1), time(), tzinfo=clock.CHINA)
    return (
        Q(state__in=(S.SUBMITTED, S.PROVIDER_REVIEW), submitted_at__lt=submitted_by)
        | Q(state=S.AWAITING_VERIFICATION, verification_deadline__lt=clock.now())
        | Q(state=S.BUREAU_REVIEW, window_latest__lt=today)
    )


# Bumped whenever anyone's groups change in this process, so that what `is_specialist` kept on a user
# object (for the rest of its request: a review asks at authentication, in the view and in the
# service) is never older than the groups.
_generation = itertools.count()
_current = [next(_generation)]


@receiver(m2m_changed, sender=User.groups.through)
def _groups_changed(**_kwargs) -> None:
    _current[0] = next(_generation)


def is_specialist(user: AbstractBaseUser) -> bool:
    """In the specialists' group: one query, kept on the user object while the groups stay as they are."""
    if not user.is_authenticated:
        return False
    kept = getattr(user, "_beian_specialist", None)
    if kept is not None and kept[0] == _current[0]:
        return kept[1]
    found = user.groups.filter(name=SPECIALISTS).exists()
    user._beian_specialist = (_current[0], found)
    return found


def is_operator(user: AbstractBaseUser) -> bool:
    return user.is_authenticated and (user.is_superuser or user.groups.filter(name=OPERATORS).exists())


def _actor(user: AbstractBaseUser, app: Application) -> str:
    if not is_specialist(user):
        raise ProviderError("forbidden", detail="只有备案专员可以审核", detail_en="Only filing specialists review")
    if app.owner_id == user.pk:
        raise ProviderError(
            "forbidden", detail="不能审核自己的申请", detail_en="A specialist does not review their own application"
        )
    return f"{Role.SPECIALIST}:{user.get_username()}"


def queue():
    """Waiting for review, oldest first."""
    return Application.objects.filter(state__in=(S.SUBMITTED, S.PROVIDER_REVIEW)).order_by("submitted_at")


def claim(*, app: Application, specialist: AbstractBaseUser) -> Application:
    return apply(app, "claim", actor=_actor(specialist, app), reviewer=specialist)


def approve(*, app: Application, specialist: AbstractBaseUser) -> Application:
    actor = _actor(specialist, app)
    with transaction.atomic():
        if app.state == S.SUBMITTED:
            app = claim(app=app, specialist=specialist)
        app = apply(app, "approve", actor=actor, reviewer=specialist)
        now = clock.now()
        Delivery.objects.create(application=app, created_at=now, next_attempt_at=now)
    return app


def return_(
    *, app: Application, specialist: AbstractBaseUser, field_reasons: dict[str, str], reason: str = ""
) -> Application:
    """Back to the customer with what to fix, field by field."""
    reasons = [
        FieldError(field, "specialist_reason", text.strip(), text.strip()).as_dict()
        for field, text in field_reasons.items()
        if text and text.strip()
    ]
    if not reasons and not reason.strip():
        raise ProviderError(
            "validation_failed",
            errors=[FieldError("reason", "required", "请说明驳回理由", "Give a reason for returning it")],
        )
    actor = _actor(specialist, app)
    with transaction.atomic():
        if app.state == S.SUBMITTED:
            app = claim(app=app, specialist=specialist)
        app = apply(
            app,
            "return",
            actor=actor,
            reason=reason.strip(),
            field_reasons=reasons,
            reviewer=specialist,
        )
        notices.tell(app, "returned")
    return app
