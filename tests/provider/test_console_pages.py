"""The specialists' console: only specialists get in, the queue is oldest first, and an application
is claimed, approved, or returned with a reason next to each field (S15)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client

from beian.provider import applications
from beian.provider.models import Application, Delivery
from tests.provider.conftest import enterprise, person, website
from tests.provider.test_portal_pages import signed_in, text

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State


def submitted(owner, n: int = 1, domain: str | None = None) -> Application:
    p = person(n)
    data = {
        "entity": enterprise(n, principal=p),
        "website": website(domain or f"console-{n}.cn", principal=p),
        "access": {"ips": ["121.40.18.10"]},
    }
    app = applications.create_draft(owner=owner, op_type="new_filing", data=data)
    return applications.submit(app=app, user=owner)


@pytest.fixture
def bob(people) -> Client:
    return signed_in(people["bob"])


# ---------------------------------------------------------------- who gets in


@pytest.mark.parametrize("path", ["/console/", "/console/applications/00000000-0000-4000-8000-000000000000/"])
def test_anonymous_is_sent_to_the_console_sign_in(client, path):
    r = client.get(path)
    assert r.status_code == 302
    assert r["Location"].startswith("/console/login/?next=")


def test_a_customer_is_refused_the_console(people):
    app = submitted(people["alice"])
    alice = signed_in(people["alice"])
    r = alice.get("/console/")
    assert r.status_code == 403
    assert "仅供备案专员使用" in text(r)
    assert alice.get(f"/console/applications/{app.pk}/").status_code == 403
    assert alice.post(f"/console/applications/{app.pk}/approve/").status_code == 403
    assert alice.post(f"/console/applications/{app.pk}/return/", {"reason": "x"}).status_code == 403
    app.refresh_from_db()
    assert app.state == S.SUBMITTED


def test_specialist_signs_in_and_a_customer_is_refused_at_the_console_login(people, client):
    page = text(client.get("/console/login/"))
    assert 'id="login-submit"' in page
    r = client.post("/console/login/", {"username": "alice", "password": "alice-pass"})
    assert r.status_code == 200
    assert "不是备案专员" in text(r)
    assert "_auth_user_id" not in client.session
    r = client.post("/console/login/", {"username": "bob", "password": "bob-pass"})
    assert r.status_code == 302
    assert r["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    r = client.post("/console/logout/")
    assert r["Location"] == "/console/login/"
    assert client.get("/console/").status_code == 302


def test_unknown_application_is_404(bob):
    assert bob.get(f"/console/applications/{uuid.uuid4()}/").status_code == 404
    assert bob.post(f"/console/applications/{uuid.uuid4()}/approve/").status_code == 404


# ---------------------------------------------------------------- the queue


def test_queue_is_oldest_first_with_type_customer_time_and_age(people, bob, clock):
    first = submitted(people["alice"], 1)
    clock.advance(timedelta(hours=3))
    second = submitted(people["charlie"], 2)
    clock.advance(timedelta(days=3))
    third = submitted(people["alice"], 3)
    draft = applications.create_draft(owner=people["alice"], op_type="new_filing")
    page = text(bob.get("/console/"))
    positions = [page.index(f'id="review-{a.pk}"') for a in (first, second, third)]
    assert positions == sorted(positions)
    assert f'id="review-{draft.pk}"' not in page
    assert "首次备案" in page
    assert "charlie" in page
    assert f"{first.submitted_at.astimezone(clock.now().tzinfo):%Y-%m-%d %H:%M}" in page
    assert "3 天 3 小时" in page  # the first one's age
    assert "已超时" in page


# ---------------------------------------------------------------- decisions


def test_application_page_offers_a_reason_box_per_field(people, bob):
    app = submitted(people["alice"])
    page = text(bob.get(f"/console/applications/{app.pk}/"))
    for path in (
        "entity-unit_type",
        "entity-name",
        "entity-cert_number",
        "entity-principal-mobile",
        "website-name",
        "website-domains",
        "website-principal-id_number",
        "access-ips",
    ):
        assert f'name="reason-{path}"' in page, path
        assert f'id="reason-{path}"' in page, path
    assert 'id="return-reason"' in page
    assert 'id="claim-application"' in page
    assert 'id="approve-application"' in page
    assert 'id="return-application"' in page
    assert "console-1.cn" in page
    assert 'id="timeline"' in page


def test_application_page_shows_the_customers_sealed_email_and_mobile(people, bob):
    app = submitted(people["alice"])
    page = text(bob.get(f"/console/applications/{app.pk}/"))
    customer = page.split('id="customer">')[1].split("</dd>")[0]
    assert customer == "alice · alice@example.cn · 13600000001"


def test_claim_then_approve(people, bob):
    app = submitted(people["alice"])
    r = bob.post(f"/console/applications/{app.pk}/claim/")
    assert r.status_code == 302
    app.refresh_from_db()
    assert app.state == S.PROVIDER_REVIEW
    assert app.reviewer == people["bob"]
    page = text(bob.get(f"/console/applications/{app.pk}/"))
    assert 'id="claim-application"' not in page
    assert "初审中" in page
    r = bob.post(f"/console/applications/{app.pk}/approve/")
    assert r["Location"] == "/console/"
    app.refresh_from_db()
    assert app.state == S.DELIVERED
    assert Delivery.objects.filter(application=app).count() == 1
    # A second approval is refused and changes nothing.
    r = bob.post(f"/console/applications/{app.pk}/approve/", follow=True)
    assert "不能执行此操作" in text(r)
    assert Delivery.objects.filter(application=app).count() == 1
    assert 'id="approve-application"' not in text(bob.get(f"/console/applications/{app.pk}/"))


def test_return_needs_a_reason_and_changes_nothing_without_one(people, bob):
    app = submitted(people["alice"])
    r = bob.post(f"/console/applications/{app.pk}/return/", {"reason": "   ", "reason-website-name": ""})
    assert r.status_code == 200
    assert "请说明驳回理由" in text(r)
    app.refresh_from_db()
    assert app.state == S.SUBMITTED


def test_return_with_field_reasons(people, bob):
    app = submitted(people["alice"])
    r = bob.post(
        f"/console/applications/{app.pk}/return/",
        {
            "reason-website-name": "名称与内容不符",
            "reason-entity-address": "请填写营业执照上的地址",
            "reason-not-a-field": "ignored",
            "reason": "请按标注修改",
        },
    )
    assert r.status_code == 302
    app.refresh_from_db()
    assert app.state == S.RETURNED
    assert {(f["field"], f["message"]) for f in app.field_reasons} == {
        ("website.name", "名称与内容不符"),
        ("entity.address", "请填写营业执照上的地址"),
    }
    assert app.reason == "请按标注修改"
    page = text(bob.get(f"/console/applications/{app.pk}/"))
    assert 'id="return-application"' not in page
    assert "名称与内容不符" in page.split('id="timeline"')[1]


def test_a_specialist_does_not_review_their_own_application(people):
    app = submitted(people["bob"])
    bob = signed_in(people["bob"])
    page = text(bob.get(f"/console/applications/{app.pk}/"))
    assert 'id="own-application"' in page
    assert 'id="approve-application"' not in page
    r = bob.post(f"/console/applications/{app.pk}/approve/", follow=True)
    assert "不能审核自己提交的申请" in text(r)
    bob.post(f"/console/applications/{app.pk}/return/", {"reason": "x"})
    app.refresh_from_db()
    assert app.state == S.SUBMITTED
