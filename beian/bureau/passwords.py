"""The filing password (备案密码, R2–R3, S04): issued once per entity at its first filing and on
every recovery, sent by SMS and email and kept only as a hash; checked for the operations whose
catalogue row asks for it, with wrong tries counted per entity and per client."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from beian.bureau import audit, outbox, secrets
from beian.bureau.errors import BureauError, field_error
from beian.bureau.models import Entity, PasswordFailure
from beian.core import clock

FIELD = "filing_password"


def issue(entity: Entity, *, reason: str) -> None:
    """R2: one filing password per entity, sent once by SMS and email and kept only as a hash; a
    new one (recovery) replaces the old at once."""
    password = secrets.new_filing_password()
    now = clock.now()
    Entity.objects.filter(pk=entity.pk).update(password_hash=secrets.hash_secret(password), password_issued_at=now)
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


def check(entity: Entity, password: str | None, *, client: str) -> None:
    """S04: wrong passwords are counted per entity and per client; the fifth wrong one in an hour
    locks the entity's password checks until the hour has passed."""
    if not password:
        raise field_error(
            "validation_failed",
            FIELD,
            "filing_password_required",
            "请填写备案密码",
            "The filing password is required",
        )
    since = _failures_since(entity)
    entity_failures = PasswordFailure.objects.filter(entity=entity, at__gt=since).count()
    client_since = clock.now() - timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES)
    client_failures = PasswordFailure.objects.filter(client=client, at__gt=client_since).count()
    if (
        entity_failures >= settings.BEIAN_PASSWORD_MAX_FAILURES
        or client_failures >= settings.BEIAN_CLIENT_PASSWORD_MAX_FAILURES
    ):
        last = PasswordFailure.objects.filter(entity=entity).aggregate(m=Max("at"))["m"] or clock.now()
        retry = max(
            1,
            int((last + timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES) - clock.now()).total_seconds()),
        )
        raise BureauError("filing_password_locked", retry_after=retry)
    if secrets.check_secret(password, entity.password_hash):
        return
    with transaction.atomic(using="bureau"):
        PasswordFailure.objects.create(entity=entity, client=client, at=clock.now())
        audit.append(actor=client, action="filing_password_wrong", subject=f"entity:{entity.number}")
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


def prune_failures() -> int:
    """Delete the wrong tries no count reads any more (older than the lock time); their audit
    records stay. Run by the bureau's worker, so the table holds about an hour of them."""
    before = clock.now() - timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES)
    deleted, _ = PasswordFailure.objects.filter(at__lt=before).delete()
    return deleted
