"""SMS verification (短信核验): a 6-digit code to each principal who must verify, confirmed with
the code, the mobile number and the last 6 characters of the principal's ID; valid 24 hours; the
6th wrong entry returns the operation; a new code can be requested; review starts only when every
principal has verified."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from beian.bureau import audit, outbox, review, secrets
from beian.bureau.errors import BureauError
from beian.bureau.models import Entity, Operation, Verification, Website
from beian.bureau.transitions import Actor, apply
from beian.core import clock
from beian.core.catalogue import Principal

VALIDITY = timedelta(hours=24)
MAX_WRONG = 5  # the 6th wrong entry returns the operation
MAX_SENDS = 5


@dataclass(frozen=True)
class Person:
    name: str
    id_number: str
    mobile: str
    email: str


def _from_data(p: dict) -> Person:
    return Person(p["name"], p["id_number"], p["mobile"], p["email"])


def _from_row(row: Entity | Website) -> Person:
    return Person(row.principal_name, row.principal_id_number, row.principal_mobile, row.principal_email)


def _principal(op: Operation, role: Principal) -> Person:
    """The person who must verify: the one the filing will have once approved."""
    section = op.data.get(role.value, {})
    if "principal" in section:
        return _from_data(section["principal"])
    if role is Principal.ENTITY:
        return _from_row(op.entity)
    return _from_row(op.website)


def request(op: Operation, roles: tuple[Principal, ...]) -> None:
    deadline = clock.now() + VALIDITY
    apply(op, "request_verification", actor=Actor.SYSTEM, verification_deadline=deadline)
    people: dict[tuple[str, str], tuple[Person, list[str]]] = {}
    for role in roles:
        person = _principal(op, role)
        # One person who is both principals gets one code.
        people.setdefault((person.mobile, person.id_number), (person, []))[1].append(role.value)
    for person, person_roles in people.values():
        code = secrets.new_sms_code()
        Verification.objects.create(
            operation=op,
            roles=person_roles,
            name=person.name,
            mobile=person.mobile,
            id_last6=person.id_number[-6:].upper(),
            code_digest=secrets.code_digest(str(op.pk), person.mobile, code),
            issued_at=clock.now(),
        )
        _send_code(op, person.mobile, code, deadline)


def _send_code(op: Operation, mobile: str, code: str, deadline) -> None:
    link = f"{settings.BEIAN_BUREAU_PUBLIC_URL}/bureau/verify/?operation={op.pk}"
    local_deadline = deadline.astimezone(clock.CHINA)
    outbox.sms(
        mobile,
        f"【工信部ICP备案】您的备案短信核验码为 {code}，{local_deadline:%Y-%m-%d %H:%M} 前有效。"
        f"请访问 {link} 输入核验码、手机号码和证件号码后6位完成核验。如非本人操作请忽略。",
    )


@dataclass(frozen=True)
class Outcome:
    verified: bool
    code: str  # "verified", "code_wrong", "returned", "already_verified"
    attempts_left: int
    review_started: bool = False


def _open_verification(operation_id, mobile: str, id_last6: str) -> tuple[Operation, Verification]:
    op = Operation.objects.filter(pk=operation_id).first()
    match = None
    if op is not None:
        # The mobile and ID digits are sealed: compared here, among the operation's one or two.
        match = next(
            (
                ver
                for ver in Verification.objects.filter(operation=op).order_by("pk")
                if ver.mobile == mobile and ver.id_last6 == id_last6.upper()
            ),
            None,
        )
    # One answer for every mismatch: the endpoint is public and must not reveal which part was wrong.
    if match is None:
        raise BureauError(
            "not_found",
            detail="未找到与该手机号码和证件号码匹配的待核验备案",
            detail_en="No pending verification matches this mobile number and ID",
        )
    if op.state != Operation.State.AWAITING_VERIFICATION:
        raise BureauError(
            "transition_not_allowed",
            detail=f"该备案当前为「{Operation.State(op.state).label}」，无需核验",
            detail_en=f"The operation is {op.state}; nothing to verify",
        )
    return op, match


def _expire(op: Operation, *, actor: str, reason_code: str, reason: str) -> None:
    # An expired operation will never be approved: undo what happened at submission (a
    # transfer-in's provisional access) in the same transaction, as a rejection does.
    with transaction.atomic(using="bureau"):
        apply(op, "expire", actor=actor, reason_code=reason_code, reason=reason)
        review.closed_without_approval(op)


def confirm(*, operation_id, mobile: str, id_last6: str, code: str) -> Outcome:
    with transaction.atomic(using="bureau"):
        op, ver = _open_verification(operation_id, mobile, id_last6)
        ver = Verification.objects.select_for_update().get(pk=ver.pk)
        if ver.verified_at is not None:
            return Outcome(True, "already_verified", MAX_WRONG + 1 - ver.wrong_attempts)
        if clock.now() >= op.verification_deadline:
            _expire(op, actor=Actor.SYSTEM, reason_code="verification_timeout", reason="短信核验超时未完成")
            return Outcome(False, "returned", 0)
        if secrets.code_digest(str(op.pk), ver.mobile, code.strip()) != ver.code_digest:
            wrong = ver.wrong_attempts + 1
            Verification.objects.filter(pk=ver.pk).update(wrong_attempts=wrong)
            if wrong > MAX_WRONG:
                _expire(
                    op,
                    actor=Actor.PRINCIPAL,
                    reason_code="verification_attempts_exhausted",
                    reason="短信核验码错误次数过多，备案已退回",
                )
                return Outcome(False, "returned", 0)
            return Outcome(False, "code_wrong", MAX_WRONG + 1 - wrong)
        Verification.objects.filter(pk=ver.pk).update(verified_at=clock.now())

        audit.append(actor="principal", action="verify", subject=f"operation:{op.pk}", data={"roles": ver.roles})
        if not Verification.objects.filter(operation=op, verified_at__isnull=True).exists():
            review.start(op, actor=Actor.PRINCIPAL)
            return Outcome(True, "verified", MAX_WRONG + 1 - ver.wrong_attempts, review_started=True)
        return Outcome(True, "verified", MAX_WRONG + 1 - ver.wrong_attempts)


def resend(*, operation_id, mobile: str) -> None:
    """A new code for a principal who lost theirs; valid until the operation's deadline."""
    with transaction.atomic(using="bureau"):
        op = Operation.objects.filter(pk=operation_id, state=Operation.State.AWAITING_VERIFICATION).first()
        pending = (
            Verification.objects.select_for_update().filter(operation=op, verified_at__isnull=True).order_by("pk")
            if op
            else []
        )
        ver = next((one for one in pending if one.mobile == mobile), None)
        if ver is None:
            raise BureauError(
                "not_found", detail="未找到待核验的备案", detail_en="No pending verification for this number"
            )
        if ver.sent_count >= MAX_SENDS:
            raise BureauError("rate_limited", detail="验证码发送次数已达上限", detail_en="No more codes can be sent")
        code = secrets.new_sms_code()
        Verification.objects.filter(pk=ver.pk).update(
            code_digest=secrets.code_digest(str(op.pk), mobile, code),
            sent_count=ver.sent_count + 1,
            issued_at=clock.now(),
        )
        _send_code(op, mobile, code, op.verification_deadline)


def expire_overdue() -> int:
    """S16: operations whose principals did not verify in time are returned."""
    done = 0
    overdue = Operation.objects.filter(
        state=Operation.State.AWAITING_VERIFICATION, verification_deadline__lte=clock.now()
    ).order_by("verification_deadline")
    for op in overdue:
        try:
            _expire(op, actor=Actor.SYSTEM, reason_code="verification_timeout", reason="短信核验超时未完成")
            done += 1
        except BureauError:
            continue  # someone else moved it first
    return done
