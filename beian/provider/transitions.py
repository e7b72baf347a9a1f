"""The provider's application state machine (DESIGN §5): one table, and the one function that
writes `Application.state`, with its timeline entry in the same transaction.

Steps that follow the bureau (`bureau:<state>`) may skip ahead: an application waiting in the
outbox may learn from the feed that its operation is already under review. They never go back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from beian.core import clock
from beian.core.catalogue import OperationType, rule_set
from beian.provider.errors import ProviderError
from beian.provider.models import Application, TimelineEntry

S = Application.State


class Role:
    CUSTOMER = "customer"
    SPECIALIST = "specialist"
    BUREAU = "bureau"  # what the bureau said, through delivery or the event feed
    SYSTEM = "system"


@dataclass(frozen=True)
class Rule:
    to: str
    roles: frozenset[str]
    guard: str | None = None


def _operation_type(code: str) -> OperationType:
    from django.conf import settings

    return rule_set(settings.BEIAN_RULE_SET).operations[code]


GUARDS: dict[str, tuple[Callable[[OperationType], bool], str, str]] = {
    "reversible": (
        lambda t: not t.irreversible,
        "注销与取消接入提交后不可撤回",
        "Cancellations and cancel-access cannot be withdrawn once submitted",
    ),
}

_C, _SP, _B, _SY = (frozenset({r}) for r in (Role.CUSTOMER, Role.SPECIALIST, Role.BUREAU, Role.SYSTEM))

TABLE: dict[tuple[str, str], Rule] = {
    (S.DRAFT, "submit"): Rule(S.SUBMITTED, _C),
    (S.DRAFT, "abandon"): Rule(S.ABANDONED, _C),
    (S.SUBMITTED, "claim"): Rule(S.PROVIDER_REVIEW, _SP),
    (S.SUBMITTED, "withdraw"): Rule(S.WITHDRAWN, _C, "reversible"),
    (S.PROVIDER_REVIEW, "approve"): Rule(S.DELIVERED, _SP),
    (S.PROVIDER_REVIEW, "return"): Rule(S.RETURNED, _SP),
    (S.PROVIDER_REVIEW, "release"): Rule(S.SUBMITTED, _SP),
    (S.PROVIDER_REVIEW, "withdraw"): Rule(S.WITHDRAWN, _C, "reversible"),
    (S.RETURNED, "edit"): Rule(S.DRAFT, _C),
    (S.RETURNED, "abandon"): Rule(S.ABANDONED, _C),
    # The bureau refused the delivery outright (4xx): back to the customer with its field messages.
    (S.DELIVERED, "bureau:refused"): Rule(S.RETURNED, _B),
    (S.DELIVERED, "withdraw"): Rule(S.WITHDRAWN, _C, "reversible"),
    (S.AWAITING_VERIFICATION, "withdraw"): Rule(S.WITHDRAWN, _C, "reversible"),
    (S.BUREAU_REVIEW, "withdraw"): Rule(S.WITHDRAWN, _C, "reversible"),
}

# The bureau's operation states and the application state each one means.
BUREAU_STATES: dict[str, str] = {
    "awaiting_verification": S.AWAITING_VERIFICATION,
    "under_review": S.BUREAU_REVIEW,
    "approved": S.APPROVED,
    "rejected": S.REJECTED,
    "expired": S.EXPIRED,
    "withdrawn": S.WITHDRAWN,
}
_ORDER = [S.DELIVERED, S.AWAITING_VERIFICATION, S.BUREAU_REVIEW]
for _i, _source in enumerate(_ORDER):
    for _bureau_state, _target in BUREAU_STATES.items():
        if _target not in _ORDER[: _i + 1]:
            TABLE[(_source, f"bureau:{_bureau_state}")] = Rule(_target, _B)

ACTIONS: tuple[str, ...] = tuple(sorted({action for _, action in TABLE}))
TERMINAL: frozenset[str] = frozenset({S.APPROVED, S.REJECTED, S.WITHDRAWN, S.ABANDONED, S.EXPIRED})
EDITABLE: frozenset[str] = frozenset({S.DRAFT, S.RETURNED})
IN_FLIGHT: frozenset[str] = frozenset({S.DELIVERED, S.AWAITING_VERIFICATION, S.BUREAU_REVIEW})


def allowed(app: Application, action: str, role: str) -> bool:
    rule = TABLE.get((app.state, action))
    if rule is None or role not in rule.roles:
        return False
    return rule.guard is None or GUARDS[rule.guard][0](_operation_type(app.type))


def apply(
    app: Application,
    action: str,
    *,
    actor: str,
    reason: str = "",
    field_reasons: list[dict] | None = None,
    **fields,
) -> Application:
    """Move `app` by `action`. `actor` reads "<role>" or "<role>:<who>". Compare-and-set on
    (state, version): of two writers that meet, exactly one wins."""
    with transaction.atomic():
        role = actor.split(":", 1)[0]
        rule = TABLE.get((app.state, action))
        if rule is None:
            raise ProviderError(
                "transition_not_allowed",
                detail=f"申请处于「{S(app.state).label}」状态，不能执行此操作",
                detail_en=f"An application in state {app.state} cannot {action}",
            )
        if role not in rule.roles:
            raise ProviderError("forbidden", detail_en=f"a {role} may not {action} an application")
        if rule.guard is not None:
            check, message, message_en = GUARDS[rule.guard]
            if not check(_operation_type(app.type)):
                raise ProviderError("transition_not_allowed", detail=message, detail_en=message_en)
        now = clock.now()
        from_state = app.state
        changes = {"state": rule.to, "version": F("version") + 1, "updated_at": now, **fields}
        if reason:
            changes["reason"] = reason
        if field_reasons is not None:
            changes["field_reasons"] = field_reasons
        won = Application.objects.filter(pk=app.pk, state=from_state, version=app.version).update(**changes)
        if won != 1:
            raise ProviderError("application_changed")
        app.refresh_from_db()
        TimelineEntry.objects.create(
            application=app,
            at=now,
            actor=actor,
            action=action,
            from_state=from_state,
            to_state=rule.to,
            reason=reason,
            field_reasons=field_reasons or [],
        )
        return app
