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

from beian.bureau import audit, feed, holidays, operations, registry
from beian.bureau.errors import BureauError
from beian.bureau.models import Operation
from beian.bureau.rules import operation_type
from beian.bureau.transitions import Actor, apply
from beian.core import clock, workdays

DECISIONS = ("approve", "reject")
DUE_BATCH = 500  # decisions a worker's round takes on; the next round takes the rest


def window_for(op: Operation, start: datetime, calendar: workdays.Calendar | None = None) -> workdays.Window:
    kind = operation_type(op.type)
    earliest, latest = kind.review_days
    # A province's own limit may be longer than the national one (Zhejiang: 30 working days).
    return (calendar or holidays.calendar()).window(
        clock.local_date(start), earliest, max(latest, op.province.review_limit_days)
    )


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
        days = holidays.calendar()
        span = days.between(win.start, win.latest) - days.between(win.start, win.earliest)
        day = days.add(win.earliest, rng.randint(0, max(span, 0)))
        minute = rng.randint(9 * 60, 17 * 60)
        when = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=clock.CHINA)
    return {"planned_decision_at": when, "planned_decision": "reject" if reject else "approve"}


def recompute_windows(*, years: list[int], by: str) -> list[tuple[str, object, object]]:
    """A change of holiday arrangement moves the open windows: each operation under review gets
    the window the new calendar gives its start, its history says so, and its provider hears it
    in the feed (the portal's timeline says so too). Returns (operation, old due, new due) of each
    window that moved."""
    calendar = holidays.calendar()
    moved = []
    with transaction.atomic(using="bureau"):
        under_review = (
            # Only the operations are locked: their province and provider rows are read, not changed.
            Operation.objects.select_for_update(of=("self",))
            .filter(state=Operation.State.UNDER_REVIEW, review_started_at__isnull=False)
            .select_related("province", "provider")
            .order_by("submitted_at")
        )
        for op in under_review:
            win = window_for(op, op.review_started_at, calendar)
            before = (op.window_earliest, op.window_latest, op.window_provisional)
            if before == (win.earliest, win.latest, win.provisional):
                continue
            changes = {
                "window_earliest": win.earliest,
                "window_latest": win.latest,
                "window_provisional": win.provisional,
            }
            planned = op.planned_decision_at and clock.local_date(op.planned_decision_at)
            if planned and op.planned_decision and not win.earliest <= planned <= win.latest:
                changes.update(_plan(op, op.review_started_at, win))  # auto review decides inside the new window
            Operation.objects.filter(pk=op.pk).update(**changes)
            op.refresh_from_db()
            audit.append(
                actor=by,
                action="window_recomputed",
                subject=f"operation:{op.pk}",
                # Dates and years only: the console's language says the rest (the action's label).
                reason=f"{', '.join(map(str, years))}: {before[0]} – {before[1]} → {win.earliest} – {win.latest}",
                data={
                    "from": {"earliest": before[0], "latest": before[1], "provisional": before[2]},
                    "to": {"earliest": win.earliest, "latest": win.latest, "provisional": win.provisional},
                },
            )
            feed.emit(op.provider_id, "operation.updated", {**feed.operation_snapshot(op), "window_recomputed": True})
            moved.append((str(op.pk), before[1], win.latest))
        # A shell's deadline is counted in the same calendar: its provider hears the new date (only
        # the shells whose count reaches a changed year: a national registry has many).
        feed.websites_changed(registry.shells_counting_in(years))
    return moved


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
            operations.APPROVAL[op.type](op)
            op.refresh_from_db()
            feed.emit(op.provider_id, "operation.updated", feed.operation_snapshot(op))
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
    """Rejected, expired or withdrawn: undo what submission did (a transfer-in's provisional access)."""
    operations.closed_without_approval(op, operation_type(op.type))


def withdraw(op: Operation, *, actor: str) -> Operation:
    with transaction.atomic(using="bureau"):
        op = apply(op, "withdraw", actor=actor, decided_at=clock.now(), reason_code="withdrawn")
        closed_without_approval(op)
    return op


# ---------------------------------------------------------------- due work


def decide_due() -> int:
    """Carry out the simulation's planned decisions that are due. Several workers share them:
    each takes an operation no other worker holds (skip locked), so that they decide different
    operations side by side instead of queueing on the same one, the first's lock held through an
    approval's registry writes and the filing password's hash."""
    done = 0
    due = (
        Operation.objects.filter(state=Operation.State.UNDER_REVIEW, planned_decision_at__lte=clock.now())
        .exclude(planned_decision="")
        .order_by("planned_decision_at")
        .values_list("pk", flat=True)
    )
    for pk in list(due[:DUE_BATCH]):
        with transaction.atomic(using="bureau"):
            op = (
                Operation.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk=pk, state=Operation.State.UNDER_REVIEW)
                .first()
            )
            if op is None:
                continue  # another worker is deciding it, or it was decided in the meantime
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
