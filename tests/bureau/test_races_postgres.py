"""Two writers meet and exactly one wins (STYLE: "a race test … worth more than many happy paths").

Real concurrent transactions need a database with row locks and concurrent writers: these run on
PostgreSQL (CI runs the suite there too) and are skipped on SQLite, which serialises all writers.
Each racer is a thread with its own connections, released at a `threading.Barrier` so both are in
flight together; every thread closes its connections when done.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest
from django.db import connections, transaction

from beian.bureau import registry, review, submission
from beian.bureau.errors import BureauError
from beian.bureau.models import (
    AuditRecord,
    Entity,
    Event,
    NumberSerial,
    Operation,
    OperationLock,
    Verification,
    Website,
)
from beian.core import clock
from tests.bureau.conftest import enterprise, person, website

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connections["bureau"].vendor != "postgresql",
        reason="needs concurrent writers with row locks: set BEIAN_BUREAU_DATABASE_URL to a PostgreSQL database",
    ),
    # Committed for real, so other connections see it; the migrations' provinces come back after.
    pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True),
]
S = Operation.State


def race(*calls: Callable[[], object]) -> list[tuple[str, object]]:
    """Run each call in its own thread, all released at once; returns ("ok", value) or ("error", exc)."""
    barrier = threading.Barrier(len(calls), timeout=30)
    results: list[tuple[str, object]] = [("error", RuntimeError("did not run"))] * len(calls)

    def run(i: int, call: Callable[[], object]) -> None:
        try:
            # Connect before the barrier, so the race is between the writes and not the handshakes.
            Operation.objects.exists()
            barrier.wait()
            results[i] = ("ok", call())
        except Exception as exc:
            results[i] = ("error", exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a racer hung (deadlock?)"
    for kind, value in results:
        if kind == "error" and not isinstance(value, BureauError):
            raise value  # anything but a clean refusal is a bug
    return results


def one_winner(results) -> tuple[object, BureauError]:
    wins = [value for kind, value in results if kind == "ok"]
    losses = [value for kind, value in results if kind == "error"]
    assert (len(wins), len(losses)) == (1, 1), results
    return wins[0], losses[0]


def _submit(world, op_type: str, data: dict, *, key=None, provider=None) -> Callable[[], submission.Submitted]:
    return lambda: submission.submit(
        provider=provider or world.operator, op_type=op_type, data=data, idempotency_key=key or uuid.uuid4()
    )


def _new_filing(n: int, domains: list[str], province: str = "44") -> dict:
    principal = person(n)
    return {
        "entity": enterprise(n, province=province, principal=principal),
        "website": {"name": f"竞争网站{n}", "domains": domains, "principal": principal},
        "access": {"ips": ["121.40.18.10"]},
    }


def _under_review(world, n: int, domain: str, province: str = "44") -> Operation:
    op = world.submit("new_filing", _new_filing(n, [domain], province))
    return world.verify_all(op)


# ---------------------------------------------------------------- (a) 主办者冲突 / 域名冲突


def test_two_operations_on_one_entity_at_once_one_wins_the_other_is_entity_busy(world):
    filed = world.file("busy-entity.cn")
    number = filed.website.number
    results = race(
        _submit(world, "change_access", {"website_number": number, "access": {"ips": ["121.40.18.20"]}}),
        _submit(world, "change_website", {"website_number": number, "website": {"name": "改名后的网站"}}),
    )
    won, lost = one_winner(results)
    assert lost.code == "entity_busy"
    open_ops = Operation.objects.exclude(pk=filed.pk)
    assert list(open_ops.values_list("pk", flat=True)) == [won.operation.pk]
    assert set(OperationLock.objects.values_list("operation", flat=True)) == {won.operation.pk}


def test_two_filings_of_one_domain_at_once_one_wins_the_other_is_domain_busy(world):
    results = race(
        _submit(world, "new_filing", _new_filing(1, ["contested.cn"])),
        _submit(world, "new_filing", _new_filing(2, ["contested.cn"]), provider=world.other),
    )
    won, lost = one_winner(results)
    assert lost.code == "domain_busy"
    assert Operation.objects.get().pk == won.operation.pk
    assert OperationLock.objects.get(key="domain:contested.cn").operation_id == won.operation.pk
    assert Verification.objects.exclude(operation=won.operation).count() == 0


def test_a_new_website_and_a_new_filing_racing_for_one_domain_one_wins(world):
    filed = world.file("base-site.cn")
    password = world.password_of(filed.entity.number, filed.entity.principal_mobile)
    results = race(
        _submit(
            world,
            "new_website",
            {
                "entity_number": filed.entity.number,
                "filing_password": password,
                "website": website("wanted.cn", principal=person(40)),
                "access": {"ips": ["121.40.18.11"]},
            },
        ),
        _submit(world, "new_filing", _new_filing(41, ["wanted.cn"]), provider=world.other),
    )
    won, lost = one_winner(results)
    assert lost.code == "domain_busy"
    assert Operation.objects.exclude(pk=filed.pk).get().pk == won.operation.pk


# ---------------------------------------------------------------- (b) idempotency


def test_one_idempotency_key_delivered_twice_at_once_makes_one_operation(world):
    key = uuid.uuid4()
    data = _new_filing(3, ["twice.cn"])
    results = race(_submit(world, "new_filing", data, key=key), _submit(world, "new_filing", data, key=key))
    assert all(kind == "ok" for kind, _ in results), results
    ids = {value.operation.pk for _, value in results}
    assert len(ids) == 1
    assert sorted(value.created for _, value in results) == [False, True]
    op = Operation.objects.get()
    assert op.pk in ids
    assert op.verifications.count() == 1  # one person is both principals: one code, sent once
    assert AuditRecord.objects.filter(subject=f"operation:{op.pk}", action="submit").count() == 1


# ---------------------------------------------------------------- (c) two reviewers


@pytest.mark.parametrize(("first", "second"), [("approve", "reject"), ("reject", "approve"), ("approve", "approve")])
def test_two_reviewers_deciding_one_operation_at_once_one_wins(world, first, second):
    op = _under_review(world, 5, "decide-once.cn")
    assert op.state == S.UNDER_REVIEW
    copies = Operation.objects.get(pk=op.pk), Operation.objects.get(pk=op.pk)
    events_before = Event.objects.filter(provider=world.operator).count()
    results = race(
        *(
            (lambda o=o, d=d, who=who: review.decide(o, d, actor=f"reviewer:{who}", reason="材料不符"))
            for o, d, who in ((copies[0], first, "a"), (copies[1], second, "b"))
        )
    )
    won, lost = one_winner(results)
    assert lost.code in ("operation_changed", "transition_not_allowed")
    op.refresh_from_db()
    assert op.state == won.state
    decisions = AuditRecord.objects.filter(subject=f"operation:{op.pk}", action__in=("approve", "reject"))
    assert decisions.count() == 1
    assert Event.objects.filter(provider=world.operator).count() == events_before + 1 + (
        1 if op.state == S.APPROVED else 0  # an approval also reports the new website
    )
    if op.state == S.APPROVED:
        entity = Entity.objects.get()
        assert op.result["entity_number"] == entity.number
        assert Website.objects.get().domains.get().name == "decide-once.cn"
    else:
        assert op.state == S.REJECTED
        assert not Entity.objects.exists()
        assert not Website.objects.exists()


# ---------------------------------------------------------------- (d) entity numbers


def test_two_filings_approved_at_once_in_one_province_get_distinct_numbers(world):
    ops = [_under_review(world, n, f"numbered{n}.cn", province="33") for n in (6, 7)]
    results = race(*((lambda o=o: review.decide(o, "approve", actor="reviewer:x")) for o in ops))
    assert all(kind == "ok" for kind, _ in results), results
    numbers = sorted(Entity.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 2
    serial = NumberSerial.objects.get(province_id="33")
    assert serial.last == 2
    assert [n[-7:-1] for n in numbers] == ["000001", "000002"]


@pytest.mark.parametrize("counter", ["exists", "missing"])
def test_the_serial_allocator_hands_out_distinct_numbers_under_its_row_lock(world, counter):
    province = registry.province("11")
    at = clock.now()
    if counter == "exists":  # the racers meet at the counter's row lock
        NumberSerial.objects.create(province=province, year=clock.local_date(at).year, last=41)
    # else both racers also create the counter, and meet at its unique constraint first

    def allocate() -> str:
        with transaction.atomic(using="bureau"):
            number = registry.allocate_entity_number(province, at)
            # Hold the lock a moment: an allocator that did not wait for it would read the same
            # `last` meanwhile and hand out the same number.
            time.sleep(0.2)
            return number

    results = race(allocate, allocate)
    numbers = sorted(value for kind, value in results if kind == "ok")
    assert len(numbers) == 2, results
    first = 42 if counter == "exists" else 1
    assert [n[-7:-1] for n in numbers] == [f"{first:06d}", f"{first + 1:06d}"]
    assert NumberSerial.objects.get(province=province).last == first + 1
