"""The shapes of the provider's JSON API (/api/v1/).

A draft may be incomplete, so every field of an application's data is optional here; what is
present must have the right type, and unknown fields are refused (a typo is an error, not a silently
dropped value). Whether the data is complete and each value valid (check digits, domains, names…)
is decided by `beian.core.filing` when the customer submits, exactly as the portal does.

The filing password is never part of an application's data: it is given at submission only.
"""

from __future__ import annotations

import operator
from datetime import date, datetime
from functools import reduce
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import Field, create_model

from beian.core.catalogue import OPERATION_CODES, Section, shape
from beian.core.validators import UNIT_TYPES
from beian.httpapi import LongText, Strict, Text, text
from beian.httpapi import ProblemOut as BaseProblemOut
from beian.provider.applications import batch_types
from beian.provider.listing import FILING_STATES, STATE_GROUPS
from beian.provider.models import Application

# A field of an application's data, as filing.check and the portal name it: `website.name`,
# `entity.principal.mobile`, `website.domains.0`.
FieldPath = Annotated[str, Field(max_length=100, pattern=r"^[a-z_]+(\.[a-z0-9_]+)*$")]
# The types that may be started for several websites at once, in any rule set (the same grid).
BATCH_TYPES = [kind.code for kind in batch_types()]
Password = text(100)


# ---------------------------------------------------------------- an application's data (drafts)


class PrincipalData(Strict):
    name: Text | None = None
    id_type: Text | None = Field(None, description="resident_id, passport, hk_macao_permit, taiwan_permit, …")
    id_number: Text | None = None
    mobile: Text | None = None
    email: Text | None = None


class EntityData(Strict):
    unit_type: Text | None = Field(None, description="enterprise, individual, government, institution, …")
    name: Text | None = None
    cert_type: Text | None = Field(None, description="uscc, resident_id, …")
    cert_number: Text | None = None
    province: Text | None = Field(None, description="GB/T 2260 code (44), abbreviation (粤) or name")
    address: Text | None = None
    principal: PrincipalData | None = None


class WebsiteData(Strict):
    name: Text | None = None
    domains: Annotated[list[Text], Field(max_length=20)] | None = Field(
        None, description="For a change: the domains to keep (a change may remove domains, never add them)"
    )
    home_url: Text | None = None
    principal: PrincipalData | None = None


class AccessData(Strict):
    ips: Annotated[list[Text], Field(max_length=16)] | None = None


# What each kind of section of an application's data is drafted as (the catalogue's `sections`).
# A change is drafted with the same shapes as the whole, holding only the fields that change.
SECTION_SCHEMAS: dict[Section, Any] = {
    Section.ENTITY_NUMBER: Text,
    Section.WEBSITE_NUMBER: Text,
    Section.ENTITY: EntityData,
    Section.WEBSITE: WebsiteData,
    Section.ACCESS: AccessData,
    Section.ENTITY_CHANGES: EntityData,
    Section.WEBSITE_CHANGES: WebsiteData,
}
_CHANGES = "Only the fields that change"


def _camel(code: str) -> str:
    return "".join(part.title() for part in code.split("_"))


def _data_schema(code: str) -> type[Strict]:
    """`NewFilingData`, `TransferInData`, …: every section of the type, each optional in a draft."""
    fields: dict[str, Any] = {}
    for key, section in shape(code).sections.items():
        changes = section in (Section.ENTITY_CHANGES, Section.WEBSITE_CHANGES)
        fields[key] = (SECTION_SCHEMAS[section] | None, Field(None, description=_CHANGES if changes else None))
    return create_model(f"{_camel(code)}Data", __base__=Strict, __module__=__name__, **fields)


# The data each operation type carries.
DATA_SCHEMAS: dict[str, type[Strict]] = {code: _data_schema(code) for code in OPERATION_CODES}


def _create_schema(code: str) -> type[Strict]:
    fields: dict[str, Any] = {
        "type": (Literal[code], ...),
        "data": (DATA_SCHEMAS[code] | None, None),
        "organisation": (
            int | None,
            Field(
                None,
                description="The id of an organisation (GET /organisations) to hold it, where you are owner or "
                "editor; a change, cancellation or cancel-access is held by whoever holds its filing",
            ),
        ),
    }
    return create_model(f"{_camel(code)}Create", __base__=Strict, __module__=__name__, **fields)


ApplicationCreate = Annotated[
    reduce(operator.or_, (_create_schema(code) for code in OPERATION_CODES)), Field(discriminator="type")
]


class ApplicationUpdate(Strict):
    data: dict[str, Any] = Field(
        description="The whole data of the application, replacing what was there; its shape is the one "
        "its type takes in `POST /applications` (e.g. NewFilingData for new_filing)."
    )


class SubmitIn(Strict):
    filing_password: Password | None = Field(
        None, description="The entity's filing password, for the operation types that need it (see /catalogue)"
    )
    confirm_irreversible: bool = Field(
        False,
        description="Required (true) for cancellations and cancel-access: they cannot be withdrawn once submitted",
    )


class ReviewIn(Strict):
    decision: Literal["approve", "return"]
    reason: LongText = Field("", description="Why it is returned (a return needs this or field_reasons)")
    field_reasons: Annotated[dict[FieldPath, LongText], Field(max_length=50)] = Field(
        default_factory=dict,
        description="For a return: what to fix, by field of the application's data, e.g. "
        '{"website.name": "网站名称不能为纯域名"}',
    )


Cursor = Annotated[str, Field(max_length=300, description="next_cursor of the previous page")]
Search = Annotated[
    str, Field(max_length=100, description="Part of a filing number, a domain, an entity's or a website's name")
]
HolderKey = Annotated[str, Field(pattern=r"^(personal|[0-9]{1,11})$", description="personal, or an organisation's id")]
StateOrGroup = Literal[(*Application.State.values, *STATE_GROUPS)]  # type: ignore[valid-type]
TypeCode = Literal[OPERATION_CODES]  # type: ignore[valid-type]
FilingState = Literal[tuple(FILING_STATES)]  # type: ignore[valid-type]
UnitType = Literal[tuple(UNIT_TYPES)]  # type: ignore[valid-type]


class ListQuery(Schema):
    q: Search | None = None
    state: StateOrGroup | None = Field(
        None,
        description="Only applications in this state, or in a group: action (returned or awaiting SMS "
        "verification), drafts, open, finished",
    )
    type: TypeCode | None = Field(None, description="Only this operation type")
    province: Text | None = Field(None, description="Only this province: code (44), abbreviation (粤) or name")
    holder: HolderKey | None = None
    limit: int = Field(100, ge=1, le=500)
    cursor: Cursor | None = None
    offset: int = Field(0, ge=0, le=1_000_000, description="Deprecated: use cursor")


class PageQuery(Schema):
    limit: int = Field(100, ge=1, le=500)
    cursor: Cursor | None = None
    offset: int = Field(0, ge=0, le=1_000_000, description="Deprecated: use cursor")


class QueueQuery(Schema):
    """The review queue pages by position: it changes under the reviewer as applications are taken."""

    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000)


class FilingQuery(PageQuery):
    q: Search | None = None
    state: FilingState | None = Field(
        None, description="active, deregistered, served (accessed here), at_risk (a shell, or its access here ended)"
    )
    type: UnitType | None = Field(None, description="The entity's unit type")
    province: Text | None = Field(None, description="Only this province: code (44), abbreviation (粤) or name")
    holder: HolderKey | None = None


class ExportQuery(ListQuery):
    format: Literal["csv", "xlsx"] = "csv"


class FilingExportQuery(FilingQuery):
    format: Literal["csv", "xlsx"] = "csv"


class DiscardIn(Strict):
    ids: Annotated[list[UUID], Field(min_length=1, max_length=200)]


class BatchIn(Strict):
    type: Literal[tuple(BATCH_TYPES)]  # type: ignore[valid-type]
    website_numbers: Annotated[list[Text], Field(min_length=1, max_length=100)] = Field(
        description="Websites of one entity, each getting its own draft"
    )
    data: dict[str, Any] | None = Field(
        None, description="What every draft holds beside its website's number, in the shape of the type's data"
    )


# ---------------------------------------------------------------- responses


class FieldErrorOut(Schema):
    field: str = Field(description="The field of the application's data, e.g. website.name ('' for the whole)")
    code: str
    message: str
    message_en: str


class ProblemOut(BaseProblemOut):
    errors: list[FieldErrorOut] | None = None


class WindowOut(Schema):
    earliest: date
    latest: date
    calendar_provisional: bool = Field(
        description="The holiday calendar of a year in the window is not published yet: the dates may move"
    )


class NextStepOut(Schema):
    code: str = Field(
        description="complete_and_submit, fix_returned_fields, wait_provider_review, wait_delivery, verify_sms, "
        "wait_bureau_review, done, copy_and_resubmit, none"
    )
    message: str
    message_en: str
    deadline: datetime | None = Field(None, description="By when the customer must act")
    expected_by: date | None = Field(None, description="By when the provider's review usually ends")
    fields: list[FieldErrorOut] = Field(description="The fields to fix, with the reasons")
    link: str | None = Field(None, description="Where to act, e.g. the bureau's SMS verification page")
    window: WindowOut | None = None
    numbers: list[str] = Field(description="The filing numbers issued")


class HolderOut(Schema):
    id: int
    name: str


class ApplicationOut(Schema):
    id: UUID
    organisation: HolderOut | None = Field(description="The organisation that holds it; null for your own")
    created_by: str = Field(description="The username of who made it")
    type: str
    type_name: str
    type_name_en: str
    state: str
    state_name: str
    version: int
    irreversible: bool
    withdrawable: bool = Field(description="Whether the customer may withdraw it now")
    data: dict[str, Any]
    field_reasons: list[FieldErrorOut] = Field(description="What to fix, from the last return")
    reason: str
    reason_code: str
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    bureau_operation_id: UUID | None
    verification_deadline: datetime | None
    window: WindowOut | None
    decided_at: datetime | None
    entity_number: str
    website_number: str
    next_step: NextStepOut


class ApplicationListOut(Schema):
    count: int
    items: list[ApplicationOut]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last")


class SkippedOut(Schema):
    id: UUID
    code: str
    message: str
    message_en: str


class DiscardOut(Schema):
    discarded: list[UUID]
    skipped: list[SkippedOut] = Field(
        description="Drafts that moved on meanwhile (submitted elsewhere): left as they are"
    )


class BatchOut(Schema):
    items: list[ApplicationOut]


class OrganisationOut(Schema):
    id: int
    name: str
    role: str = Field(description="owner, editor or viewer")


class OrganisationsOut(Schema):
    items: list[OrganisationOut]


class QueueItemOut(ApplicationOut):
    owner: str
    reviewer: str | None


class QueueOut(Schema):
    count: int
    items: list[QueueItemOut]


class TimelineEntryOut(Schema):
    at: datetime
    actor: str = Field(description="customer, specialist, bureau or system")
    actor_name: str = Field(description="Who, in Chinese: 客户, 备案专员, 管局, 系统")
    by: str = Field(description="The username of the customer who did it ('' for staff, the bureau and the system)")
    action: str
    from_state: str
    to_state: str
    reason: str
    field_reasons: list[FieldErrorOut]


class TimelineOut(Schema):
    items: list[TimelineEntryOut]


class WarningsOut(Schema):
    warnings: list[FieldErrorOut] = Field(description="What to know before submitting (R4, R11); none stops it")
    stops_serving: list[str] = Field(description="The domains that will stop being served here (R11)")
    irreversible: bool
    password_required: bool
    confirm_required: bool


class EntityOut(Schema):
    number: str
    name: str
    unit_type: str
    province: str
    status: str
    organisation: HolderOut | None = Field(description="The organisation that holds it; null for your own")
    websites: list[str] = Field(description="The numbers of its websites accessed with this provider")


class WebsiteOut(Schema):
    number: str
    name: str
    home_url: str
    status: str
    deregistered_reason: str
    entity_number: str
    entity_name: str
    organisation: HolderOut | None = Field(description="The organisation that holds it; null for your own")
    domains: list[str]
    ips: list[str]
    access_state: str = Field(description="provisional, active, ended, or '' (never here)")
    shell_since: datetime | None = Field(description="Since when it has had no access anywhere")
    shell_deadline: date | None = Field(description="When the bureau deregisters it as a shell, unless it gets access")
    at_risk: bool = Field(description="A shell website: the bureau deregisters it after a grace period (R10)")


class EntitiesOut(Schema):
    count: int
    items: list[EntityOut]
    next_cursor: str | None = None


class WebsitesOut(Schema):
    count: int
    items: list[WebsiteOut]
    next_cursor: str | None = None


class OperationTypeOut(Schema):
    code: str
    name: str
    name_en: str
    password: bool = Field(description="The filing password must accompany the submission")
    verify: list[str] = Field(description="Whose SMS verification the bureau waits for: entity, website")
    irreversible: bool = Field(description="Cannot be withdrawn once submitted")
    serving: str
    serving_name: str
    serving_name_en: str
    review_days: list[int] = Field(description="The bureau decides within this many working days")


class CatalogueOut(Schema):
    rule_set: str
    name: str
    name_en: str
    filing_password: bool = Field(description="Whether the rule set has a filing password at all (miit2020: none)")
    max_domains_per_website: int | None
    operations: list[OperationTypeOut]
