"""The national registry and the bureau's own records, on the `bureau` database.

Nothing here is ever deleted: a deregistered entity or website keeps its row and its number as
history, and a number once issued is never issued again.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from beian.core import clock
from beian.hashchain import ChainHead
from beian.messaging.outbox import Outgoing
from beian.ops.health import HeartbeatBase
from beian.sealing import DigestField, SealedCharField, SealedJSONField


def _now():
    return clock.now()


class Province(models.Model):
    """The provincial bureaus, seeded from `beian.core.provinces`."""

    code = models.CharField(max_length=2, primary_key=True)
    name = models.CharField(max_length=20)
    short = models.CharField(max_length=2, unique=True)
    name_en = models.CharField(max_length=40)
    review_limit_days = models.PositiveSmallIntegerField()
    online_recovery_only = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class Provider(models.Model):
    """A hosting provider (接入服务商) that submits operations with its own API key.

    The key reads `<key_id>.<secret>`; only its keyed digest is kept (`secrets.api_key_digest`)."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(unique=True)
    key_id = models.CharField(max_length=32, unique=True)
    key_digest = models.CharField(max_length=200)  # or, for a key issued before 0010, its Argon2 hash
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=_now)

    def __str__(self) -> str:
        return self.name


class Status(models.TextChoices):
    ACTIVE = "active", _("已备案")
    DEREGISTERED = "deregistered", _("已注销")


class PrincipalFields(models.Model):
    """The person responsible. Their certificate number, mobile and email are sealed at rest
    (`beian.sealing`); nothing looks them up, so they have no digest."""

    principal_name = models.CharField(max_length=30)
    principal_id_type = models.CharField(max_length=40)
    principal_id_number = SealedCharField(max_length=40)
    principal_mobile = SealedCharField(max_length=11)
    principal_email = SealedCharField(max_length=254)

    class Meta:
        abstract = True


class Entity(PrincipalFields):
    """A filer (备案主体). One active entity per certificate; a cancelled one may file again and
    then gets a new row and a new number."""

    province = models.ForeignKey(Province, on_delete=models.PROTECT)
    # Unique by a named constraint rather than unique=True, which on PostgreSQL adds a second index
    # for LIKE 'prefix%' that nothing asks (migration 0016).
    number = models.CharField(max_length=40)
    unit_type = models.CharField(max_length=40)
    name = models.CharField(max_length=100)
    cert_type = models.CharField(max_length=40)
    # Sealed (a person's ID number for an individual); one active entity per certificate is kept
    # by the digest, which recovery and the conflict checks look up.
    cert_number = SealedCharField(max_length=40)
    cert_digest = DigestField(of="cert_number", kind="certificate")
    address = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    password_hash = models.CharField(max_length=200, blank=True)
    password_issued_at = models.DateTimeField(null=True, blank=True)
    # The next website's N in "…号-N": counts up and never goes back, so numbers are not reused.
    next_website_seq = models.PositiveIntegerField(default=1)
    approved_at = models.DateTimeField()
    deregistered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "entities"
        constraints = [
            models.UniqueConstraint(
                fields=["cert_type", "cert_digest"],
                condition=Q(status="active"),
                name="one_active_entity_per_certificate",
            ),
            models.UniqueConstraint(fields=["number"], name="entity_number_once"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class EntityGram(models.Model):
    """PostgreSQL's name search (migration 0015): one row for each distinct two-character piece of
    an entity's name (A-Z folded, `beian_name_grams`), kept by triggers on the entity table. Its key
    gives the entities that hold a piece in id order, so the public query reads a piece's entities
    from the cursor on and stops at a full page (`beian.bureau.query`). SQLite has its FTS5 table
    instead (migration 0003), which gives them in rowid order too."""

    pk = models.CompositePrimaryKey("gram", "entity")
    # Compared byte by byte: a bigram is only ever looked up by equality, and the database's own
    # collation (C.UTF-8, en_US.UTF-8, …) would cost every comparison of the key's sort and look-ups
    # a locale's rules (docs/performance.md, "Built: each bigram's entities in id order").
    gram = models.CharField(max_length=2, db_collation="C")
    # No constraint: the triggers keep the rows, the bulk load writes them beside its entities, and
    # the key's own order is the only index a query needs.
    entity = models.ForeignKey(
        Entity, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )

    class Meta:
        required_db_vendor = "postgresql"


class Website(PrincipalFields):
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="websites")
    seq = models.PositiveIntegerField()
    number = models.CharField(max_length=44)  # unique: `website_number_once` (as Entity.number)
    name = models.CharField(max_length=50)
    home_url = models.CharField(max_length=300)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    approved_at = models.DateTimeField()
    deregistered_at = models.DateTimeField(null=True, blank=True)
    deregistered_reason = models.CharField(max_length=40, blank=True)
    # Set when the website is left with no access anywhere (空壳网站); the sweep deregisters it
    # once the grace period has passed.
    shell_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entity", "seq"], name="website_seq_unique_per_entity"),
            models.UniqueConstraint(fields=["number"], name="website_number_once"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class Domain(models.Model):
    """A domain of a website. A domain is active in at most one website at a time; removed and
    deregistered domains keep their rows."""

    website = models.ForeignKey(Website, on_delete=models.PROTECT, related_name="domains")
    name = models.CharField(max_length=253)
    active = models.BooleanField(default=True)
    added_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=Q(active=True), name="domain_active_once"),
        ]

    def __str__(self) -> str:
        return self.name


class Access(models.Model):
    """A website hosted with a provider (接入). `provisional` is a transfer-in that has been
    submitted but not yet approved: served, and removed if the bureau rejects it."""

    class State(models.TextChoices):
        PROVISIONAL = "provisional", _("转入中")
        ACTIVE = "active", _("接入中")
        ENDED = "ended", _("已取消接入")

    website = models.ForeignKey(Website, on_delete=models.PROTECT, related_name="accesses")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="accesses")
    ips = models.JSONField(default=list)
    state = models.CharField(max_length=20, choices=State.choices)
    since = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        verbose_name_plural = "accesses"
        constraints = [
            models.UniqueConstraint(
                fields=["website", "provider"],
                condition=Q(state__in=["provisional", "active"]),
                name="one_live_access_per_provider",
            ),
        ]


class Operation(models.Model):
    """An operation (操作) a provider submitted. Its `state` is written only by
    `beian.bureau.transitions.apply`."""

    class State(models.TextChoices):
        RECEIVED = "received", _("已接收")
        AWAITING_VERIFICATION = "awaiting_verification", _("待短信核验")
        UNDER_REVIEW = "under_review", _("管局审核中")
        APPROVED = "approved", _("审核通过")
        REJECTED = "rejected", _("管局驳回")
        EXPIRED = "expired", _("已过期")
        WITHDRAWN = "withdrawn", _("已撤回")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="operations")
    type = models.CharField(max_length=30)
    state = models.CharField(max_length=30, choices=State.choices, default=State.RECEIVED)
    version = models.PositiveIntegerField(default=0)
    idempotency_key = models.UUIDField()
    payload_digest = models.CharField(max_length=64)
    # The submitted data, normalised, without the filing password; sealed as a whole, since it
    # holds the principals' certificate numbers, mobiles and emails.
    data = SealedJSONField()
    province = models.ForeignKey(Province, on_delete=models.PROTECT)
    entity = models.ForeignKey(Entity, null=True, blank=True, on_delete=models.PROTECT, related_name="operations")
    website = models.ForeignKey(Website, null=True, blank=True, on_delete=models.PROTECT, related_name="operations")
    submitted_at = models.DateTimeField()
    verification_deadline = models.DateTimeField(null=True, blank=True)
    review_started_at = models.DateTimeField(null=True, blank=True)
    window_earliest = models.DateField(null=True, blank=True)
    window_latest = models.DateField(null=True, blank=True)
    window_provisional = models.BooleanField(default=False)
    # The simulation's planned decision (auto review): when, and which way.
    planned_decision_at = models.DateTimeField(null=True, blank=True)
    planned_decision = models.CharField(max_length=10, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reason_code = models.CharField(max_length=60, blank=True)
    reason = models.TextField(blank=True)
    # What approval produced: entity and website numbers.
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "idempotency_key"], name="operation_idempotency"),
        ]
        indexes = [
            models.Index(fields=["state", "submitted_at"]),
            models.Index(fields=["state", "planned_decision_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class OperationLock(models.Model):
    """One open operation per entity and per domain (主办者冲突 / 域名冲突). The primary key does
    the work: two submissions that race for the same key cannot both insert it."""

    key = models.CharField(max_length=300, primary_key=True)
    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="locks")


class Verification(models.Model):
    """The SMS code one principal must confirm before review starts."""

    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="verifications")
    roles = models.JSONField(default=list)  # ["entity"], ["website"] or both when one person is both
    name = models.CharField(max_length=30)
    # Sealed: matched in Python among the operation's one or two verifications, so no digest.
    mobile = SealedCharField(max_length=11)
    id_last6 = SealedCharField(max_length=6)
    code_digest = models.CharField(max_length=64)
    sent_count = models.PositiveSmallIntegerField(default=1)
    issued_at = models.DateTimeField()
    wrong_attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)


class NumberSerial(models.Model):
    """The last serial issued per province and year. It only ever counts up."""

    province = models.ForeignKey(Province, on_delete=models.PROTECT)
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["province", "year"], name="one_serial_per_province_year")]


class FeedCounter(models.Model):
    """The last event sequence number per provider. Locked while an event is written, so a
    provider's events commit in sequence order and a reader at cursor N never skips one."""

    provider = models.OneToOneField(Provider, on_delete=models.PROTECT, primary_key=True)
    last_seq = models.PositiveBigIntegerField(default=0)


class Event(models.Model):
    """An entry of a provider's event feed, written in the transaction of the change it reports."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="events")
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=40)
    data = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "seq"], name="event_seq_unique_per_provider")]


class AuditHead(ChainHead):
    """The head of the audit chain (a single row; beian.hashchain)."""


class AuditRecord(models.Model):
    """Append-only and hash-chained: `hash = sha256(prev_hash + canonical record)`. A record is
    written in the transaction of its change with no place in the chain yet (`seq`, `prev_hash`
    and `hash` empty); the sequencer gives it the next place after that transaction commits."""

    id = models.BigAutoField(primary_key=True)
    seq = models.PositiveBigIntegerField(null=True, blank=True, unique=True)
    at = models.DateTimeField()
    actor = models.CharField(max_length=100)  # "provider:<slug>", "reviewer:<username>", "principal", "system", "sim"
    action = models.CharField(max_length=60)
    subject = models.CharField(max_length=100)  # "operation:<uuid>", "entity:<number>", …
    from_state = models.CharField(max_length=30, blank=True)
    to_state = models.CharField(max_length=30, blank=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        indexes = [
            # The sequencer's queue: the records not sealed yet, in the order they were written.
            models.Index(fields=["id"], condition=models.Q(seq__isnull=True), name="bureau_audit_unsealed"),
        ]


class OutgoingMessage(Outgoing):
    """An SMS or email the bureau has to send, written in the transaction that decided to send it
    and sent by the bureau's worker (beian/messaging/outbox.py); once sent its body is blanked, so
    a filing password never rests in the bureau's database."""

    BLANK_WHEN_SENT = True

    class Meta:
        indexes = [
            models.Index(fields=["sent_at", "id"]),
            models.Index(fields=["next_attempt_at"], condition=Q(sent_at__isnull=True), name="bureau_message_due"),
        ]


class PasswordFailure(models.Model):
    """A wrong filing password, counted per entity and per client for rate limiting: the client is
    the provider (`provider:<slug>`) and its customer's opaque key (empty if the provider sent none).
    Pruned once older than any lock it could hold (`passwords.prune`, by the bureau's worker)."""

    entity = models.ForeignKey(Entity, on_delete=models.PROTECT)
    client = models.CharField(max_length=100)
    customer = models.CharField(max_length=128, blank=True, default="")
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["entity", "at"]),
            models.Index(fields=["client", "customer", "at"], name="password_failure_customer"),
            models.Index(fields=["at"], name="password_failure_at"),
        ]


class MailedRecovery(models.Model):
    """A mailed 《找回备案密码申请表》 recorded by bureau staff (R3b)."""

    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="mailed_recoveries")
    recorded_by = models.CharField(max_length=150)
    received_on = models.DateField()
    recorded_at = models.DateTimeField()
    note = models.TextField(blank=True)


class Reviewer(models.Model):
    """Bureau staff who review operations in the console at /bureau/console/. Kept in the bureau's
    database: the bureau is a separate deployment with its own staff."""

    username = models.CharField(max_length=150, unique=True)
    name = models.CharField(max_length=100)
    password = models.CharField(max_length=200)
    province = models.ForeignKey(Province, null=True, blank=True, on_delete=models.PROTECT)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.username


class WorkerHeartbeat(HeartbeatBase):
    """A bureau worker's last round (beian/ops/health.py): /readyz wants one fresh."""


class SimState(models.Model):
    """The simulation's switches that every process must see alike (a single row)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    clock_offset_seconds = models.BigIntegerField(default=0)
    outage = models.BooleanField(default=False)
    # Shares of requests to the bureau's API that fail (503) or lose their answer (beian.bureau.simulation).
    fail_share = models.FloatField(default=0.0)
    drop_share = models.FloatField(default=0.0)


class HolidayYear(models.Model):
    """One year's published holiday arrangement (国务院办公厅关于部分节假日安排的通知): the calendar
    every window, deadline and shell sweep is counted in (`beian.bureau.holidays`). Filled from
    chinese-calendar for the years it knows; a later year is added by the admin or by
    `python -m beian load_holidays FILE`, without a release. A year with no row is 节假日安排未公布."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    source = models.CharField(max_length=200, blank=True)  # the notice, the file, or "chinese-calendar"
    changed_at = models.DateTimeField(default=_now)
    # Counts every change, so that each process sees that its cached calendar is stale even when
    # two changes fall on the same (simulated) instant.
    revision = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["year"]
        verbose_name = "holiday arrangement (节假日安排)"

    def __str__(self) -> str:
        return str(self.year)


class HolidayDay(models.Model):
    """A day off (including the weekend days inside a holiday) or a weekend day worked instead (调休)."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("放假")
        WORKDAY = "workday", _("调休上班")

    arrangement = models.ForeignKey(HolidayYear, on_delete=models.CASCADE, related_name="days")
    day = models.DateField(unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=60, blank=True)  # 春节, 国庆节 …

    class Meta:
        ordering = ["day"]


class Claim(models.Model):
    """A provider's customer claims an entity already filed and accessed with that provider (a
    provider that starts using beian adopts its existing filings): the bureau texts a code to the
    entity principal's registered mobile, and the customer proves control by entering it at the
    provider. `beian.bureau.claims` is the only writer."""

    class State(models.TextChoices):
        PENDING = "pending", _("待核验")
        VERIFIED = "verified", _("已核验")
        LOCKED = "locked", _("已锁定")
        EXPIRED = "expired", _("已过期")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="claims")
    idempotency_key = models.UUIDField()
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="claims")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    mobile = SealedCharField(max_length=11)
    code_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    wrong_attempts = models.PositiveSmallIntegerField(default=0)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "idempotency_key"], name="claim_idempotency"),
        ]
        indexes = [models.Index(fields=["entity", "provider", "created_at"], name="claim_by_entity")]
