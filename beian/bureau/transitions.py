"""The bureau's operation state machine: its table, and `apply`, the one writer of `state`.

The mechanics (look-up, who may, the catalogue's guard, compare-and-set on (state, version)) are
`beian.statemachine`'s. What is the bureau's own is the table and the history: each step writes its
hash-chained audit record and the provider's event in the same transaction, and an operation that
closes gives up its entity and domain locks (主办者冲突 / 域名冲突 end here).
"""

from __future__ import annotations

from beian.bureau import audit, feed
from beian.bureau.errors import BureauError
from beian.bureau.models import Operation, OperationLock
from beian.bureau.rules import operation_type
from beian.statemachine import Machine, Move, Rule

S = Operation.State


class Actor:
    PROVIDER = "provider"
    PRINCIPAL = "principal"
    REVIEWER = "reviewer"
    SIMULATION = "sim"
    SYSTEM = "system"


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

TERMINAL: frozenset[str] = frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.WITHDRAWN})
OPEN: frozenset[str] = frozenset(S.values) - TERMINAL

MACHINE = Machine(
    title="The bureau's operation (操作)",
    model=Operation,
    table=TABLE,
    terminal=TERMINAL,
    kind_of=lambda op: operation_type(op.type),
    refuse=BureauError,
    changed="operation_changed",
    noun=("操作", "operation"),
    using="bureau",
)
ACTIONS = MACHINE.actions


def allowed(op: Operation, action: str, actor_kind: str) -> bool:
    return MACHINE.allowed(op, action, actor_kind)


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
    changes = dict(fields)
    if reason:
        changes["reason"] = reason
    if reason_code:
        changes["reason_code"] = reason_code

    def history(move: Move) -> None:
        if move.target in TERMINAL:
            OperationLock.objects.filter(operation=move.row).delete()
        audit.append(
            actor=move.actor,
            action=move.action,
            subject=f"operation:{move.row.pk}",
            from_state=move.source,
            to_state=move.target,
            reason=reason or reason_code,
            data={"type": move.row.type, "reason_code": reason_code},
        )
        if announce:
            feed.emit(move.row.provider_id, "operation.updated", feed.operation_snapshot(move.row))

    return MACHINE.apply(op, action, actor=actor, changes=changes, history=history)
