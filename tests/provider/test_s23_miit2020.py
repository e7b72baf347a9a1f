"""S23 end to end through the provider's portal and console, over the real bureau: under the MIIT
2020 rules a transfer-in and the cancellations are confirmed by an SMS code to the principal, and
no filing password is issued, asked for or offered anywhere the customer looks."""

from __future__ import annotations

import pytest
from django.test import Client

from beian.bureau.models import Operation, Provider
from beian.messaging import send
from beian.provider import applications, delivery, review, sync
from beian.provider.models import Application, FiledEntity, FiledWebsite
from tests.bureau.conftest import World
from tests.provider.test_flow import _filed, decide_at_bureau, verify_at_bureau
from tests.provider.test_portal_pages import signed_in, text

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State


def _no_filing_password(page: str) -> None:
    assert "备案密码" not in page
    assert "filing-password" not in page
    assert "/bureau/recovery/" not in page


def _through_the_bureau(people, bureau, app: Application, *, verified_by: set[str]) -> Application:
    """The specialist approves, delivery takes it to the bureau, the principals named confirm their
    codes, the bureau approves and sync brings it home."""
    review.approve(app=app, specialist=people["bob"])
    delivery.deliver_due(client=bureau)
    sync.sync_once(client=bureau)
    app.refresh_from_db()
    assert app.state == S.AWAITING_VERIFICATION
    op = Operation.objects.get(pk=app.bureau_operation_id)
    assert set(op.verifications.values_list("mobile", flat=True)) == verified_by
    verify_at_bureau(bureau, app)
    sync.sync_once(client=bureau)
    decide_at_bureau(bureau, app)
    sync.sync_once(client=bureau)
    app.refresh_from_db()
    assert app.state == S.APPROVED
    return app


def test_s23_no_password_at_first_filing_and_none_on_the_customers_pages(people, bureau, miit2020):
    filed = _filed(people, bureau, 231, "s23-first.cn")
    op = Operation.objects.get(pk=filed.bureau_operation_id)
    mobile = op.entity.principal_mobile
    assert not [m.body for m in send.received(mobile) if "密码" in m.body]
    alice = signed_in(people["alice"])
    entity = FiledEntity.objects.get(number=filed.entity_number)
    for path in (
        f"/portal/applications/{filed.pk}/",
        "/portal/",
        "/portal/applications/new/",
        f"/portal/entities/{entity.pk}/",
    ):
        r = alice.get(path)
        assert r.status_code == 200, path
        _no_filing_password(text(r))
    draft = applications.create_draft(owner=people["alice"], op_type="new_filing", data={})
    _no_filing_password(text(alice.get(f"/portal/applications/{draft.pk}/edit/")))


def test_s23_transfer_in_is_confirmed_by_sms_to_the_website_principal_without_a_password(
    people, bureau, keys, miit2020
):
    other = Provider.objects.get(slug="other")
    world = World(Provider.objects.get(slug="operator"), other, keys)
    elsewhere = world.file("s23-moving.cn", provider=other)
    alice = signed_in(people["alice"])
    app = applications.create_draft(
        owner=people["alice"],
        op_type="transfer_in",
        data={"website_number": elsewhere.website.number, "access": {"ips": ["121.40.18.30"]}},
    )
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    _no_filing_password(page)
    r = alice.post(f"/portal/applications/{app.pk}/submit/", {})
    assert r.status_code == 302, text(r)
    app.refresh_from_db()
    assert app.state == S.SUBMITTED
    review.approve(app=app, specialist=people["bob"])
    delivery.deliver_due(client=bureau)
    sync.sync_once(client=bureau)
    app.refresh_from_db()
    # Served from submission (R1), and waiting for the website principal's code, not a password.
    assert app.state == S.AWAITING_VERIFICATION
    site = FiledWebsite.objects.get(number=elsewhere.website.number)
    assert site.access_state == "provisional"
    op = Operation.objects.get(pk=app.bureau_operation_id)
    assert list(op.verifications.values_list("mobile", flat=True)) == [elsewhere.website.principal_mobile]
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert "待短信核验" in page
    _no_filing_password(page)
    verify_at_bureau(bureau, app)
    sync.sync_once(client=bureau)
    decide_at_bureau(bureau, app)
    sync.sync_once(client=bureau)
    app.refresh_from_db()
    site.refresh_from_db()
    assert app.state == S.APPROVED
    assert site.access_state == "active"
    assert app.website_number == elsewhere.website.number  # no new number


@pytest.mark.parametrize(("op_type", "principal"), [("cancel_website", "website"), ("cancel_entity", "entity")])
def test_s23_cancellations_are_confirmed_by_sms_to_the_principal(people, bureau, miit2020, op_type, principal):
    filed = _filed(people, bureau, 232 if op_type == "cancel_website" else 233, f"s23-{op_type.replace('_', '-')}.cn")
    bureau_op = Operation.objects.get(pk=filed.bureau_operation_id)
    mobile = getattr(bureau_op, principal).principal_mobile
    target = {"website_number": filed.website_number} if principal == "website" else {}
    if principal == "entity":
        target = {"entity_number": filed.entity_number}
    alice = signed_in(people["alice"])
    app = applications.create_draft(owner=people["alice"], op_type=op_type, data=target)
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    _no_filing_password(page)
    assert "短信核验" in page
    r = alice.post(f"/portal/applications/{app.pk}/submit/", {"confirm_irreversible": "on"})
    assert r.status_code == 302, text(r)
    app.refresh_from_db()
    app = _through_the_bureau(people, bureau, app, verified_by={mobile})
    site = FiledWebsite.objects.get(number=filed.website_number)
    assert site.status == "deregistered"


def test_s23_the_catalogue_says_there_is_no_filing_password(people, miit2020):
    client = Client()
    client.force_login(people["alice"])
    r = client.get("/api/v1/catalogue")
    assert r.status_code == 200
    body = r.json()
    assert body["filing_password"] is False
    assert not any(op["password"] for op in body["operations"])
    assert body["max_domains_per_website"] == 1
