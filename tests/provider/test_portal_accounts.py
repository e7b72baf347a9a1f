"""Customer accounts: sign up (username, email, mobile, password checked by Django's validators),
sign in, sign out."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from beian.accounts import emails
from beian.provider.models import Profile
from tests.provider.test_portal_pages import text

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

GOOD = {
    "username": "dora",
    "email": "dora@example.cn",
    "mobile": "+86 139-0000-0001",
    "password1": "Filing-Pass-2026",
    "password2": "Filing-Pass-2026",
}


def test_signup_page_renders(client):
    r = client.get("/portal/signup/")
    assert r.status_code == 200
    page = text(r)
    for name in ("username", "email", "mobile", "password1", "password2"):
        assert f'name="{name}"' in page
    assert 'id="signup-submit"' in page
    assert "csrfmiddlewaretoken" in page


def test_signup_creates_a_signed_in_customer(client, people):
    r = client.post("/portal/signup/", GOOD)
    assert r.status_code == 302
    assert r["Location"] == "/portal/"
    user = User.objects.get(username="dora")
    assert emails.of(user) == "dora@example.cn"
    assert User.objects.filter(username="dora").values_list("email", flat=True).get() == ""  # sealed apart
    assert user.check_password("Filing-Pass-2026")
    assert Profile.objects.get(user=user).mobile == "13900000001"
    assert list(user.groups.values_list("name", flat=True)) == ["customers"]
    assert client.get("/portal/").status_code == 200
    assert "dora" in text(client.get("/portal/"))


def test_signup_without_the_group_yet_makes_it(client, db):
    client.post("/portal/signup/", GOOD)
    assert User.objects.get(username="dora").groups.filter(name="customers").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mobile", "12345", "请填写中国大陆手机号码"),
        ("email", "dora@", "电子邮箱地址格式不正确"),
        ("username", "alice", "该用户名已被注册"),
        ("username", "has space", "用户名"),
        ("password2", "Something-Else-2026", "两次输入的密码不一致"),
    ],
)
def test_signup_refuses_bad_input_next_to_the_field(client, people, field, value, message):
    r = client.post("/portal/signup/", {**GOOD, field: value})
    assert r.status_code == 200
    page = text(r)
    block = page.split(f'id="wrap-{field}"')[1].split('id="wrap-')[0]
    assert "errorlist" in block
    assert message in page
    assert not User.objects.filter(username="dora").exists()
    assert not emails.users_with("dora@example.cn").exists()


@pytest.mark.parametrize("password", ["12345678901", "password", "dora-example", "Ab1-x"])
def test_signup_applies_djangos_password_validators(client, db, password):
    r = client.post("/portal/signup/", {**GOOD, "password1": password, "password2": password})
    assert r.status_code == 200
    block = text(r).split('id="wrap-password1"')[1].split('id="wrap-')[0]
    assert "errorlist" in block
    assert not User.objects.filter(username="dora").exists()


def test_sign_in_and_out(client, people):
    page = text(client.get("/portal/login/"))
    assert 'id="login-submit"' in page
    r = client.post("/portal/login/", {"username": "alice", "password": "wrong"})
    assert r.status_code == 200
    assert "密码" in text(r)
    r = client.post("/portal/login/?next=/portal/applications/new/", {"username": "alice", "password": "alice-pass"})
    assert r.status_code == 302
    assert r["Location"] == "/portal/applications/new/"
    assert 'id="logout"' in text(client.get("/portal/"))
    r = client.post("/portal/logout/")
    assert r["Location"] == "/portal/login/"
    assert client.get("/portal/").status_code == 302


def test_signed_in_customer_is_sent_on_from_login_and_signup(client, people):
    client.force_login(people["alice"])
    assert client.get("/portal/login/")["Location"] == "/portal/"
    assert client.get("/portal/signup/")["Location"] == "/portal/"
