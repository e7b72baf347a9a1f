"""Schemathesis over every OpenAPI document the platform serves (issue 14): the bureau's API, its
simulation's, the provider's and the edges' served-set feed. For each role's credentials, every
generated request, well-formed or not, is answered without a 5xx, with a status code its
document lists, in the content type it declares and in the shape its schema gives.

In-process against the Django WSGI application (no server), with one world per module (the demo
world: two providers with their keys, filed entities, the personas) and tokens for a customer, a
specialist and an edge. Generation is derandomized and bounded, so the same code always gets the
same requests and the same verdict; `BEIAN_FUZZ_EXAMPLES` raises the bound to hunt, and what a
hunt finds becomes a plain regression test beside the code it fixes."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi import checks

from beian.core import clock as clock_module
from beian.core.clock import CHINA, ManualClock
from beian.demo import world
from beian.enforcement import edges
from beian.provider import tokens
from beian.provider.bureau_client import InProcessWSGI

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

# What a request's answer is held to, besides "no 5xx".
CHECKS = [
    schemathesis.checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    # A request its document says is malformed is refused (4xx), never accepted.
    checks.negative_data_rejection,
    # An operation that needs credentials refuses the same request without them.
    checks.ignored_auth,
    # A method the path does not have is 405, with an Allow header.
    checks.unsupported_method,
]

EXAMPLES = int(os.environ.get("BEIAN_FUZZ_EXAMPLES", "12"))


def _config(examples: int) -> schemathesis.Config:
    # The fuzzing phase only, valid and invalid requests: the coverage phase (every boundary value
    # of every field) costs a minute per database for one operation as large as POST /applications;
    # `BEIAN_FUZZ_COVERAGE=1` turns it on to hunt.
    return schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": examples, "deterministic": True, "database": "none"},
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": os.environ.get("BEIAN_FUZZ_COVERAGE") == "1"},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
        }
    )


# With credentials a request reaches the code behind the door: the full number of examples. Without
# (or with those of another role) it is refused before its body is read, so a few tell enough.
FULL, FEW = _config(EXAMPLES), _config(max(2, EXAMPLES // 4))
# One test draws many requests against one world: the world is meant to be shared, and its
# accumulated state (rate-limit counts, drafts made by earlier requests) is part of what is fuzzed.
SHARED = hypothesis_settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    deadline=None,
)
APP = InProcessWSGI()
# The test world's settings, for the module (pytest-django's `settings` fixture lives one test).
WORLD_SETTINGS = {
    "EMAIL_BACKEND": "beian.messaging.backends.SandboxEmailBackend",
    "BEIAN_SIMULATION": True,
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
    "BEIAN_ARGON2_TIME_COST": 1,
    "BEIAN_ARGON2_MEMORY_KIB": 64,
}


@pytest.fixture(scope="module")
def credentials(django_db_setup, django_db_blocker) -> dict[str, str]:
    """The world, built once for the module inside a transaction on both databases that is rolled
    back at its end (as Django's TestCase.setUpTestData); each test runs in a savepoint within it.
    Returns each role's Authorization header."""
    users = get_user_model()
    with (
        django_db_blocker.unblock(),
        override_settings(**WORLD_SETTINGS),
        clock_module.using(ManualClock(datetime(2026, 3, 2, 10, 0, tzinfo=CHINA))),
        transaction.atomic(using="default"),
        transaction.atomic(using="bureau"),
    ):
        world.create()
        found = {
            "none": "",
            "provider": f"Bearer {world.OPERATOR[2]}",
            "customer": f"Bearer {tokens.create(user=users.objects.get(username='alice'), name='fuzz').secret}",
            "specialist": f"Bearer {tokens.create(user=users.objects.get(username='bob'), name='fuzz').secret}",
            "edge": f"Bearer {edges.create('fuzz-edge').token}",
        }
        yield found
        transaction.set_rollback(True, using="bureau")
        transaction.set_rollback(True, using="default")


@pytest.fixture
def as_role(credentials, settings, clock):
    settings.EMAIL_BACKEND = WORLD_SETTINGS["EMAIL_BACKEND"]
    settings.BEIAN_SIMULATION = True

    def headers(role: str) -> dict[str, str]:
        return {"Authorization": credentials[role]} if credentials[role] else {}

    return headers


def _schema(path: str, config: schemathesis.Config):
    return schemathesis.openapi.from_wsgi(path, APP, config=config)


bureau_api = _schema("/bureau/api/v1/openapi.json", FULL)
bureau_api_anonymous = _schema("/bureau/api/v1/openapi.json", FEW)
simulation_api = _schema("/bureau/sim/v1/openapi.json", FULL)
provider_api = _schema("/api/v1/openapi.json", FULL)
provider_api_others = _schema("/api/v1/openapi.json", FEW)
review_api = provider_api.include(tag="review")
feed_api = _schema("/enforcement/feed/openapi.json", FULL)
feed_api_anonymous = _schema("/enforcement/feed/openapi.json", FEW)


@bureau_api.parametrize()
@SHARED
def test_bureau_api_answers_a_provider_as_documented(case, as_role):
    case.call_and_validate(headers=as_role("provider"), checks=CHECKS)


@bureau_api_anonymous.parametrize()
@SHARED
@pytest.mark.parametrize("role", ["none", "customer", "edge"])
def test_bureau_api_answers_anyone_else_as_documented(case, role, as_role):
    case.call_and_validate(headers=as_role(role), checks=CHECKS)


@simulation_api.parametrize()
@SHARED
def test_simulation_api_answers_every_request_as_documented(case, as_role):
    case.call_and_validate(headers=as_role("none"), checks=CHECKS)


@provider_api.parametrize()
@SHARED
def test_provider_api_answers_a_customer_as_documented(case, as_role):
    case.call_and_validate(headers=as_role("customer"), checks=CHECKS)


@review_api.parametrize()
@SHARED
def test_provider_api_answers_a_specialist_as_documented(case, as_role):
    case.call_and_validate(headers=as_role("specialist"), checks=CHECKS)


@provider_api_others.parametrize()
@SHARED
@pytest.mark.parametrize("role", ["none", "provider", "edge"])
def test_provider_api_answers_anyone_else_as_documented(case, role, as_role):
    case.call_and_validate(headers=as_role(role), checks=CHECKS)


def _no_long_poll(case) -> None:
    if case.query and "wait" in case.query:
        case.query["wait"] = 0  # the long poll's waiting is tests/enforcement/test_feed.py's; here it would only idle


@feed_api.parametrize()
@SHARED
def test_feed_answers_an_edge_as_documented(case, as_role):
    _no_long_poll(case)
    case.call_and_validate(headers=as_role("edge"), checks=CHECKS)


@feed_api_anonymous.parametrize()
@SHARED
@pytest.mark.parametrize("role", ["none", "customer", "provider"])
def test_feed_answers_anyone_else_as_documented(case, role, as_role):
    _no_long_poll(case)
    case.call_and_validate(headers=as_role(role), checks=CHECKS)
