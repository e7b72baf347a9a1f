"""Every cell of the bureau's transition table (DESIGN §5, STYLE "a test over every cell"):
state × action × actor kind × operation type. A cell the table, the actor and the catalogue's
guard allow moves the operation to exactly the table's next state, with one audit record and one
event; every other cell is refused with a clear error and changes nothing at all."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest
from django.db.models import F

from beian.bureau import registry, transitions
from beian.bureau.errors import BureauError
from beian.bureau.models import AuditRecord, Event, Operation, OperationLock
from beian.bureau.rules import operation_type
from beian.bureau.transitions import OPEN, TABLE, TERMINAL, Actor
from beian.core import clock
from beian.core.clock import ManualClock
from beian.statemachine import GUARDS
from tests.bureau.conftest import make_world
from tests.conftest import START, simulated
from tests.shared_world import built_once, own_copy

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Operation.State

ACTOR_KINDS = (Actor.PROVIDER, Actor.PRINCIPAL, Actor.REVIEWER, Actor.SIMULATION, Actor.SYSTEM)
# One operation type per combination of the catalogue facts the guards read:
# reversible and rejectable, irreversible but rejectable, irreversible and not rejectable.
OP_TYPES = ("change_website", "cancel_website", "cancel_access")
LOCK_KEYS = ("entity:uscc:TESTCERT", "domain:cell.cn")


def _op(world, state: str, op_type: str) -> Operation:
    op = Operation.objects.create(
        provider=world.operator,
        type=op_type,
        state=state,
        version=3,
        idempotency_key=uuid.uuid4(),
        payload_digest="0" * 64,
        data={},
        province=registry.province("44"),
        submitted_at=clock.now(),
    )
    if state in OPEN:  # an open operation holds its entity and domains; a closed one holds nothing
        for key in LOCK_KEYS:
            OperationLock.objects.create(key=key, operation=op)
    return op


def _snapshot(op: Operation) -> dict:
    row = Operation.objects.values("state", "version", "reason", "reason_code", "decided_at").get(pk=op.pk)
    return {
        **row,
        "audit": AuditRecord.objects.count(),
        "events": Event.objects.count(),
        "locks": sorted(OperationLock.objects.filter(operation=op).values_list("key", flat=True)),
        "all_locks": OperationLock.objects.count(),
    }


def _expected(state: str, action: str, actor: str, op_type: str) -> tuple[str | None, str | None]:
    """(next state, None) when the cell is allowed, else (None, the error code it is refused with)."""
    rule = TABLE.get((state, action))
    if rule is None:
        return None, "transition_not_allowed"
    if actor not in rule.who:
        return None, "forbidden"
    if rule.guard is not None and not GUARDS[rule.guard].allows(operation_type(op_type)):
        return None, "transition_not_allowed"
    return rule.to, None


CELLS = [
    pytest.param(state, action, actor, op_type, id=f"{state}-{action}-{actor}-{op_type}")
    for state, action, actor, op_type in itertools.product(S.values, transitions.ACTIONS, ACTOR_KINDS, OP_TYPES)
]


class TestEveryCell:
    """The cells share one world (the two providers, registered at the tests' START), built once
    and rolled back after each cell (tests/shared_world.py); each cell makes its own operation."""

    @pytest.fixture(scope="class")
    @classmethod
    def built(cls, django_db_setup, django_db_blocker):
        def build():
            with simulated(ManualClock(START)):
                return make_world()

        with built_once(django_db_blocker, build) as made:
            yield made

    @pytest.fixture
    def world(self, built, db, sim_clock):
        return own_copy(built)

    @pytest.mark.parametrize(("state", "action", "actor", "op_type"), CELLS)
    def test_every_cell_of_the_transition_table(self, world, state, action, actor, op_type):
        op = _op(world, state, op_type)
        to, refusal = _expected(state, action, actor, op_type)
        assert transitions.allowed(op, action, actor) is (to is not None)
        before = _snapshot(op)

        if refusal is not None:
            with pytest.raises(BureauError) as caught:
                transitions.apply(op, action, actor=f"{actor}:cell", reason="cell test")
            assert caught.value.code == refusal
            assert _snapshot(op) == before  # refused: nothing changed, not even the audit log
            assert op.state == state  # the caller's object is untouched too
            return

        moved = transitions.apply(op, action, actor=f"{actor}:cell", reason="cell test", reason_code="cell")
        after = _snapshot(op)
        assert moved.state == after["state"] == to
        assert after["version"] == before["version"] + 1
        assert after["audit"] == before["audit"] + 1
        assert after["events"] == before["events"] + 1
        record = AuditRecord.objects.order_by("-id").first()
        assert (record.actor, record.action, record.subject) == (f"{actor}:cell", action, f"operation:{op.pk}")
        assert (record.from_state, record.to_state) == (state, to)
        event = Event.objects.filter(provider=world.operator).order_by("-seq").first()
        assert event.kind == "operation.updated"
        assert (event.data["id"], event.data["state"]) == (str(op.pk), to)
        if to in TERMINAL:
            assert after["locks"] == []  # 主办者/域名冲突 end with the operation
        else:
            assert after["locks"] == sorted(LOCK_KEYS)
        assert after["all_locks"] == before["all_locks"] - (len(before["locks"]) if to in TERMINAL else 0)


def test_terminal_states_have_no_way_out_and_open_ones_have_one():
    assert {state for state, _ in TABLE} == set(OPEN)
    assert set(S.values) == OPEN | TERMINAL
    assert not OPEN & TERMINAL
    for state, action in TABLE:
        assert TABLE[(state, action)].to != state


def test_only_the_documented_actors_move_an_operation():
    """Who may do what (DESIGN §5): the provider only withdraws, a principal only completes or
    exhausts verification, and only the bureau (reviewer, simulation, system) decides."""
    deciders = {Actor.REVIEWER, Actor.SIMULATION, Actor.SYSTEM}
    for (_, action), rule in TABLE.items():
        if action == "withdraw":
            assert rule.who == {Actor.PROVIDER}
            assert rule.guard == "reversible"
        elif action in ("approve", "reject"):
            assert rule.who == deciders
        else:
            assert Actor.PROVIDER not in rule.who
            assert Actor.REVIEWER not in rule.who
    assert TABLE[(S.UNDER_REVIEW, "reject")].guard == "rejectable"


@pytest.mark.parametrize("state", sorted(OPEN))
def test_a_stale_operation_is_refused_with_operation_changed(world, state):
    op = _op(world, state, "change_website")
    action, rule = next((a, r) for (s, a), r in sorted(TABLE.items()) if s == state)
    actor = sorted(rule.who)[0]
    # Someone else wrote the row meanwhile (same state, newer version): the caller's copy is stale.
    Operation.objects.filter(pk=op.pk).update(version=F("version") + 1)
    before = _snapshot(op)
    with pytest.raises(BureauError) as caught:
        transitions.apply(op, action, actor=actor)
    assert caught.value.code == "operation_changed"
    assert _snapshot(op) == before


def test_of_two_copies_of_one_operation_only_the_first_moves_it(world):
    op = _op(world, S.UNDER_REVIEW, "change_website")
    first, second = Operation.objects.get(pk=op.pk), Operation.objects.get(pk=op.pk)
    transitions.apply(first, "approve", actor="reviewer:a")
    before = _snapshot(op)
    with pytest.raises(BureauError) as caught:
        transitions.apply(second, "reject", actor="reviewer:b", reason="too late")
    assert caught.value.code == "operation_changed"
    assert _snapshot(op) == before
    assert before["state"] == S.APPROVED
    assert before["locks"] == []


def test_a_transition_without_announce_writes_the_audit_record_but_no_event(world):
    op = _op(world, S.UNDER_REVIEW, "change_website")
    before = _snapshot(op)
    transitions.apply(op, "approve", actor="reviewer:a", announce=False)
    after = _snapshot(op)
    assert after["state"] == S.APPROVED
    assert after["audit"] == before["audit"] + 1
    assert after["events"] == before["events"]


def test_extra_fields_are_written_with_the_state(world):
    op = _op(world, S.RECEIVED, "change_website")
    deadline = clock.now() + timedelta(hours=24)
    transitions.apply(op, "request_verification", actor=Actor.SYSTEM, verification_deadline=deadline)
    op.refresh_from_db()
    assert (op.state, op.verification_deadline, op.version) == (S.AWAITING_VERIFICATION, deadline, 4)
