"""The public query's API (`GET /bureau/api/v1/query`) through a lean Django handler (issue 10).

The full handler spends most of a domain query's CPU on what the answer does not need: resolving
the URL against every pattern of the platform, django-ninja's request and response machinery
(pydantic validates 50 records on the way out, after the service has built them), and middleware
that has nothing to do for an anonymous GET of JSON. This handler answers the common request
itself, with the rules where they live:

- `api.answer_query` is the answer (the simulation's outage and faults, the public rate limit,
  exactly one of domain / number / name, `query.answer`), shared with the ninja route;
- the request's shape is `api.QueryParams`, validated by the same pydantic model;
- errors are the same problem documents (`httpapi.refusal`, `problem_response`);
- the headers come from the same middleware classes, in the same order, as `settings.MIDDLEWARE`
  minus the few in `SKIPPED`, each of which has nothing to do here (why, beside each).

Anything else goes to Django's own handler unchanged: another method, a body, a request whose
parameters ninja would refuse field by field (so that it is refused as before, and counted by the
rate limit once, as before: the refusal comes before the limit in both). `mount` puts this in
front of Django's handler in beian/wsgi.py where the bureau is served.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import resolve, reverse
from django.utils.module_loading import import_string
from pydantic import ValidationError

from beian.bureau import api
from beian.bureau.errors import BureauError
from beian.core.errors import ValidationFailed
from beian.httpapi import refusal

# Middleware of settings.MIDDLEWARE left out of the public query's chain, and why it has nothing to
# do there. Everything else runs as on any request: metrics, the unread body, the security headers
# and the content security policy, the session and the language (a language chosen in the session
# still outranks Accept-Language; the session is read only if the request carries its cookie), the
# host check, the signed-in user (for the request log), X-Frame-Options, the simulation's dropped
# connections.
SKIPPED: dict[str, str] = {
    "whitenoise.middleware.WhiteNoiseMiddleware": "it serves /static/ only",
    "django.middleware.csrf.CsrfViewMiddleware": "a GET changes nothing and the answer sets no CSRF cookie",
    "django.contrib.messages.middleware.MessageMiddleware": "a JSON answer shows no one-off messages",
}

ANSWERS = "application/json; charset=utf-8"  # what ninja's JSON renderer says
PARAMETERS = tuple(api.QueryParams.model_fields)


def shaped(query_string: str) -> api.QueryParams | None:
    """The parameters as the ninja route reads them (the last of a repeated name, as QueryDict
    gives), if they are of the shape it accepts; None if it would refuse them field by field."""
    given = QueryDict(query_string, encoding=settings.DEFAULT_CHARSET)
    try:
        return api.QueryParams.model_validate({k: given[k] for k in PARAMETERS if k in given})
    except ValidationError:
        return None


PARAMS = "beian.public_query"  # where the front leaves the parameters it read, in the request's environ


def answer(request: HttpRequest) -> HttpResponse:
    """The view at the end of the lean chain; its request has well-shaped parameters."""
    try:
        body = api.answer_query(request, request.META[PARAMS])
    except (BureauError, ValidationFailed) as exc:
        return refusal(BureauError, exc)
    # The same bytes as ninja's renderer (ReadableJSON): the records are plain str, bool and lists.
    return HttpResponse(json.dumps(body, ensure_ascii=False), content_type=ANSWERS)


class QueryHandler(WSGIHandler):
    """Django's WSGI handler with its own middleware chain around `answer`: everything a WSGI
    handler does (signals that keep the database connections, the script prefix, the response's
    cookies and closing) is Django's."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.match = resolve(path)  # what the metrics label the route by, as for the full handler
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware, self._template_response_middleware, self._exception_middleware = [], [], []
        handler: Callable = convert_exception_to_response(self._answer)
        for path in reversed(self.chain()):
            handler = convert_exception_to_response(import_string(path)(handler))
        self._middleware_chain = handler

    @staticmethod
    def chain() -> list[str]:
        return [path for path in settings.MIDDLEWARE if path not in SKIPPED]

    def _answer(self, request: HttpRequest) -> HttpResponse:
        request.resolver_match = self.match
        return answer(request)

    def takes(self, environ: dict) -> api.QueryParams | None:
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO") != self.path:
            return None
        if environ.get("SCRIPT_NAME") or environ.get("CONTENT_LENGTH") not in (None, "", "0"):
            return None
        if environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        return shaped(environ.get("QUERY_STRING", ""))


def mount(django: Callable) -> Callable:
    """`django` (Django's WSGI application) with the public query's lean handler in front of it."""
    handler = QueryHandler(reverse("bureau-api:public_query"))

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        params = handler.takes(environ)
        if params is None:
            return django(environ, start_response)
        environ[PARAMS] = params
        return handler(environ, start_response)

    return application
