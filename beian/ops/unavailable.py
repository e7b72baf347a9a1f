"""What a request gets when the database fails under it: 503 with Retry-After, not 500.

While PostgreSQL restarts, fails over to a replica, or refuses connections past its limit (and while
SQLite's file is locked past its timeout), requests in flight fail with the database driver's
`OperationalError` or `InterfaceError`. Nothing is wrong with the request: the same request a few
seconds later succeeds, and a 500 would tell clients, load balancers and the soak (bench/soak.py)
that it will not. Django turns every uncaught exception, in a view or in a middleware, into the
answer of `handler500` (beian/urls.py), called while the exception is being handled; this is that
view. Every other error stays a 500. Django's request log still records each one with its
traceback (at error level, as any 5xx).

The answer is plain (no template, no context processor, no session): whatever it would read may
be in the database that just failed. A client that asks for HTML gets a short page in Chinese and
English; any other client (the APIs' clients send JSON or `*/*`) a problem document like every
other error of the JSON APIs (beian/httpapi.py).
"""

from __future__ import annotations

import json
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

# Long enough for a restart or a failover to finish, short enough that a client does not give up.
RETRY_AFTER_SECONDS = 5

TRANSIENT = (OperationalError, InterfaceError)

TITLE = "服务暂不可用，请稍后重试"
TITLE_EN = "The service is unavailable for a moment; retry later"

PAGE = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{TITLE}</title></head>
<body><h1>{TITLE}</h1><p lang="en">{TITLE_EN}.</p></body></html>
"""

PROBLEM = {
    "type": "urn:beian:error:service_unavailable",
    "code": "service_unavailable",
    "title": TITLE,
    "title_en": TITLE_EN,
    "status": 503,
    "detail": "数据库暂时无法访问",
    "detail_en": "The database cannot be reached for a moment",
}

SERVER_ERROR = "服务器内部错误 / Internal server error\n"


def is_transient(exc: BaseException | None) -> bool:
    """Whether an error means the database is failing for the moment, not that the request is wrong."""
    while exc is not None:
        if isinstance(exc, TRANSIENT):
            return True
        exc = exc.__cause__  # a library may wrap the driver's error in its own
    return False


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: 503 with Retry-After while the database is failing, else a plain 500."""
    if not is_transient(sys.exc_info()[1]):
        return HttpResponse(SERVER_ERROR, status=500, content_type="text/plain; charset=utf-8")
    if "text/html" in request.META.get("HTTP_ACCEPT", ""):
        response = HttpResponse(PAGE, status=503, content_type="text/html; charset=utf-8")
    else:
        body = json.dumps(PROBLEM, ensure_ascii=False)
        response = HttpResponse(body, status=503, content_type="application/problem+json")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response
