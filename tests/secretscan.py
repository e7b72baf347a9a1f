"""The suite-wide scan for secrets (issue 14): every test of the suite fails if a secret that its
world issued shows up in clear in a log record (any logger) or in an answer it received (Django's
test client, httpx), except in the one answer whose job is to show it (SHOWN).

What is a secret is not written here: the platform announces each one as it makes it
(`beian.issued`), and a sign-in announces its session id (Django's `user_logged_in`). Secrets are
remembered for the test file that issued them, so a world built once per module is watched in
every test that uses it.

What it does not see: cookies (Django keeps them apart from the headers: a session cookie is a
session cookie's job), streamed answers (the exports; read only by the test that streams them),
and log records below the level their logger is set to (they are never made)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import pytest

from beian.issued import Kind, secret_issued

SESSION_ID = "session_id"

# (method, URL name) → the kinds of secret that answer exists to show, once: the token made by the
# API or on the portal's page, the simulated phones and inboxes, the bureau's admin that shows a
# provider's new key in its message on the page it redirects to. Nothing broader.
SHOWN: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "provider-api:list_tokens"): frozenset({Kind.API_TOKEN}),
    ("POST", "portal:tokens"): frozenset({Kind.API_TOKEN}),
    ("GET", "messaging:index"): frozenset({Kind.SMS_CODE, Kind.FILING_PASSWORD}),
    ("GET", "messaging:thread"): frozenset({Kind.SMS_CODE, Kind.FILING_PASSWORD}),
    ("GET", "messaging:thread-json"): frozenset({Kind.SMS_CODE, Kind.FILING_PASSWORD}),
    ("GET", "bureau-sim:messages"): frozenset({Kind.SMS_CODE, Kind.FILING_PASSWORD}),
    # The bureau's admin shows a provider's new key in a message (once: a message is read once).
    ("GET", "admin:bureau_provider_changelist"): frozenset({Kind.PROVIDER_KEY}),
}


def _pattern(kind: str, secret: str) -> bytes:
    escaped = re.escape(secret.encode())
    if kind == Kind.SMS_CODE:
        # Six digits are a secret only where they stand alone: not inside a longer number, a
        # filing number or a hex digest, nor the microseconds of a timestamp (".123456").
        return rb"(?<![0-9A-Za-z.])" + escaped + rb"(?![0-9A-Za-z])"
    return escaped


@dataclass
class Watch:
    """The secrets one test file's worlds issued, and what the running test leaked."""

    secrets: dict[str, str] = field(default_factory=dict)  # secret → kind
    leaks: list[str] = field(default_factory=list)
    _compiled: re.Pattern[bytes] | None = None

    def learn(self, kind: str, secret: str) -> None:
        if secret and secret not in self.secrets:
            self.secrets[secret] = kind
            self._compiled = None

    def found(self, data: bytes) -> list[tuple[str, str]]:
        """(kind, secret) of each secret in `data`."""
        if not self.secrets or not data:
            return []
        if self._compiled is None:
            alternatives = sorted((_pattern(k, s) for s, k in self.secrets.items()), key=len, reverse=True)
            self._compiled = re.compile(b"|".join(b"(?:" + a + b")" for a in alternatives))
        return [(self.secrets[m.decode()], m.decode()) for m in {m.group(0) for m in self._compiled.finditer(data)}]

    def check(self, where: str, data: bytes, allowed: frozenset[str] = frozenset()) -> None:
        for kind, secret in self.found(data):
            if kind not in allowed:
                self.leaks.append(f"{kind} {_masked(secret)} in {where}")


def _masked(secret: str) -> str:
    return f"{secret[:3]}…{secret[-2:]}" if len(secret) > 8 else "…"


watch = Watch()


class _Records(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if not watch.secrets:
            return
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted is the logging call's bug, not a leak
            text = str(record.msg)
        extras = [str(v) for k, v in vars(record).items() if k not in _STANDARD]
        data = "\n".join([text, record.exc_text or "", *extras]).encode()
        watch.check(f"the log record {record.name}:{record.levelname} ({record.pathname}:{record.lineno})", data)


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
HANDLER = _Records(level=logging.NOTSET)


def _url_name(method: str, path: str) -> tuple[str, str]:
    from django.urls import Resolver404, resolve

    try:
        return method, resolve(path).view_name
    except Resolver404:
        return method, ""


def check_answer(
    method: str, path: str, status: int, headers, body: bytes | None, typed: frozenset[str] = frozenset()
) -> None:
    """One answer the test received (a Django response or an httpx one). `typed`: six-digit values
    the request itself sent in a field that is not a code (the last six digits of an ID, say): a
    page that shows them again shows what was typed, and a code that happens to be the same six
    digits is not leaked by it. Without this, about one run in a thousand would fail by chance."""
    if not watch.secrets:
        return
    data = b"\n".join(f"{k}: {v}".encode() for k, v in headers) + b"\n\n" + (body or b"")
    found = watch.found(data)
    if not found:
        return
    allowed = SHOWN.get(_url_name(method, path), frozenset())
    for kind, secret in found:
        if kind not in allowed and not (kind == Kind.SMS_CODE and secret in typed):
            watch.leaks.append(f"{kind} {_masked(secret)} in the answer {status} to {method} {path}")


def _typed_elsewhere(request) -> frozenset[str]:
    """Six-digit values of the request's fields not named for a code."""
    values: set[str] = set()
    try:
        for data in (request.GET, request.POST):
            for name, items in data.lists():
                if "code" not in name:
                    values.update(v for v in items if len(v) == 6 and v.isdigit())
    except Exception:  # a body Django cannot parse as a form carries no typed field
        pass
    return frozenset(values)


def _wrap_test_client() -> None:
    from django.test import client

    handle = client.ClientHandler.__call__

    def __call__(self, environ):
        response = handle(self, environ)
        if watch.secrets and not response.streaming:
            request = getattr(response, "wsgi_request", None)
            typed = _typed_elsewhere(request) if request is not None else frozenset()
            method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
            check_answer(method, path, response.status_code, response.items(), response.content, typed)
        return response

    client.ClientHandler.__call__ = __call__


def _wrap_httpx() -> None:
    import httpx

    send = httpx.Client.send

    def checked_send(self, request, **kwargs):
        response = send(self, request, **kwargs)
        if watch.secrets and not kwargs.get("stream"):
            check_answer(
                request.method, request.url.path, response.status_code, response.headers.multi_items(), response.content
            )
        return response

    httpx.Client.send = checked_send


def _learned(sender, kind, secret, **kwargs) -> None:
    watch.learn(kind, secret)


def _signed_in(sender, request, user, **kwargs) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        watch.learn(SESSION_ID, key)


def pytest_configure(config) -> None:
    from django.contrib.auth.signals import user_logged_in

    secret_issued.connect(_learned, weak=False, dispatch_uid="tests.secretscan")
    user_logged_in.connect(_signed_in, weak=False, dispatch_uid="tests.secretscan")
    logging.getLogger().addHandler(HANDLER)
    _wrap_test_client()
    _wrap_httpx()


_current_file: list[str] = [""]


def _fail_on_leaks(when: str) -> None:
    if watch.leaks:
        leaks, watch.leaks = watch.leaks, []
        pytest.fail(f"secrets in clear ({when}):\n  " + "\n  ".join(leaks), pytrace=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    if item.path.as_posix() != _current_file[0]:
        _current_file[0] = item.path.as_posix()
        watch.secrets.clear()
        watch._compiled = None
    watch.leaks.clear()
    # A test that configures logging (dictConfig) replaces the root's handlers: put the watch back.
    root = logging.getLogger()
    if HANDLER not in root.handlers:
        root.addHandler(HANDLER)
    # Loggers set not to propagate never reach the root's handler: watch them where they are.
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and not logger.propagate and HANDLER not in logger.handlers:
            logger.addHandler(HANDLER)
    result = yield
    _fail_on_leaks("setup")
    return result


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item):
    result = yield
    _fail_on_leaks("call")
    return result


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield
    _fail_on_leaks("teardown")
    return result
