"""The provider's platform, on the `default` database: applications (备案订单) and their
timeline, the delivery outbox, the event-feed cursor, and the mirror of the filings accessed with
this provider. It knows the bureau only through the bureau's HTTP API."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from beian.core import clock
from beian.hashchain import ChainHead
from beian.messaging.outbox import Outgoing
from beian.ops.health import HeartbeatBase
from beian.sealing import SealedCharField, SealedJSONField


def _now():
    return clock.now()


class Organisation(models.Model):
    """An organisation account (an agency, a reseller, a company's teams): its members share its
    filings and applications, each with their own sign-in and a role (`Membership`). Who may do
    what with what it holds is decided in one place, `beian.provider.holders`."""

    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=_now)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A person in an organisation, with a role. The roles' rights are data: `holders.RIGHTS`."""

    class Role(models.TextChoices):
        OWNER = "owner", _("所有者")
        EDITOR = "editor", _("编辑者")
        VIEWER = "viewer", _("查看者")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    added_at = models.DateTimeField(default=_now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "user"], name="membership_once")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation} ({self.role})"


class Application(models.Model):
    """A customer's request; its UUID is the idempotency key of the operation it becomes at the
    bureau. `state` is written only by `beian.provider.transitions.apply`."""

    class State(models.TextChoices):
        DRAFT = "draft", _("待完善信息")
        SUBMITTED = "submitted", _("待初审")
        PROVIDER_REVIEW = "provider_review", _("初审中")
        RETURNED = "returned", _("初审驳回待修改")
        DELIVERED = "delivered", _("待提交管局")
        AWAITING_VERIFICATION = "awaiting_verification", _("待短信核验")
        BUREAU_REVIEW = "bureau_review", _("管局审核中")
        APPROVED = "approved", _("已备案")
        REJECTED = "rejected", _("管局驳回")
        WITHDRAWN = "withdrawn", _("已撤回")
        ABANDONED = "abandoned", _("已放弃")
        EXPIRED = "expired", _("已过期")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Who made it. It is theirs alone unless `organisation` is set: then the organisation holds it
    # and its members act on it by their role (`beian.provider.holders`).
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="applications")
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="applications"
    )
    type = models.CharField(max_length=30)
    state = models.CharField(max_length=30, choices=State.choices, default=State.DRAFT)
    version = models.PositiveIntegerField(default=0)
    # The operation's data as the bureau will receive it, without the filing password: sealed as a
    # whole (beian.sealing), since it holds the principals' certificate numbers, mobiles and emails.
    data = SealedJSONField(default=dict)
    # Given by the customer at submission for the operations that need it; kept, sealed, only until
    # the bureau has answered the delivery (or the application is returned or withdrawn).
    filing_password = SealedCharField(max_length=100, blank=True)
    # Field-level reasons from the last return, by the specialist or the bureau: [{field, code, message, message_en}]
    field_reasons = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True)
    reason_code = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(default=_now)
    updated_at = models.DateTimeField(default=_now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="reviewed_applications"
    )
    # What the bureau said about the operation.
    bureau_operation_id = models.UUIDField(null=True, blank=True, unique=True)
    verification_deadline = models.DateTimeField(null=True, blank=True)
    window_earliest = models.DateField(null=True, blank=True)
    window_latest = models.DateField(null=True, blank=True)
    window_provisional = models.BooleanField(default=False)
    decided_at = models.DateTimeField(null=True, blank=True)
    entity_number = models.CharField(max_length=40, blank=True)
    website_number = models.CharField(max_length=44, blank=True)
    # What the customer's lists find it by (`beian.provider.listing.keys`), kept with the data it is
    # made of: numbers, domains, entity and website names in lower case, and the province's code.
    search = models.TextField(blank=True, default="")
    province = models.CharField(max_length=2, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["state", "submitted_at"]),
            models.Index(fields=["owner", "created_at"]),
            # The customer's lists, newest first, by holder and by holder and state (`listing`).
            models.Index(fields=["organisation", "created_at", "id"], name="application_org_newest"),
            models.Index(fields=["owner", "state", "created_at"], name="application_owner_state"),
            models.Index(fields=["organisation", "state", "created_at"], name="application_org_state"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class TimelineEntry(models.Model):
    """One step of an application's history: who, when, what, why. Append-only and hash-chained
    (DESIGN §9): written in the transaction of its step with no place in the chain yet (`seq`,
    `prev_hash` and `hash` empty), given the next place after that transaction commits
    (`beian.provider.timeline`, on beian.hashchain)."""

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="timeline")
    at = models.DateTimeField()
    actor = models.CharField(max_length=150)  # "customer:alice", "specialist:bob", "bureau", "system"
    action = models.CharField(max_length=60)
    from_state = models.CharField(max_length=30, blank=True)
    to_state = models.CharField(max_length=30, blank=True)
    reason = models.TextField(blank=True)
    field_reasons = models.JSONField(default=list, blank=True)
    seq = models.PositiveBigIntegerField(null=True, blank=True, unique=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # The sequencer's queue: the entries not sealed yet, in the order they were written.
            models.Index(fields=["id"], condition=Q(seq__isnull=True), name="provider_timeline_unsealed"),
        ]


class TimelineHead(ChainHead):
    """The head of the timeline's chain (a single row; beian.hashchain)."""


class Delivery(models.Model):
    """The outbox: an approved application waiting to reach the bureau. Written in the
    transaction of the specialist's approval and claimed by a worker with a lease, so a worker
    that dies mid-delivery leaves it to the next one, which repeats it under the same idempotency
    key."""

    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="delivery")
    created_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, blank=True)  # accepted, refused, cancelled
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(done_at__isnull=True), name="delivery_pending"),
        ]


class OutgoingNotice(Outgoing):
    """An email or SMS telling a customer how an application goes (`beian.provider.notices`),
    written in the transaction of the step it tells of and sent by the provider's worker
    (`provider_worker`'s `notify` job, beian/messaging/outbox.py)."""

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(sent_at__isnull=True), name="provider_notice_due"),
        ]


class PasswordRefusal(models.Model):
    """The bureau refused a filing password one of this provider's customers gave: counted per
    customer so that the provider stops a customer's guessing before the bureau sees it
    (`beian.provider.passwords`). Pruned once older than any lock it could hold."""

    holder = models.CharField(max_length=40)  # person:<user id> or organisation:<id>
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["holder", "at"], name="password_refusal_holder"),
            models.Index(fields=["at"], name="password_refusal_at"),
        ]


class Profile(models.Model):
    """What the platform knows of an account beyond Django's user: where notices go."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    mobile = SealedCharField(max_length=11, blank=True)  # sealed (beian.sealing); nothing looks it up
    # The language the customer reads (a code of LANGUAGES): their pages after signing in and their
    # notices; "" is the platform's default.
    language = models.CharField(max_length=10, blank=True)


class SyncCursor(models.Model):
    """How far this provider has read the bureau's event feed (a single row)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    after = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(default=_now)
    # When a read last reached the end of the feed: the feed lag is the time since (beian_feed_lag_seconds).
    caught_up_at = models.DateTimeField(null=True, blank=True)


class WorkerHeartbeat(HeartbeatBase):
    """A provider worker's last round (beian/ops/health.py): /readyz wants one fresh."""


class BureauCalendar(models.Model):
    """The bureau's working-day calendar as its feed last carried it (`calendar.updated`; a single
    row): the published holiday arrangements the provider counts its own deadlines in."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    # [{"year": 2027, "holidays": ["2027-01-01", …], "workdays": […], "names": {"2027-01-01": "元旦"}}]
    arrangements = models.JSONField(default=list)
    seq = models.PositiveBigIntegerField(default=0)  # the feed event it came in
    received_at = models.DateTimeField(default=_now)


class FiledEntity(models.Model):
    """The mirror of an entity that has (or had) a website accessed with this provider."""

    number = models.CharField(max_length=40)
    name = models.CharField(max_length=100)
    unit_type = models.CharField(max_length=40)
    province = models.CharField(max_length=2)
    status = models.CharField(max_length=20)
    # Who holds it here, as for an application: a person alone, or an organisation (then `owner`
    # is the member whose application brought it). Set by the sync (`holders.hand_over`).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="entities"
    )
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="entities"
    )
    updated_at = models.DateTimeField(default=_now)

    class Meta:
        # Unique by a constraint rather than `unique=True`, which on PostgreSQL adds a second,
        # `varchar_pattern_ops` index for LIKE 'prefix%' that nothing here asks: each index of the
        # mirror is paid on every row the feed's catch-up writes (docs/performance.md).
        constraints = [models.UniqueConstraint(fields=["number"], name="filed_entity_number_once")]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class FiledWebsite(models.Model):
    """The mirror of a website as this provider sees it, with its access here."""

    # Served here: accessed with this provider, for good or provisionally (a transfer-in, S03).
    SERVED_HERE = ("active", "provisional")

    entity = models.ForeignKey(FiledEntity, on_delete=models.PROTECT, related_name="websites")
    number = models.CharField(max_length=44)
    name = models.CharField(max_length=50)
    home_url = models.CharField(max_length=300)
    status = models.CharField(max_length=20)
    deregistered_reason = models.CharField(max_length=40, blank=True)
    shell_since = models.DateTimeField(null=True, blank=True)
    # When the bureau will deregister it as a shell unless it finds an access (the bureau's date).
    shell_deadline = models.DateField(null=True, blank=True)
    access_state = models.CharField(max_length=20, blank=True)  # provisional, active, ended, or "" (never here)
    # Why the access here ended, as the bureau said (beian.core.catalogue.AccessEnded).
    access_ended_reason = models.CharField(max_length=40, blank=True)
    ips = models.JSONField(default=list)
    # Bumped on every change so enforcement can follow changes incrementally.
    version = models.PositiveBigIntegerField(default=0, db_index=True)
    updated_at = models.DateTimeField(default=_now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["number"], name="filed_website_number_once")]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class FiledDomain(models.Model):
    # No index of its own: the unique (website, name) index begins with it.
    website = models.ForeignKey(FiledWebsite, on_delete=models.CASCADE, related_name="domains", db_index=False)
    name = models.CharField(max_length=253)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["website", "name"], name="filed_domain_once_per_website")]
        indexes = [models.Index(fields=["name"], name="filed_domain_by_name")]


class WithdrawnDomain(models.Model):
    """A domain taken off a website of the mirror (or with it, when the website was deregistered:
    the bureau then lists none), with the version of the change that took it off: the mirror keeps
    a website's current domains only, so without this row nothing could say which names a change
    withdrew. The served-set feed names them in its pages, with whether anything still serves them,
    so that an edge settles every name it withdraws from the page alone (beian.enforcement.feed).
    Written by sync in the same transaction as the change (`beian.provider.withdrawn.record`);
    pruned once no edge that is not told to take a fresh snapshot can need it
    (`beian.provider.withdrawn.prune`). A name taken off again keeps one row, at the later version."""

    website = models.ForeignKey(FiledWebsite, on_delete=models.CASCADE, related_name="withdrawn", db_index=False)
    name = models.CharField(max_length=253)
    version = models.PositiveBigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["website", "name"], name="withdrawn_domain_once_per_website")]
        indexes = [models.Index(fields=["version"], name="withdrawn_domain_by_version")]


class ApiToken(models.Model):
    """A personal API token for /api/v1/ (`Authorization: Bearer beian_<key_id>_<secret>`), made and
    revoked by its owner at /portal/tokens/. The secret is never stored: `digest` is a keyed digest
    of the whole token (`beian.provider.tokens`), and `key_id`, the token's public part, finds the
    row by its unique index. A revoked token keeps its row, so the owner and staff see its history."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name="账户"
    )
    name = models.CharField("名称", max_length=60)
    key_id = models.CharField("令牌 ID", max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField("创建时间", default=_now)
    expires_at = models.DateTimeField("过期时间", null=True, blank=True)
    # Written at most once a minute per token, not on every request.
    last_used_at = models.DateTimeField("最后使用", null=True, blank=True)
    revoked_at = models.DateTimeField("撤销时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "API 令牌"
        indexes = [models.Index(fields=["user", "created_at"], name="api_token_by_user")]

    def __str__(self) -> str:
        return f"{self.name} (beian_{self.key_id}_…)"


class Claim(models.Model):
    """A customer's claim of a filing already accessed here (a provider adopting beian): the bureau
    texts a code to the entity principal's registered mobile, and the filing becomes the chosen
    holder's when the code the customer enters is right (`beian.provider.adoption`). Its UUID is
    the idempotency key of the claim at the bureau."""

    class State(models.TextChoices):
        PENDING = "pending", _("待输入核验码")
        VERIFIED = "verified", _("已认领")
        LOCKED = "locked", _("已锁定")
        EXPIRED = "expired", _("已过期")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="claims")
    # The holder the filing goes to: the person alone, or an organisation they may change things in.
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="claims"
    )
    entity = models.ForeignKey(FiledEntity, on_delete=models.PROTECT, related_name="claims")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    bureau_claim_id = models.UUIDField(null=True, blank=True)
    mobile_masked = models.CharField(max_length=20, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    attempts_left = models.PositiveSmallIntegerField(default=5)
    created_at = models.DateTimeField(default=_now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="claim_by_user")]


class HolderChange(models.Model):
    """Who held a filing, and who holds it now: one row per change, by claim, by a specialist's
    assignment or by the import of a customer list, with who did it and why. Append-only: written
    only by `beian.provider.holders.assign`, never changed or deleted."""

    class How(models.TextChoices):
        CLAIM = "claim", _("客户认领")
        ASSIGNMENT = "assignment", _("备案专员指定")
        IMPORT = "import", _("导入客户名单")

    entity = models.ForeignKey(FiledEntity, on_delete=models.PROTECT, related_name="holder_changes")
    at = models.DateTimeField()
    actor = models.CharField(max_length=150)  # "customer:alice", "specialist:bob"
    how = models.CharField(max_length=20, choices=How.choices)
    from_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    from_organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_organisation = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
