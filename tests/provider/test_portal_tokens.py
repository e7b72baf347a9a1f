"""The portal's API token page (/portal/tokens/): linked from the portal's and the console's
navigation; a token made there is shown in that one answer (not cached, not stored) and never again;
the list names tokens by their public part; revoking one there refuses it on the API at once; bad
input is refused next to the field, in Chinese."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client

from beian.provider import tokens
from beian.provider.models import ApiToken
from tests.provider.test_api_authorization import call

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

SECRET = re.compile(r"beian_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return response.content.decode()


@pytest.mark.parametrize(("who", "home"), [("alice", "/portal/"), ("bob", "/console/")])
def test_the_token_page_is_linked_from_the_navigation(people, who, home):
    page = signed_in(people[who]).get(home)
    assert page.status_code == 200
    assert 'href="/portal/tokens/" id="nav-tokens"' in text(page)


def test_a_specialist_sees_the_page_in_the_consoles_header(people):
    page = text(signed_in(people["bob"]).get("/portal/tokens/"))
    assert 'id="nav-queue"' in page
    assert "包括初审接口" in page
    assert 'id="nav-queue"' not in text(signed_in(people["alice"]).get("/portal/tokens/"))


def test_a_token_made_in_the_portal_is_shown_once_and_then_only_by_its_public_part(people):
    client = signed_in(people["alice"])
    assert 'id="no-tokens"' in text(client.get("/portal/tokens/"))

    made = client.post("/portal/tokens/", {"name": "部署脚本", "expires_in_days": "90"})

    assert made.status_code == 200
    assert "no-store" in made["Cache-Control"]
    secrets_shown = set(SECRET.findall(text(made)))
    assert len(secrets_shown) == 1
    secret = secrets_shown.pop()
    assert 'id="new-token"' in text(made)
    token = ApiToken.objects.get()
    assert token.name == "部署脚本"
    assert token.expires_at == token.created_at + timedelta(days=90)
    assert call(Client(), "GET", "/applications", Authorization=f"Bearer {secret}").status_code == 200

    listed = client.get("/portal/tokens/")
    assert secret[-43:] not in text(listed)
    assert 'id="new-token"' not in text(listed)
    assert tokens.display(token) in text(listed)
    assert f'id="token-{token.pk}" data-status="active"' in text(listed)
    assert "no-store" in listed["Cache-Control"]


def test_a_token_without_expiry_can_be_made_in_the_portal(people):
    signed_in(people["alice"]).post("/portal/tokens/", {"name": "长期", "expires_in_days": ""})
    assert ApiToken.objects.get().expires_at is None


def test_revoking_in_the_portal_refuses_the_token_at_once(people):
    client = signed_in(people["alice"])
    secret = SECRET.search(text(client.post("/portal/tokens/", {"name": "x", "expires_in_days": "30"})))[0]
    token = ApiToken.objects.get()

    revoked = client.post(f"/portal/tokens/{token.pk}/revoke/")

    assert revoked.status_code == 302
    assert revoked["Location"] == "/portal/tokens/"
    page = text(client.get("/portal/tokens/"))
    assert "已撤销" in page
    assert f'id="token-{token.pk}" data-status="revoked"' in page
    assert f'id="revoke-token-{token.pk}"' not in page
    response = call(Client(), "GET", "/applications", Authorization=f"Bearer {secret}")
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


@pytest.mark.parametrize("who", ["charlie", "bob"])
def test_someone_elses_token_cannot_be_revoked_in_the_portal(people, who):
    token = tokens.create(user=people["alice"], name="alice 的脚本").token
    assert signed_in(people[who]).post(f"/portal/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_expired_tokens_are_listed_as_expired(people, clock):
    token = tokens.create(user=people["alice"], name="旧脚本", expires_in_days=30).token
    clock.advance(timedelta(days=31))
    page = text(signed_in(people["alice"]).get("/portal/tokens/"))
    assert f'id="token-{token.pk}" data-status="expired"' in page
    assert "已过期" in page


@pytest.mark.parametrize(
    ("post", "field", "message"),
    [
        ({"name": "", "expires_in_days": "30"}, "name", "请填写令牌名称"),
        ({"name": "   ", "expires_in_days": "30"}, "name", "请填写令牌名称"),
        ({"name": "x" * 61, "expires_in_days": "30"}, "name", "名称不能超过 60 个字符"),
        ({"name": "a\u0007b", "expires_in_days": "30"}, "name", "名称不能包含控制字符"),
        ({"name": "x", "expires_in_days": "7"}, "expires_in_days", "请从列表中选择有效期"),
    ],
)
def test_bad_input_is_refused_next_to_the_field_in_chinese(people, post, field, message):
    page = signed_in(people["alice"]).post("/portal/tokens/", post)
    assert page.status_code == 200
    wrapper = text(page).split(f'id="wrap-{field}"', 1)[1].split('<div class="field', 1)[0]
    assert message in wrapper
    assert not ApiToken.objects.exists()
    assert 'id="new-token"' not in text(page)


def test_the_limit_of_live_tokens_is_said_on_the_page(people, monkeypatch):
    monkeypatch.setattr(tokens, "ACTIVE_MAX", 1)
    client = signed_in(people["alice"])
    client.post("/portal/tokens/", {"name": "a", "expires_in_days": "30"})
    page = text(client.post("/portal/tokens/", {"name": "b", "expires_in_days": "30"}))
    assert "最多 1 个有效的 API 令牌" in page
    assert ApiToken.objects.count() == 1
