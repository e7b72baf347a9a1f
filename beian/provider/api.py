"""The provider's JSON API (DESIGN §6) at /api/v1/, with its OpenAPI document at /api/v1/openapi.json
and interactive docs at /api/v1/docs.

It is a thin skin over the same service functions as the portal (`beian.provider.applications`,
`beian.provider.review`): every rule, transition and field check lives there, so the portal and the
API always say the same thing.

Authentication: a personal API token for scripts (`Authorization: Bearer …`, made at
/portal/tokens/; `beian.provider.tokens`), the browser's Django session (CSRF enforced on unsafe
methods, as ninja's `django_auth` does), or HTTP Basic with the account's username and password,
the slow way: a full password hash on every request, rate limited per client and per username
(`beian.provider.ratelimit`). A browser that has Basic credentials cached sends them on cross-site
requests too, so a cross-site unsafe request is never authenticated by Basic (it falls back to the
session and its CSRF check). A bearer token needs no such check: no browser attaches one by itself.

Roles: a customer sees and changes only their own applications and filings and their
organisations' by role (`beian.provider.holders`: a viewer sees but may not change, 403); anyone
else's is as absent as one that does not exist (404); filing specialists (group `specialists`) use the review
endpoints, which others are refused with 403; no credentials at all is 401.

Errors are problem documents (`application/problem+json`) with stable codes and field-level
messages in Chinese and English; nothing that a client sends produces a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit
from uuid import UUID

from django.contrib.auth import authenticate
from django.db.models import Prefetch
from django.http import Http404, HttpRequest
from ninja import Query, Status
from ninja.errors import HttpError
from ninja.security import HttpBasicAuth, HttpBearer, SessionAuth
from pydantic import ValidationError as PydanticValidationError

from beian.core.catalogue import OPERATION_CODES, Serving
from beian.core.errors import FieldError
from beian.httpapi import (
    DICT_KEY,
    JSONOnly,
    ProblemAPI,
    ReadableJSON,
    Shapes,
    install_problem_handlers,
    invalid_json,
    problem_response,
)
from beian.provider import (
    applications,
    bureau_client,
    exports,
    holders,
    listing,
    next_step,
    organisations,
    ratelimit,
    review,
    rules,
    token_api,
    tokens,
)
from beian.provider.errors import ProviderError
from beian.provider.holders import Right
from beian.provider.models import Application, FiledDomain, FiledEntity, FiledWebsite
from beian.provider.schemas import (
    DATA_SCHEMAS,
    ApplicationCreate,
    ApplicationListOut,
    ApplicationOut,
    ApplicationUpdate,
    BatchIn,
    BatchOut,
    CatalogueOut,
    DiscardIn,
    DiscardOut,
    EntitiesOut,
    ExportQuery,
    FilingExportQuery,
    FilingQuery,
    ListQuery,
    OrganisationsOut,
    PageQuery,
    ProblemOut,
    QueueOut,
    QueueQuery,
    ReviewIn,
    SubmitIn,
    TimelineOut,
    WarningsOut,
    WebsitesOut,
)
from beian.provider.transitions import Role, allowed

S = Application.State

# Field paths name the fields of the application's data as the portal and filing.check name them:
# ("body", "payload", "new_filing", "data", "entity", "cert_number") → "entity.cert_number".
SHAPES = Shapes("申请类型", "application type", skip=frozenset(OPERATION_CODES) | {DICT_KEY}, unwrap="data")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _cross_site(request: HttpRequest) -> bool:
    if request.method in _SAFE_METHODS:
        return False
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False  # scripts send no Origin
    return origin == "null" or urlsplit(origin).netloc.lower() != request.get_host().lower()


class AccountToken(HttpBearer):
    """A personal API token: one indexed query and an HMAC, no password hash.

    No cross-site check, unlike Basic: a browser never attaches a bearer token by itself, and a
    cross-origin script cannot set the Authorization header without a CORS preflight, which this API
    does not grant. A page that sends a token already holds it and could send it from anywhere.
    A bearer token that is refused is a 401 that says why; it never falls back to the session."""

    openapi_bearerFormat = "beian_<key id>_<secret>"
    openapi_description = (
        "A personal API token, made and revoked at /portal/tokens/ or /api/v1/tokens; the way for scripts. "
        "401 token_invalid, token_revoked, token_expired or account_inactive when refused."
    )

    def __call__(self, request: HttpRequest):
        # Not ninja's HttpBearer.__call__: with DEBUG on, it logs a header of another scheme whole,
        # which puts a Basic password in a log line.
        scheme, _, credentials = request.headers.get(self.header, "").partition(" ")
        if scheme.lower() != self.openapi_scheme:
            return None
        return self.authenticate(request, credentials.strip())

    def authenticate(self, request: HttpRequest, token: str):
        user = tokens.authenticate(token)
        request.user = user
        return user


class AccountBasicAuth(HttpBasicAuth):
    """HTTP Basic with the account's username and password (no CSRF token needed). The slow way: a
    full password hash every time, so each attempt, failed or not, counts against the client and the
    username before the hash is paid (429 with Retry-After over the limit)."""

    openapi_description = (
        "The account's username and password: the slow way (a full password hash on every request), "
        "rate limited per client address and per username (429 with Retry-After). Scripts use a token."
    )

    def __call__(self, request: HttpRequest):
        if _cross_site(request):
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, username: str, password: str):
        ratelimit.basic_attempt(request, username)
        if not username or "\x00" in username or "\x00" in password or len(username) > 150:
            return None
        user = authenticate(request, username=username, password=password)
        if user is None or not user.is_active:
            return None
        request.user = user
        return user


class BrowserSession(SessionAuth):
    """Django's session, with ninja's CSRF check on unsafe methods. A request without a signed-in
    session is simply not authenticated here (401, not a CSRF 403)."""

    def __call__(self, request: HttpRequest):
        if not request.user.is_authenticated:
            return None
        try:
            return super().__call__(request)
        except HttpError as exc:
            if exc.status_code == 403:
                raise ProviderError(
                    "forbidden",
                    detail="CSRF 校验失败：请随请求发送 X-CSRFToken 请求头",
                    detail_en="CSRF check failed: send the X-CSRFToken header with the request",
                ) from None
            raise


def _only_specialists(user):
    """Signed in but not a filing specialist: refused (403) before the request's body is even read."""
    if user and not review.is_specialist(user):
        raise ProviderError("forbidden", detail="只有备案专员可以审核", detail_en="Only filing specialists review")
    return user


class SpecialistToken(AccountToken):
    def __call__(self, request: HttpRequest):
        return _only_specialists(super().__call__(request))


class SpecialistBasicAuth(AccountBasicAuth):
    def __call__(self, request: HttpRequest):
        return _only_specialists(super().__call__(request))


class SpecialistSession(BrowserSession):
    def __call__(self, request: HttpRequest):
        return _only_specialists(super().__call__(request))


token_auth = AccountToken()
basic_auth = AccountBasicAuth()
session_auth = BrowserSession(csrf=True)
SPECIALISTS = [SpecialistToken(), SpecialistBasicAuth(), SpecialistSession(csrf=True)]


api = ProblemAPI(
    renderer=ReadableJSON(),
    parser=JSONOnly(),
    title="beian provider API",
    version="1",
    description=(
        "The provider's platform for ICP filing (ICP备案): customers draft, submit, withdraw and follow "
        "their applications (备案订单) and see their filings; filing specialists review them (初审). "
        "Scripts authenticate with a personal API token, made (and revoked) at /portal/tokens/ or "
        "through /tokens and sent as `Authorization: Bearer <token>`; it carries the account's "
        "permissions exactly and costs nothing per request. A refused token is a 401 whose code says "
        "why (token_invalid, token_revoked, token_expired, account_inactive). The browser uses the "
        "portal's session (send the X-CSRFToken header on unsafe methods). HTTP Basic with the account's "
        "username and password still works but is the slow way, a full password hash per request, and "
        "is rate limited per client address and per username (429 with Retry-After). Errors are "
        "problem documents (application/problem+json) with stable codes and field-level messages in "
        "Chinese and English."
    ),
    urls_namespace="provider-api",
    docs_url="/docs",
    auth=[token_auth, basic_auth, session_auth],
)


install_problem_handlers(
    api,
    ProviderError,
    shapes=SHAPES,
    www_authenticate='Basic realm="beian", charset="UTF-8", Bearer realm="beian"',
    not_json=lambda: ProviderError(
        "malformed_request",
        detail="请求体须为 JSON（Content-Type: application/json）",
        detail_en="The body must be JSON (Content-Type: application/json)",
    ),
    unparseable=lambda: invalid_json(ProviderError),
    http_codes={401: "unauthorized", 403: "forbidden", 404: "not_found", 413: "payload_too_large"},
    path_not_found=True,
)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return problem_response(ProviderError("not_found"))


@api.exception_handler(tokens.TokenRefused)
def _token_refused(request, exc: tokens.TokenRefused):
    response = problem_response(exc)
    response["WWW-Authenticate"] = 'Bearer realm="beian", error="invalid_token"'  # RFC 6750
    return response


# Managing tokens takes the session or a token, not Basic (see beian.provider.token_api).
api.add_router("/tokens", token_api.router, auth=[token_auth, session_auth])


PROBLEMS = {status: ProblemOut for status in (400, 401, 403, 404, 409, 413, 422, 429, 503)}


# ---------------------------------------------------------------- what a customer is shown


def next_step_out(app: Application) -> dict:
    """What the customer must do next, and by when (`beian.provider.next_step`), in words."""
    step = next_step.of(app)
    message, message_en = next_step.message(step, app)
    return {
        "code": step.code,
        "message": message,
        "message_en": message_en,
        "deadline": step.deadline,
        "expected_by": step.expected_by,
        "fields": step.fields,
        "link": step.link or None,
        "window": _window(step.window),
        "numbers": list(step.numbers),
    }


def _window(window: next_step.Window | None) -> dict | None:
    if window is None:
        return None
    return {"earliest": window.earliest, "latest": window.latest, "calendar_provisional": window.calendar_provisional}


def _holder_out(row) -> dict | None:
    if row.organisation_id is None:
        return None
    return {"id": row.organisation_id, "name": row.organisation.name}


def application_out(app: Application) -> dict:
    kind = rules.operation_type(app.type)
    return {
        "id": app.pk,
        "organisation": _holder_out(app),
        "created_by": app.owner.get_username(),
        "type": app.type,
        "type_name": kind.name,
        "type_name_en": kind.name_en,
        "state": app.state,
        "state_name": str(S(app.state).label),
        "version": app.version,
        "irreversible": kind.irreversible,
        "withdrawable": allowed(app, "withdraw", Role.CUSTOMER),
        "data": app.data,
        "field_reasons": app.field_reasons,
        "reason": app.reason,
        "reason_code": app.reason_code,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
        "submitted_at": app.submitted_at,
        "bureau_operation_id": app.bureau_operation_id,
        "verification_deadline": app.verification_deadline,
        "window": _window(next_step.window(app)),
        "decided_at": app.decided_at,
        "entity_number": app.entity_number,
        "website_number": app.website_number,
        "next_step": next_step_out(app),
    }


def _user(request):
    return request.auth


def _own(request, application_id: UUID, right: Right = Right.VIEW) -> Application:
    return applications.own(_user(request), application_id, right)


def _specialist(request):
    user = _user(request)
    if not review.is_specialist(user):
        raise ProviderError("forbidden", detail="只有备案专员可以审核", detail_en="Only filing specialists review")
    return user


def _for_review(request, application_id: UUID) -> Application:
    specialist = _specialist(request)
    app = Application.objects.filter(pk=application_id).first()
    if app is None:
        raise ProviderError("not_found")
    if app.owner_id == specialist.pk:
        raise ProviderError(
            "forbidden", detail="不能审核自己提交的申请", detail_en="A specialist cannot review their own application"
        )
    return app


@contextmanager
def bureau() -> Iterator[bureau_client.BureauClient]:
    """The bureau's client for a request that must reach it (a withdrawal the bureau already holds)."""
    client = bureau_client.BureauClient()
    try:
        yield client
    finally:
        client.close()


# ---------------------------------------------------------------- applications


@api.get(
    "/applications",
    response={200: ApplicationListOut, **PROBLEMS},
    summary="My applications",
    tags=["applications"],
)
def list_applications(request, params: Query[ListQuery]):
    """The applications the signed-in customer may see (their own and their organisations'),
    newest first, each with what to do next. Search with `?q=` (part of a number, a domain, an
    entity's or a website's name); filter with `?state=` (a state such as `returned`, or a group:
    `action`, `drafts`, `open`, `finished`), `?type=`, `?province=` and `?holder=`. Page with
    `?cursor=`: each page gives the `next_cursor` of the one after it (null on the last)."""
    filters = listing.Filters.of_applications(**params.model_dump(include={"q", "state", "type", "province", "holder"}))
    found = listing.applications(_user(request), filters)
    return _keyset(found, params, listing.after_application, listing.application_cursor, application_out)


def _keyset(found, params, after, cursor_of, out) -> dict:
    """A page by cursor (or, for older clients, by offset), with the count of all that match."""
    if params.cursor and params.offset:
        raise ProviderError(
            "validation_failed",
            errors=[FieldError("offset", "cursor_and_offset", "cursor 与 offset 不能同时使用", "Use cursor or offset")],
        )
    count = found.count()
    if params.cursor:
        found = after(found, params.cursor)
    elif params.offset:
        found = found[params.offset :]
    rows, next_cursor = listing.keyset_page(found, params.limit, cursor_of)
    return {"count": count, "items": [out(row) for row in rows], "next_cursor": next_cursor}


@api.post(
    "/applications",
    response={201: ApplicationOut, **PROBLEMS},
    summary="Start an application (a draft)",
    tags=["applications"],
)
def create_application(request, payload: ApplicationCreate):
    """A draft of one of the operation types in `/catalogue`. `data` may be incomplete; it is
    checked in full when the draft is submitted. Unknown fields and wrong types are refused."""
    data = payload.data.model_dump(exclude_none=True) if payload.data is not None else {}
    app = applications.create_draft(
        owner=_user(request), op_type=payload.type, data=data, organisation=payload.organisation
    )
    return Status(201, application_out(app))


@api.post(
    "/applications/discard",
    response={200: DiscardOut, **PROBLEMS},
    summary="Give up several drafts at once",
    tags=["applications"],
)
def discard(request, payload: DiscardIn):
    """Drafts and returned applications, up to 200. All must be ones you may change (else 404 or
    403, and nothing is done); one that has moved on meanwhile is skipped and said, the rest go."""
    result = applications.discard(user=_user(request), ids=payload.ids)
    return {
        "discarded": [app.pk for app in result.done],
        "skipped": [
            {"id": app.pk, "code": exc.code, "message": exc.detail, "message_en": exc.detail_en}
            for app, exc in result.skipped
        ],
    }


@api.post(
    "/applications/batch",
    response={201: BatchOut, **PROBLEMS},
    summary="Start the same change for several websites of one entity",
    tags=["applications"],
)
def batch(request, payload: BatchIn):
    """One draft for each of `website_numbers` (websites of one entity, up to 100), each with the
    same `data` beside its own number: for the types that act on one website hosted here
    (change_website, change_access, cancel_website, cancel_access). All are made or none. Submit
    each on its own."""
    schema = DATA_SCHEMAS[payload.type]
    try:
        data = schema.model_validate(payload.data or {}).model_dump(exclude_none=True)
    except PydanticValidationError as exc:
        raise ProviderError("validation_failed", errors=SHAPES.errors(exc.errors(include_url=False))) from None
    made = applications.start_many(
        user=_user(request), op_type=payload.type, website_numbers=payload.website_numbers, data=data
    )
    return Status(201, {"items": [application_out(app) for app in made]})


@api.get(
    "/applications/{application_id}",
    response={200: ApplicationOut, **PROBLEMS},
    summary="One of my applications",
    tags=["applications"],
)
def read_application(request, application_id: UUID):
    """With `next_step`: what the customer must do next and by when — complete a draft, fix the
    returned fields, confirm the SMS code at the bureau before the deadline, wait for the bureau's
    decision window, or read the filing numbers."""
    return application_out(_own(request, application_id))


@api.put(
    "/applications/{application_id}",
    response={200: ApplicationOut, **PROBLEMS},
    summary="Replace a draft's data",
    tags=["applications"],
)
def update_application(request, application_id: UUID, payload: ApplicationUpdate):
    """Only a draft or a returned application (which goes back to draft). The data replaces the
    whole data of the application; its shape is the one of the application's type."""
    app = _own(request, application_id, Right.CHANGE)
    try:
        data = DATA_SCHEMAS[app.type].model_validate(payload.data)
    except PydanticValidationError as exc:
        raise ProviderError("validation_failed", errors=SHAPES.errors(exc.errors(include_url=False))) from None
    app = applications.update_draft(app=app, user=_user(request), data=data.model_dump(exclude_none=True))
    return application_out(app)


@api.get(
    "/applications/{application_id}/timeline",
    response={200: TimelineOut, **PROBLEMS},
    summary="An application's history",
    tags=["applications"],
)
def timeline(request, application_id: UUID):
    """Every step, oldest first: who (customer, specialist, bureau, system), what, and why."""
    app = _own(request, application_id)
    names = {Role.CUSTOMER: "客户", Role.SPECIALIST: "备案专员", Role.BUREAU: "管局", Role.SYSTEM: "系统"}
    items = []
    for entry in app.timeline.all():
        role, _sep, who = entry.actor.partition(":")
        items.append(
            {
                "at": entry.at,
                "actor": role,
                "actor_name": names.get(role, role),
                # Customers' names only: who in an organisation did what; staff accounts stay unnamed.
                "by": who if role == Role.CUSTOMER else "",
                "action": entry.action,
                "from_state": entry.from_state,
                "to_state": entry.to_state,
                "reason": entry.reason,
                "field_reasons": entry.field_reasons,
            }
        )
    return {"items": items}


@api.get(
    "/applications/{application_id}/warnings",
    response={200: WarningsOut, **PROBLEMS},
    summary="What to know before submitting",
    tags=["applications"],
)
def warnings(request, application_id: UUID):
    """R4: changing an entity's name or certificate number is allowed but delicate (consult a
    filing specialist). R11: a cancellation or cancel-access cannot be withdrawn once submitted, and
    these domains will stop being served here. Warnings never stop a submission."""
    app = _own(request, application_id)
    kind = rules.operation_type(app.type)
    return {
        "warnings": [
            {"field": w.field, "code": w.code, "message": w.message, "message_en": w.message_en}
            for w in applications.warnings(app)
        ],
        "stops_serving": applications.stops_serving(app),
        "irreversible": kind.irreversible,
        "password_required": kind.password,
        "confirm_required": kind.irreversible,
    }


def _refuse_unless(app: Application, action: str, what: str, what_en: str) -> None:
    if not allowed(app, action, Role.CUSTOMER):
        raise ProviderError(
            "transition_not_allowed",
            detail=f"申请处于「{S(app.state).label}」状态，不能{what}",
            detail_en=f"An application in state {app.state} cannot be {what_en}",
        )


@api.post(
    "/applications/{application_id}/submit",
    response={200: ApplicationOut, **PROBLEMS},
    summary="Submit a draft for review",
    tags=["applications"],
)
def submit(request, application_id: UUID, payload: SubmitIn | None = None):
    """Every field is checked (all errors at once, by field). Operations that need it take the
    entity's `filing_password`; cancellations and cancel-access need `confirm_irreversible: true`
    (read `/warnings` first). The body may be empty."""
    payload = payload or SubmitIn()
    app = _own(request, application_id, Right.CHANGE)
    _refuse_unless(app, "submit", "提交", "submitted")
    app = applications.submit(
        app=app,
        user=_user(request),
        filing_password=payload.filing_password,
        confirm_irreversible=payload.confirm_irreversible,
    )
    return application_out(app)


@api.post(
    "/applications/{application_id}/withdraw",
    response={200: ApplicationOut, **PROBLEMS},
    summary="Withdraw a submitted application",
    tags=["applications"],
)
def withdraw(request, application_id: UUID):
    """Before the bureau decides, and only where the catalogue allows it: cancellations and
    cancel-access cannot be withdrawn once submitted (409)."""
    app = _own(request, application_id, Right.CHANGE)
    if app.state in (S.AWAITING_VERIFICATION, S.BUREAU_REVIEW) and allowed(app, "withdraw", Role.CUSTOMER):
        with bureau() as client:
            app = applications.withdraw(app=app, user=_user(request), client=client)
    else:
        app = applications.withdraw(app=app, user=_user(request))
    return application_out(app)


@api.post(
    "/applications/{application_id}/abandon",
    response={200: ApplicationOut, **PROBLEMS},
    summary="Give up a draft",
    tags=["applications"],
)
def abandon(request, application_id: UUID):
    """A draft or a returned application that the customer no longer wants."""
    app = applications.abandon(app=_own(request, application_id, Right.CHANGE), user=_user(request))
    return application_out(app)


@api.post(
    "/applications/{application_id}/copy",
    response={201: ApplicationOut, **PROBLEMS},
    summary="Copy a finished application into a new draft",
    tags=["applications"],
)
def copy(request, application_id: UUID):
    """After a rejection, an expiry, a withdrawal or abandonment: a new draft with the same data
    (never the filing password), to fix and submit again."""
    app = applications.resubmit_copy(app=_own(request, application_id, Right.CHANGE), user=_user(request))
    return Status(201, application_out(app))


# ---------------------------------------------------------------- filings (the mirror)


@api.get(
    "/entities",
    response={200: EntitiesOut, **PROBLEMS},
    summary="My filed entities",
    tags=["filings"],
)
def entities(request, params: Query[PageQuery]):
    """The entities (主体) of the filings the customer may see (their own and their organisations')
    accessed with this provider, as the bureau's event feed last reported them, by number. Page
    with `?cursor=`."""
    found = holders.entities(_user(request)).select_related("organisation").order_by("number")
    found = found.prefetch_related(Prefetch("websites", queryset=FiledWebsite.objects.order_by("number")))
    return _keyset(found, params, listing.after_number, listing.number_cursor, _entity_out)


def _entity_out(e: FiledEntity) -> dict:
    return {
        "number": e.number,
        "name": e.name,
        "unit_type": e.unit_type,
        "province": e.province,
        "status": e.status,
        "organisation": _holder_out(e),
        "websites": [w.number for w in e.websites.all()],
    }


@api.get(
    "/websites",
    response={200: WebsitesOut, **PROBLEMS},
    summary="My filed websites",
    tags=["filings"],
)
def websites(request, params: Query[FilingQuery]):
    """The customer's websites with their domains, status and access here, by number. A website
    with `shell_since` has no access anywhere: it is at risk of deregistration (R10). Search with
    `?q=` (number, domain, entity or website name); filter with `?state=` (active, deregistered,
    served, at_risk), `?type=` (the entity's unit type), `?province=`, `?holder=`; page with
    `?cursor=`."""
    filters = listing.Filters.of_filings(**params.model_dump(include={"q", "state", "type", "province", "holder"}))
    found = listing.websites(_user(request), filters).prefetch_related(
        Prefetch("domains", queryset=FiledDomain.objects.order_by("name"))
    )
    return _keyset(found, params, listing.after_number, listing.number_cursor, website_out)


def website_out(w: FiledWebsite) -> dict:
    return {
        "number": w.number,
        "name": w.name,
        "home_url": w.home_url,
        "status": w.status,
        "deregistered_reason": w.deregistered_reason,
        "entity_number": w.entity.number,
        "entity_name": w.entity.name,
        "organisation": _holder_out(w.entity),
        "domains": [d.name for d in w.domains.all()],
        "ips": list(w.ips),
        "access_state": w.access_state,
        "shell_since": w.shell_since,
        "shell_deadline": w.shell_deadline,
        "at_risk": w.shell_since is not None and w.status != "deregistered",
    }


# ---------------------------------------------------------------- exports


# What an export answers: a file, in the format asked for.
EXPORTED = {
    "responses": {
        200: {
            "description": "The file: CSV (UTF-8 with a BOM; a header row of field names, then a row of their "
            "Chinese titles, then one row each) or .xlsx with the same rows",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                exports.FORMATS["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
}


@api.get(
    "/exports/applications",
    response={200: None, **PROBLEMS},
    summary="My applications as CSV or .xlsx",
    tags=["exports"],
    openapi_extra=EXPORTED,
)
def export_applications(request, params: Query[ExportQuery]):
    """The applications `GET /applications` lists with the same filters, all of them, as a
    spreadsheet (`?format=csv`, the default, streamed; or `xlsx`): the public fields and your own
    working data, never principals' identity numbers, phones or emails."""
    filters = listing.Filters.of_applications(**params.model_dump(include={"q", "state", "type", "province", "holder"}))
    found = listing.applications(_user(request), filters)
    rows = exports.rows(found, exports.APPLICATION_COLUMNS)
    return exports.response(rows, fmt=params.format, filename="applications")


@api.get(
    "/exports/websites",
    response={200: None, **PROBLEMS},
    summary="My filed websites as CSV or .xlsx",
    tags=["exports"],
    openapi_extra=EXPORTED,
)
def export_websites(request, params: Query[FilingExportQuery]):
    """The websites `GET /websites` lists with the same filters, as a spreadsheet: the public
    fields of each filing and its access here."""
    filters = listing.Filters.of_filings(**params.model_dump(include={"q", "state", "type", "province", "holder"}))
    found = exports.websites_for_export(listing.websites(_user(request), filters))
    return exports.response(exports.rows(found, exports.WEBSITE_COLUMNS), fmt=params.format, filename="filings")


# ---------------------------------------------------------------- organisations


@api.get(
    "/organisations",
    response={200: OrganisationsOut, **PROBLEMS},
    summary="My organisations",
    tags=["organisations"],
)
def organisations_of(request):
    """The organisations you are a member of and your role in each: an owner manages its members
    (at /portal/organisations/), an editor starts and submits its applications, a viewer sees them.
    Pass an organisation's `id` as `organisation` when you start an application for it."""
    return {
        "items": [
            {"id": m.organisation_id, "name": m.organisation.name, "role": m.role}
            for m in organisations.of(_user(request))
        ]
    }


# ---------------------------------------------------------------- review (specialists)


@api.get(
    "/review/queue",
    auth=SPECIALISTS,
    response={200: QueueOut, **PROBLEMS},
    summary="The review queue",
    tags=["review"],
)
def review_queue(request, params: Query[QueueQuery]):
    """Applications waiting for the provider's review (初审), oldest submission first. Specialists only."""
    _specialist(request)
    found = review.queue().select_related("owner", "reviewer")
    items = []
    for app in found[params.offset : params.offset + params.limit]:
        item = application_out(app)
        item["owner"] = app.owner.get_username()
        item["reviewer"] = app.reviewer.get_username() if app.reviewer else None
        items.append(item)
    return {"count": found.count(), "items": items}


@api.post(
    "/applications/{application_id}/claim",
    auth=SPECIALISTS,
    response={200: ApplicationOut, **PROBLEMS},
    summary="Take an application from the queue",
    tags=["review"],
)
def claim(request, application_id: UUID):
    """The specialist starts reviewing it (submitted → provider_review). Specialists only."""
    app = _for_review(request, application_id)
    return application_out(review.claim(app=app, specialist=_user(request)))


@api.post(
    "/applications/{application_id}/review",
    auth=SPECIALISTS,
    response={200: ApplicationOut, **PROBLEMS},
    summary="Approve or return an application",
    tags=["review"],
)
def decide(request, application_id: UUID, payload: ReviewIn):
    """`approve` sends it to the bureau (through the delivery outbox); `return` sends it back to the
    customer with a `reason` and/or `field_reasons` by field (S15). Specialists only."""
    app = _for_review(request, application_id)
    if payload.decision == "approve":
        if payload.field_reasons or payload.reason.strip():
            raise ProviderError(
                "validation_failed",
                errors=[
                    FieldError(
                        "field_reasons" if payload.field_reasons else "reason",
                        "reason_with_approval",
                        "通过审核时不填写驳回理由",
                        "An approval takes no reasons; reasons go with a return",
                    )
                ],
            )
        app = review.approve(app=app, specialist=_user(request))
    else:
        app = review.return_(
            app=app, specialist=_user(request), field_reasons=payload.field_reasons, reason=payload.reason
        )
    return application_out(app)


# ---------------------------------------------------------------- catalogue

SERVING_NAMES: dict[Serving, tuple[str, str]] = {
    Serving.AFTER_APPROVAL: ("管局审核通过后开始提供访问", "Served once the bureau approves"),
    Serving.FROM_SUBMISSION: (
        "初审通过、提交管局后即提供访问；管局驳回则停止",
        "Served from submission to the bureau; stopped if the bureau rejects it",
    ),
    Serving.UNCHANGED: ("不影响访问，新信息在管局通过后生效", "Serving unchanged; the new data applies at approval"),
    Serving.STOPS_AT_APPROVAL: ("管局审核通过后停止提供访问", "Stops being served when the bureau approves"),
    Serving.STOPS_AT_SUBMISSION: (
        "提交后立即停止提供访问，备案号保留",
        "Stops being served at submission; the number stays",
    ),
}


@api.get(
    "/catalogue",
    response={200: CatalogueOut, **PROBLEMS},
    summary="The operation types in force",
    tags=["catalogue"],
)
def catalogue(request):
    """What each application type needs and does, for building forms: its names, whether it needs
    the filing password, whether it is irreversible once submitted, and its effect on serving."""
    catalogue = rules.current().as_dict()
    for row in catalogue["operations"]:
        row["serving_name"], row["serving_name_en"] = SERVING_NAMES[Serving(row["serving"])]
    return catalogue
