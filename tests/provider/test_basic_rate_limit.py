"""HTTP Basic on /api/v1/ stays, rate limited (issue 10, DESIGN §9): every attempt, failed or
successful, counts against the client's address and against the username, before the password hash
is paid; over the limit it is a 429 problem document with Retry-After. Tokens and sessions are not
counted. Time is the test's clock: a new minute is a new window."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.test import Client, RequestFactory

from beian.provider import ratelimit, tokens
from tests.provider.test_api_authorization import call

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def attempt(username: str, password: str, address: str = "192.0.2.10"):
    return call(Client(REMOTE_ADDR=address), "GET", "/applications", Authorization=basic(username, password))


@pytest.fixture
def limits(settings, clock):
    settings.BEIAN_BASIC_RATE_PER_MINUTE = 3
    settings.BEIAN_BASIC_CLIENT_RATE_PER_MINUTE = 5
    return clock


def assert_limited(response, retry_after: int) -> None:
    assert response.status_code == 429, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == str(retry_after)
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["status"] == 429
    assert "API 令牌" in body["detail"]
    assert "API token" in body["detail_en"]


def test_basic_is_rate_limited_per_username_and_failures_and_successes_both_count(people, limits):
    limits.advance(timedelta(seconds=15))
    assert attempt("alice", "wrong").status_code == 401
    assert attempt("alice", "alice-pass", "192.0.2.11").status_code == 200
    assert attempt("alice", "wrong", "192.0.2.12").status_code == 401

    assert_limited(attempt("alice", "alice-pass", "192.0.2.13"), retry_after=45)
    assert attempt("charlie", "charlie-pass", "192.0.2.13").status_code == 200  # another account is its own

    limits.advance(timedelta(seconds=45))  # the next minute
    assert attempt("alice", "alice-pass").status_code == 200


def test_basic_is_rate_limited_per_client_address(people, limits):
    for n in range(5):
        attempt(f"guess{n}", "wrong", "198.51.100.7")

    assert_limited(attempt("alice", "alice-pass", "198.51.100.7"), retry_after=60)
    assert attempt("alice", "alice-pass", "198.51.100.8").status_code == 200


def test_an_attempt_over_the_limit_pays_no_password_hash(people, limits, monkeypatch):
    for _ in range(3):
        attempt("alice", "wrong")

    def no_hashing(*args, **kwargs):
        raise AssertionError("a refused attempt checked the password")

    monkeypatch.setattr("django.contrib.auth.backends.ModelBackend.authenticate", no_hashing)
    assert_limited(attempt("alice", "alice-pass"), retry_after=60)


def test_tokens_and_sessions_are_not_rate_limited(people, limits):
    secret = tokens.create(user=people["alice"], name="脚本").secret
    session = Client()
    session.force_login(people["alice"])
    for _ in range(4):
        attempt("alice", "wrong")

    for _ in range(10):
        assert (
            call(Client(REMOTE_ADDR="192.0.2.10"), "GET", "/catalogue", Authorization=f"Bearer {secret}").status_code
            == 200
        )
        assert call(session, "GET", "/catalogue").status_code == 200


def test_the_specialists_basic_is_limited_too(people, limits):
    for _ in range(3):
        assert call(Client(), "GET", "/review/queue", Authorization=basic("bob", "bob-pass")).status_code == 200
    assert_limited(call(Client(), "GET", "/review/queue", Authorization=basic("bob", "bob-pass")), retry_after=60)


def test_the_429_is_documented_in_openapi():
    from beian.provider.api import api

    responses = api.get_openapi_schema()["paths"]["/api/v1/applications"]["get"]["responses"]
    assert "application/problem+json" in responses[429]["content"]
    assert "rate limited" in api.get_openapi_schema()["info"]["description"]


@pytest.mark.parametrize(
    ("remote", "client"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("", "unknown"),
        ("not an address", "not an address"),
    ],
)
def test_clients_are_counted_by_address_and_ipv6_clients_by_their_64(remote, client):
    request = RequestFactory().get("/", REMOTE_ADDR=remote)
    assert ratelimit.client_address(request) == client


def test_a_counter_evicted_from_the_cache_starts_again(limits, monkeypatch):
    from django.core.cache import cache

    monkeypatch.setattr(cache, "add", lambda *args, **kwargs: True)  # as if evicted at once
    assert ratelimit.hit("test", "k", limit=1) is None
