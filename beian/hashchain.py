"""The mechanics of an append-only, hash-chained log (DESIGN §9), for both sides: the bureau's audit
record (`beian.bureau.audit`) and the provider's application timeline (`beian.provider.timeline`).

Every record hashes its predecessor's hash and its own canonical content, so changing, removing or
reordering any record breaks the chain from there on; `verify` finds the first break.

A record is written in the transaction of its change, so the two commit together or not at all,
but it takes no place in the chain there: its place (`seq`) and hashes are given after commit by
the sequencer (`seal`), one at a time, which holds the chain's head only while it seals the records
that are waiting, in the order they were written. A change therefore never waits for another
change's transaction to end. Each side seals after each commit that wrote a record and in every
round of its worker, which seals what a process that died between its commit and its seal left.

What a side gives: the record model (with `id`, `seq`, `prev_hash`, `hash`), its head model (a
`ChainHead`), the database, and the canonical bytes of a record, which must never change for
records already written (the hashes of a running deployment are computed from them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction

GENESIS = "0" * 64


class ChainHead(models.Model):
    """The head of a chain (a single row): the last sealed record. Locked only by the sequencer,
    for as long as it takes to seal what is waiting, never by a change."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS)

    class Meta:
        abstract = True


def canonical(record: dict[str, Any]) -> bytes:
    """One byte string for one record's content, whatever the order of its keys."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def link(prev_hash: str, content: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + content).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    records: int
    first_bad_seq: int | None
    problem: str = ""
    waiting: int = 0  # written with their change, not sealed yet: not part of the chain checked

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


@dataclass(frozen=True)
class Chain:
    record: type[models.Model]
    head: type[ChainHead]
    using: str
    # The canonical content of a record, its `seq` included (it is set before this is called).
    canonical_of: Callable[[Any], bytes]

    def waiting(self) -> models.QuerySet:
        return self.record.objects.using(self.using).filter(seq__isnull=True)

    def seal_after_commit(self) -> None:
        """To call in the transaction that wrote a record. Robust: the change has committed by then,
        so a failed seal must not fail its request; the record waits for the worker's round."""
        transaction.on_commit(self.seal, using=self.using, robust=True)

    def seal(self, batch: int = 2000) -> int:
        """The sequencer: give every committed record that has no place yet the next places of the
        chain, in the order the records were written. Returns how many it sealed."""
        sealed = 0
        while self.waiting().exists():  # read without the lock: usually "sealed already"
            with transaction.atomic(using=self.using):
                # One sequencer at a time. On PostgreSQL the records are read after the lock is
                # taken (read committed), so a record sealed by the sequencer before is never sealed again.
                head, _ = self.head.objects.using(self.using).select_for_update().get_or_create(id=1)
                records = list(self.waiting().order_by("id")[:batch])
                seq, prev_hash = head.last_seq, head.last_hash
                for r in records:
                    seq += 1
                    r.seq, r.prev_hash = seq, prev_hash
                    r.hash = prev_hash = link(prev_hash, self.canonical_of(r))
                self.record.objects.using(self.using).bulk_update(records, ["seq", "prev_hash", "hash"], batch_size=500)
                self.head.objects.using(self.using).filter(id=1).update(last_seq=seq, last_hash=prev_hash)
            sealed += len(records)
            if len(records) < batch:
                break
        return sealed

    def verify(self, batch: int = 2000) -> ChainReport:
        """Walk the chain from the genesis and recompute every hash."""
        prev_hash, expected_seq, count = GENESIS, 1, 0
        last_seq = 0
        records = self.record.objects.using(self.using)
        while True:
            rows = list(records.filter(seq__gt=last_seq).order_by("seq")[:batch])
            if not rows:
                break
            for r in rows:
                if r.seq != expected_seq:
                    return ChainReport(count, expected_seq, f"record {expected_seq} is missing")
                if r.prev_hash != prev_hash:
                    return ChainReport(count, r.seq, "prev_hash does not match the previous record")
                if link(prev_hash, self.canonical_of(r)) != r.hash:
                    return ChainReport(count, r.seq, "content does not match its hash")
                prev_hash, expected_seq, count, last_seq = r.hash, expected_seq + 1, count + 1, r.seq
        head = self.head.objects.using(self.using).filter(id=1).first()
        if head is not None and (head.last_seq != last_seq or head.last_hash != prev_hash):
            return ChainReport(count, last_seq + 1, "the chain head does not match the last record (records removed?)")
        return ChainReport(count, None, waiting=self.waiting().count())
