"""The append-only, hash-chained audit record.

Every record hashes its predecessor's hash and its own canonical content, so changing, removing
or reordering any record breaks the chain from there on; `verify()` finds the first break.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction

from beian.bureau.models import AuditHead, AuditRecord
from beian.core import clock

GENESIS = "0" * 64


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
    """Append one record. Must run inside the transaction of the change it records."""
    if not transaction.get_connection("bureau").in_atomic_block:
        raise RuntimeError("an audit record is written in the transaction of its change")
    data = json.loads(json.dumps(data or {}, default=str))
    head, _ = AuditHead.objects.select_for_update().get_or_create(id=1)
    seq = head.last_seq + 1
    at = clock.now()
    digest = _digest(head.last_hash, _canonical(seq, at, actor, action, subject, from_state, to_state, reason, data))
    record = AuditRecord.objects.create(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        data=data,
        prev_hash=head.last_hash,
        hash=digest,
    )
    AuditHead.objects.filter(id=1).update(last_seq=seq, last_hash=digest)
    return record


@dataclass(frozen=True)
class ChainReport:
    records: int
    first_bad_seq: int | None
    problem: str = ""

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
            recomputed = _digest(
                prev_hash,
                _canonical(r.seq, r.at, r.actor, r.action, r.subject, r.from_state, r.to_state, r.reason, r.data),
            )
            if recomputed != r.hash:
                return ChainReport(count, r.seq, "content does not match its hash")
            prev_hash, expected_seq, count, last_seq = r.hash, expected_seq + 1, count + 1, r.seq
    head = AuditHead.objects.filter(id=1).first()
    if head is not None and (head.last_seq != last_seq or head.last_hash != prev_hash):
        return ChainReport(count, last_seq + 1, "the chain head does not match the last record (records removed?)")
    return ChainReport(count, None)
