"""Personal API tokens on /api/v1/ (DESIGN §9, issue 10): made and revoked by their owner, shown
once, kept as a keyed digest, refused once revoked or expired or when the account is disabled, never
in a response after creation nor in a log, and costing one query and no password hash a request."""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from beian.provider import tokens
from beian.provider.models import ApiToken
from tests.provider.test_api_authorization import alice_application, call

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make(user, name: str = "部署脚本", days: int | None = None) -> str:
    return tokens.create(user=user, name=name, expires_in_days=days).secret


def forged(secret: str) -> str:
    """The same key id with a secret one character off: always a different secret."""
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


def assert_refused(response, code: str) -> None:
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == 401
    assert body["detail"] != body["detail_en"]  # said in Chinese and in English
    assert response["WWW-Authenticate"].startswith("Bearer")


# ---------------------------------------------------------------- made, listed, revoked


def test_a_token_made_through_the_api_is_shown_once_and_never_again(people):
    client = signed_in(people["alice"])

    made = call(client, "POST", "/tokens", {"name": "部署脚本", "expires_in_days": 30})

    assert made.status_code == 201, made.content
    assert made["Cache-Control"] == "no-store"
    secret = made.json()["token"]
    assert secret.startswith("beian_")
    assert made.json()["shown_as"] == secret[: len("beian_") + 16 + 1] + "…"
    assert made.json()["status"] == "active"
    listed = call(client, "GET", "/tokens")
    assert listed.status_code == 200
    assert "token" not in listed.json()["items"][0]
    assert secret not in listed.content.decode()
    assert secret[-43:] not in listed.content.decode()
    revoked = call(client, "POST", f"/tokens/{made.json()['id']}/revoke")
    assert revoked.status_code == 200
    assert secret[-43:] not in revoked.content.decode()


def test_a_token_authenticates_as_its_account_without_csrf_or_password(people):
    alice = people["alice"]
    app = alice_application(alice, "draft")
    client = Client(enforce_csrf_checks=True)
    secret = make(alice)

    listed = call(client, "GET", "/applications", **bearer(secret))
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [str(app.pk)]
    created = call(client, "POST", "/applications", {"type": "new_filing"}, **bearer(secret))
    assert created.status_code == 201, created.content


def test_a_customers_token_is_refused_by_the_review_endpoints(people):
    response = call(Client(), "GET", "/review/queue", **bearer(make(people["alice"])))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_a_specialists_token_reaches_the_review_endpoints(people):
    alice_application(people["alice"], "submitted")
    response = call(Client(), "GET", "/review/queue", **bearer(make(people["bob"])))
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_a_token_can_make_and_revoke_tokens_but_basic_cannot(people):
    client = Client()
    secret = make(people["alice"])
    made = call(client, "POST", "/tokens", {"name": "轮换"}, **bearer(secret))
    assert made.status_code == 201
    basic = "Basic " + base64.b64encode(b"alice:alice-pass").decode()
    assert call(client, "GET", "/tokens", Authorization=basic).status_code == 401
    assert call(client, "POST", "/tokens", {"name": "x"}, Authorization=basic).status_code == 401

    # A script rotating its token: the new one works, the old one revokes itself.
    own_id = ApiToken.objects.get(key_id=secret[6:22]).pk
    assert call(client, "POST", f"/tokens/{own_id}/revoke", **bearer(made.json()["token"])).status_code == 200
    assert_refused(call(client, "GET", "/tokens", **bearer(secret)), "token_revoked")


def test_someone_elses_token_cannot_be_revoked(people):
    secret = make(people["alice"])
    token = ApiToken.objects.get()
    for actor in ("charlie", "bob"):
        response = call(signed_in(people[actor]), "POST", f"/tokens/{token.pk}/revoke")
        assert response.status_code == 404
    assert call(Client(), "GET", "/applications", **bearer(secret)).status_code == 200


@pytest.mark.parametrize("token_id", ["0", "-1", "abc", str(2**63), "99999999999999999999999"])
def test_revoking_a_token_id_that_names_nothing_is_404(people, token_id):
    response = call(signed_in(people["alice"]), "POST", f"/tokens/{token_id}/revoke")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_revoking_twice_keeps_the_first_revocation(people, clock):
    client = signed_in(people["alice"])
    made = call(client, "POST", "/tokens", {"name": "x"}).json()
    first = call(client, "POST", f"/tokens/{made['id']}/revoke").json()
    clock.advance(timedelta(hours=1))
    again = call(client, "POST", f"/tokens/{made['id']}/revoke")
    assert again.status_code == 200
    assert again.json()["revoked_at"] == first["revoked_at"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"name": ""}, "name", "required"),
        ({"name": "   "}, "name", "required"),
        ({"name": "a\tb"}, "name", "control_character"),
        ({"name": "x" * 61}, "name", "string_too_long"),
        ({}, "name", "missing"),
        ({"name": 7}, "name", "string_type"),
        ({"name": "x", "expires_in_days": 0}, "expires_in_days", "greater_than_equal"),
        ({"name": "x", "expires_in_days": 3651}, "expires_in_days", "less_than_equal"),
        ({"name": "x", "expires_in_days": "soon"}, "expires_in_days", "int_parsing"),
        ({"name": "x", "scopes": ["all"]}, "scopes", "extra_forbidden"),
    ],
)
def test_bad_token_requests_get_field_level_errors_in_chinese_and_english(people, body, field, code):
    response = call(signed_in(people["alice"]), "POST", "/tokens", body)
    assert response.status_code == 422, response.content
    errors = response.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, code)]
    assert errors[0]["message"] != errors[0]["message_en"]  # said in Chinese and in English
    assert not ApiToken.objects.exists()


def test_the_number_of_live_tokens_of_an_account_is_bounded(people, monkeypatch):
    monkeypatch.setattr(tokens, "ACTIVE_MAX", 2)
    client = signed_in(people["alice"])
    first = call(client, "POST", "/tokens", {"name": "a"}).json()
    assert call(client, "POST", "/tokens", {"name": "b"}).status_code == 201

    refused = call(client, "POST", "/tokens", {"name": "c"})
    assert refused.status_code == 409
    assert refused.json()["code"] == "token_limit_reached"
    call(client, "POST", f"/tokens/{first['id']}/revoke")
    assert call(client, "POST", "/tokens", {"name": "c"}).status_code == 201
    assert call(signed_in(people["charlie"]), "POST", "/tokens", {"name": "a"}).status_code == 201


# ---------------------------------------------------------------- refused


def test_token_refused_after_revocation(people):
    secret = make(people["alice"])
    assert call(Client(), "GET", "/applications", **bearer(secret)).status_code == 200

    tokens.revoke(ApiToken.objects.get())

    response = call(Client(), "GET", "/applications", **bearer(secret))
    assert_refused(response, "token_revoked")
    assert "/portal/tokens/" in response.json()["detail"]


def test_token_refused_after_expiry(people, clock):
    secret = make(people["alice"], days=30)
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert call(Client(), "GET", "/applications", **bearer(secret)).status_code == 200

    clock.advance(timedelta(seconds=1))

    assert_refused(call(Client(), "GET", "/applications", **bearer(secret)), "token_expired")


def test_a_token_without_expiry_works_until_revoked(people, clock):
    secret = make(people["alice"])
    clock.advance(timedelta(days=3650))
    assert call(Client(), "GET", "/applications", **bearer(secret)).status_code == 200


def test_token_refused_when_its_account_is_disabled(people):
    secret = make(people["alice"])
    people["alice"].is_active = False
    people["alice"].save()
    assert_refused(call(Client(), "GET", "/applications", **bearer(secret)), "account_inactive")


def test_a_wrong_secret_is_invalid_and_does_not_tell_whether_the_token_is_revoked(people):
    secret = make(people["alice"])
    tokens.revoke(ApiToken.objects.get())
    assert_refused(call(Client(), "GET", "/applications", **bearer(forged(secret))), "token_invalid")


@pytest.mark.parametrize(
    "value",
    [
        "Bearer",
        "Bearer ",
        "Bearer beian_",
        "Bearer not-a-token",
        "bearer beian_0123456789abcdef_" + "A" * 43,
        "Bearer beian_0123456789ABCDEF_" + "A" * 43,
        "Bearer beian_0123456789abcdef_" + "A" * 44,
        "Bearer " + "x" * 10_000,
        "Bearer 令牌",
    ],
)
def test_malformed_or_unknown_bearer_tokens_are_401_not_500(people, value):
    assert_refused(call(Client(), "GET", "/applications", Authorization=value), "token_invalid")


def test_a_refused_token_never_falls_back_to_the_session(people):
    client = signed_in(people["alice"])
    assert call(client, "GET", "/applications").status_code == 200
    assert_refused(call(client, "GET", "/applications", Authorization="Bearer nope"), "token_invalid")


def test_a_token_works_on_a_cross_site_request_because_no_browser_sends_it_by_itself(people):
    """Basic is refused on cross-site unsafe requests (a browser may replay cached credentials); a
    bearer token is never ambient, so whoever sends one holds it and the Origin changes nothing."""
    response = call(
        Client(),
        "POST",
        "/applications",
        {"type": "new_filing"},
        Origin="https://evil.example",
        **bearer(make(people["alice"])),
    )
    assert response.status_code == 201


# ---------------------------------------------------------------- storage and cost


def test_the_secret_is_kept_only_as_a_keyed_digest(people, settings):
    secret = make(people["alice"])
    row = ApiToken.objects.values().get()
    assert all(secret[-43:] not in str(value) for value in row.values())
    assert row["key_id"] == secret[6:22]
    assert row["digest"] == tokens.digest(secret) != tokens.digest(secret, "another key")

    settings.SECRET_KEY = "a new key"
    assert_refused(call(Client(), "GET", "/applications", **bearer(secret)), "token_invalid")


def test_a_token_survives_a_secret_key_rotation_through_the_fallbacks(people, settings):
    secret = make(people["alice"])
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a new key"

    assert call(Client(), "GET", "/applications", **bearer(secret)).status_code == 200
    assert ApiToken.objects.get().digest == tokens.digest(secret)  # re-keyed under the new key

    settings.SECRET_KEY_FALLBACKS = []
    assert call(Client(), "GET", "/applications", **bearer(secret)).status_code == 200


def test_token_authentication_is_one_query_and_no_password_hash(people, monkeypatch):
    secret = make(people["alice"])
    call(Client(), "GET", "/catalogue", **bearer(secret))  # the first use writes last_used_at

    def no_hashing(*args, **kwargs):
        raise AssertionError("a token request checked a password")

    monkeypatch.setattr("django.contrib.auth.hashers.check_password", no_hashing)
    monkeypatch.setattr("django.contrib.auth.backends.ModelBackend.authenticate", no_hashing)
    with CaptureQueriesContext(connection) as queries:
        response = call(Client(), "GET", "/catalogue", **bearer(secret))
    assert response.status_code == 200
    assert len(queries) == 1, [q["sql"] for q in queries]


def test_last_used_is_written_at_most_once_a_minute(people, clock):
    secret = make(people["alice"])
    token = ApiToken.objects.get()
    assert token.last_used_at is None

    def writes() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert call(Client(), "GET", "/catalogue", **bearer(secret)).status_code == 200
        return sum(q["sql"].startswith("UPDATE") for q in queries)

    assert writes() == 1
    token.refresh_from_db()
    assert token.last_used_at == clock.now()
    clock.advance(timedelta(seconds=59))
    assert [writes() for _ in range(5)] == [0] * 5
    clock.advance(timedelta(seconds=1))
    assert writes() == 1
    token.refresh_from_db()
    assert token.last_used_at == clock.now()


# ---------------------------------------------------------------- never in a log


def test_the_secret_never_appears_in_a_log_or_a_later_response(people, settings, caplog):
    settings.DEBUG = True  # the most talkative: SQL with its parameters, ninja's own warnings
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    client = signed_in(people["alice"])
    made = call(client, "POST", "/tokens", {"name": "部署脚本", "expires_in_days": 30})
    secret = made.json()["token"]
    answers = [
        call(Client(), "GET", "/applications", **bearer(secret)),
        call(Client(), "GET", "/applications", **bearer(forged(secret))),
        call(client, "GET", "/tokens"),
        call(client, "POST", f"/tokens/{made.json()['id']}/revoke"),
        call(Client(), "GET", "/applications", **bearer(secret)),
        call(client, "GET", "/tokens/1/nothing"),
    ]
    basic = base64.b64encode(b"alice:alice-pass").decode()
    answers.append(call(Client(), "GET", "/applications", Authorization=f"Basic {basic}"))

    assert "API token" in caplog.text  # made and revoked are logged, by their public part
    assert "SELECT" in caplog.text  # and the SQL, with its parameters
    logged = caplog.text + "".join(json.dumps([str(a) for a in r.args or ()]) for r in caplog.records)
    for needle in (secret, secret[-43:], basic, "alice-pass"):
        assert needle not in logged
    for answer in answers:
        assert secret[-43:] not in answer.content.decode()
