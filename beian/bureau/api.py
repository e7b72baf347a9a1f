"""The bureau's HTTP API (DESIGN §6) at /bureau/api/v1/, with its OpenAPI document.

Errors are problem documents (`application/problem+json`) with stable codes and field-level
messages in Chinese and English; nothing that a client sends produces a 500.
"""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Query, Schema, Status
from ninja.security import HttpBearer
from pydantic import BaseModel

from beian.bureau import (
    claims,
    feed,
    query,
    recovery,
    review,
    secrets,
    simulation,
    submission,
    throttle,
    verification,
)
from beian.bureau.errors import BureauError
from beian.bureau.models import Claim, Operation, Provider
from beian.bureau.rules import current as current_rules
from beian.bureau.schemas import (
    ClaimCodeIn,
    ClaimIn,
    ClaimOut,
    EventsOut,
    MessageOut,
    OperationIn,
    OperationOut,
    ProvincesOut,
    QueryPageOut,
    RecoveryIn,
    ResendIn,
    RuleSetOut,
    VerificationIn,
    VerificationOut,
)
from beian.bureau.transitions import Actor
from beian.clients import client_address
from beian.core import provinces
from beian.core.errors import Invalid, ValidationFailed
from beian.httpapi import JSONOnly, ProblemAPI, ProblemOut, ReadableJSON, Shapes, Text, install_problem_handlers

# Field paths name the operation's fields, without the discriminator's values.
SHAPES = Shapes("操作类型", "operation type", skip=frozenset(current_rules().operations))


class ProviderKey(HttpBearer):
    """`Authorization: Bearer <key_id>.<secret>`: the key id finds the provider, the keyed digest of
    the whole key is compared in constant time (one indexed query and one HMAC a request)."""

    def authenticate(self, request: HttpRequest, token: str) -> Provider | None:
        parts = secrets.split_api_key(token) if "\x00" not in token else None
        if parts is None:
            return None
        provider = Provider.objects.filter(key_id=parts[0], active=True).first()
        if provider is None or not secrets.api_key_matches(provider, token):
            return None
        return provider


api = ProblemAPI(
    renderer=ReadableJSON(),
    parser=JSONOnly(),
    title="beian bureau API",
    version="1",
    description=(
        "The authority side of ICP filing (工信部/管局), as simulated by beian: providers submit "
        "operations and read their event feed; principals confirm SMS codes; anyone can query "
        "approved filings and recover a filing password. Errors are problem documents with stable "
        "codes and field-level messages in Chinese and English."
    ),
    urls_namespace="bureau-api",
    docs_url="/docs",
)
provider_auth = ProviderKey()


def install_handlers(target: NinjaAPI) -> None:
    """The bureau's problem documents, for this API and the simulation's."""
    install_problem_handlers(
        target,
        BureauError,
        shapes=SHAPES,
        www_authenticate='Bearer realm="beian-bureau"',
        not_json=lambda: BureauError("unsupported_media_type"),
        http_codes={
            400: "malformed_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            415: "unsupported_media_type",
        },
    )


install_handlers(api)


def _available(request, faults: simulation.Faults | None = None) -> None:
    """Refuses the request while the simulated bureau is down, and as the simulation's faults
    draw it: a share of requests refused, a share whose answer is lost (beian.bureau.simulation).
    `faults` as read already, or read now."""
    faults = simulation.faults() if faults is None else faults
    if faults.outage:
        raise BureauError("bureau_unavailable", retry_after=30)
    if faults.fails():
        raise BureauError("bureau_unavailable", retry_after=1)
    if faults.drops():
        simulation.drop_after_answering(request)


PROBLEMS = {status: ProblemOut for status in (400, 401, 403, 404, 409, 410, 413, 422, 423, 429, 503)}


# ---------------------------------------------------------------- providers


@api.post(
    "/operations",
    auth=provider_auth,
    response={200: OperationOut, 201: OperationOut, **PROBLEMS},
    summary="Submit an operation",
    tags=["provider"],
)
def submit_operation(request, payload: OperationIn):
    """Submit one of the nine operation types. The same `idempotency_key` returns the same
    operation (200) instead of creating a second one (201)."""
    _available(request)
    data = payload.model_dump(exclude={"idempotency_key", "type"}, exclude_unset=False)
    result = submission.submit(
        provider=request.auth, op_type=payload.type, data=data, idempotency_key=payload.idempotency_key
    )
    return Status(201 if result.created else 200, feed.operation_snapshot(result.operation))


def _own(request, operation_id: UUID) -> Operation:
    op = Operation.objects.filter(pk=operation_id, provider=request.auth).select_related("entity", "website").first()
    if op is None:  # someone else's operation is as absent as one that does not exist
        raise BureauError("not_found")
    return op


@api.get(
    "/operations/{operation_id}",
    auth=provider_auth,
    response={200: OperationOut, **PROBLEMS},
    summary="Read an operation",
    tags=["provider"],
)
def read_operation(request, operation_id: UUID):
    _available(request)
    return feed.operation_snapshot(_own(request, operation_id))


@api.post(
    "/operations/{operation_id}/withdraw",
    auth=provider_auth,
    response={200: OperationOut, **PROBLEMS},
    summary="Withdraw an operation before the bureau decides",
    tags=["provider"],
)
def withdraw_operation(request, operation_id: UUID):
    """Only where the catalogue allows it: cancellations and cancel-access cannot be withdrawn."""
    _available(request)
    op = review.withdraw(_own(request, operation_id), actor=f"{Actor.PROVIDER}:{request.auth.slug}")
    return feed.operation_snapshot(op)


class EventsQuery(Schema):
    after: int = Field(0, ge=0, le=2**63 - 1)
    limit: int = Field(100, ge=1, le=feed.PAGE_MAX)


@api.get(
    "/events",
    auth=provider_auth,
    response={200: EventsOut, **PROBLEMS},
    summary="The provider's event feed",
    tags=["provider"],
)
def events(request, params: Query[EventsQuery]):
    """Events after the cursor, oldest first (at most 5,000 a page). Store `next_after` with what you applied."""
    _available(request)
    # Written out by the feed, not validated against EventsOut event by event: the data is stored JSON.
    return HttpResponse(
        feed.page_json(request.auth, after=params.after, limit=params.limit), content_type="application/json"
    )


def _claim_out(claim: Claim) -> dict:
    return {
        "id": str(claim.pk),
        "idempotency_key": str(claim.idempotency_key),
        "entity_number": claim.entity.number,
        "state": claim.state,
        "mobile_masked": claims.mask(claim.mobile),
        "expires_at": claim.expires_at.isoformat(),
        "attempts_left": claims.attempts_left(claim),
    }


@api.post(
    "/claims",
    auth=provider_auth,
    response={200: ClaimOut, 201: ClaimOut, **PROBLEMS},
    summary="Claim a filing accessed here: send a code to its principal",
    tags=["provider"],
)
def start_claim(request, payload: ClaimIn):
    """A customer of the provider claims an entity that has a website served by this provider (a
    provider adopting beian brings filings whose holders it does not know). The bureau texts a code
    to the entity principal's registered mobile; the response says which, masked. The same
    `idempotency_key` returns the same claim (200) and sends nothing again. Refused with
    `not_found` for an entity not accessed with this provider, `claim_locked` (423) for 24 hours
    after a claim of it was locked, and `claims_exhausted` (429) after five codes in 24 hours."""
    _available(request)
    started = claims.start(
        provider=request.auth, entity_number=payload.entity_number, idempotency_key=payload.idempotency_key
    )
    return Status(201 if started.created else 200, _claim_out(started.claim))


@api.post(
    "/claims/{claim_id}/confirm",
    auth=provider_auth,
    response={200: ClaimOut, **PROBLEMS},
    summary="Confirm a claim with the code the principal received",
    tags=["provider"],
)
def confirm_claim(request, claim_id: UUID, payload: ClaimCodeIn):
    """200 with `state: verified` when the code is right (again on a repeat). A wrong code is a
    422 with a field error on `code` (`code_wrong`, the tries left in its message); the fifth wrong
    code locks the claim (423 `claim_locked`); an expired code is 410 `claim_expired`."""
    _available(request)
    return _claim_out(claims.confirm(provider=request.auth, claim_id=claim_id, code=payload.code))


# ---------------------------------------------------------------- public


@api.post(
    "/verifications",
    response={200: VerificationOut, **PROBLEMS},
    summary="Confirm an SMS code",
    tags=["public"],
)
def confirm_code(request, payload: VerificationIn):
    _available(request)
    throttle.hit("verification", client_address(request), per_minute=request_limit())
    outcome = verification.confirm(
        operation_id=payload.operation,
        mobile=payload.mobile.strip(),
        id_last6=payload.id_last6.strip(),
        code=payload.code,
    )
    return {
        "verified": outcome.verified,
        "code": outcome.code,
        "attempts_left": outcome.attempts_left,
        "review_started": outcome.review_started,
    }


@api.post(
    "/verifications/resend",
    response={200: MessageOut, **PROBLEMS},
    summary="Send a new SMS code",
    tags=["public"],
)
def resend_code(request, payload: ResendIn):
    _available(request)
    throttle.hit("resend", client_address(request), per_minute=request_limit())
    verification.resend(operation_id=payload.operation, mobile=payload.mobile.strip())
    return {"message": "新的核验码已发送", "message_en": "A new code has been sent"}


RECOVERY_ANSWER = {
    "message": "如信息匹配，新的备案密码已发送至主体负责人的手机和邮箱，原密码即时失效。",
    "message_en": "If the details match, a new filing password has been sent to the principal's phone and email; "
    "the old one no longer works.",
}


@api.post(
    "/password-recoveries",
    response={200: MessageOut, **PROBLEMS},
    summary="Recover a filing password online",
    tags=["public"],
)
def recover_password(request, payload: RecoveryIn):
    """The same answer whether or not the details matched (R3, S05)."""
    _available(request)
    throttle.hit("recovery", client_address(request), per_minute=request_limit())
    recovery.recover_online(
        province=payload.province, entity_number=payload.entity_number, cert_number=payload.cert_number
    )
    return RECOVERY_ANSWER


class QueryParams(Schema):
    domain: Text | None = None
    number: Text | None = None
    name: Text | None = None
    after: Text | None = Field(None, description="the `next` of the previous page (by number or name)")


@api.get(
    "/query",
    response={200: QueryPageOut, **PROBLEMS},
    summary="Public query of approved filings",
    tags=["public"],
)
def public_query(request, params: Query[QueryParams]):
    """By domain (a subdomain finds its registrable domain), filing number (entity or website, in
    any form people paste) or part of an entity's name: public fields only (DESIGN §7a), 50 records
    a page, the next page by `after`."""
    return answer_query(request, params)


QUERY_KINDS = ("domain", "number", "name")  # QueryParams' fields but the page's cursor, in its order


def answer_query(request: HttpRequest, params: QueryParams | BaseModel) -> dict:
    """The public query's answer to well-shaped parameters, or the BureauError / ValidationFailed
    that says why not: the one place of its rules, for this route and for the public query's lean
    handler (beian/bureau/query_handler.py; its `params` a plain model of QueryParams' fields).
    The simulation's switches as read within the last second (`simulation.recent_faults`): one
    round trip an answer, not two."""
    _available(request, simulation.recent_faults())
    throttle.hit("query", client_address(request), per_minute=request_limit())
    given = {k: val for k in QUERY_KINDS if (val := getattr(params, k))}
    if len(given) != 1:
        raise BureauError(
            "validation_failed",
            detail="请只填写 domain、number、name 中的一项",
            detail_en="Give exactly one of domain, number, name",
        )
    ((kind, text),) = given.items()
    if len(text) > 300:
        raise BureauError("validation_failed", detail="查询内容过长", detail_en="The query is too long")
    try:
        page = query.answer(kind, text, params.after)
    except Invalid as exc:
        field = "after" if exc.code == "cursor_invalid" else kind
        raise ValidationFailed([exc.on(field)]) from None
    return {"results": page.results, "next": page.next}


@api.get(
    "/provinces", response={200: ProvincesOut, **PROBLEMS}, summary="The provinces and their rules", tags=["public"]
)
def list_provinces(request):
    return {
        "provinces": [
            {
                "code": p.code,
                "name": p.name,
                "short": p.short,
                "name_en": p.name_en,
                "review_limit_days": p.review_limit_days,
                "online_recovery_only": p.online_recovery_only,
            }
            for p in provinces.PROVINCES
        ]
    }


@api.get(
    "/catalogue", response={200: RuleSetOut, **PROBLEMS}, summary="The operation catalogue in force", tags=["public"]
)
def catalogue(request):
    return current_rules().as_dict()


def request_limit() -> int:
    from django.conf import settings

    return settings.BEIAN_PUBLIC_RATE_PER_MINUTE
