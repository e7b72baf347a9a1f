"""The scenarios that end in "served" or "blocked" (SCENARIOS.md), through the provider's real flow
over the real bureau: the customer applies, the specialist approves, delivery takes it to the
bureau, sync brings the outcome into the mirror, and the decision follows — from the decision
server's index after one refresh, and from the main server's views at once."""

import pytest
from django.test import Client

from beian.bureau.models import Provider
from beian.enforcement.index import ACCESS_CANCELLED, DEREGISTERED, FILED, NOT_FILED, TRANSFER_NOT_APPROVED, Index
from beian.enforcement.mirror import OrmMirror
from beian.enforcement.refresher import Refresher
from beian.enforcement.server import DecisionServer
from beian.provider.models import Application
from tests.bureau.conftest import World
from tests.enforcement.test_server import call

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State


class Decisions:
    """Both ways of deciding, kept side by side: the index the decision server holds (refreshed
    by hand, as its background thread would) and the main server's view over the database."""

    def __init__(self):
        self.mirror = OrmMirror()
        self.index = Index()
        self.index.load(self.mirror)
        self.client = Client()

    def __call__(self, host: str) -> str:
        self.index.refresh(self.mirror)
        from_index = self.index.reason(host.encode())
        from_view = self.client.get("/enforcement/check", HTTP_X_ORIGINAL_HOST=host)["X-Beian-Reason"]
        assert from_index == from_view, host
        return from_index


@pytest.fixture
def decisions(platform) -> Decisions:
    return Decisions()


def test_s01_a_new_filing_is_served_with_its_subdomains_after_approval(platform, decisions):
    assert decisions("example-s01.cn") == NOT_FILED
    platform.file("example-s01.cn")
    assert decisions("example-s01.cn") == FILED
    assert decisions("www.example-s01.cn") == FILED
    assert decisions("badexample-s01.cn") == NOT_FILED


def test_s03_transfer_in_served_at_submission(platform, decisions, keys):
    # Filed and accessed at another provider, with its filing password.
    world = World(Provider.objects.get(slug="operator"), Provider.objects.get(slug="other"), keys)
    world.counter = 500
    elsewhere = world.file("moving-s03.cn", provider=world.other)
    password = world.password_of(elsewhere.entity.number, elsewhere.entity.principal_mobile)
    assert decisions("moving-s03.cn") == NOT_FILED

    app = platform.apply(
        "transfer_in",
        {"website_number": elsewhere.website.number, "access": {"ips": ["121.40.18.30"]}},
        password=password,
    )
    assert app.state == S.AWAITING_VERIFICATION  # submitted, the bureau has not decided
    assert decisions("moving-s03.cn") == FILED
    assert decisions("www.moving-s03.cn") == FILED

    app = platform.decide(app)
    assert app.state == S.APPROVED
    assert app.website_number == elsewhere.website.number  # no new number
    assert decisions("moving-s03.cn") == FILED


def test_s03_a_refused_transfer_in_stops_being_served(platform, decisions, keys):
    world = World(Provider.objects.get(slug="operator"), Provider.objects.get(slug="other"), keys)
    world.counter = 600
    elsewhere = world.file("refused-s03.cn", provider=world.other)
    password = world.password_of(elsewhere.entity.number, elsewhere.entity.principal_mobile)
    app = platform.apply(
        "transfer_in",
        {"website_number": elsewhere.website.number, "access": {"ips": ["121.40.18.30"]}},
        password=password,
    )
    assert decisions("refused-s03.cn") == FILED
    assert platform.decide(app, "reject").state == S.REJECTED
    # Blocked, and the reason says what happened: the transfer-in was not approved. The site was
    # never this provider's for good, so nothing "cancelled" its access here.
    assert decisions("refused-s03.cn") == TRANSFER_NOT_APPROVED
    page = Client().get("/enforcement/blocked", {"host": "www.refused-s03.cn"})
    assert page.status_code == 403
    assert "转入未获通过" in page.content.decode()
    assert "已取消接入" not in page.content.decode()


def test_s09_cancel_website_blocked_at_deregistration_sibling_still_served(platform, decisions):
    first, principal = platform.file("first-s09.cn")
    second = platform.decide(
        platform.apply(
            "new_website",
            {
                "entity_number": first.entity_number,
                "website": {"name": "第二个网站", "domains": ["second-s09.cn"], "principal": principal},
                "access": {"ips": ["121.40.18.10"]},
            },
            password=platform.password_of(first.entity_number, principal["mobile"]),
        )
    )
    assert second.state == S.APPROVED, (second.state, second.reason)
    assert decisions("www.first-s09.cn") == decisions("second-s09.cn") == FILED

    cancel = platform.apply("cancel_website", {"website_number": first.website_number})
    assert decisions("www.first-s09.cn") == FILED  # served until the bureau approves
    assert platform.decide(cancel).state == S.APPROVED
    assert decisions("www.first-s09.cn") == DEREGISTERED
    assert decisions("second-s09.cn") == FILED


def test_s10_cancel_entity_blocks_every_website_then_the_domain_files_again(platform, decisions):
    first, principal = platform.file("entity-s10.cn")
    cancel = platform.apply(
        "cancel_entity",
        {"entity_number": first.entity_number},
        password=platform.password_of(first.entity_number, principal["mobile"]),
    )
    assert decisions("entity-s10.cn") == FILED
    assert platform.decide(cancel).state == S.APPROVED
    assert decisions("entity-s10.cn") == DEREGISTERED

    again, _ = platform.file("entity-s10.cn")  # the same domain, a new number
    assert again.website_number != first.website_number
    assert decisions("www.entity-s10.cn") == FILED


def test_s12_blocked_at_cancel_access_submission(platform, decisions):
    filed, _ = platform.file("access-s12.cn")
    assert decisions("access-s12.cn") == FILED
    app = platform.apply("cancel_access", {"website_number": filed.website_number})
    assert app.state == S.BUREAU_REVIEW  # submitted; the bureau has not decided yet
    assert decisions("access-s12.cn") == ACCESS_CANCELLED
    assert decisions("www.access-s12.cn") == ACCESS_CANCELLED
    page = Client().get("/enforcement/blocked", {"host": "www.access-s12.cn"})
    assert page.status_code == 403
    assert "已取消接入" in page.content.decode()


def test_s18_nginx_sees_a_cancelled_host_blocked_after_one_refresh(platform):
    """nginx asks the decision server (auth_request); its refresher reads the mirror every poll
    interval, so a cancellation reaches nginx within one interval (plus the proxy's cache)."""
    filed, _ = platform.file("edge-s18.cn")
    index = Index()
    server = DecisionServer(index, runtime=False)
    refresher = Refresher(index, OrmMirror(), interval=0.2)
    assert refresher.tick()

    def nginx_asks(host):
        status, headers, _ = call(server, "/enforcement/check", headers=[("x-original-host", host)])
        return status, headers["x-beian-reason"]

    assert nginx_asks("www.edge-s18.cn") == (200, FILED)
    assert nginx_asks("unfiled-s18.cn") == (403, NOT_FILED)
    blocked = Client().get("/enforcement/blocked", HTTP_X_ORIGINAL_HOST="unfiled-s18.cn")
    assert blocked.status_code == 403
    assert "网站未备案" in blocked.content.decode()

    platform.apply("cancel_access", {"website_number": filed.website_number})
    assert nginx_asks("www.edge-s18.cn") == (200, FILED)  # the change is in the mirror, not yet read
    assert refresher.tick()
    assert nginx_asks("www.edge-s18.cn") == (403, ACCESS_CANCELLED)


def test_the_decision_server_keeps_its_index_when_the_database_fails(platform, caplog):
    platform.file("steady.cn")
    index = Index()

    class Flaky(OrmMirror):
        down = False
        closed = 0

        def changed(self, after, limit):
            if self.down:
                raise ConnectionError("database unreachable")
            return super().changed(after, limit)

        def close(self):
            self.closed += 1  # the real one drops the thread's connection (not the test's transaction)

    mirror = Flaky()
    refresher = Refresher(index, mirror, interval=0.2)
    assert refresher.tick()
    mirror.down = True
    assert not refresher.tick()
    assert not refresher.tick()
    assert index.reason(b"www.steady.cn") == FILED
    assert "cannot read the mirror" in caplog.text
    assert caplog.text.count("cannot read the mirror") == 1  # logged once, not at every poll
    assert mirror.closed == 2  # a broken connection is dropped after each failure
    mirror.down = False
    assert refresher.tick()
    assert refresher.failing_since is None
