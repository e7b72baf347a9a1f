"""Fixtures for enforcement: mirror rows written directly (for the index), and the provider's real
flow over the real bureau (for the scenarios), as in tests/provider."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import count

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from beian.bureau import outbox
from beian.bureau.models import Operation
from beian.enforcement import feed
from beian.enforcement.index import Index
from beian.enforcement.mirror import OrmMirror
from beian.messaging import send
from beian.provider import applications, delivery, review, sync, withdrawn
from beian.provider.bureau_client import BureauClient
from beian.provider.models import Application, FiledDomain, FiledEntity, FiledWebsite
from tests.bureau.conftest import enterprise, person, website
from tests.provider.conftest import bureau, keys, people  # noqa: F401 - shared fixtures

CODE = re.compile(r"核验码为 (\d{6})")
PASSWORD = re.compile(r"备案密码为 (\S+?)。")


@pytest.fixture
def one_connection():
    """For a platform answered in-process by a WSGI handler called directly: Django's test client
    keeps the test's connection across its requests, but the handler would close it at the end of
    each (and with it the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _sandbox(settings):
    settings.EMAIL_BACKEND = "beian.messaging.backends.SandboxEmailBackend"
    settings.BEIAN_SIMULATION = True
    settings.BEIAN_ENFORCEMENT_CACHE_SECONDS = 1


@pytest.fixture(autouse=True)
def _feed_answers_forgotten():
    """The feed keeps each answer it read for a moment per process (feed.Shared), by the mirror's
    version: the next test's database may reach the same version with other rows."""
    feed.pages.clear()
    yield
    feed.pages.clear()


# ---------------------------------------------------------------- mirror rows, written directly


@dataclass
class MirrorRows:
    """Writes the mirror the way sync does (update the website, bump its version, replace its
    domains), without a bureau: for tests of the index alone."""

    seq: count = field(default_factory=lambda: count(1))
    numbers: count = field(default_factory=lambda: count(1))

    def website(self, *domains: str, status: str = "active", access: str = "active", ended: str = "") -> FiledWebsite:
        n = next(self.numbers)
        entity = FiledEntity.objects.create(
            number=f"粤ICP备2026{n:06d}号", name=f"测试公司{n}", unit_type="enterprise", province="44", status="active"
        )
        site = FiledWebsite.objects.create(
            entity=entity,
            number=f"{entity.number}-1",
            name=f"测试网站{n}",
            home_url=f"http://{domains[0]}/" if domains else "http://example.invalid/",
            status=status,
            access_state=access,
            access_ended_reason=ended,
            version=next(self.seq),
        )
        for name in domains:
            FiledDomain.objects.create(website=site, name=name)
        return site

    def change(
        self,
        site: FiledWebsite,
        *,
        status: str | None = None,
        access: str | None = None,
        ended: str | None = None,
        domains: list[str] | None = None,
        kept: bool = True,
    ) -> FiledWebsite:
        """`kept`: the names taken off are kept (beian.provider.withdrawn), as sync keeps them; not
        kept, as a change from before they were, or one whose row was pruned."""
        if status is not None:
            site.status = status
        if access is not None:
            site.access_state = access
        if ended is not None:
            site.access_ended_reason = ended
        site.version = next(self.seq)
        site.save()
        if domains is not None:
            gone = list(site.domains.exclude(name__in=domains).values_list("name", flat=True))
            site.domains.filter(name__in=gone).delete()
            if kept:
                withdrawn.record((site.pk, name, site.version) for name in gone)
            for name in set(domains) - set(site.domains.values_list("name", flat=True)):
                FiledDomain.objects.create(website=site, name=name)
        return site

    def deregister(self, site: FiledWebsite, *, kept: bool = True) -> FiledWebsite:
        # As the bureau's snapshot has it: a deregistered website lists no active domain.
        return self.change(site, status="deregistered", access="ended", ended="deregistered", domains=[], kept=kept)


@pytest.fixture
def rows(db) -> MirrorRows:
    return MirrorRows()


@pytest.fixture
def mirror() -> OrmMirror:
    return OrmMirror(chunk=3)  # small chunks, so loading goes through several of them


@pytest.fixture
def index(mirror) -> Index:
    built = Index()
    built.load(mirror)
    return built


# ---------------------------------------------------------------- the provider's flow over the bureau


@dataclass
class Platform:
    """A customer (alice) and a specialist (bob) at this provider, its bureau client, and the
    workers run by hand: delivery, then sync of the event feed into the mirror."""

    client: BureauClient
    alice: object
    bob: object
    numbers: count = field(default_factory=lambda: count(200))

    def apply(self, op_type: str, data: dict, *, password: str | None = None) -> Application:
        """Submit, approve as specialist, deliver to the bureau, and sync what the bureau says."""
        app = applications.create_draft(owner=self.alice, op_type=op_type, data=data)
        app = applications.submit(app=app, user=self.alice, filing_password=password, confirm_irreversible=True)
        review.approve(app=app, specialist=self.bob)
        assert delivery.deliver_due(client=self.client) == 1
        sync.sync_once(client=self.client)
        app.refresh_from_db()
        assert app.bureau_operation_id is not None, (app.state, app.reason, app.field_reasons)
        return app

    def verify(self, app: Application) -> None:
        outbox.dispatch()
        op = Operation.objects.get(pk=app.bureau_operation_id)
        for ver in op.verifications.all():
            body = [m.body for m in send.received(ver.mobile) if str(op.pk) in m.body][-1]
            self.client._call(
                "POST",
                "verifications",
                json={
                    "operation": str(op.pk),
                    "mobile": ver.mobile,
                    "id_last6": ver.id_last6,
                    "code": CODE.search(body)[1],
                },
            )

    def decide(self, app: Application, decision: str = "approve") -> Application:
        self.verify(app)
        response = self.client._http.post(
            "http://127.0.0.1/bureau/sim/v1/decisions",
            json={"operation": str(app.bureau_operation_id), "decision": decision},
        )
        assert response.status_code == 200, response.text
        sync.sync_once(client=self.client)
        app.refresh_from_db()
        return app

    def file(self, domain: str) -> tuple[Application, dict]:
        """A new filing here, through to the bureau's approval; returns it and its principal."""
        n = next(self.numbers)
        principal = person(n)
        data = {
            "entity": enterprise(n, principal=principal),
            "website": website(domain, principal=principal),
            "access": {"ips": ["121.40.18.10"]},
        }
        app = self.decide(self.apply("new_filing", data))
        assert app.state == Application.State.APPROVED, (app.state, app.reason)
        return app, principal

    @staticmethod
    def password_of(entity_number: str, mobile: str) -> str:
        outbox.dispatch()
        bodies = [m.body for m in send.received(mobile) if entity_number in m.body and PASSWORD.search(m.body)]
        return PASSWORD.search(bodies[-1]).group(1)


@pytest.fixture
def platform(bureau, people) -> Platform:  # noqa: F811 - the fixtures imported above
    return Platform(bureau, people["alice"], people["bob"])
