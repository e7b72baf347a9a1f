"""Real-browser tests: Playwright driving Debian's chromium (installed by `make test` with the
CJK fonts) against the platform served by pytest-django's live server, bureau included.

The provider's workers are called in-process between steps (delivery, sync) with a client that
reaches the bureau over real HTTP at the live server, as the worker processes of `make run` do.
Each test saves a screenshot of its last page under the run's output folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from beian.bureau import outbox, providers, simulation
from beian.bureau.models import Reviewer
from beian.core import clock
from beian.provider import delivery, notices, sync
from beian.provider.bureau_client import BureauClient
from beian.provider.models import Profile

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CODE = re.compile(r"核验码为 (\d{6})")
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.fixture(scope="package")
def browser():
    """One chromium for the browser tests, gone before any other test runs.

    Playwright's sync API keeps an asyncio loop marked running in this thread while it is started.
    Django then takes the test's own ORM calls (and the fixtures' database flushes) for async code:
    it refuses them, and its per-thread connections switch to a per-context store, where fresh
    connection objects lack what the test database set up on the originals (the contents that
    `serialized_rollback` restores, the live server's shared in-memory SQLite). The test thread is
    synchronous, so while Playwright runs the async check is off and the original connections are
    put back in place. Package scope stops Playwright after the last browser test: the rest of
    the suite in the same process sees no running loop, its usual connections and the check on."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium fonts-noto-cjk)")
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        originals = {alias: connections[alias] for alias in connections}
        with sync_playwright() as p:
            for alias, connection in originals.items():
                connections[alias] = connection
            instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield instance
            instance.close()
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture
def page(browser, request):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    out = Path(os.environ.get("BEIAN_TEST_OUTPUT", "var/test-output")) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def platform(live_server, settings, transactional_db):
    """The demo cast on a live server: the operator's key, alice, bob, a bureau reviewer.

    Time is the running bureau's: the system clock plus the simulation's offset, so that moving
    the simulated clock (`/bureau/sim/v1/clock/advance`) is seen by the server and the workers."""
    settings.EMAIL_BACKEND = "beian.messaging.backends.SandboxEmailBackend"
    settings.BEIAN_SIMULATION = True
    settings.BEIAN_BUREAU_PUBLIC_URL = live_server.url
    _, key = providers.register(slug="operator", name="本平台")
    specialists, _ = Group.objects.get_or_create(name="specialists")
    customers, _ = Group.objects.get_or_create(name="customers")
    alice = User.objects.create_user("alice", "alice@example.cn", "alice-pass")
    alice.groups.add(customers)
    Profile.objects.create(user=alice, mobile="13600000001")
    bob = User.objects.create_user("bob", "bob@example.cn", "bob-pass")
    bob.groups.add(specialists)
    from django.contrib.auth.hashers import make_password

    Reviewer.objects.create(username="reviewer", name="审核员", password=make_password("reviewer-pass"))
    client = BureauClient(base_url=f"{live_server.url}/bureau/api/v1", api_key=key)
    simulation.forget_cache()
    with clock.using(clock.OffsetClock(clock.SystemClock(), simulation.offset)):
        yield Platform(live_server.url, client, key)
    simulation.forget_cache()
    client.close()


class Platform:
    def __init__(self, url: str, client: BureauClient, key: str):
        self.url = url
        self.client = client
        self.key = key  # this platform's key at the bureau, for what the pages send it themselves

    def deliver_and_sync(self) -> None:
        """What the provider's worker does in the background."""
        delivery.deliver_due(client=self.client)
        outbox.dispatch()
        while sync.sync_once(client=self.client):
            pass
        notices.dispatch()

    def sms_code(self, page, mobile: str) -> str:
        """Read the latest code on the principal's phone, in the message sandbox."""
        outbox.dispatch()
        page.goto(f"{self.url}/messages/{mobile}/")
        return CODE.findall(page.content())[0]
