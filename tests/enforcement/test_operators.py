"""The operators' page: only operators see it, and its host check says what the edges decide."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from beian.provider.models import FiledDomain, FiledEntity, FiledWebsite

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


@pytest.fixture
def oscar():
    user = User.objects.create_user("oscar", "oscar@example.cn", "pw")
    user.groups.add(Group.objects.create(name="operators"))
    client = Client()
    client.force_login(user)
    return client


def _site(number: str, domain: str, *, status: str = "active", access_state: str = "active") -> None:
    entity, _ = FiledEntity.objects.get_or_create(
        number=number.split("-")[0],
        defaults={"name": "演示公司", "unit_type": "enterprise", "province": "44", "status": "active"},
    )
    site = FiledWebsite.objects.create(
        entity=entity,
        number=number,
        name="演示网站",
        home_url=f"http://{domain}",
        status=status,
        access_state=access_state,
        version=FiledWebsite.objects.count() + 1,
    )
    FiledDomain.objects.create(website=site, name=domain)


def test_only_operators_see_the_serving_page():
    anonymous = Client().get("/enforcement/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/console/login/")
    customer = Client()
    customer.force_login(User.objects.create_user("alice", "a@example.cn", "pw"))
    assert customer.get("/enforcement/").status_code == 403


def test_the_host_check_tells_served_cancelled_and_unfiled_apart(oscar):
    _site("粤ICP备2026000001号-1", "served.cn")
    _site("粤ICP备2026000001号-2", "cancelled.cn", access_state="ended")
    page = oscar.get("/enforcement/").content.decode()
    assert 'id="count-served-domains">1<' in page
    for host, reason in (("www.served.cn", "filed"), ("cancelled.cn", "access_cancelled"), ("other.cn", "not_filed")):
        page = oscar.get("/enforcement/", {"host": host}).content.decode()
        assert f'data-reason="{reason}"' in page, host


def test_a_garbage_host_is_an_answer_not_an_error(oscar):
    response = oscar.get("/enforcement/", {"host": "\x00 not a host ..."})
    assert response.status_code == 200
    assert 'data-reason="invalid_host"' in response.content.decode()


def test_an_operator_signs_in_at_the_console_and_lands_on_the_serving_page():
    user = User.objects.create_user("oscar", "oscar@example.cn", "oscar-pass")
    user.groups.add(Group.objects.create(name="operators"))
    response = Client().post("/console/login/", {"username": "oscar", "password": "oscar-pass"})
    assert response.status_code == 302
    assert response["Location"] == "/enforcement/"


def test_operators_see_the_fleet_and_an_edge_behind_is_flagged(oscar, settings):
    """Each edge with its version, what it lacks, its last contact; one silent or lacking a change
    for longer than BEIAN_FLEET_STALE_SECONDS is flagged, a revoked one is shown as such."""
    from datetime import UTC, datetime, timedelta

    from beian.core import clock
    from beian.core.clock import ManualClock
    from beian.enforcement import edges
    from beian.enforcement.models import Edge

    settings.BEIAN_FLEET_STALE_SECONDS = 60
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    with clock.using(ManualClock(start)) as moving:
        _site("粤ICP备2026000001号-1", "served.cn")
        top = FiledWebsite.objects.get().version
        for name in ("edge-in-step", "edge-silent", "edge-behind", "edge-revoked", "edge-never"):
            edges.create(name)
        moving.advance(timedelta(minutes=5))
        FiledWebsite.objects.update(updated_at=moving.now() - timedelta(seconds=90))  # a change 90 s old
        contacts = {
            "edge-in-step": (top, timedelta(seconds=3)),
            "edge-silent": (top, timedelta(seconds=61)),
            "edge-behind": (top - 1, timedelta(seconds=2)),  # heard from, but lacks the change
            "edge-revoked": (top, timedelta(seconds=3)),
        }
        for name, (version, ago) in contacts.items():
            edges.touch(Edge.objects.get(name=name), version=version, address="10.0.0.7", now=moving.now() - ago)
        edges.revoke("edge-revoked")
        page = oscar.get("/enforcement/").content.decode()
    stale = {
        name: f'data-edge="{name}" data-stale="{flag}"' in page
        for name, flag in (
            ("edge-in-step", "false"),
            ("edge-silent", "true"),
            ("edge-behind", "true"),
            ("edge-revoked", "false"),
            ("edge-never", "true"),
        )
    }
    assert all(stale.values()), stale
    assert "90 秒" in page  # edge-behind's lag: the change it lacks is 90 s old
    assert "61 秒前" in page
    assert "已撤销" in page
