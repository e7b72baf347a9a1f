"""Review by the bureau: the decision window, the decision, and its effects on the registry.

In simulation the decision may be made by the bureau itself (`BEIAN_BUREAU_REVIEW=auto`): at the
start of review it draws a working day inside the operation's window (or now, in instant mode)
and, with the configured share, a rejection; the worker carries it out when it is due. Reviewers
in the console and the simulation API may decide at any time before that.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import transaction

from beian.bureau import audit, feed, outbox, registry, secrets
from beian.bureau.errors import BureauError
from beian.bureau.models import Access, Domain, Entity, Operation, Status, Website
from beian.bureau.rules import operation_type
from beian.bureau.transitions import Actor, apply
from beian.core import clock, workdays

DECISIONS = ("approve", "reject")


def window_for(op: Operation, start: datetime) -> workdays.Window:
    kind = operation_type(op.type)
    earliest, latest = kind.review_days
    # A province's own limit may be longer than the national one (Zhejiang: 30 working days).
    return workdays.window(clock.local_date(start), earliest, max(latest, op.province.review_limit_days))


def start(op: Operation, *, actor: str) -> Operation:
    now = clock.now()
    win = window_for(op, now)
    plan: dict = {}
    if settings.BEIAN_BUREAU_REVIEW == "auto":
        plan = _plan(op, now, win)
    return apply(
        op,
        "start_review",
        actor=actor,
        review_started_at=now,
        window_earliest=win.earliest,
        window_latest=win.latest,
        window_provisional=win.provisional,
        **plan,
    )


def _plan(op: Operation, now: datetime, win: workdays.Window) -> dict:
    rng = random.Random(f"{settings.BEIAN_BUREAU_SEED}:{op.pk}")
    reject = operation_type(op.type).rejectable and rng.random() < settings.BEIAN_BUREAU_REJECT_SHARE
    if settings.BEIAN_BUREAU_DELAY == "instant":
        when = now
    else:
        span = workdays.between(win.start, win.latest) - workdays.between(win.start, win.earliest)
        day = workdays.add(win.earliest, rng.randint(0, max(span, 0)))
        minute = rng.randint(9 * 60, 17 * 60)
        when = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=clock.CHINA)
    return {"planned_decision_at": when, "planned_decision": "reject" if reject else "approve"}


# (reason code, reason) of the simulation's own rejections: drawn by auto review, or forced
# through /bureau/sim/v1/decisions without a reason.
SIMULATED_REJECTION = ("simulated_rejection", "模拟审核：随机驳回（用于演示与测试）")
FORCED_REJECTION = ("simulated_rejection", "模拟驳回")


def decide(op: Operation, decision: str, *, actor: str, reason: str = "", reason_code: str = "") -> Operation:
    """Approve or reject an operation under review, with the registry effects, in one transaction."""
    if decision not in DECISIONS:
        raise BureauError("validation_failed", detail_en=f"decision must be one of {DECISIONS}")
    if decision == "reject" and not reason.strip():
        raise BureauError(
            "validation_failed",
            detail="驳回须填写理由",
            detail_en="A rejection needs a reason",
        )
    with transaction.atomic(using="bureau"):
        if decision == "approve":
            # The event waits for the effects, so the provider learns the state and the numbers together.
            op = apply(
                op,
                "approve",
                actor=actor,
                decided_at=clock.now(),
                reason=reason,
                reason_code=reason_code,
                announce=False,
            )
            APPROVAL[op.type](op)
            op.refresh_from_db()
            feed.emit(op.provider, "operation.updated", feed.operation_snapshot(op))
        else:
            op = apply(
                op,
                "reject",
                actor=actor,
                decided_at=clock.now(),
                reason=reason,
                reason_code=reason_code or "rejected",
            )
            closed_without_approval(op)
    return op


def closed_without_approval(op: Operation) -> None:
    """Undo what happened at submission and will not be confirmed: a transfer-in that is not
    approved takes its provisional access away."""
    if op.type == "transfer_in":
        access = Access.objects.filter(website=op.website, provider=op.provider, state=Access.State.PROVISIONAL).first()
        if access is not None:
            registry.end_access(access, "transfer_in_not_approved")
            registry.recheck_shell(op.website)
            feed.websites_changed([op.website])


def withdraw(op: Operation, *, actor: str) -> Operation:
    with transaction.atomic(using="bureau"):
        op = apply(op, "withdraw", actor=actor, decided_at=clock.now(), reason_code="withdrawn")
        closed_without_approval(op)
    return op


# ---------------------------------------------------------------- approval effects


def _principal_fields(p: dict) -> dict:
    return {
        "principal_name": p["name"],
        "principal_id_type": p["id_type"],
        "principal_id_number": p["id_number"],
        "principal_mobile": p["mobile"],
        "principal_email": p["email"],
    }


def _create_website(op: Operation, entity: Entity) -> Website:
    data = op.data["website"]
    seq, number = registry.allocate_website(entity)
    now = clock.now()
    website = Website.objects.create(
        entity=entity,
        seq=seq,
        number=number,
        name=data["name"],
        home_url=data["home_url"],
        approved_at=now,
        **_principal_fields(data["principal"]),
    )
    for name in data["domains"]:
        Domain.objects.create(website=website, name=name, added_at=now)
    Access.objects.create(
        website=website,
        provider=op.provider,
        ips=op.data["access"]["ips"],
        state=Access.State.ACTIVE,
        since=now,
    )
    return website


def _approve_new_filing(op: Operation) -> None:
    data = op.data["entity"]
    now = clock.now()
    entity = Entity.objects.create(
        province=op.province,
        number=registry.allocate_entity_number(op.province, now),
        unit_type=data["unit_type"],
        name=data["name"],
        cert_type=data["cert_type"],
        cert_number=data["cert_number"],
        address=data["address"],
        approved_at=now,
        **_principal_fields(data["principal"]),
    )
    website = _create_website(op, entity)
    Operation.objects.filter(pk=op.pk).update(
        entity=entity,
        website=website,
        result={"entity_number": entity.number, "website_number": website.number},
    )
    issue_password(entity, reason="first_filing")
    _notify_numbers(entity, website)
    feed.websites_changed([website])


def _approve_new_website(op: Operation) -> None:
    website = _create_website(op, op.entity)
    Operation.objects.filter(pk=op.pk).update(
        website=website, result={"entity_number": op.entity.number, "website_number": website.number}
    )
    _notify_numbers(op.entity, website)
    feed.websites_changed([website])


def _approve_transfer_in(op: Operation) -> None:
    Access.objects.filter(website=op.website, provider=op.provider, state=Access.State.PROVISIONAL).update(
        state=Access.State.ACTIVE, ips=op.data["access"]["ips"]
    )
    Operation.objects.filter(pk=op.pk).update(
        result={"entity_number": op.entity.number, "website_number": op.website.number}
    )
    feed.websites_changed([op.website])


def _approve_change_entity(op: Operation) -> None:
    changes = dict(op.data["entity"])
    fields = {k: changes.pop(k) for k in ("unit_type", "name", "cert_type", "cert_number", "address") if k in changes}
    if "principal" in changes:
        fields.update(_principal_fields(changes.pop("principal")))
    Entity.objects.filter(pk=op.entity_id).update(**fields)
    feed.websites_changed(op.entity.websites.all())


def _approve_change_website(op: Operation) -> None:
    changes = dict(op.data["website"])
    website = op.website
    fields = {k: changes[k] for k in ("name", "home_url") if k in changes}
    if "principal" in changes:
        fields.update(_principal_fields(changes["principal"]))
    Website.objects.filter(pk=website.pk).update(**fields)
    if "domains" in changes:
        website.domains.filter(active=True).exclude(name__in=changes["domains"]).update(
            active=False, removed_at=clock.now()
        )
    feed.websites_changed([website])


def _approve_change_access(op: Operation) -> None:
    Access.objects.filter(website=op.website, provider=op.provider, state=Access.State.ACTIVE).update(
        ips=op.data["access"]["ips"]
    )
    feed.websites_changed([op.website])


def _approve_cancel_entity(op: Operation) -> None:
    # R8: the entity and every website under it are deregistered; the same entity may file again.
    entity = op.entity
    websites = list(entity.websites.filter(status=Status.ACTIVE))
    for website in websites:
        registry.deregister_website(website, "cancel_entity")
    Entity.objects.filter(pk=entity.pk).update(status=Status.DEREGISTERED, deregistered_at=clock.now())
    audit.append(actor="system", action="deregister", subject=f"entity:{entity.number}", to_state=Status.DEREGISTERED)
    feed.websites_changed(entity.websites.all())


def _approve_cancel_website(op: Operation) -> None:
    # R8/R9: only this website; its siblings keep their numbers and their serving.
    registry.deregister_website(op.website, "cancel_website")
    audit.append(
        actor="system",
        action="deregister",
        subject=f"website:{op.website.number}",
        to_state=Status.DEREGISTERED,
    )
    feed.websites_changed([op.website])


def _approve_cancel_access(op: Operation) -> None:
    """The access ended at submission (R10); approval only confirms it."""


APPROVAL = {
    "new_filing": _approve_new_filing,
    "new_website": _approve_new_website,
    "transfer_in": _approve_transfer_in,
    "change_entity": _approve_change_entity,
    "change_website": _approve_change_website,
    "change_access": _approve_change_access,
    "cancel_entity": _approve_cancel_entity,
    "cancel_website": _approve_cancel_website,
    "cancel_access": _approve_cancel_access,
}


def issue_password(entity: Entity, *, reason: str) -> None:
    """R2: one filing password per entity, sent once by SMS and email and kept only as a hash."""
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


def _notify_numbers(entity: Entity, website: Website) -> None:
    outbox.sms(
        website.principal_mobile,
        f"【工信部ICP备案】您的网站「{website.name}」已通过管局审核，网站备案号为 {website.number}。",
    )


# ---------------------------------------------------------------- due work


def decide_due() -> int:
    """Carry out the simulation's planned decisions that are due."""
    done = 0
    due = (
        Operation.objects.filter(state=Operation.State.UNDER_REVIEW, planned_decision_at__lte=clock.now())
        .exclude(planned_decision="")
        .order_by("planned_decision_at")
    )
    for op in due:
        reason, code = (
            ("", "") if op.planned_decision == "approve" else (SIMULATED_REJECTION[1], SIMULATED_REJECTION[0])
        )
        try:
            decide(op, op.planned_decision, actor=Actor.SIMULATION, reason=reason, reason_code=code)
            done += 1
        except BureauError:
            continue  # decided by someone else in the meantime
    return done


def overdue(now: datetime | None = None) -> timedelta:
    """How late the oldest undecided review is (for the console's warning)."""
    today = clock.local_date(now or clock.now())
    oldest = (
        Operation.objects.filter(state=Operation.State.UNDER_REVIEW, window_latest__lt=today)
        .order_by("window_latest")
        .first()
    )
    return timedelta(days=(today - oldest.window_latest).days) if oldest else timedelta(0)
