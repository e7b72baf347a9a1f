"""The provider's application state machine (DESIGN §5): its table, and `apply`, the one writer of
`Application.state`, with its timeline entry in the same transaction.

The mechanics (look-up, who may, the catalogue's guard, compare-and-set on (state, version)) are
`beian.statemachine`'s. Steps that follow the bureau (`bureau:<state>`) may skip ahead: an
application waiting in the outbox may learn from the feed that its operation is already under
review. They never go back.

The filing password lives exactly as long as the states that need it: given at submission, kept
through the provider's review until the bureau has answered the delivery, and wiped by the step
that leaves those states, whatever that step is.
"""

from __future__ import annotations

from beian.core import clock
from beian.provider import listing, rules
from beian.provider.errors import ProviderError
from beian.provider.models import Application, TimelineEntry
from beian.statemachine import Machine, Move, Rule

S = Application.State


class Role:
    CUSTOMER = "customer"
    SPECIALIST = "specialist"
    BUREAU = "bureau"  # what the bureau said, through delivery or the event feed
    SYSTEM = "system"


_C, _SP, _B = (frozenset({r}) for r in (Role.CUSTOMER, Role.SPECIALIST, Role.BUREAU))

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

TERMINAL: frozenset[str] = frozenset({S.APPROVED, S.REJECTED, S.WITHDRAWN, S.ABANDONED, S.EXPIRED})
EDITABLE: frozenset[str] = frozenset({S.DRAFT, S.RETURNED})
IN_FLIGHT: frozenset[str] = frozenset({S.DELIVERED, S.AWAITING_VERIFICATION, S.BUREAU_REVIEW})
# The states in which the filing password is kept: until the bureau has answered the delivery.
HOLDS_PASSWORD: frozenset[str] = frozenset({S.SUBMITTED, S.PROVIDER_REVIEW, S.DELIVERED})

# The fields `listing.keys` reads: a step that writes one of them writes the keys too.
LISTED_FROM = frozenset({"data", "entity_number", "website_number"})

MACHINE = Machine(
    title="The provider's application (备案订单)",
    model=Application,
    table=TABLE,
    terminal=TERMINAL,
    kind_of=lambda app: rules.operation_type(app.type),
    refuse=ProviderError,
    changed="application_changed",
    noun=("申请", "application"),
)
ACTIONS = MACHINE.actions


def allowed(app: Application, action: str, role: str) -> bool:
    return MACHINE.allowed(app, action, role)


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
    now = clock.now()
    changes = {"updated_at": now, **fields}
    if reason:
        changes["reason"] = reason
    if field_reasons is not None:
        changes["field_reasons"] = field_reasons
    rule = TABLE.get((app.state, action))
    if rule is not None and rule.to not in HOLDS_PASSWORD:
        changes["filing_password"] = ""
    if LISTED_FROM & fields.keys():
        # What the lists find it by moves with what it is made of, in the same UPDATE.
        made_of = {name: fields.get(name, getattr(app, name)) for name in LISTED_FROM}
        changes.update(listing.keys(app.type, made_of["data"], made_of["entity_number"], made_of["website_number"]))

    def history(move: Move) -> None:
        TimelineEntry.objects.create(
            application=move.row,
            at=now,
            actor=move.actor,
            action=move.action,
            from_state=move.source,
            to_state=move.target,
            reason=reason,
            field_reasons=field_reasons or [],
        )

    return MACHINE.apply(app, action, actor=actor, changes=changes, history=history)
