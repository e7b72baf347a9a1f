"""The bureau's public HTML pages: home, query (S17), SMS verification (S16), password recovery
online (S05) and by mailed form (S06)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client

from beian.bureau import secrets, simulation
from beian.bureau.models import Entity, Operation
from tests.bureau.conftest import enterprise, person, website

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def _text(response) -> str:
    return response.content.decode()


def _unmasked(page: str) -> str:
    """The page without what differs on every request: the CSRF token and the scripts' CSP nonce."""
    page = re.sub(r'nonce="[^"]*"', 'nonce=""', page)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken"', page)


def _new_filing(world, domain: str, *, two_principals: bool = False, province: str = "44") -> Operation:
    """A new filing submitted and waiting for SMS verification."""
    world.counter += 1
    n = world.counter
    entity_principal = person(n)
    site_principal = person(n + 500) if two_principals else entity_principal
    return world.submit(
        "new_filing",
        {
            "entity": enterprise(n, province=province, principal=entity_principal),
            "website": website(domain, principal=site_principal),
            "access": {"ips": ["121.40.18.10"]},
        },
    )


# ---------------------------------------------------------------- every page renders


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/bureau/", "模拟管局"),
        ("/bureau/query/", "ICP备案查询"),
        ("/bureau/verify/", "备案短信核验"),
        ("/bureau/verify/?operation=not-a-uuid", "备案短信核验"),
        ("/bureau/recovery/", "在线找回备案密码"),
        ("/bureau/recovery/form/?province=33", "浙江省通信管理局"),
    ],
)
def test_public_pages_render_in_chinese(client, sim_clock, path, marker):
    r = client.get(path)
    assert r.status_code == 200
    text = _text(r)
    assert marker in text
    assert "模拟管局 — 本系统为模拟环境" in text  # the simulation banner
    assert "Simulated bureau" in text


def test_home_shows_simulated_date_and_outage(client, sim_clock):
    text = _text(client.get("/bureau/"))
    assert "2026-03-02" in text
    assert "暂停服务" not in text
    simulation.set_outage(True)
    r = client.get("/bureau/")
    assert r.status_code == 200
    assert "暂停服务" in _text(r)


def test_no_banner_outside_simulation(client, sim_clock, settings):
    settings.BEIAN_SIMULATION = False
    assert "模拟管局 — 本系统为模拟环境" not in _text(client.get("/bureau/query/"))


# ---------------------------------------------------------------- S17 public query


def test_s17_query_page_shows_public_fields_only(client, world):
    op = world.file("example-s17.cn")
    entity = Entity.objects.get(number=op.result["entity_number"])
    for kind, q in (
        ("domain", "www.example-s17.cn"),
        ("number", op.result["website_number"]),
        ("number", op.result["entity_number"]),
        ("name", entity.name[:6]),
    ):
        r = client.get("/bureau/query/", {"kind": kind, "q": q})
        assert r.status_code == 200
        text = _text(r)
        assert op.result["website_number"] in text, kind
        assert entity.name in text
        assert "example-s17.cn" in text
        assert "企业" in text
        assert "2026-03-02" in text  # 审核通过日期
        for secret in (entity.cert_number, entity.principal_mobile, entity.principal_email, entity.address):
            assert secret not in text
        assert entity.principal_id_number not in text


def test_query_unknown_domain_says_nothing_found(client, world):
    r = client.get("/bureau/query/", {"kind": "domain", "q": "nobody-filed-this.cn"})
    assert r.status_code == 200
    assert "没有查询到已备案的记录" in _text(r)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "domain", "q": "not a domain"}, "请填写有效的域名"),
        ({"kind": "number", "q": "ICP123"}, "备案号格式应为"),
        ({"kind": "name", "q": "张"}, "至少填写 2 个字"),
        ({"kind": "bogus", "q": "example.cn"}, "请选择有效的查询方式"),
        ({"kind": "domain", "q": ""}, "此项为必填项"),
        ({"kind": "name", "q": "长" * 400}, "内容过长"),
    ],
)
def test_query_bad_input_shows_field_error(client, world, params, message):
    r = client.get("/bureau/query/", params)
    assert r.status_code == 200
    assert message in _text(r)
    assert "查询结果" not in _text(r)


def test_query_is_rate_limited(client, world, settings):
    settings.BEIAN_PUBLIC_RATE_PER_MINUTE = 2
    for _ in range(2):
        assert client.get("/bureau/query/", {"kind": "domain", "q": "example.cn"}).status_code == 200
    r = client.get("/bureau/query/", {"kind": "domain", "q": "example.cn"})
    assert r.status_code == 429
    assert "请求过于频繁" in _text(r)


def test_query_during_outage_is_refused(client, world):
    simulation.set_outage(True)
    r = client.get("/bureau/query/", {"kind": "domain", "q": "example.cn"})
    assert r.status_code == 503
    assert "管局系统暂不可用" in _text(r)


# ---------------------------------------------------------------- SMS verification


def _verify(client, op, ver, code, **extra):
    data = {
        "operation": str(op.pk),
        "mobile": ver.mobile,
        "id_last6": ver.id_last6,
        "code": code,
        "action": "confirm",
        **extra,
    }
    return client.post("/bureau/verify/", data)


def test_verification_page_is_prefilled_from_the_sms_link(client, world):
    op = _new_filing(world, "prefill.cn")
    r = client.get(f"/bureau/verify/?operation={op.pk}")
    assert r.status_code == 200
    assert f'value="{op.pk}"' in _text(r)


def test_verification_page_verifies_and_review_starts(client, world):
    op = _new_filing(world, "verify-page.cn", two_principals=True)
    first, second = op.verifications.order_by("pk")
    codes = world.codes(op)

    r = _verify(client, op, first, codes[first.mobile])
    assert r.status_code == 200
    assert "核验成功" in _text(r)
    assert "还有其他负责人尚未核验" in _text(r)
    op.refresh_from_db()
    assert op.state == Operation.State.AWAITING_VERIFICATION

    r = _verify(client, op, second, codes[second.mobile])
    assert "管局已开始审核" in _text(r)
    op.refresh_from_db()
    assert op.state == Operation.State.UNDER_REVIEW

    # Confirming again changes nothing and says so.
    r = _verify(client, op, second, codes[second.mobile])
    assert r.status_code == 200
    assert "无需核验" in _text(r)


def test_wrong_code_shows_attempts_left_then_returns_the_operation(client, world):
    op = _new_filing(world, "wrong-code.cn")
    (ver,) = op.verifications.all()
    right = world.codes(op)[ver.mobile]
    wrong = "000000" if right != "000000" else "111111"

    r = _verify(client, op, ver, wrong)
    assert r.status_code == 200
    assert "核验码不正确，还可尝试 5 次" in _text(r)
    assert f'value="{wrong}"' not in _text(r)  # a refused code is not rendered back into the page
    assert f'value="{ver.mobile}"' in _text(r)  # what else was typed is
    for _ in range(4):
        _verify(client, op, ver, wrong)
    r = _verify(client, op, ver, wrong)  # the 6th wrong entry
    assert "本次备案已被退回" in _text(r)
    op.refresh_from_db()
    assert op.state == Operation.State.EXPIRED
    # The right code no longer helps.
    r = _verify(client, op, ver, right)
    assert "已过期" in _text(r)


def test_s16_code_after_the_deadline_returns_the_operation(client, world, sim_clock):
    op = _new_filing(world, "too-late.cn")
    (ver,) = op.verifications.all()
    code = world.codes(op)[ver.mobile]
    sim_clock.advance(timedelta(hours=25))
    r = _verify(client, op, ver, code)
    assert "本次备案已被退回" in _text(r)
    op.refresh_from_db()
    assert op.state == Operation.State.EXPIRED


def test_resend_sends_a_new_code_that_works(client, world):
    op = _new_filing(world, "resend.cn")
    (ver,) = op.verifications.all()
    old = world.codes(op)[ver.mobile]
    r = client.post("/bureau/verify/", {"operation": str(op.pk), "mobile": ver.mobile, "action": "resend"})
    assert r.status_code == 200
    assert "新的核验码已发送" in _text(r)
    new = world.codes(op)[ver.mobile]
    if new != old:
        assert "核验码不正确" in _text(_verify(client, op, ver, old))
    assert "管局已开始审核" in _text(_verify(client, op, ver, new))


@pytest.mark.parametrize(
    ("override", "field_message"),
    [
        ({"operation": "garbage"}, "备案业务编号格式不正确"),
        ({"operation": ""}, "请填写短信中的备案业务编号"),
        ({"mobile": "12345"}, "请填写中国大陆手机号码"),
        ({"id_last6": "12"}, "证件号码的后 6 位"),
        ({"code": "abc"}, "核验码为 6 位数字"),
        ({"code": ""}, "请填写短信中的 6 位核验码"),
    ],
)
def test_verification_bad_input_shows_field_errors_and_changes_nothing(client, world, override, field_message):
    op = _new_filing(world, "bad-input.cn")
    (ver,) = op.verifications.all()
    data = {"operation": str(op.pk), "mobile": ver.mobile, "id_last6": ver.id_last6, "code": "123456"}
    r = client.post("/bureau/verify/", {**data, **override, "action": "confirm"})
    assert r.status_code == 200
    assert field_message in _text(r)
    ver.refresh_from_db()
    assert ver.wrong_attempts == 0


def test_verification_mismatch_reveals_nothing(client, world):
    op = _new_filing(world, "mismatch.cn")
    (ver,) = op.verifications.all()
    code = world.codes(op)[ver.mobile]
    wrong_mobile = _verify(client, op, ver, code, mobile="13912345678")
    wrong_id = _verify(client, op, ver, code, id_last6="999999")
    for r in (wrong_mobile, wrong_id):
        assert r.status_code == 200
        assert "未找到与该手机号码和证件号码匹配的待核验备案" in _text(r)
    op.refresh_from_db()
    assert op.state == Operation.State.AWAITING_VERIFICATION


# ---------------------------------------------------------------- S05 online recovery


def _recover(client, province, number, cert):
    return client.post("/bureau/recovery/", {"province": province, "entity_number": number, "cert_number": cert})


def test_s05_recovery_page_same_answer_and_only_a_match_changes_the_password(client, world):
    op = world.file("recover-s05.cn", province="33")
    entity = Entity.objects.get(number=op.result["entity_number"])
    old = world.password_of(entity.number, entity.principal_mobile)

    mismatch = _recover(client, "33", entity.number, "91330106MA0000999X")
    assert mismatch.status_code == 200
    entity.refresh_from_db()
    assert secrets.check_secret(old, entity.password_hash)  # nothing changed

    match = _recover(client, "33", entity.number, entity.cert_number)
    assert match.status_code == 200
    # A wrong combination reveals nothing (the language switch's CSRF token is masked afresh each time).
    assert _unmasked(_text(match)) == _unmasked(_text(mismatch))
    assert "新的备案密码已发送至主体负责人的手机和邮箱" in _text(match)

    entity.refresh_from_db()
    assert not secrets.check_secret(old, entity.password_hash)
    new = world.password_of(entity.number, entity.principal_mobile)
    assert new != old
    assert secrets.check_secret(new, entity.password_hash)


def test_recovery_bad_input_shows_field_errors(client, world):
    r = client.post("/bureau/recovery/", {"province": "99", "entity_number": "nonsense", "cert_number": ""})
    assert r.status_code == 200
    text = _text(r)
    assert "请选择有效的省份" in text
    assert "备案号格式应为" in text
    assert "此项为必填项" in text
    assert "申请已受理" not in text


def test_recovery_number_from_another_province_is_pointed_out(client, world):
    r = _recover(client, "33", "粤ICP备2024012345号", "91330106MA0000999X")
    assert "与所选省份不一致" in _text(r)


def test_recovery_is_rate_limited(client, world, settings):
    settings.BEIAN_PUBLIC_RATE_PER_MINUTE = 1
    assert _recover(client, "33", "浙ICP备2024012345号", "91330106MA0000999X").status_code == 200
    r = _recover(client, "33", "浙ICP备2024012345号", "91330106MA0000999X")
    assert r.status_code == 429
    assert "请求过于频繁" in _text(r)


def test_recovery_post_without_csrf_token_is_refused(world):
    op = world.file("csrf.cn", province="33")
    entity = Entity.objects.get(number=op.result["entity_number"])
    old = world.password_of(entity.number, entity.principal_mobile)
    r = _recover(Client(enforce_csrf_checks=True), "33", entity.number, entity.cert_number)
    assert r.status_code == 403
    entity.refresh_from_db()
    assert secrets.check_secret(old, entity.password_hash)


# ---------------------------------------------------------------- S06 mailed form


def test_s06_guangdong_refuses_the_mail_route_and_offers_online(client, world):
    r = client.get("/bureau/recovery/", {"mail_province": "44"})
    assert r.status_code == 200
    text = _text(r)
    assert "仅受理在线找回" in text
    assert "/bureau/recovery/form/?province=44" not in text

    r = client.get("/bureau/recovery/form/", {"province": "44"})
    assert r.status_code in (404, 409)
    assert "仅受理在线找回" in _text(r)
    assert 'href="/bureau/recovery/"' in _text(r)


def test_s06_zhejiang_form_is_printable(client, world):
    r = client.get("/bureau/recovery/", {"mail_province": "33"})
    assert "/bureau/recovery/form/?province=33" in _text(r)

    r = client.get("/bureau/recovery/form/", {"province": "33"})
    assert r.status_code == 200
    text = _text(r)
    for part in ("找回备案密码申请表", "浙江省通信管理局", "主体名称", "主体备案号", "负责人", "签字", "盖章", "邮寄"):
        assert part in text
    assert "@page" in text
    assert "@media print" in text


@pytest.mark.parametrize("province", ["", "99", "广东", "<script>"])
def test_recovery_form_for_unknown_province_is_404(client, world, province):
    r = client.get("/bureau/recovery/form/", {"province": province})
    assert r.status_code == 404
    assert "请选择主体所在省份" in _text(r)
    assert "<script>" not in _text(r)
