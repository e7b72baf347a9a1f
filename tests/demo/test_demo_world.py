"""The demo world `make run` creates: made through the real operations, documented keys work."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from beian.bureau import secrets
from beian.bureau.models import Entity, Operation, Provider, Reviewer, Website
from beian.demo import world
from beian.staff import roles

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


@pytest.fixture(autouse=True)
def _sandbox(settings):
    settings.EMAIL_BACKEND = "beian.messaging.backends.SandboxEmailBackend"


def test_demo_world_is_filed_through_the_operations_and_created_once(clock, capsys):
    call_command("demo_world")
    printed = capsys.readouterr().out
    assert world.OPERATOR[2] in printed
    assert Entity.objects.count() == 4
    assert Website.objects.count() == 4
    assert set(Operation.objects.values_list("state", flat=True)) == {"approved"}
    assert Reviewer.objects.filter(username="reviewer").exists()
    assert set(get_user_model().objects.values_list("username", flat=True)) == {
        "alice",
        "bob",
        "charlie",
        "oscar",
        "dora",
        "vic",
        "ada",
        "bea",
    }
    # The admins are staff with their role's permissions, and only they (beian/staff/roles.py).
    staff = get_user_model().objects.filter(is_staff=True)
    assert {u.username: sorted(u.get_all_permissions()) for u in staff} == {
        "ada": sorted(roles.ROLES["admin"].permissions),
        "bea": sorted(roles.ROLES["bureau_admin"].permissions),
    }

    call_command("demo_world")
    assert "already present" in capsys.readouterr().out
    assert Entity.objects.count() == 4


def test_demo_transfer_in_candidate_is_accessed_only_at_the_other_provider(clock):
    world.create()
    site = Website.objects.get(domains__name="xihu-net.cn")
    assert list(site.accesses.values_list("provider__slug", flat=True)) == ["othercloud"]


def test_documented_demo_keys_authenticate(clock):
    world.create()
    client = Client()
    for slug, _, key in (world.OPERATOR, world.OTHER):
        response = client.get("/bureau/api/v1/events", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200, slug
        assert Provider.objects.get(slug=slug).key_digest == secrets.api_key_digest(key)


def test_alice_owns_the_operators_filings_in_the_mirror_but_one_left_to_claim(clock):
    from beian.provider.models import FiledEntity, FiledWebsite, HolderChange

    world.create()
    held = dict(FiledEntity.objects.values_list("websites__domains__name", "owner__username"))
    assert held == {"demo-tech.cn": "alice", "lijing-notes.cn": "alice", "gz-trade.cn": None}  # S20
    assert HolderChange.objects.count() == 2
    # The platform mirrors what is accessed with it, not the other provider's customer.
    assert set(FiledWebsite.objects.values_list("home_url", flat=True)) == {
        "http://demo-tech.cn",
        "http://lijing-notes.cn",
        "http://gz-trade.cn",
    }
    assert set(FiledWebsite.objects.values_list("access_state", flat=True)) == {"active"}


def test_alices_agency_holds_the_individuals_filing_for_dora_and_vic(clock):
    from beian.provider import holders
    from beian.provider.models import FiledEntity

    world.create()
    agency = FiledEntity.objects.get(number__startswith="京").organisation
    assert agency.name == "西湖建站代理"
    people = {u.username: u for u in get_user_model().objects.all()}
    assert holders.reach(people["dora"]).role(agency.pk) == "editor"
    assert holders.reach(people["vic"]).role(agency.pk) == "viewer"
    assert [e.number[:1] for e in holders.entities(people["vic"])] == ["京"]
    assert holders.entities(people["charlie"]).count() == 0
