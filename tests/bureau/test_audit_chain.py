"""The append-only, hash-chained audit log (DESIGN §9): every state change leaves a record, the
chain verifies, and changing, removing or reordering any record is found at the first broken
record, by `audit.verify()` and by the `verify_audit_chain` command."""

from __future__ import annotations

import itertools
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from beian import hashchain
from beian.bureau import audit
from beian.bureau.models import AuditRecord
from tests.bureau.conftest import person, website

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

CONTENT = ("at", "actor", "action", "subject", "from_state", "to_state", "reason", "data")


@pytest.fixture
def history(world) -> int:
    """A few operations' worth of records: filings, a second website, a change, a rejection."""
    first = world.file("chain-one.cn")
    world.file("chain-two.cn", provider=world.other)
    password = world.password_of(first.entity.number, first.entity.principal_mobile)
    world.approve(
        world.submit(
            "new_website",
            {
                "entity_number": first.entity.number,
                "filing_password": password,
                "website": website("chain-three.cn", principal=person(90)),
                "access": {"ips": ["121.40.18.9"]},
            },
        )
    )
    world.reject(
        world.submit("change_access", {"website_number": first.website.number, "access": {"ips": ["1.2.3.4"]}})
    )
    # The sequencer runs after each commit; a test's transaction never commits, so it runs here.
    audit.seal()
    count = AuditRecord.objects.count()
    assert count >= 12
    return count


def _run_command() -> str:
    out = StringIO()
    call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


def _broken_at(seq: int) -> None:
    report = audit.verify()
    assert not report.ok
    assert report.first_bad_seq == seq
    assert report.records == seq - 1  # every record before the break still checks out
    with pytest.raises(CommandError, match=rf"audit chain broken at record {seq}\b"):
        _run_command()


def test_the_chain_of_a_few_operations_verifies(history):
    report = audit.verify()
    assert report.ok
    assert report.records == history
    assert f"audit chain intact: {history} records" in _run_command()
    seqs = list(AuditRecord.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, history + 1))
    rows = list(AuditRecord.objects.order_by("seq"))
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(rows))
    assert rows[0].prev_hash == audit.GENESIS


def test_the_chain_verifies_across_batches(history):
    assert audit.verify(batch=3).ok


def test_a_changed_reason_breaks_the_chain_at_that_record(history):
    target = history // 2
    AuditRecord.objects.filter(seq=target).update(reason="nothing to see here")
    _broken_at(target)


def test_a_changed_actor_of_the_first_record_breaks_the_chain_at_once(history):
    AuditRecord.objects.filter(seq=1).update(actor="reviewer:mallory")
    _broken_at(1)


def test_a_deleted_middle_record_breaks_the_chain_at_the_gap(history):
    target = history // 2
    AuditRecord.objects.filter(seq=target).delete()
    report = audit.verify()
    assert "missing" in report.problem
    _broken_at(target)


def test_a_deleted_last_record_is_found_by_the_head(history):
    AuditRecord.objects.filter(seq=history).delete()
    report = audit.verify()
    assert "head" in report.problem
    _broken_at(history)


def test_two_swapped_records_break_the_chain_at_the_first_of_them(history):
    a, b = (AuditRecord.objects.get(seq=s) for s in (3, history - 2))
    assert any(getattr(a, f) != getattr(b, f) for f in CONTENT)
    AuditRecord.objects.filter(seq=a.seq).update(**{f: getattr(b, f) for f in CONTENT})
    AuditRecord.objects.filter(seq=b.seq).update(**{f: getattr(a, f) for f in CONTENT})
    _broken_at(3)


def test_a_record_rehashed_after_tampering_breaks_the_link_to_the_next(history):
    """A forger who also recomputes the tampered record's own hash still breaks its successor."""
    target = history // 2
    row = AuditRecord.objects.get(seq=target)
    forged = hashchain.link(
        row.prev_hash,
        audit._canonical(
            row.seq, row.at, row.actor, row.action, row.subject, row.from_state, row.to_state, "forged", row.data
        ),
    )
    assert forged != row.hash
    AuditRecord.objects.filter(seq=target).update(reason="forged", hash=forged)
    _broken_at(target + 1)
