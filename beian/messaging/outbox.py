"""The outbox every SMS and email goes through, on both sides (issue 14, S25).

A notice is a row, written in the transaction that causes it (a rolled-back change sends nothing),
and sent by a worker, never by the request that caused it: a mail server or SMS gateway that is
down delays the notices and nothing else. Each side keeps its rows in its own database (the bureau
in `bureau`, the provider in `default`) in a model made from `Outgoing`; `dispatch` is the one
sender for both.

Sending, row by row:

1. claim: `attempts + 1` and a lease (`claimed_until = now + LEASE`) by compare-and-set, committed
   before anything is sent, so two workers never send the same row at once;
2. hand it to the backend with the row's `key` (a UUID made when the row was written): the email's
   `Message-ID` is `<key@beian>`, an SMS backend receives it as `key`;
3. record: `sent_at` on success (tried again on a fresh connection if the database is restarting
   just then, `_record_sent`); on failure the lease is given back and the next try waits
   `backoff(attempts)` (5 s, 10 s, 20 s … at most `BEIAN_NOTICE_MAX_BACKOFF_SECONDS`).

A worker that dies between 2 and 3 (the backend has it, the row does not say so) leaves the row
claimed; once the lease runs out another worker sends it again under the same key. That window is
one UPDATE long, and the key makes the repeat recognisable: the sandbox keeps one message per key
(so the demo and the tests see each notice once), an SMS gateway that takes an idempotency key
drops the repeat, and mail readers and stores that deduplicate by Message-ID show one. The lease
(`LEASE`, 120 s) is longer than a send may take (`EMAIL_TIMEOUT`, 20 s by default), so a slow
send is never repeated while it is still under way.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connections, models, router
from django.db.models import F, Q

from beian.core import clock
from beian.messaging import send
from beian.ops.connections import drop_broken
from beian.sealing import SealedCharField, SealedTextField

log = logging.getLogger("beian.messaging.outbox")
LEASE = timedelta(seconds=120)
FIRST_BACKOFF = timedelta(seconds=5)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed try: doubling from 5 s, capped."""
    cap = timedelta(seconds=settings.BEIAN_NOTICE_MAX_BACKOFF_SECONDS)
    return min(FIRST_BACKOFF * (2 ** min(max(attempts - 1, 0), 30)), cap)


def _now():
    return clock.now()


class Outgoing(models.Model):
    """One SMS or email to send. `body` may be blanked once sent (`BLANK_WHEN_SENT`): the bureau's
    carry filing passwords, which must not rest in its database."""

    class Channel(models.TextChoices):
        SMS = "sms"
        EMAIL = "email"

    BLANK_WHEN_SENT = False
    SENT_PLACEHOLDER = "[sent]"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    # Sealed (beian.sealing): a person's mobile or email, and a body that may carry a filing password.
    recipient = SealedCharField(max_length=254)
    subject = models.CharField(max_length=200, blank=True)
    body = SealedTextField()
    # The idempotency key given to the backend: the same on every try of this row.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=_now)
    next_attempt_at = models.DateTimeField(default=_now)
    attempts = models.PositiveSmallIntegerField(default=0)
    # A worker's lease: another leaves the row alone until it runs out.
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        abstract = True


def message_id(key: uuid.UUID) -> str:
    return f"<{key}@beian>"


def claim(model: type[Outgoing], row: Outgoing) -> bool:
    """Step 1: take `row` for one try, unless another worker holds it or it was sent."""
    now = clock.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    return bool(
        model.objects.filter(free, pk=row.pk, sent_at__isnull=True).update(
            attempts=F("attempts") + 1, claimed_until=now + LEASE
        )
    )


def hand_over(row: Outgoing, *, sender: str, from_email: str | None = None) -> None:
    """Step 2: give `row` to the backend under its key; raises whatever the backend raises."""
    if row.channel == Outgoing.Channel.SMS:
        send.sms(row.recipient, row.body, sender=sender, key=str(row.key))
    else:
        send.email(
            row.recipient,
            row.subject,
            row.body,
            sender=sender,
            from_email=from_email,
            headers={"Message-ID": message_id(row.key)},
        )


def record(model: type[Outgoing], row: Outgoing, error: Exception | None = None) -> None:
    """Step 3: sent; or failed, to be tried again after the backoff of its attempts."""
    if error is None:
        done = {"sent_at": clock.now(), "claimed_until": None, "last_error": ""}
        if model.BLANK_WHEN_SENT:
            done["body"] = model.SENT_PLACEHOLDER
        model.objects.filter(pk=row.pk).update(**done)
        return
    attempts = model.objects.filter(pk=row.pk).values_list("attempts", flat=True).first() or 1
    log.warning("%s %s to try again (attempt %s): %s", model.__name__, row.pk, attempts, error)
    model.objects.filter(pk=row.pk).update(
        claimed_until=None, next_attempt_at=clock.now() + backoff(attempts), last_error=str(error)[:1000]
    )


def due(model: type[Outgoing]):
    now = clock.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    return model.objects.filter(free, sent_at__isnull=True, next_attempt_at__lte=now).order_by("next_attempt_at", "id")


def claim_next(rows: models.QuerySet, *, until) -> models.Model | None:
    """PostgreSQL: take the first of `rows` (due, in order) that no other worker is taking, with a
    lease (`claimed_until = until`, `attempts + 1`), in one statement; None when none is left.
    Workers of a kind that read the same list of due rows and claimed each by compare-and-set lost
    a third of their claims to each other (a wasted UPDATE each, docs/performance.md "Filing at
    volume"). The row is locked only while the statement runs (`FOR UPDATE SKIP LOCKED` in its
    subquery), never across the send: the lease, committed, keeps others off it."""
    model = rows.model
    alias = router.db_for_write(model)
    connection = connections[alias]
    # The locking clause is written here: Django compiles FOR UPDATE only inside a transaction, and
    # one of its own would add two round trips a claim. PostgreSQL takes it after LIMIT.
    pick_sql, pick_params = rows.values("pk")[:1].query.get_compiler(alias).as_sql()
    quote, meta = connection.ops.quote_name, model._meta
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    attempts, claimed_until = quote(meta.get_field("attempts").column), quote(meta.get_field("claimed_until").column)
    sql = (
        f"UPDATE {table} SET {attempts} = {attempts} + 1, {claimed_until} = %s "
        f"WHERE {pk} = ({pick_sql} FOR UPDATE SKIP LOCKED) RETURNING *"
    )
    until = meta.get_field("claimed_until").get_db_prep_save(until, connection)
    return next(iter(model.objects.db_manager(alias).raw(sql, [until, *pick_params])), None)


def skips_locked(model: type[models.Model]) -> bool:
    """Whether `claim_next` serves `model`'s database; SQLite (one writer at a time) keeps the
    compare-and-set of a list read first."""
    return connections[router.db_for_write(model)].vendor == "postgresql"


def _claimed(model: type[Outgoing], rows: models.QuerySet, limit: int):
    """The rows this worker has claimed, one at a time, at most `limit`."""
    if skips_locked(model):
        for _ in range(limit):
            row = claim_next(rows, until=clock.now() + LEASE)
            if row is None:
                return
            yield row
        return
    for row in list(rows[:limit]):
        if claim(model, row):  # else another worker took it
            yield row


def dispatch(model: type[Outgoing], *, sender: str, from_email: str | None = None, limit: int = 100, ids=None) -> int:
    """Send what is due of `model`'s rows; returns how many were sent."""
    rows = due(model)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    sent = 0
    for row in _claimed(model, rows, limit):
        try:
            hand_over(row, sender=sender, from_email=from_email)
        except Exception as exc:  # a gateway failure must not lose the notice: it waits and is tried again
            record(model, row, exc)
            continue
        _record_sent(model, row)
        sent += 1
    return sent


# How long a worker keeps trying to record a row the backend has taken: half the lease, so that no
# other worker sends the row again meanwhile.
RECORD_PATIENCE = LEASE / 2


def _record_sent(model: type[Outgoing], row: Outgoing) -> None:
    """Step 3 after a hand-over that succeeded. The backend has the notice: if the record were lost
    (PostgreSQL restarting at that moment), the row would be sent again once its lease ran out.
    So it is tried again, on a fresh connection, for up to RECORD_PATIENCE."""
    alias = router.db_for_write(model)
    deadline = time.monotonic() + RECORD_PATIENCE.total_seconds()
    while True:
        try:
            record(model, row)
            return
        except DatabaseError:
            # Inside a transaction nothing can be done here: the caller's transaction is lost anyway.
            if connections[alias].in_atomic_block or time.monotonic() > deadline:
                raise
            log.warning("%s %s sent but not yet recorded; trying again", model.__name__, row.pk, exc_info=True)
            drop_broken()
            time.sleep(0.5)
