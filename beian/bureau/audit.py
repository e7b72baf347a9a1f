"""The append-only, hash-chained audit record.

Every record hashes its predecessor's hash and its own canonical content, so changing, removing
or reordering any record breaks the chain from there on; `verify()` finds the first break.

A record is written in the transaction of its change (`append`), so the two commit together or not
at all, but it takes no place in the chain there: its place (`seq`) and hashes are given after
commit by the sequencer (`seal`), one at a time, which holds the chain's head only while it seals
the records that are waiting, in the order they were written. A change therefore never waits for
another change's transaction to end (the head was locked by every change until its commit, so all
the bureau's writers queued behind the slowest, an Argon2 hash of a filing password included).
`seal` runs after each commit that wrote a record and in every round of the bureau's worker, which
seals what a process that died between its commit and its seal left waiting.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction

from beian.bureau.models import AuditHead, AuditRecord
from beian.core import clock

GENESIS = "0" * 64
SEAL_BATCH = 2000
log = logging.getLogger("beian.bureau.audit")


def _canonical(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    from_state: str,
    to_state: str,
    reason: str,
    data: dict,
) -> bytes:
    record = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(),  # the database gives it back in UTC
        "actor": actor,
        "action": action,
        "subject": subject,
        "from": from_state,
        "to": to_state,
        "reason": reason,
        "data": data,
    }
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _digest(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


def append(
    *,
    actor: str,
    action: str,
    subject: str,
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    data: dict | None = None,
) -> AuditRecord:
    """Write one record. Must run inside the transaction of the change it records; the record
    takes its place in the chain when that transaction has committed."""
    if not transaction.get_connection("bureau").in_atomic_block:
        raise RuntimeError("an audit record is written in the transaction of its change")
    record = AuditRecord.objects.create(
        at=clock.now(),
        actor=actor,
        action=action,
        subject=subject,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        data=json.loads(json.dumps(data or {}, default=str)),
    )
    # Robust: the change has committed by then, so a failed seal must not fail its request; the
    # record waits for the next seal (the worker's round at the latest).
    transaction.on_commit(seal, using="bureau", robust=True)
    return record


def seal(batch: int = SEAL_BATCH) -> int:
    """The sequencer: give every committed record that has no place yet the next places of the
    chain, in the order the records were written. Returns how many it sealed."""
    sealed = 0
    while _waiting().exists():  # read without the lock: the usual answer after a commit is "sealed already"
        with transaction.atomic(using="bureau"):
            # One sequencer at a time. On PostgreSQL the records are read after the lock is taken
            # (read committed), so a record sealed by the sequencer before is never sealed again.
            head, _ = AuditHead.objects.select_for_update().get_or_create(id=1)
            records = list(_waiting().order_by("id")[:batch])
            seq, prev_hash = head.last_seq, head.last_hash
            for r in records:
                seq += 1
                r.seq, r.prev_hash = seq, prev_hash
                r.hash = prev_hash = _digest(prev_hash, _canonical_of(r))
            AuditRecord.objects.bulk_update(records, ["seq", "prev_hash", "hash"], batch_size=500)
            AuditHead.objects.filter(id=1).update(last_seq=seq, last_hash=prev_hash)
        sealed += len(records)
        if len(records) < batch:
            break
    return sealed


def _waiting():
    return AuditRecord.objects.filter(seq__isnull=True)


def _canonical_of(r: AuditRecord) -> bytes:
    return _canonical(r.seq, r.at, r.actor, r.action, r.subject, r.from_state, r.to_state, r.reason, r.data)


@dataclass(frozen=True)
class ChainReport:
    records: int
    first_bad_seq: int | None
    problem: str = ""
    waiting: int = 0  # written with their change, not sealed yet: not part of the chain checked

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


def verify(batch: int = 2000) -> ChainReport:
    """Walk the chain from the genesis and recompute every hash."""
    prev_hash, expected_seq, count = GENESIS, 1, 0
    last_seq = 0
    while True:
        rows = list(AuditRecord.objects.filter(seq__gt=last_seq).order_by("seq")[:batch])
        if not rows:
            break
        for r in rows:
            if r.seq != expected_seq:
                return ChainReport(count, expected_seq, f"record {expected_seq} is missing")
            if r.prev_hash != prev_hash:
                return ChainReport(count, r.seq, "prev_hash does not match the previous record")
            recomputed = _digest(prev_hash, _canonical_of(r))
            if recomputed != r.hash:
                return ChainReport(count, r.seq, "content does not match its hash")
            prev_hash, expected_seq, count, last_seq = r.hash, expected_seq + 1, count + 1, r.seq
    head = AuditHead.objects.filter(id=1).first()
    if head is not None and (head.last_seq != last_seq or head.last_hash != prev_hash):
        return ChainReport(count, last_seq + 1, "the chain head does not match the last record (records removed?)")
    return ChainReport(count, None, waiting=_waiting().count())
