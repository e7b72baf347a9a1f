"""The customer's portal pages: each renders for its customer, asks anonymous visitors to sign in,
hides other customers' applications and filings (404), and refuses bad input next to the field
without creating or changing anything."""

from __future__ import annotations

import pytest
from django.test import Client

from beian.provider import applications
from beian.provider.forms import ApplicationForm
from beian.provider.models import Application, FiledDomain, FiledEntity, FiledWebsite
from tests.provider.conftest import enterprise, person, website

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State

ENTITY_NUMBER = "粤ICP备2026000001号"


def text(response) -> str:
    return response.content.decode()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def mirror(owner, *, number: str = ENTITY_NUMBER, sites: int = 2, unit_type: str = "enterprise") -> FiledEntity:
    """Filings in the mirror as the event feed would leave them: an entity with websites accessed here."""
    entity = FiledEntity.objects.create(
        number=number, name="测试科技有限公司", unit_type=unit_type, province="44", status="active", owner=owner
    )
    for n in range(1, sites + 1):
        site = FiledWebsite.objects.create(
            entity=entity,
            number=f"{number}-{n}",
            name=f"测试网站{n}",
            home_url=f"http://site{n}-mirror.cn",
            status="active",
            access_state="active",
            ips=["121.40.18.10"],
        )
        FiledDomain.objects.create(website=site, name=f"site{n}-mirror.cn")
    return entity


def new_filing_post(n: int, domain: str, *, action: str = "review", **overrides) -> dict:
    """The new-filing form as a customer fills it in."""
    p = person(n)
    e = enterprise(n, principal=p)
    post = {
        "entity-unit_type": e["unit_type"],
        "entity-name": e["name"],
        "entity-cert_type": e["cert_type"],
        "entity-cert_number": e["cert_number"],
        "entity-province": e["province"],
        "entity-address": e["address"],
        "entity-principal-name": p["name"],
        "entity-principal-id_type": p["id_type"],
        "entity-principal-id_number": p["id_number"],
        "entity-principal-mobile": p["mobile"],
        "entity-principal-email": p["email"],
        "website-name": "测试网站",
        "website-domains": domain,
        "website-home_url": "",
        "website-principal-same": "on",
        "access-ips": "121.40.18.10",
        "action": action,
    }
    post.update(overrides)
    return post


@pytest.fixture
def alice_client(people) -> Client:
    return signed_in(people["alice"])


@pytest.fixture
def charlie_client(people) -> Client:
    return signed_in(people["charlie"])


def alice_draft(people, op_type: str = "new_filing", data: dict | None = None) -> Application:
    if data is None:
        p = person(7)
        data = {
            "entity": enterprise(7, principal=p),
            "website": website("draft-page.cn", principal=p),
            "access": {"ips": ["121.40.18.10"]},
        }
    return applications.create_draft(owner=people["alice"], op_type=op_type, data=data)


# ---------------------------------------------------------------- every page renders for its customer


def test_dashboard_lists_filings_applications_and_risks(people, alice_client):
    entity = mirror(people["alice"])
    shell = entity.websites.get(number=f"{ENTITY_NUMBER}-2")
    shell.access_state = "ended"
    shell.save()
    app = alice_draft(people)
    r = alice_client.get("/portal/")
    assert r.status_code == 200
    page = text(r)
    assert ENTITY_NUMBER in page
    assert "site1-mirror.cn" in page
    assert "接入中" in page
    assert "空壳风险" in page
    assert f'id="risk-{shell.pk}"' in page
    assert "其他接入商处办理接入" in page
    assert f'id="application-{app.pk}"' in page
    assert "待完善信息" in page
    assert 'id="new-application"' in page


def test_dashboard_shell_website_says_when_it_will_be_deregistered(people, alice_client, clock):
    entity = mirror(people["alice"], sites=1)
    site = entity.websites.get()
    site.shell_since = clock.now()
    site.access_state = "ended"
    site.save()
    page = text(alice_client.get("/portal/"))
    assert "空壳风险" in page
    assert "已没有任何接入商接入" in page
    assert "宽限期满" in page


def test_dashboard_empty_says_how_to_start(alice_client):
    page = text(alice_client.get("/portal/"))
    assert 'id="no-filings"' in page
    assert "首次备案" in page


def test_entity_page_offers_the_operations_on_each_filing(people, alice_client):
    entity = mirror(people["alice"])
    r = alice_client.get(f"/portal/entities/{entity.pk}/")
    assert r.status_code == 200
    page = text(r)
    assert 'id="action-new_website"' in page
    site = entity.websites.get(number=f"{ENTITY_NUMBER}-1")
    assert f'id="action-cancel_access-{site.pk}"' in page
    assert "type=cancel_access&amp;website=" in page


@pytest.mark.parametrize("op_type", ["new_filing", "new_website", "transfer_in", "change_website", "cancel_access"])
def test_application_pages_render_for_each_type(people, alice_client, op_type):
    mirror(people["alice"])
    data = {
        "new_filing": None,
        "new_website": {"entity_number": ENTITY_NUMBER},
        "transfer_in": {"website_number": "京ICP备2020000001号-1"},
        "change_website": {"website_number": f"{ENTITY_NUMBER}-1"},
        "cancel_access": {"website_number": f"{ENTITY_NUMBER}-1"},
    }[op_type]
    app = alice_draft(people, op_type, data)
    r = alice_client.get(f"/portal/applications/{app.pk}/")
    assert r.status_code == 200
    assert 'id="state-badge"' in text(r)
    assert "待完善信息" in text(r)
    r = alice_client.get(f"/portal/applications/{app.pk}/edit/")
    assert r.status_code == 200


def test_new_application_page_explains_the_nine_types(alice_client):
    r = alice_client.get("/portal/applications/new/")
    assert r.status_code == 200
    page = text(r)
    for code, name in [
        ("new_filing", "首次备案"),
        ("new_website", "新增网站"),
        ("transfer_in", "转入备案"),
        ("change_entity", "变更主体"),
        ("change_website", "变更网站"),
        ("change_access", "变更接入"),
        ("cancel_entity", "注销主体"),
        ("cancel_website", "注销网站"),
        ("cancel_access", "取消接入"),
    ]:
        assert f'id="type-{code}"' in page
        assert name in page
    assert "需备案密码" in page
    assert "提交后不可撤回" in page


def test_new_application_picks_a_filing_of_ones_own(people, alice_client):
    mirror(people["alice"])
    r = alice_client.get("/portal/applications/new/?type=cancel_website&website=" + f"{ENTITY_NUMBER}-2")
    assert r.status_code == 200
    assert f'value="{ENTITY_NUMBER}-2" selected' in text(r)
    r = alice_client.post("/portal/applications/new/", {"type": "cancel_website", "website": f"{ENTITY_NUMBER}-2"})
    app = Application.objects.get(owner=people["alice"])
    assert r.status_code == 302
    assert r["Location"] == f"/portal/applications/{app.pk}/"
    assert app.data == {"website_number": f"{ENTITY_NUMBER}-2"}

    r = alice_client.post("/portal/applications/new/", {"type": "new_website", "entity": ENTITY_NUMBER})
    app = Application.objects.get(owner=people["alice"], type="new_website")
    assert r["Location"] == f"/portal/applications/{app.pk}/edit/"
    assert app.data == {"entity_number": ENTITY_NUMBER}


# ---------------------------------------------------------------- anonymous visitors sign in first


@pytest.mark.parametrize(
    "path",
    [
        "/portal/",
        "/portal/applications/new/",
        "/portal/applications/00000000-0000-4000-8000-000000000000/",
        "/portal/applications/00000000-0000-4000-8000-000000000000/edit/",
        "/portal/entities/1/",
    ],
)
def test_anonymous_is_sent_to_sign_in(client, path):
    r = client.get(path)
    assert r.status_code == 302
    assert r["Location"].startswith("/portal/login/?next=")


def test_anonymous_post_changes_nothing(client, people):
    app = alice_draft(people)
    r = client.post(f"/portal/applications/{app.pk}/submit/")
    assert r.status_code == 302
    assert r["Location"].startswith("/portal/login/")
    app.refresh_from_db()
    assert app.state == S.DRAFT


# ---------------------------------------------------------------- someone else's is a 404


def test_charlie_cannot_see_or_touch_alices_application(people, charlie_client):
    app = alice_draft(people)
    base = f"/portal/applications/{app.pk}/"
    assert charlie_client.get(base).status_code == 404
    assert charlie_client.get(base + "edit/").status_code == 404
    assert charlie_client.post(base + "edit/", new_filing_post(9, "charlie.cn")).status_code == 404
    for action in ("submit", "withdraw", "abandon", "copy"):
        assert charlie_client.post(base + action + "/").status_code == 404
    app.refresh_from_db()
    assert app.state == S.DRAFT
    assert app.data["website"]["domains"] == ["draft-page.cn"]
    assert Application.objects.count() == 1


def test_charlie_cannot_see_alices_entity_or_act_on_it(people, charlie_client):
    entity = mirror(people["alice"])
    assert charlie_client.get(f"/portal/entities/{entity.pk}/").status_code == 404
    page = text(charlie_client.get("/portal/"))
    assert ENTITY_NUMBER not in page
    r = charlie_client.post("/portal/applications/new/", {"type": "cancel_website", "website": f"{ENTITY_NUMBER}-1"})
    assert r.status_code == 200
    assert "请从列表中选择" in text(r)
    assert not Application.objects.exists()


# ---------------------------------------------------------------- bad input: errors in Chinese, nothing created


def test_new_application_without_type_or_target_creates_nothing(people, alice_client):
    mirror(people["alice"])
    r = alice_client.post("/portal/applications/new/", {})
    assert r.status_code == 200
    assert "请选择申请类型" in text(r)
    r = alice_client.post("/portal/applications/new/", {"type": "cancel_access"})
    assert "请选择要办理此业务的网站" in text(r)
    r = alice_client.post("/portal/applications/new/", {"type": "transfer_in", "transfer_number": "not a number"})
    assert "无法识别的备案号" in text(r)
    r = alice_client.post("/portal/applications/new/", {"type": "no_such_type"})
    assert "请选择有效的申请类型" in text(r)
    assert not Application.objects.exists()


def test_cancel_access_only_for_a_website_served_here(people, alice_client):
    entity = mirror(people["alice"])
    entity.websites.filter(number=f"{ENTITY_NUMBER}-2").update(access_state="ended")
    r = alice_client.post("/portal/applications/new/", {"type": "cancel_access", "website": f"{ENTITY_NUMBER}-2"})
    assert r.status_code == 200
    assert "当前未在本平台接入" in text(r)
    assert not Application.objects.exists()


def test_invalid_fields_are_refused_next_to_each_field_and_nothing_is_saved(people, alice_client):
    app = alice_draft(people)
    before = dict(app.data)
    post = new_filing_post(
        3,
        "http://www.bad-input.cn/path\n1.2.3.4",
        **{
            "entity-principal-mobile": "12345",
            "entity-principal-email": "not-an-email",
            "entity-cert_number": "91440300MA00000000",
            "website-name": "example.cn",
            "access-ips": "10.0.0.1",
            "entity-province": "99",
        },
        action="save",
    )
    r = alice_client.post(f"/portal/applications/{app.pk}/edit/", post)
    assert r.status_code == 200
    page = text(r)
    assert 'id="form-error-summary"' in page
    assert "请填写中国大陆手机号码" in page
    assert "电子邮箱地址格式不正确" in page
    assert "统一社会信用代码" in page
    assert "网站名称不能是域名或网址" in page
    assert "请只填写域名" in page
    assert "IP 地址不能备案" in page
    assert "内网或专用地址" in page
    assert "请从列表中选择" in page
    # Each message sits in its field's block.
    mobile_block = page.split('id="wrap-entity-principal-mobile"')[1].split('id="wrap-')[0]
    assert "请填写中国大陆手机号码" in mobile_block
    app.refresh_from_db()
    assert app.data == before


def test_unit_type_decides_the_certificate(people, alice_client):
    app = alice_draft(people, data={})
    post = new_filing_post(4, "cert-check.cn", **{"entity-unit_type": "individual"}, action="save")
    r = alice_client.post(f"/portal/applications/{app.pk}/edit/", post)
    assert r.status_code == 200
    block = text(r).split('id="wrap-entity-cert_type"')[1].split('id="wrap-')[0]
    assert "单位性质为个人时" in block
    app.refresh_from_db()
    assert app.data == {}


def test_a_partial_draft_saves_and_review_says_what_is_missing(people, alice_client):
    app = alice_draft(people, data={})
    partial = {"entity-unit_type": "enterprise", "entity-name": "部分填写科技有限公司", "action": "save"}
    r = alice_client.post(f"/portal/applications/{app.pk}/edit/", partial)
    assert r.status_code == 302
    app.refresh_from_db()
    assert app.data == {"entity": {"unit_type": "enterprise", "name": "部分填写科技有限公司"}}
    r = alice_client.post(f"/portal/applications/{app.pk}/edit/", {**partial, "action": "review"})
    assert r.status_code == 200
    page = text(r)
    assert "必填项" in page
    block = page.split('id="wrap-entity-address"')[1].split('id="wrap-')[0]
    assert "必填项" in block
    assert "网站信息：必填项" in page


def test_edit_saves_data_in_the_shape_filing_check_expects(people, alice_client):
    from beian.core import filing

    app = alice_draft(people, data={})
    r = alice_client.post(f"/portal/applications/{app.pk}/edit/", new_filing_post(5, "shape.cn\nshape2.cn"))
    assert r.status_code == 302, text(r)
    assert r["Location"] == f"/portal/applications/{app.pk}/"
    app.refresh_from_db()
    assert set(app.data) == {"entity", "website", "access"}
    assert app.data["website"]["domains"] == ["shape.cn", "shape2.cn"]
    assert app.data["website"]["principal"] == app.data["entity"]["principal"]
    assert app.data["access"] == {"ips": ["121.40.18.10"]}
    filing.check("new_filing", app.data)  # raises if anything is missing or wrong


def test_edit_refused_once_submitted(people, alice_client):
    app = alice_draft(people)
    applications.submit(app=app, user=people["alice"])
    r = alice_client.get(f"/portal/applications/{app.pk}/edit/")
    assert r.status_code == 302
    r = alice_client.post(f"/portal/applications/{app.pk}/edit/", new_filing_post(6, "late.cn"))
    assert r.status_code == 302
    app.refresh_from_db()
    assert app.data["website"]["domains"] == ["draft-page.cn"]
    assert "不能修改" in text(alice_client.get(f"/portal/applications/{app.pk}/"))


def test_change_website_keeps_only_what_changes(people, alice_client):
    mirror(people["alice"])
    app = alice_draft(people, "change_website", {"website_number": f"{ENTITY_NUMBER}-1"})
    page = text(alice_client.get(f"/portal/applications/{app.pk}/edit/"))
    assert "当前：测试网站1" in page
    post = {
        "website_number": f"{ENTITY_NUMBER}-1",
        "website-name": "测试网站1",  # unchanged
        "website-domains": "site1-mirror.cn",  # unchanged
        "website-home_url": "https://site1-mirror.cn/home",
        "action": "save",
    }
    r = alice_client.post(f"/portal/applications/{app.pk}/edit/", post)
    assert r.status_code == 302
    app.refresh_from_db()
    assert app.data == {
        "website_number": f"{ENTITY_NUMBER}-1",
        "website": {"home_url": "https://site1-mirror.cn/home"},
    }
    # A change may remove domains, never add one.
    post["website-domains"] = "site1-mirror.cn\nnew-one.cn"
    r = alice_client.post(f"/portal/applications/{app.pk}/edit/", post)
    assert r.status_code == 200
    assert "只能删除域名" in text(r)


def test_submit_with_missing_fields_shows_them_on_the_page(people, alice_client):
    app = alice_draft(people, data={"entity": {"unit_type": "enterprise"}})
    r = alice_client.post(f"/portal/applications/{app.pk}/submit/")
    assert r.status_code == 200
    page = text(r)
    assert 'id="submit-errors"' in page
    row = page.split('id="field-entity-name"')[1].split("</tr>")[0]
    assert "必填项" in row
    app.refresh_from_db()
    assert app.state == S.DRAFT


def test_submit_twice_is_refused_with_a_clear_message(people, alice_client):
    app = alice_draft(people)
    r = alice_client.post(f"/portal/applications/{app.pk}/submit/")
    assert r.status_code == 302
    r = alice_client.post(f"/portal/applications/{app.pk}/submit/", follow=True)
    assert "不能执行此操作" in text(r)
    assert app.timeline.filter(action="submit").count() == 1


def test_get_on_an_action_is_not_allowed(people, alice_client):
    app = alice_draft(people)
    assert alice_client.get(f"/portal/applications/{app.pk}/submit/").status_code == 405
    app.refresh_from_db()
    assert app.state == S.DRAFT


def test_forms_carry_csrf_protection(people):
    app = alice_draft(people)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(people["alice"])
    assert strict.post(f"/portal/applications/{app.pk}/submit/").status_code == 403
    page = text(strict.get(f"/portal/applications/{app.pk}/"))
    assert "csrfmiddlewaretoken" in page
    app.refresh_from_db()
    assert app.state == S.DRAFT


def test_abandon_and_copy(people, alice_client):
    app = alice_draft(people)
    page = text(alice_client.get(f"/portal/applications/{app.pk}/"))
    assert 'id="abandon-application"' in page
    alice_client.post(f"/portal/applications/{app.pk}/abandon/")
    app.refresh_from_db()
    assert app.state == S.ABANDONED
    page = text(alice_client.get(f"/portal/applications/{app.pk}/"))
    assert 'id="copy-application"' in page
    r = alice_client.post(f"/portal/applications/{app.pk}/copy/")
    copy = Application.objects.exclude(pk=app.pk).get()
    assert r["Location"] == f"/portal/applications/{copy.pk}/edit/"
    assert copy.data == app.data
    assert copy.state == S.DRAFT


def test_odd_posts_never_fail_and_change_nothing(people, alice_client):
    app = alice_draft(people)
    before = dict(app.data)
    r = alice_client.post(f"/portal/applications/{app.pk}/submit/", {"filing_password": "x" * 500})
    assert r.status_code == 200
    assert "内容过长" in text(r)
    r = alice_client.post(
        f"/portal/applications/{app.pk}/edit/", {"action": "nonsense" * 10, "website-domains": "a.cn\n" * 60}
    )
    assert r.status_code == 200
    assert alice_client.post("/portal/applications/new/", {"type": ["x", "y"], "entity": "z" * 1000}).status_code == 200
    assert alice_client.get("/portal/applications/not-a-uuid/").status_code == 404
    assert alice_client.get("/portal/applications/new/?type=" + "q" * 5000).status_code == 200
    app.refresh_from_db()
    assert app.state == S.DRAFT
    assert app.data == before
    assert Application.objects.count() == 1


def test_core_messages_follow_the_language_of_the_page(people, alice_client):
    """Field errors carry both languages; an English page shows the English one."""
    app = alice_draft(people, data={})
    post = {"entity-principal-mobile": "12345", "action": "save"}
    page = text(alice_client.post(f"/portal/applications/{app.pk}/edit/", post, HTTP_ACCEPT_LANGUAGE="en"))
    assert "Give a mainland China mobile number" in page
    page = text(alice_client.post(f"/portal/applications/{app.pk}/edit/", post))
    assert "请填写中国大陆手机号码" in page


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("entity-address", "短"),
        ("website-name", "example.cn"),
        ("website-domains", "http://www.with-a-path.cn/x"),
        ("entity-principal-mobile", "12345"),
        ("access-ips", "10.0.0.1"),
    ],
)
def test_the_portal_form_says_what_the_api_says_for_the_same_wrong_value(people, alice_client, field, value):
    """The form's checks are the core's (beian.core.filing), not a second copy with its own words:
    a value refused on the page is refused by the API's submission with the same message."""
    app = alice_draft(people, data={})
    r = alice_client.post(f"/portal/applications/{app.pk}/edit/", new_filing_post(5, "same-words.cn", **{field: value}))
    block = text(r).split(f'id="wrap-{field}"')[1].split('id="wrap-')[0]

    from beian.provider.rows import data_rows  # the draft the API would hold: the same typed value

    form = ApplicationForm(new_filing_post(5, "same-words.cn", **{field: value}), app=app)
    assert not form.is_valid()
    data = form.data_out
    api = applications.create_draft(owner=people["alice"], op_type="new_filing", data=data)
    with pytest.raises(applications.ProviderError) as refused:
        applications.submit(app=api, user=people["alice"])
    path = field.replace("-", ".")
    messages = [e.message for e in refused.value.errors if e.field.startswith(path)]
    assert messages, refused.value.errors
    assert all(message in block for message in messages)
    assert data_rows("new_filing", data)  # the same data reads back as rows
