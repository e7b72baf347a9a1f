"""The shapes of the bureau's HTTP API. Unknown fields are refused; the rules each field must
follow are checked by `beian.core` in the service layer, so the portal and the API say the same."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from ninja import Schema
from pydantic import Field

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


class _Op(Strict):
    idempotency_key: UUID = Field(
        description="The provider's application UUID; the same key returns the same operation"
    )


class NewFilingIn(_Op):
    type: Literal["new_filing"]
    entity: EntityIn
    website: WebsiteIn
    access: AccessIn


class NewWebsiteIn(_Op):
    type: Literal["new_website"]
    entity_number: Text
    filing_password: Text | None = None
    website: WebsiteIn
    access: AccessIn


class TransferInIn(_Op):
    type: Literal["transfer_in"]
    website_number: Text
    filing_password: Text | None = None
    access: AccessIn


class ChangeEntityIn(_Op):
    type: Literal["change_entity"]
    entity_number: Text
    entity: EntityChangesIn


class ChangeWebsiteIn(_Op):
    type: Literal["change_website"]
    website_number: Text
    website: WebsiteChangesIn


class ChangeAccessIn(_Op):
    type: Literal["change_access"]
    website_number: Text
    access: AccessIn


class CancelEntityIn(_Op):
    type: Literal["cancel_entity"]
    entity_number: Text
    filing_password: Text | None = None


class CancelWebsiteIn(_Op):
    type: Literal["cancel_website"]
    website_number: Text


class CancelAccessIn(_Op):
    type: Literal["cancel_access"]
    website_number: Text


OperationIn = Annotated[
    NewFilingIn
    | NewWebsiteIn
    | TransferInIn
    | ChangeEntityIn
    | ChangeWebsiteIn
    | ChangeAccessIn
    | CancelEntityIn
    | CancelWebsiteIn
    | CancelAccessIn,
    Field(discriminator="type"),
]


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
    kind: str
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
