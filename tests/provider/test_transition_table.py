"""The provider's application state machine (DESIGN §5), cell by cell: every state × every action ×
every role, for a reversible and an irreversible operation type. `apply` moves exactly when
`allowed` says so, to the state written out below; otherwise it raises and changes nothing."""

from __future__ import annotations

import pytest

from beian.provider.errors import ProviderError
from beian.provider.models import Application, TimelineEntry
from beian.provider.transitions import ACTIONS, TABLE, TERMINAL, Role, allowed, apply

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State
ROLES = (Role.CUSTOMER, Role.SPECIALIST, Role.BUREAU, Role.SYSTEM)
ACTOR = {
    Role.CUSTOMER: "customer:alice",
    Role.SPECIALIST: "specialist:bob",
    Role.BUREAU: "bureau",
    Role.SYSTEM: "system",
}
REVERSIBLE, IRREVERSIBLE = "change_website", "cancel_website"

# The machine as DESIGN §5 draws it, written out independently of transitions.TABLE:
# (state, action) → (to, role, only for a reversible type).
_C, _SP, _B = Role.CUSTOMER, Role.SPECIALIST, Role.BUREAU
EXPECTED: dict[tuple[str, str], tuple[str, str, bool]] = {
    (S.DRAFT, "submit"): (S.SUBMITTED, _C, False),
    (S.DRAFT, "abandon"): (S.ABANDONED, _C, False),
    (S.SUBMITTED, "claim"): (S.PROVIDER_REVIEW, _SP, False),
    (S.SUBMITTED, "withdraw"): (S.WITHDRAWN, _C, True),
    (S.PROVIDER_REVIEW, "approve"): (S.DELIVERED, _SP, False),
    (S.PROVIDER_REVIEW, "return"): (S.RETURNED, _SP, False),
    (S.PROVIDER_REVIEW, "release"): (S.SUBMITTED, _SP, False),
    (S.PROVIDER_REVIEW, "withdraw"): (S.WITHDRAWN, _C, True),
    (S.RETURNED, "edit"): (S.DRAFT, _C, False),
    (S.RETURNED, "abandon"): (S.ABANDONED, _C, False),
    (S.DELIVERED, "withdraw"): (S.WITHDRAWN, _C, True),
    (S.AWAITING_VERIFICATION, "withdraw"): (S.WITHDRAWN, _C, True),
    (S.BUREAU_REVIEW, "withdraw"): (S.WITHDRAWN, _C, True),
    (S.DELIVERED, "bureau:refused"): (S.RETURNED, _B, False),
    # What the bureau says moves forward only, possibly skipping steps; never back, never in place.
    (S.DELIVERED, "bureau:awaiting_verification"): (S.AWAITING_VERIFICATION, _B, False),
    (S.DELIVERED, "bureau:under_review"): (S.BUREAU_REVIEW, _B, False),
    (S.AWAITING_VERIFICATION, "bureau:under_review"): (S.BUREAU_REVIEW, _B, False),
    **{
        (source, f"bureau:{outcome}"): (target, _B, False)
        for source in (S.DELIVERED, S.AWAITING_VERIFICATION, S.BUREAU_REVIEW)
        for outcome, target in (
            ("approved", S.APPROVED),
            ("rejected", S.REJECTED),
            ("expired", S.EXPIRED),
            ("withdrawn", S.WITHDRAWN),
        )
    },
}


def expected_move(op_type: str, state: str, action: str, role: str) -> str | None:
    rule = EXPECTED.get((state, action))
    if rule is None:
        return None
    to, who, only_reversible = rule
    if who != role or (only_reversible and op_type == IRREVERSIBLE):
        return None
    return to


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.cn", "alice-pass")


def make(owner, op_type: str, state: str) -> Application:
    return Application.objects.create(owner=owner, type=op_type, state=state, data={"website_number": "x"})


def picture(app: Application) -> tuple:
    row = Application.objects.filter(pk=app.pk).values().get()
    return row, TimelineEntry.objects.filter(application=app).count()


def test_the_table_is_the_one_the_design_draws():
    assert {key: (rule.to, *rule.who) for key, rule in TABLE.items()} == {
        key: (to, role) for key, (to, role, _) in EXPECTED.items()
    }
    assert {key for key, rule in TABLE.items() if rule.guard == "reversible"} == {
        key for key, (_, _, only_reversible) in EXPECTED.items() if only_reversible
    }
    assert set(ACTIONS) == {action for _, action in EXPECTED}
    assert not any(state in TERMINAL for state, _ in TABLE)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("state", list(S.values))
@pytest.mark.parametrize("op_type", [REVERSIBLE, IRREVERSIBLE])
def test_every_cell(owner, op_type, state, role):
    """For each action: a move exactly when `allowed` (and the design) say so; else a refusal that
    changes nothing — not the state, not the version, not the timeline."""
    app = make(owner, op_type, state)
    for action in ACTIONS:
        cell = f"{op_type}: {state} × {action} × {role}"
        to = expected_move(op_type, state, action, role)
        assert allowed(app, action, role) is (to is not None), cell
        before = picture(app)
        if to is None:
            with pytest.raises(ProviderError) as refused:
                apply(app, action, actor=ACTOR[role])
            rule = TABLE.get((state, action))
            wrong_role = rule is not None and role not in rule.who
            assert refused.value.code == ("forbidden" if wrong_role else "transition_not_allowed"), cell
            assert refused.value.status in (403, 409), cell
            assert picture(app) == before, cell
            assert app.state == state, cell
            continue
        moved = apply(app, action, actor=ACTOR[role], reason="why")
        assert moved.state == to, cell
        assert moved.version == before[0]["version"] + 1, cell
        entries = list(TimelineEntry.objects.filter(application=app).order_by("pk"))
        assert len(entries) == before[1] + 1, cell
        last = entries[-1]
        assert (last.action, last.from_state, last.to_state, last.actor) == (action, state, to, ACTOR[role]), cell
        app = make(owner, op_type, state)  # the next action starts again from `state`


def test_a_stale_object_loses_to_the_writer_that_came_first(owner):
    app = make(owner, REVERSIBLE, S.PROVIDER_REVIEW)
    stale = Application.objects.get(pk=app.pk)
    apply(app, "approve", actor="specialist:bob")
    before = picture(app)
    with pytest.raises(ProviderError) as refused:
        apply(stale, "return", actor="specialist:carol", reason="too late")
    assert refused.value.code == "application_changed"
    assert refused.value.status == 409
    assert picture(app) == before


def test_same_state_but_an_older_version_is_stale_too(owner):
    """A draft edited meanwhile (same state, new version) is not submitted with the old data."""
    from beian.provider import applications

    app = applications.create_draft(owner=owner, op_type="cancel_website", data={"website_number": "a"})
    stale = Application.objects.get(pk=app.pk)
    applications.update_draft(app=app, user=owner, data={"website_number": "b"})
    with pytest.raises(ProviderError) as refused:
        apply(stale, "submit", actor="customer:alice", data=stale.data)
    assert refused.value.code == "application_changed"
    assert Application.objects.get(pk=app.pk).data == {"website_number": "b"}


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (S.BUREAU_REVIEW, "bureau:awaiting_verification"),
        (S.BUREAU_REVIEW, "bureau:under_review"),
        (S.AWAITING_VERIFICATION, "bureau:awaiting_verification"),
        (S.BUREAU_REVIEW, "bureau:refused"),
        (S.APPROVED, "bureau:rejected"),
        (S.REJECTED, "bureau:approved"),
        (S.WITHDRAWN, "bureau:under_review"),
        (S.EXPIRED, "bureau:awaiting_verification"),
    ],
)
def test_the_bureau_never_moves_an_application_back(owner, state, action):
    app = make(owner, REVERSIBLE, state)
    before = picture(app)
    assert not allowed(app, action, Role.BUREAU)
    with pytest.raises(ProviderError) as refused:
        apply(app, action, actor="bureau")
    assert refused.value.code == "transition_not_allowed"
    assert picture(app) == before


# The states that keep the filing password, written out as DESIGN §5 and R2 mean them: given at
# submission, kept through the provider's review, until the bureau has answered the delivery.
KEEPS_PASSWORD = {S.SUBMITTED, S.PROVIDER_REVIEW, S.DELIVERED}


@pytest.mark.parametrize(("state", "action"), sorted(TABLE))
def test_the_filing_password_is_wiped_by_the_step_that_leaves_the_states_that_need_it(owner, state, action):
    """R2 and DESIGN §9: every step, whoever takes it, keeps the password only into a state that
    still needs it; all others leave nothing behind."""
    rule = TABLE[(state, action)]
    app = make(owner, REVERSIBLE, state)
    Application.objects.filter(pk=app.pk).update(filing_password="FP-secret-1")
    app.refresh_from_db()
    actor = ACTOR[next(iter(rule.who))]
    moved = apply(app, action, actor=actor)
    kept = Application.objects.values_list("filing_password", flat=True).get(pk=moved.pk)
    assert kept == ("FP-secret-1" if rule.to in KEEPS_PASSWORD else ""), (state, action, rule.to)
