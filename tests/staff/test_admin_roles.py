"""S20, DESIGN §9 (staff roles are explicit and managed in the admin): the provider's admin manages
customers, specialists and operators and nothing above them; the bureau's admin manages reviewers
by province and providers with their keys, and nothing of the provider's."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from beian.accounts import emails
from beian.bureau import secrets
from beian.bureau.models import AuditRecord, Provider, Reviewer
from beian.staff import roles
from tests.staff.conftest import PASSWORD

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
STRONG = "Vt9-qorx-Lm4e-yuzk"


def signed_in(username: str) -> Client:
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]
    return client


@pytest.fixture
def ada(staff):
    staff("root", "--role", "admin", "--superuser")
    staff("ada", "--role", "admin")
    staff("other_admin", "--role", "admin")
    return signed_in("ada")


@pytest.fixture
def bea(staff):
    staff("bea", "--role", "bureau_admin")
    return signed_in("bea")


def group_ids(*names: str) -> list[int]:
    made = roles.ensure()
    return [made[name].pk for name in names]


def test_s20_provider_admin_adds_a_specialist(ada):
    response = ada.post(
        "/admin/auth/user/add/",
        {
            "username": "sam",
            "password1": STRONG,
            "password2": STRONG,
            "first_name": "Sam 孙",
            "email": "sam@example.cn",
            "groups": group_ids("specialists"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    sam = User.objects.get(username="sam")
    assert [g.name for g in sam.groups.all()] == ["specialists"]
    assert not sam.is_staff
    assert not sam.is_superuser
    assert sam.check_password(STRONG)
    assert emails.of(sam) == "sam@example.cn"  # sealed (issue 14), never in auth_user.email
    assert User.objects.filter(pk=sam.pk).values_list("email", flat=True).get() == ""
    signed = Client()
    assert signed.post("/console/login/", {"username": "sam", "password": STRONG}).status_code == 302


def test_s20_provider_admin_cannot_raise_anyone(people, ada):  # people first: it makes its groups
    # Only the groups below the admins are offered; another is refused and nothing is made.
    page = ada.get("/admin/auth/user/add/").content.decode()
    for offered in ("specialists", "operators", "customers"):
        assert offered in page
    for withheld in ("provider_admins", "bureau_admins"):
        assert withheld not in page
    response = ada.post(
        "/admin/auth/user/add/",
        {"username": "eve", "password1": STRONG, "password2": STRONG, "groups": group_ids("provider_admins")},
    )
    assert response.status_code == 200
    assert "groups" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="eve").exists()

    # is_staff and is_superuser are not fields for them: posted anyway, they change nothing.
    bob = people["bob"]
    response = ada.post(
        f"/admin/auth/user/{bob.pk}/change/",
        {
            "username": "bob",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": group_ids("operators"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    bob.refresh_from_db()
    assert (bob.is_staff, bob.is_superuser) == (False, False)
    assert [g.name for g in bob.groups.all()] == ["operators"]

    # Staff and superusers are out of their reach, their password pages too.
    for username in ("root", "other_admin", "ada"):
        pk = User.objects.get(username=username).pk
        assert ada.get(f"/admin/auth/user/{pk}/change/").status_code == 302  # "does not exist" → the list
        assert ada.get(f"/admin/auth/user/{pk}/password/").status_code == 404
    listed = ada.get("/admin/auth/user/").content.decode()
    assert "bob" in listed
    assert "root" not in listed
    assert "other_admin" not in listed

    # Nothing of the bureau's.
    assert ada.get("/admin/bureau/reviewer/").status_code == 403
    assert ada.get("/admin/bureau/provider/add/").status_code == 403
    assert ada.get("/admin/auth/group/").status_code == 403


def test_the_admin_shows_finds_changes_and_removes_an_accounts_sealed_email(people, ada):
    alice = people["alice"]
    listed = ada.get("/admin/auth/user/").content.decode()
    assert "alice@example.cn" in listed
    assert "charlie@example.cn" in listed
    # A whole address finds its account by the digest, whatever its case; a part of one does not.
    found = ada.get("/admin/auth/user/", {"q": "ALICE@example.cn"}).content.decode()
    assert "alice@example.cn" in found
    assert "charlie@example.cn" not in found
    assert "alice@example.cn" not in ada.get("/admin/auth/user/", {"q": "alice@example"}).content.decode()
    assert "alice@example.cn" in ada.get("/admin/auth/user/", {"q": "alice"}).content.decode()  # by username

    page = ada.get(f"/admin/auth/user/{alice.pk}/change/").content.decode()
    assert 'value="alice@example.cn"' in page
    change = {"username": "alice", "is_active": "on", "groups": group_ids("customers")}
    response = ada.post(f"/admin/auth/user/{alice.pk}/change/", {**change, "email": "alice.wu@example.cn"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert emails.of(alice) == "alice.wu@example.cn"
    assert User.objects.filter(pk=alice.pk).values_list("email", flat=True).get() == ""
    response = ada.post(f"/admin/auth/user/{alice.pk}/change/", {**change, "email": "not-an-address"})
    assert response.status_code == 200  # the field's error, nothing changed
    assert "email" in response.context["adminform"].form.errors
    assert emails.of(alice) == "alice.wu@example.cn"
    assert ada.post(f"/admin/auth/user/{alice.pk}/change/", {**change, "email": ""}).status_code == 302
    assert emails.of(alice) == ""


def test_s20_bureau_admin_adds_a_reviewer_by_province_and_a_provider_with_its_key(bea):
    response = bea.post(
        "/admin/bureau/reviewer/add/",
        {"username": "zhou", "name": "周审核", "province": "33", "active": "on", "new_password": "a-long-reviewer-pw"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Reviewer.objects.get(username="zhou").province_id == "33"
    assert Client().post(
        "/bureau/console/login/", {"username": "zhou", "password": "a-long-reviewer-pw"}
    ).status_code in (302, 303)

    # Without a password, or with a short one: a field error, nothing made.
    response = bea.post("/admin/bureau/reviewer/add/", {"username": "wu", "name": "吴", "new_password": "short"})
    assert response.status_code == 200
    assert "At least 12 characters" in str(response.context["adminform"].form.errors["new_password"])
    assert not Reviewer.objects.filter(username="wu").exists()

    response = bea.post("/admin/bureau/provider/add/", {"slug": "newcloud", "name": "新云"}, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    key = re.search(r"API key, shown once: (\S+)", " ".join(shown))[1]
    provider = Provider.objects.get(slug="newcloud")
    assert secrets.api_key_matches(provider, key)
    assert AuditRecord.objects.filter(action="provider_key_issued", subject="provider:newcloud").count() == 1
    # The key is never shown again.
    assert key not in bea.get(f"/admin/bureau/provider/{provider.pk}/change/").content.decode()

    response = bea.post(
        "/admin/bureau/provider/",
        {"action": "issue_new_key", "_selected_action": [provider.pk]},
        follow=True,
    )
    new_key = re.search(r"API key, shown once: (\S+)", " ".join(str(m) for m in response.context["messages"]))[1]
    provider.refresh_from_db()
    assert new_key != key
    assert secrets.api_key_matches(provider, new_key)
    assert not secrets.api_key_matches(provider, key)

    # Nothing of the provider's.
    assert bea.get("/admin/auth/user/").status_code == 403
    assert bea.get("/admin/provider/apitoken/").status_code == 403
