"""Fixtures for the provider side. The provider reaches the bureau only over HTTP: here its
client talks to the real bureau application through httpx's WSGI transport (no socket, same
database connections as the test), with the key of the provider this platform operates."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from beian.bureau import providers
from beian.provider import bureau_client
from beian.provider.bureau_client import BureauClient
from beian.provider.models import Profile
from tests.bureau.conftest import enterprise, person, website  # noqa: F401 - shared test data

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


# What every provider test runs under (a world built once for a table is built under it too).
SANDBOX = {"EMAIL_BACKEND": "beian.messaging.backends.SandboxEmailBackend", "BEIAN_SIMULATION": True}


@pytest.fixture(autouse=True)
def _sandbox_email(settings):
    for name, value in SANDBOX.items():
        setattr(settings, name, value)


@pytest.fixture
def keys(sim_clock) -> dict[str, str]:
    found = {}
    _, found["operator"] = providers.register(slug="operator", name="本平台")
    _, found["other"] = providers.register(slug="other", name="其他接入商")
    return found


def wsgi_client(key: str) -> BureauClient:
    return bureau_client.in_process(api_key=key)


@pytest.fixture
def bureau(keys) -> BureauClient:
    client = wsgi_client(keys["operator"])
    yield client
    client.close()


def make_people() -> dict[str, User]:
    """alice and charlie (customers, alice with a mobile) and bob (a filing specialist)."""
    specialists = Group.objects.create(name="specialists")
    customers = Group.objects.create(name="customers")
    alice = User.objects.create_user("alice", "alice@example.cn", "alice-pass")
    alice.groups.add(customers)
    Profile.objects.create(user=alice, mobile="13600000001")
    charlie = User.objects.create_user("charlie", "charlie@example.cn", "charlie-pass")
    charlie.groups.add(customers)
    bob = User.objects.create_user("bob", "bob@example.cn", "bob-pass")
    bob.groups.add(specialists)
    return {"alice": alice, "bob": bob, "charlie": charlie}


def make_organisation(people: dict[str, User]):
    """An agency's organisation account: alice owns it, dave edits, vera views; charlie is not in it."""
    from beian.provider import organisations

    customers = Group.objects.get(name="customers")
    for name in ("dave", "vera"):
        user = User.objects.create_user(name, f"{name}@example.cn", f"{name}-pass")
        user.groups.add(customers)
        people[name] = user
    org = organisations.create(user=people["alice"], name="西湖建站代理")
    organisations.add(user=people["alice"], organisation=org, username="dave", role="editor")
    organisations.add(user=people["alice"], organisation=org, username="vera", role="viewer")
    return org


@pytest.fixture
def people(db):
    return make_people()


@pytest.fixture
def organisation(people):
    """An agency's organisation account: alice owns it, dave edits, vera views; charlie is not in it."""
    return make_organisation(people)
