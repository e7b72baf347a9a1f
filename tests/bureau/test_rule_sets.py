"""The scenarios where the two rule sets differ (DESIGN §3, S23), each run under both: `faq` (the
seed FAQ, with the filing password) and `miit2020` (MIIT since 2020-08-17: no filing password,
transfer-in and the cancellations confirmed by SMS to the principal, one domain per website).
Each test's name says the difference it proves."""

from __future__ import annotations

import pytest

from beian.bureau import outbox
from beian.bureau.models import Access, Entity, Verification, Website
from beian.messaging import send
from tests.bureau.conftest import PASSWORD, person, website
from tests.bureau.test_api_support import (
    CJK,
    approve_over_http,
    assert_problem,
    messages_to,
    new_filing_body,
    nothing_changes,
    op_body,
)

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def _password_or_none(world, rules, filed) -> dict:
    """What the submission carries of the filing password: the one the principal received, or
    nothing at all where the rules have none."""
    if not rules.filing_password:
        return {}
    return {"filing_password": world.password_of(filed.entity.number, filed.entity.principal_mobile)}


def _verifying(operation_id: str) -> set[str]:
    return set(Verification.objects.filter(operation_id=operation_id).values_list("mobile", flat=True))


def test_s01_s23_first_filing_sends_a_filing_password_only_under_faq(world, rules):
    filed = world.file("rs-first.cn")
    outbox.dispatch()
    texts = [m.body for m in send.received(filed.entity.principal_mobile)]
    mails = [m.body for m in send.received(filed.entity.principal_email)]
    sent = any(PASSWORD.search(t) for t in texts + mails)
    assert sent is rules.filing_password
    if not rules.filing_password:
        assert not any("密码" in t for t in texts + mails), texts + mails
        assert not Entity.objects.get(pk=filed.entity.pk).password_hash


def test_s02_s23_new_website_asks_a_password_under_faq_and_refuses_one_under_miit2020(
    world, rules, operator_http, public_http
):
    filed = world.file("rs-nw-base.cn")
    body = op_body(
        "new_website",
        entity_number=filed.entity.number,
        website=website("rs-nw-second.cn", principal=person(301)),
        access={"ips": ["121.40.18.12"]},
    )
    if rules.filing_password:
        with nothing_changes():
            assert_problem(
                operator_http.post("operations", body),
                422,
                "validation_failed",
                fields={"filing_password": "filing_password_required"},
            )
    else:
        with nothing_changes():
            assert_problem(
                operator_http.post("operations", {**body, "filing_password": "anything"}),
                422,
                "validation_failed",
                fields={"filing_password": "filing_password_not_used"},
            )
    r = operator_http.post("operations", {**body, **_password_or_none(world, rules, filed)})
    assert r.status_code == 201, r.content
    done = approve_over_http(operator_http, public_http, r.json()["id"])
    assert done["website_number"] == filed.entity.number + "-2"


def test_s03_s23_transfer_in_by_password_and_sms_under_faq_by_sms_alone_under_miit2020(
    world, rules, other_http, public_http
):
    filed = world.file("rs-move.cn")
    body = op_body(
        "transfer_in",
        website_number=filed.website.number,
        access={"ips": ["119.29.7.30"]},
        **_password_or_none(world, rules, filed),
    )
    r = other_http.post("operations", body)
    assert r.status_code == 201, r.content
    op = r.json()
    # Served from submission under both (R1): the provisional access is there at once.
    assert Access.objects.filter(website=filed.website, provider=world.other, state="provisional").exists()
    # Under both the website's principal confirms by SMS; under faq the password came first.
    assert op["state"] == "awaiting_verification"
    assert _verifying(op["id"]) == {filed.website.principal_mobile}
    texts = messages_to(public_http, filed.website.principal_mobile)
    assert any(op["id"] in t and "核验码" in t for t in texts)
    assert not any("密码" in t for t in texts if op["id"] in t)
    done = approve_over_http(other_http, public_http, op["id"])
    assert done["state"] == "approved"
    assert done["website_number"] == filed.website.number  # no new number (S03)
    assert Access.objects.filter(website=filed.website, provider=world.other, state="active").exists()


@pytest.mark.parametrize("subject", ["website", "entity"])
def test_s09_s10_s23_cancellations_by_password_or_nothing_under_faq_by_sms_under_miit2020(
    world, rules, operator_http, public_http, subject
):
    filed = world.file(f"rs-cancel-{subject}.cn")
    if subject == "website":
        body = op_body("cancel_website", website_number=filed.website.number)
        principal = filed.website.principal_mobile
    else:
        body = op_body("cancel_entity", entity_number=filed.entity.number, **_password_or_none(world, rules, filed))
        principal = filed.entity.principal_mobile
    r = operator_http.post("operations", body)
    assert r.status_code == 201, r.content
    op = r.json()
    if rules.filing_password:
        # faq: cancel_entity proves itself with the password, cancel_website with nothing (seed FAQ).
        assert op["state"] == "under_review"
        assert not _verifying(op["id"])
    else:
        assert op["state"] == "awaiting_verification"
        assert _verifying(op["id"]) == {principal}
    done = approve_over_http(operator_http, public_http, op["id"])
    assert done["state"] == "approved"
    assert Website.objects.get(pk=filed.website.pk).status == "deregistered"


def test_s23_one_domain_per_website_under_miit2020_several_under_faq(rules, operator_http):
    body = new_filing_body(311, "rs-two-a.cn", domains=["rs-two-a.cn", "rs-two-b.cn"])
    r = operator_http.post("operations", body)
    if rules.max_domains_per_website is None:
        assert r.status_code == 201, r.content
    else:
        assert_problem(r, 422, "validation_failed", fields={"website.domains": "domains_too_many"})


def test_s05_s23_recovery_works_under_faq_and_answers_there_is_no_password_under_miit2020(world, rules, public_http):
    filed = world.file("rs-recover.cn")
    entity = filed.entity
    r = public_http.post(
        "password-recoveries",
        {"province": "44", "entity_number": entity.number, "cert_number": entity.cert_number},
    )
    if rules.filing_password:
        assert r.status_code == 200, r.content
        return
    body = assert_problem(r, 410, "no_filing_password")
    assert "短信核验" in body["detail"]
    assert "SMS" in body["detail_en"]
    outbox.dispatch()
    assert not any("密码" in m.body for m in send.received(entity.principal_mobile))


@pytest.mark.parametrize("path", ["/bureau/recovery/", "/bureau/recovery/form/?province=33"])
def test_s23_recovery_pages_say_there_is_no_password_under_miit2020(client, miit2020, world, path):
    r = client.get(path)
    assert r.status_code == 410
    page = r.content.decode()
    assert 'id="no-filing-password"' in page
    assert "短信核验" in page
    assert "找回备案密码" not in page


def test_s23_bureau_home_offers_recovery_only_under_faq(client, rules, world):
    page = client.get("/bureau/").content.decode()
    assert ("/bureau/recovery/" in page) is rules.filing_password
    assert ("备案密码" in page) is rules.filing_password
    assert CJK.search(page)
