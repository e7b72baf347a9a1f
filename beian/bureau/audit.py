"""The bureau's append-only, hash-chained audit record: every change of the registry and of an
operation, written in the transaction of its change (`append`) and given its place in the one
chain after commit (`seal`; the mechanics, and why after commit, are beian.hashchain's). The
bureau's worker seals in every round what a process that died between its commit and its seal left
waiting. `verify` (and `python -m beian verify_audit_chain`) recompute the chain from the genesis.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from django.db import transaction

from beian import hashchain
from beian.bureau.models import AuditHead, AuditRecord
from beian.core import clock
from beian.hashchain import GENESIS, ChainReport

__all__ = ["GENESIS", "ChainReport", "append", "seal", "verify"]
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
    return hashchain.canonical(
        {
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
    )


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
    transaction.on_commit(seal, using="bureau", robust=True)  # robust: beian.hashchain says why
    return record


def _canonical_of(r: AuditRecord) -> bytes:
    return _canonical(r.seq, r.at, r.actor, r.action, r.subject, r.from_state, r.to_state, r.reason, r.data)


CHAIN = hashchain.Chain(AuditRecord, AuditHead, "bureau", _canonical_of)


def seal(batch: int = SEAL_BATCH) -> int:
    """Give every committed record that has no place yet the next places of the chain."""
    return CHAIN.seal(batch)


def verify(batch: int = 2000) -> ChainReport:
    """Walk the chain from the genesis and recompute every hash."""
    return CHAIN.verify(batch)
