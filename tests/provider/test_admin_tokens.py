"""Staff see and revoke API tokens in the admin, and never their secret or digest; nobody makes or
deletes one there (a token is made by its owner and shown to them once; a revoked one is history)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from beian.provider import tokens
from beian.provider.models import ApiToken
from tests.provider.test_api_authorization import call

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.cn", "admin-pass"))
    return client


def test_staff_see_tokens_but_never_their_secret_or_digest(people, staff):
    issued = tokens.create(user=people["alice"], name="部署脚本")
    listing = staff.get("/admin/provider/apitoken/")
    detail = staff.get(f"/admin/provider/apitoken/{issued.token.pk}/change/")

    for page in (listing, detail):
        assert page.status_code == 200
        body = page.content.decode()
        assert "部署脚本" in body
        assert tokens.display(issued.token) in body
        assert issued.secret[-43:] not in body
        assert issued.token.digest not in body


def test_staff_revoke_tokens_with_the_admin_action(people, staff):
    issued = tokens.create(user=people["alice"], name="泄露的令牌")
    kept = tokens.create(user=people["alice"], name="保留")

    response = staff.post(
        "/admin/provider/apitoken/", {"action": "revoke", "_selected_action": [issued.token.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "已撤销 1 个令牌" in response.content.decode()
    assert call(Client(), "GET", "/catalogue", Authorization=f"Bearer {issued.secret}").json()["code"] == (
        "token_revoked"
    )
    assert call(Client(), "GET", "/catalogue", Authorization=f"Bearer {kept.secret}").status_code == 200


def test_tokens_are_neither_made_nor_deleted_in_the_admin(people, staff):
    token = tokens.create(user=people["alice"], name="x").token
    assert staff.get("/admin/provider/apitoken/add/").status_code == 403
    assert staff.post(f"/admin/provider/apitoken/{token.pk}/delete/").status_code == 403
    assert ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).exists()


@pytest.mark.parametrize("who", ["alice", "bob", "charlie"])
def test_customers_and_specialists_do_not_reach_the_admin(people, who):
    client = Client()
    client.force_login(people[who])
    response = client.get("/admin/provider/apitoken/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
