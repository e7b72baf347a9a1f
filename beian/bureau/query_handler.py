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

The plain request (`Plain`): the shape API clients send, a GET without cookies whose host is
allowed and that no middleware would redirect, is answered without the middleware chain and
Django's response object. What the chain adds to such an answer depends only on the settings,
whether the request came by HTTPS, the language Accept-Language chose and the status: `Plain` runs
the chain's own middleware once for each such combination on a copy of the request and an empty
answer, keeps the headers they added, and gives every later answer of that combination the same
(its Content-Length its own). Of the call-style middleware, the metrics and the simulation's
dropped connections it does by their functions (`DONE_HERE`); the others have nothing to do for a
request without a body or a session.
Django's request_started and request_finished signals do what they do under Django's handler: while
only Django's own receivers are connected (`STARTED`, `FINISHED`: the statement log, the connections'
age and errors, the caches, the URLconf) the plain answer calls them itself, without the dispatch;
with anything else connected it sends the signals. The bureau's connection is not health-checked
(a `SELECT 1` round trip a request): `query.fetch` opens a lost connection again and sends its read
once more instead. The parameters are read as Django reads request.GET (the query string's bytes as
UTF-8) into a plain pydantic model of the route's own fields (`Shape`).
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

from django.conf import settings
from django.conf.urls.i18n import is_language_prefix_patterns_used
from django.core import signals
from django.core.cache import close_caches
from django.core.exceptions import DisallowedHost
from django.core.handlers.base import reset_urlconf
from django.core.handlers.exception import convert_exception_to_response, response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.core.signals import setting_changed
from django.db import close_old_connections, connections, reset_queries
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse
from django.middleware.security import SecurityMiddleware
from django.urls import ResolverMatch, resolve, reverse, set_urlconf
from django.urls.base import set_script_prefix
from django.utils import translation
from django.utils.log import log_response
from django.utils.module_loading import import_string
from pydantic import BaseModel, ValidationError, create_model

from beian.bureau import api, query, simulation
from beian.bureau.errors import BureauError
from beian.core.errors import ValidationFailed
from beian.httpapi import refusal
from beian.ops import metrics

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

# Middleware of the chain whose work the plain request's answer does itself, by their functions.
DONE_HERE: dict[str, str] = {
    "beian.ops.metrics.RequestMetrics": "metrics.count, once the answer is made",
    "beian.bureau.simulation.DropConnections": "simulation.drop_if_marked",
}

ANSWERS = "application/json; charset=utf-8"  # what ninja's JSON renderer says
PARAMETERS = tuple(api.QueryParams.model_fields)


# The route's parameters as a plain pydantic model of the same fields (each field's type, limits and
# validators are QueryParams' own): ninja's Schema validates through a root validator of its own
# that reads Django objects too, and costs several times more for a dict of strings.
Shape = create_model("QueryShape", **{name: (f.annotation, f) for name, f in api.QueryParams.model_fields.items()})


def shaped(query_string: str) -> BaseModel | None:
    """The parameters as the ninja route reads them (request.GET: the bytes of the query string
    decoded as Django decodes them, the last of a repeated name), if they are of the shape it
    accepts; None if it would refuse them field by field, or Django refuse the query string itself
    (more fields than it takes)."""
    try:
        raw = query_string.encode("iso-8859-1")  # the WSGI string is the request's bytes (PEP 3333)
    except UnicodeEncodeError:  # not a server's string: Django's handler says what it makes of it
        return None
    charset = settings.DEFAULT_CHARSET
    try:
        text = raw.decode(charset)
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")  # as QueryDict does with a misbehaving client
    try:
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        given = dict(parse_qsl(text, keep_blank_values=True, encoding=charset, max_num_fields=limit))
    except ValueError:  # too many fields: Django's handler refuses them
        return None
    try:
        return Shape.model_validate({k: given[k] for k in PARAMETERS if k in given})
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

    def takes(self, environ: dict) -> BaseModel | None:
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO") != self.path:
            return None
        if environ.get("SCRIPT_NAME") or environ.get("CONTENT_LENGTH") not in (None, "", "0"):
            return None
        if environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        return shaped(environ.get("QUERY_STRING", ""))


Headers = list[tuple[str, str]]


class Plain:
    """The plain request's answer, without the middleware chain (the module's docstring)."""

    def __init__(self, match: ResolverMatch) -> None:
        self.match = match
        self.security = SecurityMiddleware(_unused)  # reads its settings when made, as in the chain
        self.added: dict[tuple[bool, str, int], Headers] = {}
        # With i18n_patterns the language may come from the path: LocaleMiddleware's to choose.
        self.usable = not is_language_prefix_patterns_used(settings.ROOT_URLCONF)[0]
        setting_changed.connect(self._forget)  # weakly: gone with its application

    def _forget(self, **_) -> None:
        self.added = {}
        self.security = SecurityMiddleware(_unused)

    def request(self, environ: dict) -> WSGIRequest | None:
        """The request, if it is plain; None for the chain to answer."""
        if not self.usable or "HTTP_COOKIE" in environ or settings.DISALLOWED_USER_AGENTS or settings.PREPEND_WWW:
            return None  # a session, a language cookie; CommonMiddleware's refusals and redirects
        request = WSGIRequest(environ)
        try:
            request.get_host()
        except DisallowedHost:
            return None
        if self.security.process_request(request) is not None:  # to HTTPS
            return None
        return request

    def __call__(self, request: WSGIRequest, start_response: Callable) -> Iterable[bytes]:
        began = time.perf_counter()
        environ = request.environ
        set_script_prefix(get_script_name(environ))  # as Django's handler does
        _started(environ)
        query.reader().health_check_done = True  # query.fetch's retry instead (the docstring)
        try:
            set_urlconf(settings.ROOT_URLCONF)
            request.resolver_match = self.match
            # LocaleMiddleware's choice with no cookie and no language in the path: Accept-Language.
            translation.activate(translation.get_language_from_request(request))
            request.LANGUAGE_CODE = language = translation.get_language()
            secure = request.is_secure()
            response = _answered(request)
            if isinstance(response, HttpResponse):
                status, reason, content = response.status_code, response.reason_phrase, response.content
                headers = list(response.items())
            else:
                status, reason, content, headers = 200, "OK", response, [("Content-Type", ANSWERS)]
            key = (secure, language, status)
            added = self.added.get(key)
            if added is None:
                added = self.added[key] = self._added(environ, status)
            headers += [(k, str(len(content)) if k == "Content-Length" else v) for k, v in added]
            simulation.drop_if_marked(environ)
            if status >= 400:  # as Django's handler logs it (once: a 500 was logged when it was made)
                log_response("%s: %s", reason, request.path, response=response, request=request)
            metrics.count(request, status, time.perf_counter() - began)
            start_response(f"{status} {reason}", headers)
            return [content]
        finally:
            _finished()

    def _added(self, environ: dict, status: int) -> Headers:
        """The headers the chain adds to an answer of `status` to a request like this one: the
        chain but for `DONE_HERE` run on a copy of the request around an empty answer (Content-Length's
        value is each answer's own)."""
        template = HttpResponse(status=status)
        given = set(template.headers)
        handler: Callable = convert_exception_to_response(lambda request: template)
        for path in reversed(QueryHandler.chain()):
            if path not in DONE_HERE:
                handler = convert_exception_to_response(import_string(path)(handler))
        copy = WSGIRequest({k: v for k, v in environ.items() if k != simulation.DROP})
        copy.resolver_match = self.match
        response = handler(copy)
        if response is not template or response.cookies:
            raise AssertionError(f"the chain answers a plain request otherwise: {response!r}")
        return [(k, v) for k, v in response.items() if k not in given]


# Django's own receivers of the request signals (django.db, django.core.cache, django.core.handlers).
# While they are all that is connected, the plain answer calls them itself: no dispatch, and the
# two passes over the connections at a request's start in one. With anything else connected (a
# test, a debugging tool, a library) the signals are sent as Django's handler sends them.
STARTED = (reset_queries, close_old_connections)
FINISHED = (close_old_connections, close_caches, reset_urlconf)
_ANY_SENDER = id(None)  # the lookup key's sender part of a receiver connected for every sender


def _only(signal: Signal, receivers: tuple[Callable, ...]) -> bool:
    """Whether `receivers`, connected for every sender, are all of `signal`'s (in any order: each
    does its own part)."""
    kept = signal.receivers
    if len(kept) != len(receivers):
        return False
    found = []
    for lookup, ref, *_ in kept:
        if lookup[1] != _ANY_SENDER:
            return False
        found.append(ref() if isinstance(ref, weakref.ReferenceType) else ref)
    return all(any(f is r for f in found) for r in receivers)


def _started(environ: dict) -> None:
    if not _only(signals.request_started, STARTED):
        signals.request_started.send(sender=WSGIHandler, environ=environ)
        return
    for connection in connections.all(initialized_only=True):
        connection.queries_log.clear()  # reset_queries
        connection.close_if_unusable_or_obsolete()  # close_old_connections: age, errors, autocommit


def _finished() -> None:
    if not _only(signals.request_finished, FINISHED):
        signals.request_finished.send(sender=WSGIHandler)
        return
    for receiver in FINISHED:
        receiver(sender=WSGIHandler)


def _unused(request: HttpRequest) -> HttpResponse:
    raise AssertionError("a middleware made to read its settings is never called")


def _answered(request: WSGIRequest) -> bytes | HttpResponse:
    """The page's bytes (`answer`'s, without a response object), or the refusal's response; an
    error as Django's chain makes it, a 500 logged."""
    try:
        body = api.answer_query(request, request.META[PARAMS])
    except (BureauError, ValidationFailed) as exc:
        return refusal(BureauError, exc)
    except Exception as exc:  # Django's handler would make a 500 of it as well
        return response_for_exception(request, exc)
    return json.dumps(body, ensure_ascii=False).encode()


def mount(django: Callable) -> Callable:
    """`django` (Django's WSGI application) with the public query's lean handler in front of it."""
    handler = QueryHandler(reverse("bureau-api:public_query"))
    plain = Plain(handler.match)

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        params = handler.takes(environ)
        if params is None:
            return django(environ, start_response)
        environ[PARAMS] = params
        request = plain.request(environ)
        if request is None:
            return handler(environ, start_response)
        return plain(request, start_response)

    return application
