"""The served-set feed over HTTP, for edges (beian.enforcement.feed; the document is OPENAPI below,
served at /enforcement/feed/openapi.json).

    GET  /enforcement/feed/snapshot              NDJSON, gzip if accepted; ETag and 304
    GET  /enforcement/feed/changes?after=V&wait=S   JSON page of entries; 410 snapshot_required
    GET  /enforcement/feed/changes?after=V&wait=S&stream=1   NDJSON, a page a line as they come, for S s
    POST /enforcement/feed/served                 {"names": [...]} → {"served": [...]}

Every request carries its edge's own token (`Authorization: Bearer beian_edge_…`); without one, or
with a revoked one, it is a 401 problem document that says why. An edge sees the entries and
nothing else of the mirror.

The snapshot can be held by an HTTP cache in front of the platform: its ETag is its version (weak:
two snapshots of one version may differ in changes made while they streamed, which the changes
after that version settle either way), and `Cache-Control: max-age=0, must-revalidate` lets a
shared cache store the answer to an authenticated request (RFC 9111 §3.5) while it asks the
platform again, with the edge's own token, every time: a 304 then costs one query and no body."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from beian.enforcement import edges, feed
from beian.enforcement.feedformat import FEED, FORMAT
from beian.enforcement.models import Edge

MAX_NAMES = 1000  # names in one question to /served (an edge asks 500 at a time)
NDJSON = "application/x-ndjson"


def problem(status: int, code: str, title: str, title_en: str, detail: str, detail_en: str, **extra) -> HttpResponse:
    body = {
        "type": f"urn:beian:error:{code}",  # as every problem document of beian (beian.core.errors)
        "code": code,
        "title": title,
        "title_en": title_en,
        "status": status,
        "detail": detail,
        "detail_en": detail_en,
        **extra,
    }
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type="application/problem+json"
    )
    response["Cache-Control"] = "no-store"
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="beian-edge"'
    return response


def _bad(field: str, detail: str, detail_en: str) -> HttpResponse:
    return problem(
        400,
        "validation_failed",
        "请求有误",
        "Bad request",
        detail,
        detail_en,
        errors=[{"field": field, "code": "invalid", "message": detail, "message_en": detail_en}],
    )


def _edge(request: HttpRequest):
    """The edge the request comes from, or the 401 to answer."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return problem(
            401,
            "unauthorized",
            "需要边缘节点令牌",
            "An edge token is needed",
            "请在请求头中发送 Authorization: Bearer <边缘节点令牌>",
            "Send Authorization: Bearer <edge token>",
        )
    try:
        return edges.authenticate(token.strip())
    except edges.EdgeRefused as refused:
        return problem(401, refused.code, "边缘节点令牌被拒绝", "Edge token refused", refused.detail, refused.detail_en)


def _address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _integer(request: HttpRequest, field: str, default: int | None, low: int, high: int) -> int | HttpResponse:
    raw = request.GET.get(field)
    if raw is None or raw == "":
        if default is None:
            return _bad(field, f"请提供 {field}", f"{field} is required")
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        return _bad(
            field, f"{field} 应为 {low} 至 {high} 之间的整数", f"{field} must be a whole number from {low} to {high}"
        )
    return int(raw)


@require_safe
def snapshot(request: HttpRequest) -> HttpResponse:
    edge = _edge(request)
    if isinstance(edge, HttpResponse):
        return edge
    version = feed.version()
    etag = f'W/"{FEED}-{FORMAT}-{version}"'
    edges.touch(edge, version=version, address=_address(request))
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponse(status=304)
    else:
        compress = "gzip" in request.headers.get("Accept-Encoding", "")
        lines = feed.snapshot_lines(version)
        response = StreamingHttpResponse(feed.gzipped(lines) if compress else lines, content_type=NDJSON)
        if compress:
            response["Content-Encoding"] = "gzip"
        response["X-Beian-Feed-Version"] = str(version)
    response["ETag"] = etag
    response["Cache-Control"] = "max-age=0, must-revalidate"
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


@require_safe
def changes(request: HttpRequest) -> HttpResponse:
    edge = _edge(request)
    if isinstance(edge, HttpResponse):
        return edge
    after = _integer(request, "after", None, 0, 2**63 - 1)
    if isinstance(after, HttpResponse):
        return after
    wait = _integer(request, "wait", 0, 0, int(feed.WAIT_MAX))
    if isinstance(wait, HttpResponse):
        return wait
    limit = _integer(request, "limit", feed.PAGE, 1, feed.PAGE)
    if isinstance(limit, HttpResponse):
        return limit
    streamed = _integer(request, "stream", 0, 0, 1)
    if isinstance(streamed, HttpResponse):
        return streamed
    edges.touch(edge, version=after, address=_address(request))
    try:
        page = feed.changes_page(after, limit=limit, wait=0 if streamed else wait)
    except feed.SnapshotRequired as gone:
        return problem(410, gone.code, "请重新获取快照", "Take a fresh snapshot", gone.detail, gone.detail_en)
    if streamed:

        def still_following(version: int) -> bool:
            edges.touch(edge, version=version, address=_address(request))
            return edge.pk not in _revoked(version)

        response = StreamingHttpResponse(
            feed.stream(page, limit=limit, seconds=wait, allowed=still_following), content_type=NDJSON
        )
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"  # nginx in front: each page as it comes, not a buffer's worth
        return response
    if wait and not Edge.objects.filter(pk=edge.pk, revoked_at__isnull=True).exists():
        # Revoked while this long poll waited: what came meanwhile is not for it.
        return problem(401, "token_revoked", "边缘节点令牌被拒绝", "Edge token refused", *edges.REVOKED)
    # The page's bytes as read once for every edge that asks the same (feed.Shared).
    response = HttpResponse(page.body, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def _revoked(version: int) -> frozenset[int]:
    """The edges revoked, read once a version of the mirror for every stream of this process: a
    stream ends before the first change made after its edge was revoked."""
    return feed.pages.get(
        ("revoked",),
        version,
        lambda: frozenset(Edge.objects.filter(revoked_at__isnull=False).values_list("pk", flat=True)),
    )


@csrf_exempt  # no browser sends an edge's token by itself; a session is never enough here
@require_http_methods(["POST"])
def served(request: HttpRequest) -> HttpResponse:
    edge = _edge(request)
    if isinstance(edge, HttpResponse):
        return edge
    try:
        body = json.loads(request.body)
    except ValueError:
        return _bad("body", "请求体不是有效的 JSON", "The body is not valid JSON")
    names = body.get("names") if isinstance(body, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) and 0 < len(n) <= 253 for n in names):
        return _bad("names", "names 应为域名的列表", "names must be a list of domain names")
    if len(names) > MAX_NAMES:
        return _bad("names", f"一次最多 {MAX_NAMES} 个域名", f"At most {MAX_NAMES} names at a time")
    version = body.get("version")
    if version is not None and (type(version) is not int or version < 0):
        return _bad("version", "version 应为非负整数（边缘节点的版本）", "version must be a whole number: the edge's")
    # The edges in step ask the same names at the same version: read once for them all.
    served = feed.served_now(names) if version is None else feed.served_shared(names, version)
    response = JsonResponse({"served": served})
    response["Cache-Control"] = "no-store"
    return response


_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_REFUSED = {"description": "No edge token, or one that is not valid or revoked", "content": _PROBLEM}
_ENTRY = {
    "type": "object",
    "required": ["site", "verdict", "reason", "domains"],
    "properties": {
        "site": {"type": "integer", "description": "The mirror's key for the website: withdraws what it no longer has"},
        "version": {"type": "integer", "description": "The website's version (absent in a snapshot's served entries)"},
        "verdict": {"type": "string", "enum": ["serve", "refuse"]},
        "reason": {
            "type": "string",
            "enum": ["filed", "not_filed", "access_cancelled", "transfer_not_approved", "deregistered"],
            "description": "Why, as in X-Beian-Reason",
        },
        "domains": {"type": "array", "items": {"type": "string"}, "description": "Canonical names (A-labels)"},
        "home": {"type": "string", "description": "A deregistered website's home domain: it has no domains left"},
    },
}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {
        "title": "beian served-set feed",
        "version": "1",
        "description": (
            "What an edge follows instead of the platform's database (docs/enforcement.md, 'A fleet of edges'): "
            "a snapshot of the served set, then the changes after its version, each entry a website's domains "
            "with the verdict and the reason. Each edge authenticates with its own token "
            "(`python -m beian edge_token create NAME`), sent as `Authorization: Bearer <token>`."
        ),
    },
    "components": {
        "securitySchemes": {
            "edgeToken": {"type": "http", "scheme": "bearer", "bearerFormat": "beian_edge_<id>_<secret>"}
        },
        "schemas": {
            "Entry": _ENTRY,
            "Problem": {
                "type": "object",
                "required": ["type", "code", "title", "title_en", "status", "detail", "detail_en"],
                "properties": {
                    "type": {"type": "string"},
                    "code": {"type": "string"},
                    "title": {"type": "string"},
                    "title_en": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "detail_en": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
    },
    "security": [{"edgeToken": []}],
    "paths": {
        "/enforcement/feed/snapshot": {
            "get": {
                "summary": "The served set at a version",
                "description": (
                    "NDJSON: a header line {feed, format, version}, one Entry a line (served websites first, in "
                    "order of site; then the others, oldest change first), and an end line {end: true, entries: N} "
                    "without which it is cut off. gzip when accepted. The ETag names the version; with "
                    "If-None-Match the answer is 304 while the version stands."
                ),
                "parameters": [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
                "responses": {
                    "200": {
                        "description": "The snapshot",
                        "headers": {
                            "ETag": {"schema": {"type": "string"}},
                            "X-Beian-Feed-Version": {"schema": {"type": "integer"}},
                        },
                        "content": {NDJSON: {"schema": {"type": "string"}}},
                    },
                    "304": {"description": "The version named by If-None-Match is still the newest"},
                    "401": _REFUSED,
                },
            }
        },
        "/enforcement/feed/changes": {
            "get": {
                "summary": "The changes after a version",
                "description": (
                    "The entries of the websites changed after `after`, oldest first; `version` is what to ask "
                    "after next, `more` says another page is ready. With nothing newer it waits up to `wait` "
                    "seconds for a change (a long poll) and may answer an empty page. 410 snapshot_required: "
                    "the edge is too far behind, or claims a version the platform never reached: take a snapshot."
                ),
                "parameters": [
                    {"name": "after", "in": "query", "required": True, "schema": {"type": "integer", "minimum": 0}},
                    {"name": "wait", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 25}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    {
                        "name": "stream",
                        "in": "query",
                        "description": (
                            "1: the pages as NDJSON, one a line, for `wait` seconds over this one response: the first "
                            "at once (even empty), then each as soon as the mirror moves"
                        ),
                        "schema": {"type": "integer", "enum": [0, 1]},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "A page of changes (with stream=1, a page a line, as NDJSON)",
                        "content": {
                            NDJSON: {"schema": {"type": "string"}},
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["version", "entries", "more"],
                                    "properties": {
                                        "version": {"type": "integer"},
                                        "entries": {"type": "array", "items": {"$ref": "#/components/schemas/Entry"}},
                                        "more": {"type": "boolean"},
                                        "served": {
                                            "type": "array",
                                            "items": {"type": "string"},
                                            "description": (
                                                "Which names of the page's refused websites (domains, home) and of"
                                                " `withdrawn` a website serves now: what the edge would otherwise"
                                                " ask /served"
                                            ),
                                        },
                                        "withdrawn": {
                                            "type": "array",
                                            "items": {"type": "string"},
                                            "description": (
                                                "The names taken off the page's websites after `after` (absent when"
                                                " none), as far as the platform keeps them: a name an edge withdraws"
                                                " that is neither here nor a refused website's it asks /served about"
                                            ),
                                        },
                                    },
                                }
                            },
                        },
                    },
                    "400": {"description": "A parameter out of range", "content": _PROBLEM},
                    "401": _REFUSED,
                    "410": {"description": "snapshot_required", "content": _PROBLEM},
                },
            }
        },
        "/enforcement/feed/served": {
            "post": {
                "summary": "Which of these names are served now",
                "description": ("Asked by an edge when a change would withdraw a name that another website may serve."),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["names"],
                                "properties": {
                                    "names": {"type": "array", "maxItems": MAX_NAMES, "items": {"type": "string"}},
                                    "version": {
                                        "type": "integer",
                                        "minimum": 0,
                                        "description": (
                                            "The edge's version: the answer is read at that version or later, and"
                                            " the same answer handed to the edges that ask the same"
                                        ),
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The names of the question that are served",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"served": {"type": "array", "items": {"type": "string"}}},
                                }
                            }
                        },
                    },
                    "400": {"description": "Not a list of names", "content": _PROBLEM},
                    "401": _REFUSED,
                },
            }
        },
    },
}


@require_safe
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(OPENAPI)
