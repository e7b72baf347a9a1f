"""Recovering a forgotten filing password (R3): online at the bureau, or by a mailed form that
the provincial bureau records. Guangdong accepts the online route only."""

from __future__ import annotations

from datetime import date

from django.db import transaction

from beian.bureau import audit, passwords, secrets
from beian.bureau.errors import BureauError, field_error
from beian.bureau.models import Entity, MailedRecovery, Status
from beian.bureau.rules import current as current_rules
from beian.core import clock, numbers, provinces
from beian.core.errors import Invalid
from beian.sealing import digest


def offered() -> bool:
    """Whether the rule set in force has a filing password to recover (miit2020 has none, S23)."""
    return current_rules().filing_password


def refuse_unless_offered() -> None:
    if not offered():
        raise BureauError("no_filing_password")


def recover_online(*, province: str, entity_number: str, cert_number: str) -> None:
    """S05. Whether or not the three match, the caller gives the same answer: a wrong
    combination reveals nothing about which part was wrong."""
    refuse_unless_offered()
    try:
        code = provinces.lookup(province).code
        number = numbers.parse(entity_number).entity_number
    except Invalid:
        _as_long_as_a_match()
        return
    with transaction.atomic(using="bureau"):
        entity = (
            Entity.objects.select_for_update()
            .filter(
                province_id=code, number=number, status=Status.ACTIVE, cert_digest=digest("certificate", cert_number)
            )
            .first()
        )
        if entity is None:
            audit.append(actor="public", action="password_recovery_no_match", subject=f"entity:{number}")
            _as_long_as_a_match()
            return
        passwords.issue(entity, reason="online_recovery")


def _as_long_as_a_match() -> None:
    """A match costs an Argon2 hash; a mismatch pays the same, so the answer's timing does not
    tell which it was."""
    secrets.hash_secret(secrets.new_filing_password())


def mail_route_refused(province_code: str) -> BureauError | None:
    if provinces.by_code(province_code).online_recovery_only:
        return BureauError(
            "transition_not_allowed",
            detail="广东省通信管理局仅受理在线找回备案密码，不受理邮寄申请表，请使用在线找回",
            detail_en="Guangdong accepts online recovery only; mailed forms are not processed. Use online recovery.",
        )
    return None


def record_mailed_form(*, entity_number: str, received_on: date, reviewer: str, note: str = "") -> MailedRecovery:
    """S06: staff record a received 《找回备案密码申请表》; the principal then gets a new password."""
    refuse_unless_offered()
    try:
        number = numbers.parse(entity_number).entity_number
    except Invalid as exc:
        raise BureauError("validation_failed", errors=[exc.on("entity_number")]) from None
    with transaction.atomic(using="bureau"):
        entity = Entity.objects.select_for_update().filter(number=number, status=Status.ACTIVE).first()
        if entity is None:
            raise field_error(
                "validation_failed",
                "entity_number",
                "filing_number_unknown",
                "未找到该主体备案号（或已注销）",
                "No active entity has this number",
            )
        refused = mail_route_refused(entity.province_id)
        if refused is not None:
            raise refused
        record = MailedRecovery.objects.create(
            entity=entity, recorded_by=reviewer, received_on=received_on, recorded_at=clock.now(), note=note
        )
        audit.append(actor=f"reviewer:{reviewer}", action="mailed_recovery_recorded", subject=f"entity:{number}")
        passwords.issue(entity, reason="mailed_recovery")
    return record
