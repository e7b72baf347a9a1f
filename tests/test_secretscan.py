"""The suite-wide scan for secrets (tests/secretscan.py) fails a test that leaks one: proven here
by leaking on purpose and catching the failure the scan raises at the end of the test's phase."""

from __future__ import annotations

import logging

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client

from beian.bureau import secrets as bureau_secrets
from beian.provider import tokens
from beian.provider.bureau_client import InProcessWSGI
from tests import secretscan

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

log = logging.getLogger("beian.tests.leak")
# Emitted whatever level an earlier test's logging configuration left on the root: a record that is
# dropped before any handler leaks nothing, and would prove nothing here.
log.setLevel(logging.DEBUG)


def _verdict() -> str | None:
    """What the scan would say at the end of this phase; it is then forgotten, so this test passes."""
    try:
        secretscan._fail_on_leaks("call")
    except pytest.fail.Exception as failure:
        return str(failure)
    return None


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", "alice@example.cn", "alice-pass")


def test_a_token_in_a_log_record_fails_the_test(alice):
    issued = tokens.create(user=alice, name="ci")
    log.warning("made %s", issued.secret)
    verdict = _verdict()
    assert verdict is not None
    assert "api_token" in verdict
    assert "beian.tests.leak" in verdict
    assert issued.secret not in verdict  # the report does not leak it again


def test_a_secret_in_a_record_s_extra_fields_fails_the_test():
    code = bureau_secrets.new_sms_code()
    log.info("sent", extra={"code": code})
    assert "sms_code" in (_verdict() or "")


def test_a_filing_password_in_an_answer_fails_the_test_unless_that_answer_exists_to_show_it(client, settings):
    settings.EMAIL_BACKEND = "beian.messaging.backends.SandboxEmailBackend"
    from beian.messaging import send

    password = bureau_secrets.new_filing_password()
    send.sms("13800000001", f"您的备案密码为 {password}。", sender="bureau")
    assert client.get("/messages/13800000001/").status_code == 200  # the sandbox's phone: its job
    assert _verdict() is None
    client.get(f"/bureau/query/?domain={password}")  # a page that echoes what it was asked
    verdict = _verdict()
    assert verdict is not None
    assert "filing_password" in verdict
    assert "/bureau/query/" in verdict


def test_a_token_is_shown_once_by_its_creation_and_nowhere_else(alice):
    client = Client()
    client.force_login(alice)
    made = client.post("/api/v1/tokens", {"name": "ci"}, content_type="application/json")
    assert made.status_code == 201
    assert _verdict() is None
    session_id = client.cookies["sessionid"].value
    logging.getLogger("django.request").error("session %s", session_id)
    assert "session_id" in (_verdict() or "")


def test_an_httpx_answer_is_watched_too():
    password = bureau_secrets.new_filing_password()
    with httpx.Client(transport=httpx.WSGITransport(app=InProcessWSGI()), base_url="http://127.0.0.1") as client:
        assert client.get("/bureau/query/", params={"domain": password}).status_code == 200
    assert "filing_password" in (_verdict() or "")


def test_six_digits_inside_a_longer_number_or_a_timestamp_are_not_a_code():
    watch = secretscan.Watch()
    watch.learn("sms_code", "123456")
    assert watch.found(b"2026-03-02T10:00:00.123456+08:00 9123456 123456a") == []
    assert watch.found(b'{"code": "123456"}') == [("sms_code", "123456")]


def test_six_digits_the_request_typed_in_another_field_are_shown_back_without_a_leak():
    """The verification page shows the ID's last six digits it was sent; a code that happens to be
    the same digits is not leaked by that (else one run in a thousand would fail by chance)."""
    code = bureau_secrets.new_sms_code()
    page = f'<input name="id_last6" value="{code}">'.encode()
    secretscan.check_answer("POST", "/bureau/verify/", 200, [], page, typed=frozenset({code}))
    assert _verdict() is None
    secretscan.check_answer("POST", "/bureau/verify/", 200, [], page)
    assert "sms_code" in (_verdict() or "")
