"""The bureau's staff console: sign-in, the review queue, an operation's detail with approve and
reject, and recording mailed recovery forms (S06)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from beian.bureau import secrets
from beian.bureau.models import Entity, MailedRecovery, Operation, Reviewer
from beian.bureau.views import SESSION_KEY
from tests.bureau.conftest import enterprise, person, website

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

PASSWORD = "reviewer-pass-1"


def _text(response) -> str:
    return response.content.decode()


@pytest.fixture
def reviewer(world) -> Reviewer:
    return Reviewer.objects.create(username="zhou", name="审核员周", password=make_password(PASSWORD))


@pytest.fixture
def staff(reviewer) -> Client:
    client = Client()
    r = client.post("/bureau/console/login/", {"username": "zhou", "password": PASSWORD})
    assert r.status_code == 303, r.content
    return client


def _under_review(world, domain: str) -> Operation:
    world.counter += 1
    n = world.counter
    principal = person(n)
    op = world.submit(
        "new_filing",
        {
            "entity": enterprise(n, principal=principal),
            "website": website(domain, principal=principal),
            "access": {"ips": ["121.40.18.10"]},
        },
    )
    op = world.verify_all(op)
    assert op.state == Operation.State.UNDER_REVIEW
    return op


def _decide(client, op, decision, reason="", version=None):
    op.refresh_from_db()
    return client.post(
        f"/bureau/console/operations/{op.pk}/",
        {"decision": decision, "reason": reason, "version": op.version if version is None else version},
    )


# ---------------------------------------------------------------- sign-in


@pytest.mark.parametrize(
    "path",
    [
        "/bureau/console/",
        "/bureau/console/recoveries/",
        "/bureau/console/operations/00000000-0000-4000-8000-000000000000/",
    ],
)
def test_console_requires_login(client, world, path):
    r = client.get(path)
    assert r.status_code == 302
    assert r["Location"].startswith("/bureau/console/login/?next=")


def test_login_page_renders(client, world):
    r = client.get("/bureau/console/login/")
    assert r.status_code == 200
    assert "管局工作台登录" in _text(r)


def test_login_and_logout(client, reviewer):
    before = client.session.session_key
    r = client.post(
        "/bureau/console/login/?next=/bureau/console/recoveries/", {"username": "zhou", "password": PASSWORD}
    )
    assert r.status_code == 303
    assert r["Location"] == "/bureau/console/recoveries/"
    assert client.session[SESSION_KEY] == reviewer.pk
    assert client.session.session_key != before
    assert client.get("/bureau/console/").status_code == 200

    r = client.post("/bureau/console/logout/")
    assert r.status_code == 303
    assert SESSION_KEY not in client.session
    assert client.get("/bureau/console/").status_code == 302


def test_login_refuses_an_outside_next(client, reviewer):
    r = client.post(
        "/bureau/console/login/", {"username": "zhou", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert r["Location"] == "/bureau/console/"


def test_wrong_login_is_refused_without_a_hint(client, reviewer):
    wrong_password = client.post("/bureau/console/login/", {"username": "zhou", "password": "nope"})
    unknown_user = client.post("/bureau/console/login/", {"username": "nobody", "password": PASSWORD})
    for r in (wrong_password, unknown_user):
        assert r.status_code == 200
        assert "用户名或密码不正确" in _text(r)
        assert SESSION_KEY not in client.session
    assert client.get("/bureau/console/").status_code == 302


def test_inactive_reviewer_cannot_sign_in_or_stay(staff, reviewer):
    Reviewer.objects.filter(pk=reviewer.pk).update(active=False)
    assert staff.get("/bureau/console/").status_code == 302
    r = staff.post("/bureau/console/login/", {"username": "zhou", "password": PASSWORD})
    assert "用户名或密码不正确" in _text(r)


def test_login_without_csrf_token_is_refused(reviewer):
    r = Client(enforce_csrf_checks=True).post("/bureau/console/login/", {"username": "zhou", "password": PASSWORD})
    assert r.status_code == 403


# ---------------------------------------------------------------- the queue


def test_queue_lists_operations_under_review_with_due_dates(staff, world, sim_clock):
    op = _under_review(world, "queue.cn")
    waiting = world.submit(
        "new_filing",
        {
            "entity": enterprise(900),
            "website": website("waiting.cn", principal=person(900)),
            "access": {"ips": ["121.40.18.10"]},
        },
    )
    r = staff.get("/bureau/console/")
    assert r.status_code == 200
    text = _text(r)
    assert "审核队列" in text
    assert "首次备案" in text
    assert f"/bureau/console/operations/{op.pk}/" in text
    assert f"/bureau/console/operations/{waiting.pk}/" not in text
    op.refresh_from_db()
    assert op.window_latest.isoformat() in text
    assert "广东省" in text
    assert "本平台" in text
    assert "已超期" not in text

    r = staff.get("/bureau/console/", {"tab": "verification"})
    assert f"/bureau/console/operations/{waiting.pk}/" in _text(r)

    assert "节假日安排未公布" not in text
    Operation.objects.filter(pk=op.pk).update(window_provisional=True)
    assert "节假日安排未公布" in _text(staff.get("/bureau/console/"))

    sim_clock.advance(timedelta(days=60))
    assert "已超期" in _text(staff.get("/bureau/console/"))


def test_queue_province_filter_and_decided_tab(staff, world):
    op = _under_review(world, "filter.cn")
    assert f"{op.pk}" not in _text(staff.get("/bureau/console/", {"province": "33"}))
    assert f"{op.pk}" in _text(staff.get("/bureau/console/", {"province": "44"}))
    # Nonsense filters fall back to the defaults instead of failing.
    assert staff.get("/bureau/console/", {"province": "xx", "tab": "nope", "page": "-3"}).status_code == 200
    world.approve(op)
    assert f"{op.pk}" in _text(staff.get("/bureau/console/", {"tab": "decided"}))


def test_provincial_reviewer_sees_only_their_province(client, world):
    Reviewer.objects.create(username="zj", name="浙江审核员", password=make_password(PASSWORD), province_id="33")
    client.post("/bureau/console/login/", {"username": "zj", "password": PASSWORD})
    op = _under_review(world, "guangdong-only.cn")
    assert f"{op.pk}" not in _text(client.get("/bureau/console/"))
    assert client.get(f"/bureau/console/operations/{op.pk}/").status_code == 404


# ---------------------------------------------------------------- an operation


def test_detail_shows_data_verifications_and_audit(staff, world):
    op = _under_review(world, "detail.cn")
    r = staff.get(f"/bureau/console/operations/{op.pk}/")
    assert r.status_code == 200
    text = _text(r)
    assert "首次备案" in text
    assert "管局审核中" in text
    assert "detail.cn" in text
    assert "主办单位名称" in text
    assert op.data["entity"]["name"] in text
    ver = op.verifications.get()
    assert f"{ver.mobile[:3]}****{ver.mobile[-4:]}" in text  # masked in the verification list
    assert "已核验" in text
    assert "接入商提交" in text
    assert "开始审核" in text
    assert 'value="approve"' in text
    assert 'value="reject"' in text
    assert "filing_password" not in text


def test_approve_from_the_console(staff, world, reviewer):
    op = _under_review(world, "approve.cn")
    r = _decide(staff, op, "approve")
    assert r.status_code == 303
    op.refresh_from_db()
    assert op.state == Operation.State.APPROVED
    assert op.result["website_number"]
    page = _text(staff.get(r["Location"]))
    assert "已审核通过" in page
    assert "reviewer:zhou" in page
    assert 'value="approve"' not in page


def test_reject_needs_a_reason_then_rejects(staff, world):
    op = _under_review(world, "reject.cn")
    r = _decide(staff, op, "reject", reason="   ")
    assert r.status_code == 400
    assert "驳回须填写理由" in _text(r)
    op.refresh_from_db()
    assert op.state == Operation.State.UNDER_REVIEW

    r = _decide(staff, op, "reject", reason="网站名称与内容不符")
    assert r.status_code == 303
    op.refresh_from_db()
    assert op.state == Operation.State.REJECTED
    assert op.reason == "网站名称与内容不符"


def test_deciding_twice_or_on_a_stale_page_is_a_message_not_a_500(staff, world):
    op = _under_review(world, "twice.cn")
    stale_version = Operation.objects.get(pk=op.pk).version
    assert _decide(staff, op, "approve").status_code == 303

    r = _decide(staff, op, "reject", reason="晚了一步", version=stale_version)
    assert r.status_code == 409
    assert "操作已被同时修改" in _text(r)

    r = _decide(staff, op, "reject", reason="晚了一步")
    assert r.status_code == 409
    assert "不能执行" in _text(r)
    op.refresh_from_db()
    assert op.state == Operation.State.APPROVED


@pytest.mark.parametrize(
    "data",
    [{}, {"decision": "maybe", "version": "0"}, {"decision": "approve", "version": "x"}, {"decision": "approve"}],
)
def test_bad_decision_posts_change_nothing(staff, world, data):
    op = _under_review(world, "bad-post.cn")
    r = staff.post(f"/bureau/console/operations/{op.pk}/", data)
    assert r.status_code == 400
    assert "请选择审核结论" in _text(r) or "无效的审核结论" in _text(r) or "页面已过期" in _text(r)
    op.refresh_from_db()
    assert op.state == Operation.State.UNDER_REVIEW


def test_console_never_offers_reject_for_cancel_access(staff, world):
    filed = world.file("cancel-access.cn")
    op = world.submit("cancel_access", {"website_number": filed.result["website_number"]})
    assert op.state == Operation.State.UNDER_REVIEW
    text = _text(staff.get(f"/bureau/console/operations/{op.pk}/"))
    assert "取消接入" in text
    assert 'value="approve"' in text
    assert 'value="reject"' not in text

    r = _decide(staff, op, "reject", reason="试图驳回")
    assert r.status_code == 409
    op.refresh_from_db()
    assert op.state == Operation.State.UNDER_REVIEW
    assert _decide(staff, op, "approve").status_code == 303


@pytest.mark.parametrize(
    "path",
    ["/bureau/console/operations/not-a-uuid/", "/bureau/console/operations/1234/", "/bureau/console/operations/"],
)
def test_garbage_operation_id_is_404(staff, world, path):
    assert staff.get(path).status_code == 404


def test_unknown_operation_is_404(staff, world):
    assert staff.get(f"/bureau/console/operations/{uuid.uuid4()}/").status_code == 404
    assert staff.post(f"/bureau/console/operations/{uuid.uuid4()}/", {"decision": "approve"}).status_code == 404


def test_decision_without_csrf_token_is_refused(reviewer, world):
    op = _under_review(world, "csrf-console.cn")
    client = Client(enforce_csrf_checks=True)
    session = client.session
    session[SESSION_KEY] = reviewer.pk
    session.save()
    r = _decide(client, op, "approve")
    assert r.status_code == 403
    op.refresh_from_db()
    assert op.state == Operation.State.UNDER_REVIEW


# ---------------------------------------------------------------- S06 mailed recovery


def test_recoveries_page_renders(staff):
    r = staff.get("/bureau/console/recoveries/")
    assert r.status_code == 200
    assert "找回备案密码申请表" in _text(r)


def test_s06_recording_a_mailed_form_issues_a_new_password(staff, world):
    op = world.file("mailed-zj.cn", province="33")
    entity = Entity.objects.get(number=op.result["entity_number"])
    old = world.password_of(entity.number, entity.principal_mobile)
    r = staff.post(
        "/bureau/console/recoveries/",
        {"entity_number": entity.number, "received_on": "2026-03-02", "note": "EMS 1234"},
    )
    assert r.status_code == 303
    entity.refresh_from_db()
    assert not secrets.check_secret(old, entity.password_hash)
    new = world.password_of(entity.number, entity.principal_mobile)
    assert secrets.check_secret(new, entity.password_hash)
    record = MailedRecovery.objects.get(entity=entity)
    assert record.recorded_by == "zhou"
    page = _text(staff.get(r["Location"]))
    assert "新的备案密码已发送" in page
    assert entity.number in page
    assert "EMS 1234" in page


def test_s06_mailed_form_for_a_guangdong_entity_is_refused(staff, world):
    op = world.file("mailed-gd.cn", province="44")
    entity = Entity.objects.get(number=op.result["entity_number"])
    old = world.password_of(entity.number, entity.principal_mobile)
    r = staff.post("/bureau/console/recoveries/", {"entity_number": entity.number, "received_on": "2026-03-01"})
    assert r.status_code == 409
    text = _text(r)
    assert "仅受理在线找回" in text
    assert 'href="/bureau/recovery/"' in text
    entity.refresh_from_db()
    assert secrets.check_secret(old, entity.password_hash)
    assert not MailedRecovery.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"entity_number": "nonsense", "received_on": "2026-03-01"}, "备案号格式应为"),
        ({"entity_number": "浙ICP备2020999999号", "received_on": "2026-03-01"}, "未找到该主体备案号"),
        ({"entity_number": "浙ICP备2020999999号", "received_on": "2026-03-09"}, "收到日期不能晚于今天"),
        ({"entity_number": "浙ICP备2020999999号", "received_on": "yesterday"}, "日期格式应为"),
        ({"entity_number": "", "received_on": ""}, "此项为必填项"),
    ],
)
def test_mailed_form_bad_input_shows_field_errors(staff, world, data, message):
    r = staff.post("/bureau/console/recoveries/", data)
    assert r.status_code in (400, 422)
    assert message in _text(r)
    assert not MailedRecovery.objects.exists()
