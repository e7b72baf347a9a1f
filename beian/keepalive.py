"""A connection the client keeps open stays usable after any answer, a refusal included (issue 14).

HTTP/1.1 puts requests back to back on one connection: the next request starts where this one's
body ends. An answer given before the body is read (401, 404, 413, 429, a refused form) leaves the
body on the socket. gunicorn then drains at most 64 KB of it and otherwise closes the connection,
after its answer has said `Connection: keep-alive`: the client's next request on that connection
gets no answer at all. Two halves put that right:

- `DiscardUnreadBody`, the first middleware: a body no larger than `DATA_UPLOAD_MAX_MEMORY_SIZE`
  (the most the platform ever reads of one) that the answer left unread is read and dropped before
  the answer goes out. It costs what accepting that body would have cost, no more.
- `closes_connection`, asked by gunicorn's `pre_request` hook (beian/gunicorn_conf.py): a body the
  platform will never read, declared larger than that limit (always refused, with 413 or earlier)
  or of unknown length (chunked: Django reads no body without Content-Length), makes the answer say
  `Connection: close`, and gunicorn closes the connection after it. The client knows to open a new
  one; reading megabytes only to throw them away would let anyone hold a worker's thread.

A WSGI application cannot say `Connection: close` itself (PEP 3333 leaves hop-by-hop headers to
the server, and gunicorn drops them), hence the hook. Behind another server, the middleware's half
still keeps every connection whose body is within the limit usable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

CHUNK = 64 * 1024


def declared_length(value: str | None) -> int | None:
    """A Content-Length as a number of bytes; None if absent or not a plain number (gunicorn
    refuses such a request itself with 400 before the application sees it)."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def closes_connection(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether a request's body is one the platform will leave unread: the answer must then close
    the connection. `headers` as gunicorn holds them (names upper case)."""
    for name, value in headers:
        name = name.upper()
        if name == "TRANSFER-ENCODING" and "chunked" in value.lower():
            return True
        if name == "CONTENT-LENGTH":
            length = declared_length(value)
            if length is not None and length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                return True
    return False


def discard_unread(request: HttpRequest) -> None:
    """Read and drop what is left of a body within the limit; a larger one is left to the server,
    which closes the connection after the answer (`closes_connection`)."""
    length = declared_length(request.META.get("CONTENT_LENGTH"))
    if not length or length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        return
    try:
        # The request's stream stops at Content-Length; after request.body it is an in-memory copy.
        while request.read(CHUNK):
            pass
    except OSError:  # the client went away mid-body: there is no connection left to keep
        pass


class DiscardUnreadBody:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        discard_unread(request)
        return response
