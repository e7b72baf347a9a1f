"""Fixtures for the bureau: two providers with keys, a simulated clock, and helpers that walk an
operation through the bureau the way a provider and a principal would, over the service layer
(`world`) or over HTTP (`http`)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date

import pytest
from django.test import Client

from beian.bureau import outbox, providers, review, submission, verification
from beian.bureau.models import Operation, Provider
from beian.core.synthetic import make_resident_id, make_uscc
from beian.messaging import send

CODE = re.compile(r"核验码为 (\d{6})")
PASSWORD = re.compile(r"备案密码为 (\S+?)。")

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


@pytest.fixture(autouse=True)
def _sandbox_email(settings):
    # pytest-django swaps in locmem mail; the bureau's messages are read back from the sandbox.
    settings.EMAIL_BACKEND = "beian.messaging.backends.SandboxEmailBackend"
    settings.BEIAN_SIMULATION = True


def person(n: int, *, division: str = "440305", mobile: str | None = None) -> dict:
    return {
        "name": f"测试人{'甲乙丙丁戊己庚辛壬癸'[n % 10]}",
        "id_type": "resident_id",
        "id_number": make_resident_id(division, date(1980 + n % 20, 1 + n % 12, 1 + n % 28), n % 1000),
        "mobile": mobile or f"138{n:08d}",
        "email": f"person{n}@example.cn",
    }


def enterprise(n: int, *, province: str = "44", principal: dict | None = None) -> dict:
    division = {"44": "440300", "33": "330106", "11": "110105"}.get(province, f"{province}0100")
    return {
        "unit_type": "enterprise",
        "name": f"测试科技有限公司{n}号",
        "cert_type": "uscc",
        "cert_number": make_uscc("91", division, f"MA{n:06d}"),
        "province": province,
        "address": "测试省测试市测试路 1 号",
        "principal": principal or person(n),
    }


def website(domain: str, *, principal: dict, name: str = "测试网站") -> dict:
    return {"name": name, "domains": [domain], "principal": principal}


@dataclass
class World:
    """The bureau seen from a provider's and a principal's side, over the service layer."""

    operator: Provider
    other: Provider
    keys: dict[str, str]
    counter: int = 0
    passwords: dict[str, str] = field(default_factory=dict)

    def submit(self, op_type: str, data: dict, *, provider: Provider | None = None) -> Operation:
        return submission.submit(
            provider=provider or self.operator, op_type=op_type, data=data, idempotency_key=uuid.uuid4()
        ).operation

    def codes(self, op: Operation) -> dict[str, str]:
        """mobile → the latest code that phone received for this operation."""
        outbox.dispatch()
        found = {}
        for ver in op.verifications.all():
            bodies = [m.body for m in send.received(ver.mobile) if str(op.pk) in m.body and CODE.search(m.body)]
            found[ver.mobile] = CODE.search(bodies[-1]).group(1)
        return found

    def verify_all(self, op: Operation) -> Operation:
        for ver in op.verifications.all():
            verification.confirm(
                operation_id=op.pk, mobile=ver.mobile, id_last6=ver.id_last6, code=self.codes(op)[ver.mobile]
            )
        op.refresh_from_db()
        return op

    def approve(self, op: Operation) -> Operation:
        op.refresh_from_db()
        if op.state == Operation.State.AWAITING_VERIFICATION:
            op = self.verify_all(op)
        return review.decide(op, "approve", actor="reviewer:test")

    def reject(self, op: Operation, reason: str = "材料不符") -> Operation:
        op.refresh_from_db()
        if op.state == Operation.State.AWAITING_VERIFICATION:
            op = self.verify_all(op)
        return review.decide(op, "reject", actor="reviewer:test", reason=reason)

    def password_of(self, entity_number: str, mobile: str) -> str:
        outbox.dispatch()
        bodies = [m.body for m in send.received(mobile) if entity_number in m.body and PASSWORD.search(m.body)]
        return PASSWORD.search(bodies[-1]).group(1)

    def file(self, domain: str | None = None, *, provider: Provider | None = None, province: str = "44") -> Operation:
        """A new filing, verified and approved: an entity with one website."""
        self.counter += 1
        n = self.counter
        principal = person(n)
        op = self.submit(
            "new_filing",
            {
                "entity": enterprise(n, province=province, principal=principal),
                "website": website(domain or f"site{n}.cn", principal=principal),
                "access": {"ips": ["121.40.18.10"]},
            },
            provider=provider,
        )
        return self.approve(op)


def make_world() -> World:
    """The operator (this platform's provider) and another provider, registered with their keys."""
    keys = {}
    operator, keys["operator"] = providers.register(slug="operator", name="本平台")
    other, keys["other"] = providers.register(slug="other", name="其他接入商")
    return World(operator, other, keys)


@pytest.fixture
def world(sim_clock) -> World:
    return make_world()


class Http:
    """The bureau's API as a provider (with its key) or the public (without)."""

    def __init__(self, client: Client, key: str | None = None):
        self.client = client
        self.key = key

    def _headers(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.key}"} if self.key else {}

    def post(self, path: str, body, **extra):
        import json

        data = body if isinstance(body, (str, bytes)) else json.dumps(body, ensure_ascii=False)
        return self.client.post(
            f"/bureau/api/v1/{path}", data, content_type="application/json", **self._headers(), **extra
        )

    def get(self, path: str, **params):
        return self.client.get(f"/bureau/api/v1/{path}", params, **self._headers())

    def sim_post(self, path: str, body: dict):
        import json

        return self.client.post(f"/bureau/sim/v1/{path}", json.dumps(body), content_type="application/json")

    def sim_put(self, path: str, body: dict):
        import json

        return self.client.put(f"/bureau/sim/v1/{path}", json.dumps(body), content_type="application/json")

    def sim_get(self, path: str, **params):
        return self.client.get(f"/bureau/sim/v1/{path}", params)


@pytest.fixture
def operator_http(world) -> Http:
    return Http(Client(), world.keys["operator"])


@pytest.fixture
def other_http(world) -> Http:
    return Http(Client(), world.keys["other"])


@pytest.fixture
def public_http(world) -> Http:
    return Http(Client())
