"""The bureau's operation state machine: one table, and the one function that writes `state`.

`apply` claims the operation by compare-and-set on (state, version), so of two writers that meet
exactly one wins and the other gets `operation_changed`; it writes the audit record and the
provider's event in the same transaction, and refuses anything the table does not allow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from beian.bureau import audit, feed
from beian.bureau.errors import BureauError
from beian.bureau.models import Operation, OperationLock
from beian.bureau.rules import operation_type
from beian.core.catalogue import OperationType

S = Operation.State


class Actor:
    PROVIDER = "provider"
    PRINCIPAL = "principal"
    REVIEWER = "reviewer"
    SIMULATION = "sim"
    SYSTEM = "system"


@dataclass(frozen=True)
class Rule:
    to: str
    actors: frozenset[str]
    guard: str | None = None  # a name in GUARDS


# What the catalogue says about an operation type that a transition depends on.
GUARDS: dict[str, tuple[Callable[[OperationType], bool], str, str]] = {
    "reversible": (
        lambda t: not t.irreversible,
        "注销与取消接入提交后不可撤回",
        "Cancellations and cancel-access cannot be withdrawn once submitted",
    ),
    "rejectable": (
        lambda t: t.rejectable,
        "取消接入在提交时已生效，管局只能确认",
        "Cancel-access took effect at submission; the bureau can only confirm it",
    ),
}

_DECIDERS = frozenset({Actor.REVIEWER, Actor.SIMULATION, Actor.SYSTEM})

TABLE: dict[tuple[str, str], Rule] = {
    (S.RECEIVED, "request_verification"): Rule(S.AWAITING_VERIFICATION, frozenset({Actor.SYSTEM})),
    (S.RECEIVED, "start_review"): Rule(S.UNDER_REVIEW, frozenset({Actor.SYSTEM})),
    (S.RECEIVED, "withdraw"): Rule(S.WITHDRAWN, frozenset({Actor.PROVIDER}), "reversible"),
    (S.AWAITING_VERIFICATION, "start_review"): Rule(S.UNDER_REVIEW, frozenset({Actor.PRINCIPAL, Actor.SYSTEM})),
    (S.AWAITING_VERIFICATION, "expire"): Rule(S.EXPIRED, frozenset({Actor.PRINCIPAL, Actor.SYSTEM, Actor.SIMULATION})),
    (S.AWAITING_VERIFICATION, "withdraw"): Rule(S.WITHDRAWN, frozenset({Actor.PROVIDER}), "reversible"),
    (S.UNDER_REVIEW, "approve"): Rule(S.APPROVED, _DECIDERS),
    (S.UNDER_REVIEW, "reject"): Rule(S.REJECTED, _DECIDERS, "rejectable"),
    (S.UNDER_REVIEW, "withdraw"): Rule(S.WITHDRAWN, frozenset({Actor.PROVIDER}), "reversible"),
}

ACTIONS: tuple[str, ...] = tuple(sorted({action for _, action in TABLE}))
TERMINAL: frozenset[str] = frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.WITHDRAWN})
OPEN: frozenset[str] = frozenset(S.values) - TERMINAL


def allowed(op: Operation, action: str, actor_kind: str) -> bool:
    rule = TABLE.get((op.state, action))
    if rule is None or actor_kind not in rule.actors:
        return False
    return rule.guard is None or GUARDS[rule.guard][0](operation_type(op.type))


def apply(
    op: Operation,
    action: str,
    *,
    actor: str,
    reason: str = "",
    reason_code: str = "",
    announce: bool = True,
    **fields,
) -> Operation:
    """Move `op` by `action`. `actor` reads "<kind>" or "<kind>:<who>". Extra `fields` are written
    with the state in the same UPDATE. Runs inside the caller's transaction (opens one if none).
    `announce=False` leaves the provider's event to the caller, who has more to add to it first."""
    with transaction.atomic(using="bureau"):
        actor_kind = actor.split(":", 1)[0]
        rule = TABLE.get((op.state, action))
        if rule is None:
            raise BureauError(
                "transition_not_allowed",
                detail=f"操作处于「{S(op.state).label}」状态，不能执行 {action}",
                detail_en=f"An operation in state {op.state} cannot {action}",
            )
        if actor_kind not in rule.actors:
            raise BureauError("forbidden", detail_en=f"{actor_kind} may not {action} an operation")
        if rule.guard is not None:
            check, message, message_en = GUARDS[rule.guard]
            if not check(operation_type(op.type)):
                raise BureauError("transition_not_allowed", detail=message, detail_en=message_en)
        from_state = op.state
        changes = {"state": rule.to, "version": F("version") + 1, **fields}
        if reason:
            changes["reason"] = reason
        if reason_code:
            changes["reason_code"] = reason_code
        won = Operation.objects.filter(pk=op.pk, state=from_state, version=op.version).update(**changes)
        if won != 1:
            raise BureauError("operation_changed")
        op.refresh_from_db()
        if rule.to in TERMINAL:
            # The operation no longer holds its entity and domains (主办者/域名冲突 end here).
            OperationLock.objects.filter(operation=op).delete()
        audit.append(
            actor=actor,
            action=action,
            subject=f"operation:{op.pk}",
            from_state=from_state,
            to_state=rule.to,
            reason=reason or reason_code,
            data={"type": op.type, "reason_code": reason_code},
        )
        if announce:
            feed.emit(op.provider, "operation.updated", feed.operation_snapshot(op))
        return op
