"""The filing password (备案密码, R2–R3, S04): issued once per entity at its first filing and on
every recovery, sent by SMS and email and kept only as a hash; checked for the operations whose
catalogue row asks for it, with wrong tries counted per entity and per client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from beian.bureau import audit, outbox, secrets
from beian.bureau.errors import BureauError, field_error
from beian.bureau.models import Entity, PasswordFailure
from beian.core import clock

FIELD = "filing_password"
CUSTOMER_FIELD = "customer_key"


@dataclass(frozen=True)
class Drawn:
    password: str
    hash: str


def draw() -> Drawn:
    """A new password and its Argon2 hash: the hash costs a tenth of a second of CPU (seconds on a
    busy machine), so an approval draws it before it takes the province's number counter, which
    every filing of that province waits for until the approval commits."""
    password = secrets.new_filing_password()
    return Drawn(password, secrets.hash_secret(password))


def issue(entity: Entity, *, reason: str, drawn: Drawn | None = None) -> None:
    """R2: one filing password per entity, sent once by SMS and email and kept only as a hash; a
    new one (recovery) replaces the old at once."""
    drawn = drawn or draw()
    password = drawn.password
    now = clock.now()
    Entity.objects.filter(pk=entity.pk).update(password_hash=drawn.hash, password_issued_at=now)
    entity.refresh_from_db()
    audit.append(actor="system", action="issue_password", subject=f"entity:{entity.number}", reason=reason)
    text = (
        f"【工信部ICP备案】{entity.name}（{entity.number}）的备案密码为 {password}。"
        "办理转入备案、注销主体等操作时需要使用，请妥善保管，勿告知他人。"
    )
    outbox.sms(entity.principal_mobile, text)
    outbox.email(entity.principal_email, f"ICP备案密码通知：{entity.number}", text)


def _failures_since(entity: Entity) -> datetime:
    window_start = clock.now() - timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES)
    # A recovered password starts a fresh count: failures against the old one do not lock the new.
    if entity.password_issued_at and entity.password_issued_at > window_start:
        window_start = entity.password_issued_at
    return window_start


def _locked_until(failures, since: datetime, limit: int) -> datetime | None:
    """When the lock that `failures` (at or beyond `limit` since `since`) holds ends; None if none holds."""
    recent = failures.filter(at__gt=since)
    if recent.count() < limit:
        return None
    return recent.aggregate(m=Max("at"))["m"] + timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES)


def check(entity: Entity, password: str | None, *, client: str, customer: str = "") -> None:
    """S04: wrong passwords are counted per entity and per client, a client being a provider's
    customer (`customer`, the provider's opaque key for it; DESIGN §9) so that one customer's
    mistakes never lock out another's. The fifth wrong one in an hour locks the entity's password
    checks until the hour has passed; a customer's twentieth, across entities, locks that
    customer's."""
    if not password:
        raise field_error(
            "validation_failed",
            FIELD,
            "filing_password_required",
            "请填写备案密码",
            "The filing password is required",
        )
    hour_ago = clock.now() - timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES)
    locks = [
        _locked_until(
            PasswordFailure.objects.filter(entity=entity),
            _failures_since(entity),
            settings.BEIAN_PASSWORD_MAX_FAILURES,
        ),
        _locked_until(
            PasswordFailure.objects.filter(client=client, customer=customer),
            hour_ago,
            settings.BEIAN_CLIENT_PASSWORD_MAX_FAILURES,
        ),
    ]
    until = max((lock for lock in locks if lock is not None), default=None)
    if until is not None:
        raise BureauError("filing_password_locked", retry_after=max(1, int((until - clock.now()).total_seconds())))
    if secrets.check_secret(password, entity.password_hash):
        return
    entity_failures = PasswordFailure.objects.filter(entity=entity, at__gt=_failures_since(entity)).count()
    with transaction.atomic(using="bureau"):
        PasswordFailure.objects.create(entity=entity, client=client, customer=customer, at=clock.now())
        audit.append(
            actor=client,
            action="filing_password_wrong",
            subject=f"entity:{entity.number}",
            data={"customer": customer} if customer else None,
        )
    left = settings.BEIAN_PASSWORD_MAX_FAILURES - entity_failures - 1
    raise field_error(
        "filing_password_wrong",
        FIELD,
        "filing_password_wrong",
        f"备案密码不正确（还可尝试 {left} 次）" if left > 0 else "备案密码不正确，已被暂时锁定",
        f"The filing password is wrong ({left} tries left)"
        if left > 0
        else "The filing password is wrong; checks are locked for a while",
    )


def prune() -> int:
    """Forget wrong passwords older than any lock they could still hold; returns how many."""
    cutoff = clock.now() - timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES)
    deleted, _ = PasswordFailure.objects.filter(at__lt=cutoff).delete()
    return deleted
