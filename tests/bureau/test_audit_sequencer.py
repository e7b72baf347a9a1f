"""The audit chain's sequencer (DESIGN §9, issue 10 "filing at volume"): a record commits with its
change and takes its place in the chain after commit, so no change waits for another change's
transaction to end; concurrent writers still leave one chain that verifies, with no gap and no
fork; a record left waiting by a process that died is sealed by the bureau's worker.

The races need concurrent transactions with row locks: they run on PostgreSQL and are skipped on
SQLite, which serialises all writers. Each writer is a thread with its own connections."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections, transaction

from beian.bureau import audit, work
from beian.bureau.models import AuditHead, AuditRecord

committed = pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True)
on_postgres = pytest.mark.skipif(
    connections["bureau"].vendor != "postgresql",
    reason="needs concurrent writers with row locks: set BEIAN_BUREAU_DATABASE_URL to a PostgreSQL database",
)
WAIT = 60  # seconds: a hang guard; every wait returns as soon as its condition holds


def _write(subject: str, records: int = 1) -> list[int]:
    with transaction.atomic(using="bureau"):
        return [audit.append(actor="test", action="write", subject=subject, data={"n": n}).pk for n in range(records)]


def _chain() -> list[AuditRecord]:
    return list(AuditRecord.objects.order_by("seq"))


@committed
def test_a_record_takes_its_place_when_its_transaction_commits():
    (pk,) = _write("operation:one")
    record = AuditRecord.objects.get(pk=pk)
    assert (record.seq, record.prev_hash) == (1, audit.GENESIS)
    assert len(record.hash) == 64
    report = audit.verify()
    assert (report.ok, report.records, report.waiting) == (True, 1, 0)


@committed
def test_a_rolled_back_change_leaves_no_record_and_no_hole():
    def failing_change() -> None:
        with transaction.atomic(using="bureau"):
            audit.append(actor="test", action="write", subject="operation:gone")
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        failing_change()
    _write("operation:kept")
    assert [(r.seq, r.subject) for r in _chain()] == [(1, "operation:kept")]
    assert audit.verify().ok


@pytest.mark.django_db(databases=["default", "bureau"])
def test_a_record_left_waiting_is_sealed_by_the_bureau_worker():
    """A test's transaction never commits, as a process that died between its commit and its seal
    never sealed: the record waits, outside the chain checked, until the worker's round."""
    _write("operation:orphan", records=3)
    report = audit.verify()
    assert (report.ok, report.records, report.waiting) == (True, 0, 3)
    out = StringIO()
    call_command("verify_audit_chain", stdout=out)
    assert "3 written and waiting for their place" in out.getvalue()
    assert work.run_due().audit_sealed == 3
    assert [r.seq for r in _chain()] == [1, 2, 3]
    report = audit.verify()
    assert (report.ok, report.records, report.waiting) == (True, 3, 0)
    assert AuditHead.objects.get().last_seq == 3


@on_postgres
@committed
def test_a_change_does_not_wait_for_another_changes_open_transaction():
    """The head was locked by every append until its transaction ended: a second writer waited for
    the first's whole transaction. Now the second commits and is sealed while the first is open."""
    written, go = threading.Event(), threading.Event()
    first: dict[str, object] = {}

    def slow_writer() -> None:
        try:
            with transaction.atomic(using="bureau"):
                first["pk"] = audit.append(actor="test", action="write", subject="operation:slow").pk
                written.set()
                first["released"] = go.wait(WAIT)  # the transaction stays open until the main thread says
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert written.wait(WAIT)
        (quick,) = _write("operation:quick")
        assert AuditRecord.objects.get(pk=quick).seq == 1  # sealed while the slow one is still open
        assert not AuditRecord.objects.filter(subject="operation:slow").exists()  # not committed yet
    finally:
        go.set()
        thread.join(WAIT)
    assert not thread.is_alive()
    assert first["released"] is True  # the main thread never had to wait for the slow one's end
    assert AuditRecord.objects.get(pk=first["pk"]).seq == 2
    assert audit.verify().ok


@on_postgres
@committed
def test_concurrent_writers_leave_one_chain_without_gap_or_fork():
    writers, transactions, per_transaction = 8, 20, 2
    barrier = threading.Barrier(writers, timeout=WAIT)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            AuditRecord.objects.exists()  # connected before the barrier: the race is between the writes
            barrier.wait()
            for t in range(transactions):
                _write(f"operation:{w}-{t}", records=per_transaction)
        except BaseException as exc:  # any failure of a writer fails the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 2)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    assert not errors, errors

    total = writers * transactions * per_transaction
    chain = _chain()
    assert [r.seq for r in chain] == list(range(1, total + 1))  # every record placed, no gap
    links = [r.prev_hash for r in chain]
    assert links == [audit.GENESIS, *(r.hash for r in chain[:-1])]  # each record follows exactly one: no fork
    assert len(set(links)) == total
    # A transaction's records are sealed in the order they were written.
    for w in range(writers):
        for t in range(transactions):
            seqs = [r.seq for r in sorted((r for r in chain if r.subject == f"operation:{w}-{t}"), key=lambda r: r.pk)]
            assert seqs == sorted(seqs)
    report = audit.verify()
    assert (report.ok, report.records, report.waiting) == (True, total, 0)
    head = AuditHead.objects.get()
    assert (head.last_seq, head.last_hash) == (total, chain[-1].hash)
