"""The shapes of the bureau's HTTP API. Unknown fields are refused; the rules each field must
follow are checked by `beian.core` in the service layer, so the portal and the API say the same.
The request of each operation type is made from its catalogue row, not kept by hand beside it."""

from __future__ import annotations

import operator
from functools import reduce
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import Field, create_model

from beian.core.catalogue import OPERATION_CODES, Section, shape, takes_password
from beian.httpapi import LongText, Strict, Text


class PrincipalIn(Strict):
    name: Text
    id_type: Text = Field(description="resident_id, passport, hk_macao_permit, taiwan_permit, …")
    id_number: Text
    mobile: Text
    email: Text


class EntityIn(Strict):
    unit_type: Text = Field(description="enterprise, individual, government, institution, …")
    name: Text
    cert_type: Text = Field(description="uscc, resident_id, …")
    cert_number: Text
    province: Text = Field(description="GB/T 2260 code (44), abbreviation (粤) or name")
    address: Text
    principal: PrincipalIn


class EntityChangesIn(Strict):
    unit_type: Text | None = None
    name: Text | None = None
    cert_type: Text | None = None
    cert_number: Text | None = None
    province: Text | None = Field(None, description="Cannot change; present only to be refused with a reason")
    address: Text | None = None
    principal: PrincipalIn | None = None


class WebsiteIn(Strict):
    name: Text
    domains: Annotated[list[Text], Field(max_length=20)]
    home_url: Text | None = None
    principal: PrincipalIn


class WebsiteChangesIn(Strict):
    name: Text | None = None
    domains: Annotated[list[Text], Field(max_length=20)] | None = Field(
        None, description="The domains to keep: a change may remove domains, never add them"
    )
    home_url: Text | None = None
    principal: PrincipalIn | None = None


class AccessIn(Strict):
    ips: Annotated[list[Text], Field(max_length=16)]


# Wrong filing passwords are counted per provider and per customer of the provider (DESIGN §9), so
# that one customer's mistakes never lock out another's. The bureau needs to tell a provider's
# customers apart, not to know them: the provider sends a key of its own making that names no one.
CustomerKey = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_-]{16,128}$",
        description="An opaque key of the provider's customer who gave the filing password, the same "
        "for every operation of that customer (e.g. an HMAC of its account id under a secret of the "
        "provider's): wrong passwords are counted per customer, so that one customer cannot lock out "
        "another. Without it, the provider's customers are counted as one.",
    ),
]


class _Op(Strict):
    idempotency_key: UUID = Field(
        description="The provider's application UUID; the same key returns the same operation"
    )


# What each kind of section of an operation's data is sent as (the catalogue's `sections`).
SECTION_SCHEMAS: dict[Section, Any] = {
    Section.ENTITY_NUMBER: Text,
    Section.WEBSITE_NUMBER: Text,
    Section.ENTITY: EntityIn,
    Section.WEBSITE: WebsiteIn,
    Section.ACCESS: AccessIn,
    Section.ENTITY_CHANGES: EntityChangesIn,
    Section.WEBSITE_CHANGES: WebsiteChangesIn,
}


def _operation_schema(code: str) -> type[_Op]:
    """`NewFilingIn`, `TransferInIn`, …: the type's sections, and the filing password where a rule
    set may ask for it (the rule set in force says whether it must or must not come)."""
    fields: dict[str, Any] = {"type": (Literal[code], ...)}
    for key, section in shape(code).sections.items():
        fields[key] = (SECTION_SCHEMAS[section], ...)
    if takes_password(code):
        fields["filing_password"] = (Text | None, None)
        fields["customer_key"] = (CustomerKey | None, None)
    name = "".join(part.title() for part in code.split("_")) + "In"
    return create_model(name, __base__=_Op, __module__=__name__, **fields)


OPERATION_SCHEMAS: dict[str, type[_Op]] = {code: _operation_schema(code) for code in OPERATION_CODES}
OperationIn = Annotated[reduce(operator.or_, OPERATION_SCHEMAS.values()), Field(discriminator="type")]


class WindowOut(Schema):
    earliest: str
    latest: str
    calendar_provisional: bool


class OperationOut(Schema):
    id: str
    idempotency_key: str
    type: str
    state: str
    reason_code: str
    reason: str
    submitted_at: str
    verification_deadline: str | None
    review_started_at: str | None
    window: WindowOut | None
    decided_at: str | None
    result: dict
    entity_number: str | None
    website_number: str | None


class EventOut(Schema):
    seq: int
    kind: str = Field(
        description="operation.updated (data: the operation), website.updated (data: the website as this "
        "provider sees it, with its entity and its access here) or calendar.updated (data: the whole "
        "working-day calendar, every published year, after any change of it)"
    )
    created_at: str
    data: dict


class EventsOut(Schema):
    events: list[EventOut]
    next_after: int


class VerificationIn(Strict):
    operation: UUID
    mobile: Text
    id_last6: Text
    code: Text


class VerificationOut(Schema):
    verified: bool
    code: str
    attempts_left: int
    review_started: bool


class ResendIn(Strict):
    operation: UUID
    mobile: Text


class ClaimIn(Strict):
    idempotency_key: UUID = Field(description="The provider's claim UUID; the same key returns the same claim")
    entity_number: Text = Field(description="The entity's number (a website's number names its entity)")


class ClaimCodeIn(Strict):
    code: Text = Field(description="The 6-digit code the principal's registered mobile received")


class ClaimOut(Schema):
    id: str
    idempotency_key: str
    entity_number: str
    state: str = Field(description="pending, verified, locked or expired")
    mobile_masked: str = Field(description="The principal's registered mobile the code went to, masked")
    expires_at: str
    attempts_left: int


class RecoveryIn(Strict):
    province: Text
    entity_number: Text
    cert_number: Text


class MessageOut(Schema):
    message: str
    message_en: str


class PublicRecordOut(Schema):
    entity_name: str
    unit_type: str
    unit_type_name: str
    entity_number: str
    website_number: str
    website_name: str
    domains: list[str]
    home_url: str
    approved_on: str
    access_limited: bool


class QueryOut(Schema):
    results: list[PublicRecordOut]


class QueryPageOut(Schema):
    results: list[PublicRecordOut]
    next: str | None = Field(None, description="pass as `after` for the next page; null on the last page")


class DecisionIn(Strict):
    operation: UUID
    decision: Literal["approve", "reject"]
    reason: LongText = ""


class AdvanceIn(Strict):
    days: int = Field(0, ge=0, le=3660)
    working_days: int = Field(0, ge=0, le=1000)
    hours: int = Field(0, ge=0, le=100000)
    minutes: int = Field(0, ge=0, le=100000)


class OutageIn(Strict):
    on: bool


class FaultsIn(Strict):
    fail_share: float = Field(ge=0, le=1)
    drop_share: float = Field(ge=0, le=1)


class FaultsOut(Schema):
    fail_share: float
    drop_share: float


class ProvinceOut(Schema):
    code: str
    name: str
    short: str
    name_en: str
    review_limit_days: int
    online_recovery_only: bool


class ProvincesOut(Schema):
    provinces: list[ProvinceOut]


class RuleSetOut(Schema):
    rule_set: str
    name: str
    name_en: str
    filing_password: bool
    max_domains_per_website: int | None
    operations: list[dict[str, Any]] = Field(description="one row of the operation catalogue each")


# ---------------------------------------------------------------- the simulation's answers


class DecisionOut(Schema):
    operation: str
    state: str
    result: dict[str, Any]


class ClockOut(Schema):
    now: str
    today: str
    offset_seconds: int
    calendar_published: bool


class WorkDoneOut(Schema):
    expired: int
    decided: int
    shells_deregistered: int
    messages_sent: int


class AdvanceOut(ClockOut):
    done: WorkDoneOut


class ReceivedOut(Schema):
    channel: str
    sender: str
    subject: str
    body: str
    created_at: str


class ReceivedListOut(Schema):
    to: str
    messages: list[ReceivedOut]


class OutageOut(Schema):
    on: bool
