"""Whole stories through the portal's and the console's pages (their POST forms), over the real
bureau behind its HTTP API: S01 (new filing to numbers), S15 (returned with a field reason, fixed,
resubmitted), S16 (expired, told, submitted again), S08 (R4 warning), S09/S12/S14/R11 (what stops
being served, confirmation required, no withdraw for cancellations)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from beian.core.clock import CHINA
from beian.provider import delivery, sync
from beian.provider.models import Application, Delivery, FiledEntity, FiledWebsite
from tests.provider.test_flow import decide_at_bureau, verify_at_bureau
from tests.provider.test_portal_pages import ENTITY_NUMBER, mirror, new_filing_post, signed_in, text

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State


@pytest.fixture
def alice(people) -> Client:
    return signed_in(people["alice"])


@pytest.fixture
def bob(people) -> Client:
    return signed_in(people["bob"])


def start(client: Client, op_type: str, **target) -> Application:
    """'New application': pick the type (and the filing), as the portal's first step does."""
    before = set(Application.objects.values_list("pk", flat=True))
    r = client.post("/portal/applications/new/", {"type": op_type, **target})
    assert r.status_code == 302, text(r)
    return Application.objects.exclude(pk__in=before).get()


def fill(client: Client, app: Application, post: dict) -> None:
    r = client.post(f"/portal/applications/{app.pk}/edit/", post)
    assert r.status_code == 302, re.findall(r'class="errorlist[^>]*>(.*?)</ul>', text(r), re.S)
    assert r["Location"] == f"/portal/applications/{app.pk}/"


def submit(client: Client, app: Application, **fields) -> str:
    r = client.post(f"/portal/applications/{app.pk}/submit/", fields)
    return text(r) if r.status_code == 200 else ""


def row(page: str, path: str) -> str:
    """The data row of one field on an application page."""
    dom = "field-" + path.replace(".", "-")
    return page.split(f'id="{dom}"')[1].split("</tr>")[0]


def test_s01_new_filing_through_the_portal_and_console(people, alice, bob, bureau, django_capture_on_commit_callbacks):
    app = start(alice, "new_filing")
    assert app.state == S.DRAFT
    page = text(alice.get(f"/portal/applications/{app.pk}/edit/"))
    assert 'name="website-name"' in page
    assert 'id="save-and-review"' in page

    fill(alice, app, new_filing_post(1, "example-s01.cn"))
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert 'id="submit-application"' in page
    assert "example-s01.cn" in row(page, "website.domains")
    assert "filing-password" not in page  # a new filing has no password yet
    assert submit(alice, app) == ""
    app.refresh_from_db()
    assert app.state == S.SUBMITTED
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert "待初审" in page
    assert "等待备案专员初审" in page

    queue = text(bob.get("/console/"))
    assert f'id="review-{app.pk}"' in queue
    assert "alice" in queue
    page = text(bob.get(f"/console/applications/{app.pk}/"))
    assert 'id="approve-application"' in page
    assert 'name="reason-website-name"' in page
    r = bob.post(f"/console/applications/{app.pk}/approve/")
    assert r.status_code == 302
    app.refresh_from_db()
    assert app.state == S.DELIVERED
    assert Delivery.objects.filter(application=app).exists()
    assert "待提交管局" in text(alice.get(f"/portal/applications/{app.pk}/"))

    delivery.deliver_due(client=bureau)
    sync.sync_once(client=bureau)
    app.refresh_from_db()
    assert app.state == S.AWAITING_VERIFICATION
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert "待短信核验" in page
    link = f"{settings.BEIAN_BUREAU_PUBLIC_URL}/bureau/verify/?operation={app.bureau_operation_id}"
    assert f'id="verification-link" href="{link}"' in page
    deadline = app.verification_deadline.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    assert f"截止 {deadline}" in page
    assert "逾期申请将失效" in page
    assert "主体负责人、网站负责人" in page
    dashboard = text(alice.get("/portal/"))
    assert link in dashboard  # the to-do list links the verification too

    verify_at_bureau(bureau, app)
    sync.sync_once(client=bureau)
    app.refresh_from_db()
    assert app.state == S.BUREAU_REVIEW
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert "管局审核中" in page
    assert f"{app.window_earliest:%Y-%m-%d} 至 {app.window_latest:%Y-%m-%d}" in page

    decide_at_bureau(bureau, app)
    with django_capture_on_commit_callbacks(execute=True):
        sync.sync_once(client=bureau)
    app.refresh_from_db()
    assert app.state == S.APPROVED
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert "已备案" in page
    assert app.website_number == app.entity_number + "-1"
    assert f'<span id="website-number">{app.website_number}</span>' in page
    dashboard = text(alice.get("/portal/"))
    assert app.entity_number in dashboard
    assert "example-s01.cn" in dashboard
    entity = FiledEntity.objects.get(number=app.entity_number)
    assert text(alice.get(f"/portal/entities/{entity.pk}/")).count(app.website_number) >= 1
    assert 'id="queue-empty"' in text(bob.get("/console/"))


def test_s15_returned_field_is_highlighted_fixed_and_resubmitted(people, alice, bob):
    app = start(alice, "new_filing")
    fill(alice, app, new_filing_post(2, "example-s15.cn", **{"website-name": "随便网站"}))
    submit(alice, app)

    r = bob.post(
        f"/console/applications/{app.pk}/return/",
        {"reason-website-name": "网站名称须与网站内容一致，请修改", "reason": ""},
    )
    assert r.status_code == 302
    app.refresh_from_db()
    assert app.state == S.RETURNED
    assert app.field_reasons[0]["field"] == "website.name"

    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert "初审驳回待修改" in page
    assert 'id="return-reasons"' in page
    flagged = row(page, "website.name")
    assert "网站名称须与网站内容一致，请修改" in flagged
    assert page.split('id="field-website-name"')[0].endswith("<tr ")
    assert 'id="field-website-name" class="flagged"' in page
    assert 'id="field-entity-name" class="flagged"' not in page  # only that field
    assert 'id="edit-application"' in page

    page = text(alice.get(f"/portal/applications/{app.pk}/edit/"))
    block = page.split('id="wrap-website-name"')[0].rsplit("<div", 1)[1] + page.split('id="wrap-website-name"')[1]
    assert "flagged" in block.split(">")[0]
    assert "网站名称须与网站内容一致，请修改" in block.split('id="wrap-')[0]
    assert 'value="随便网站"' in page

    fill(alice, app, new_filing_post(2, "example-s15.cn", **{"website-name": "企业产品介绍网站"}))
    app.refresh_from_db()
    assert app.state == S.DRAFT
    assert app.data["website"]["name"] == "企业产品介绍网站"
    submit(alice, app)
    app.refresh_from_db()
    assert app.state == S.SUBMITTED
    assert app.field_reasons == []

    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    timeline = page.split('id="timeline"')[1]
    assert timeline.count('data-action="submit"') == 2
    assert timeline.count('data-action="return"') == 1
    assert timeline.count('data-action="edit"') == 1
    assert "网站名称须与网站内容一致，请修改" in timeline
    assert "备案专员 bob" in timeline
    console_timeline = text(bob.get(f"/console/applications/{app.pk}/")).split('id="timeline"')[1]
    assert console_timeline.count('data-action="submit"') == 2

    bob.post(f"/console/applications/{app.pk}/approve/")
    app.refresh_from_db()
    assert app.state == S.DELIVERED


def test_s16_expired_verification_is_told_and_can_be_submitted_again(people, alice, bob, bureau):
    app = start(alice, "new_filing")
    fill(alice, app, new_filing_post(3, "example-s16.cn"))
    submit(alice, app)
    bob.post(f"/console/applications/{app.pk}/approve/")
    delivery.deliver_due(client=bureau)
    app.refresh_from_db()
    assert app.state == S.AWAITING_VERIFICATION

    moved = bureau._http.post("http://127.0.0.1/bureau/sim/v1/clock/advance", json={"hours": 25})
    assert moved.status_code == 200, moved.text
    sync.sync_once(client=bureau)
    app.refresh_from_db()
    assert app.state == S.EXPIRED
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert "已过期" in page
    assert 'id="expired-notice"' in page
    assert "未在有效期内完成短信核验" in page
    assert 'id="copy-application"' in page
    assert 'id="withdraw-application"' not in page

    r = alice.post(f"/portal/applications/{app.pk}/copy/")
    again = Application.objects.exclude(pk=app.pk).get()
    assert r["Location"] == f"/portal/applications/{again.pk}/edit/"
    assert again.data == app.data
    submit(alice, again)
    again.refresh_from_db()
    assert again.state == S.SUBMITTED


def test_s12_cancel_access_needs_confirmation_and_has_no_withdraw_button(people, alice):
    mirror(people["alice"])
    app = start(alice, "cancel_access", website=f"{ENTITY_NUMBER}-1")
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert 'id="irreversible-warning"' in page
    assert "取消接入提交后不可撤回" in page
    stops = page.split('id="stops-serving"')[1].split("</ul>")[0]
    assert "site1-mirror.cn" in stops
    assert "site2-mirror.cn" not in stops
    assert "备案号保留" in page
    assert 'id="confirm-irreversible"' in page

    # R11: not without the confirmation.
    page = submit(alice, app)
    assert page, "the page comes back with the error"
    block = page.split('id="confirm-irreversible"')[1].split("</div>")[0]
    assert "此操作提交后不可撤回" in block
    app.refresh_from_db()
    assert app.state == S.DRAFT

    assert submit(alice, app, confirm_irreversible="on") == ""
    app.refresh_from_db()
    assert app.state == S.SUBMITTED
    for state in (S.SUBMITTED, S.PROVIDER_REVIEW, S.DELIVERED, S.AWAITING_VERIFICATION, S.BUREAU_REVIEW):
        Application.objects.filter(pk=app.pk).update(state=state)
        page = text(alice.get(f"/portal/applications/{app.pk}/"))
        assert 'id="withdraw-application"' not in page, state
        assert "不可撤回" in page

    Application.objects.filter(pk=app.pk).update(state=S.SUBMITTED)
    r = alice.post(f"/portal/applications/{app.pk}/withdraw/", follow=True)
    assert "不可撤回" in text(r)
    app.refresh_from_db()
    assert app.state == S.SUBMITTED


def test_s14_a_change_website_can_be_withdrawn_before_the_bureau_decides(people, alice):
    mirror(people["alice"])
    app = start(alice, "change_website", website=f"{ENTITY_NUMBER}-1")
    fill(alice, app, {"website_number": f"{ENTITY_NUMBER}-1", "website-name": "新的网站名称", "action": "review"})
    submit(alice, app)
    app.refresh_from_db()
    assert app.state == S.SUBMITTED
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert 'id="withdraw-application"' in page
    alice.post(f"/portal/applications/{app.pk}/withdraw/")
    app.refresh_from_db()
    assert app.state == S.WITHDRAWN


def test_s09_cancel_website_lists_only_that_website_and_the_window(people, alice):
    mirror(people["alice"])
    app = start(alice, "cancel_website", website=f"{ENTITY_NUMBER}-2")
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    stops = page.split('id="stops-serving"')[1].split("</ul>")[0]
    assert "site2-mirror.cn" in stops
    assert "site1-mirror.cn" not in stops
    assert "3–20 个工作日" in page
    assert "其他网站不受影响" in page
    submit(alice, app, confirm_irreversible="on")
    app.refresh_from_db()
    assert app.state == S.SUBMITTED


def test_s08_changing_the_entity_name_warns_but_can_be_submitted(people, alice):
    mirror(people["alice"])
    app = start(alice, "change_entity", entity=ENTITY_NUMBER)
    fill(
        alice,
        app,
        {"entity_number": ENTITY_NUMBER, "entity-name": "新名称科技有限公司", "action": "review"},
    )
    app.refresh_from_db()
    assert app.data == {"entity_number": ENTITY_NUMBER, "entity": {"name": "新名称科技有限公司"}}
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    warnings = page.split('id="warnings"')[1].split("</div>")[0]
    assert "咨询备案专员" in warnings
    assert 'data-code="consult_specialist"' in warnings
    submit(alice, app)
    app.refresh_from_db()
    assert app.state == S.SUBMITTED


def test_new_website_asks_for_the_filing_password_at_submission(people, alice):
    mirror(people["alice"])
    app = start(alice, "new_website", entity=ENTITY_NUMBER)
    from tests.provider.conftest import person

    p = person(11)
    fill(
        alice,
        app,
        {
            "entity_number": ENTITY_NUMBER,
            "website-name": "第二个网站",
            "website-domains": "second-site.cn",
            "website-principal-name": p["name"],
            "website-principal-id_type": p["id_type"],
            "website-principal-id_number": p["id_number"],
            "website-principal-mobile": p["mobile"],
            "website-principal-email": p["email"],
            "access-ips": "121.40.18.11",
            "action": "review",
        },
    )
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert 'id="filing-password"' in page
    page = submit(alice, app)
    assert "请填写备案密码" in page.split('id="filing-password"')[1].split("</div>")[0]
    app.refresh_from_db()
    assert app.state == S.DRAFT
    submit(alice, app, filing_password="the-password")
    app.refresh_from_db()
    assert app.state == S.SUBMITTED
    assert app.filing_password == "the-password"
    assert "the-password" not in text(alice.get(f"/portal/applications/{app.pk}/"))


def test_decision_window_marks_an_unpublished_calendar(people, alice):
    app = start(alice, "new_filing")
    fill(alice, app, new_filing_post(4, "window.cn"))
    from datetime import date

    Application.objects.filter(pk=app.pk).update(
        state=S.BUREAU_REVIEW,
        window_earliest=date(2027, 1, 4),
        window_latest=date(2027, 2, 1),
        window_provisional=True,
    )
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert "2027-01-04 至 2027-02-01" in page
    assert 'id="window-provisional"' in page
    assert "节假日安排未公布" in page
    Application.objects.filter(pk=app.pk).update(window_provisional=False)
    assert 'id="window-provisional"' not in text(alice.get(f"/portal/applications/{app.pk}/"))


def test_mirror_website_with_access_ended_shows_at_risk_on_its_entity_page(people, alice):
    entity = mirror(people["alice"])
    FiledWebsite.objects.filter(number=f"{ENTITY_NUMBER}-1").update(access_state="ended")
    page = text(alice.get(f"/portal/entities/{entity.pk}/"))
    assert "空壳风险" in page
    site = FiledWebsite.objects.get(number=f"{ENTITY_NUMBER}-1")
    assert f'id="action-cancel_access-{site.pk}"' not in page  # nothing to cancel here any more


def test_bureau_rejection_is_shown_with_its_reason_and_can_be_copied(people, alice):
    app = start(alice, "new_filing")
    fill(alice, app, new_filing_post(5, "rejected-page.cn"))
    Application.objects.filter(pk=app.pk).update(state=S.REJECTED, reason="主办单位资料与证件不符")
    page = text(alice.get(f"/portal/applications/{app.pk}/"))
    assert "管局驳回" in page
    assert "主办单位资料与证件不符" in page.split('id="next-step"')[1]
    assert 'id="copy-application"' in page
    assert 'id="withdraw-application"' not in page
    assert 'id="submit-application"' not in page


def _step_on_page(page: str) -> str:
    return re.search(r'class="next-step" data-step="([a-z_]+)"', page)[1]


def test_the_page_and_the_api_say_the_same_next_step_at_every_state(people, alice, bob, bureau):
    """What to do next is computed once (beian.provider.next_step): the portal and the JSON API may
    word it differently, never disagree on the step, its deadline, its link or its window."""

    def agree(app: Application) -> dict:
        api = alice.get(f"/api/v1/applications/{app.pk}").json()["next_step"]
        page = text(alice.get(f"/portal/applications/{app.pk}/"))
        assert _step_on_page(page) == api["code"], app.state
        if api["link"]:
            assert f'id="verification-link" href="{api["link"]}"' in page
        if api["expected_by"]:
            assert f"预计 {api['expected_by']} 前" in page
        if api["window"]:
            assert f"{api['window']['earliest']} 至 {api['window']['latest']}" in page
        return api

    app = start(alice, "new_filing")
    assert agree(app)["code"] == "complete_and_submit"
    fill(alice, app, new_filing_post(7, "agree-s01.cn"))
    submit(alice, app)
    app.refresh_from_db()
    assert agree(app)["expected_by"]
    bob.post(f"/console/applications/{app.pk}/approve/")
    app.refresh_from_db()
    assert agree(app)["code"] == "wait_delivery"
    delivery.deliver_due(client=bureau)
    sync.sync_once(client=bureau)
    app.refresh_from_db()
    assert agree(app)["link"]
    verify_at_bureau(bureau, app)
    sync.sync_once(client=bureau)
    app.refresh_from_db()
    assert agree(app)["window"]
    decide_at_bureau(bureau, app)
    sync.sync_once(client=bureau)
    app.refresh_from_db()
    assert agree(app)["numbers"] == [app.entity_number, app.website_number]
