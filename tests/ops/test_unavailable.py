"""An error of the database that passes (a restart, a failover, a lock held past its timeout)
answers 503 with Retry-After; any other error stays a 500 (beian/ops/unavailable.py). The
PostgreSQL restart itself is in test_database_restart.py."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from django.test import RequestFactory

from beian.ops import unavailable


def _answer(exc: BaseException, accept: str = "*/*"):
    request = RequestFactory().get("/api/v1/applications", HTTP_ACCEPT=accept)
    try:
        raise exc
    except BaseException:  # handler500 is called while Django handles the exception
        return unavailable.server_error(request)


@pytest.mark.parametrize(
    "exc", [OperationalError("the connection is closed"), InterfaceError("connection already closed")]
)
def test_a_database_that_fails_for_the_moment_answers_503_with_retry_after(exc):
    answer = _answer(exc)
    assert answer.status_code == 503
    assert answer["Retry-After"] == str(unavailable.RETRY_AFTER_SECONDS)
    assert answer["Content-Type"] == "application/problem+json"
    assert b"service_unavailable" in answer.content


def test_a_library_that_wraps_the_database_error_still_answers_503():
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError as cause:
        wrapped = RuntimeError("the page could not be read")
        wrapped.__cause__ = cause
    assert _answer(wrapped).status_code == 503


def test_a_browser_gets_a_page_in_chinese_and_english():
    answer = _answer(OperationalError("database is locked"), accept="text/html,application/xhtml+xml")
    assert answer.status_code == 503
    assert answer["Content-Type"].startswith("text/html")
    page = answer.content.decode()
    assert unavailable.TITLE in page
    assert unavailable.TITLE_EN in page


@pytest.mark.parametrize("exc", [IntegrityError("duplicate key"), DatabaseError("syntax error"), ValueError("a bug")])
def test_any_other_error_stays_a_500(exc):
    answer = _answer(exc)
    assert answer.status_code == 500
    assert not answer.has_header("Retry-After")


@pytest.mark.urls("tests.ops.failing_urls")
def test_the_platform_answers_through_it(client):
    """Django calls handler500 for what a view raised: the project's urls name this view."""
    client.raise_request_exception = False
    answer = client.get("/fails", HTTP_ACCEPT="application/json")
    assert answer.status_code == 503
    assert answer["Retry-After"] == str(unavailable.RETRY_AFTER_SECONDS)


def test_the_project_names_it_as_handler500():
    import beian.urls

    assert beian.urls.handler500 == "beian.ops.unavailable.server_error"
