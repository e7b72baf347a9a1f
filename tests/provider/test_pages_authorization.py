"""Who may open and do what, over every page and action of the portal and the console: alice (the
owner), charlie (another customer), bob (a filing specialist) and an anonymous visitor. A refusal
changes nothing. A page added without a row here fails `test_every_page_has_a_row`.

Then every portal page again on an organisation's filings and applications: alice (its owner), dave
(an editor), vera (a viewer) and charlie (not a member)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import get_resolver, reverse

from beian.core import clock
from beian.provider import applications, organisations, tokens
from beian.provider.models import ApiToken, Application, Claim, Delivery, Membership, Organisation, TimelineEntry
from tests.provider.conftest import SANDBOX, make_organisation, make_people
from tests.provider.test_portal_pages import mirror, new_filing_post  # noqa: F401 - shared page fixtures
from tests.shared_world import built_once, own_copy

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

ANON, ALICE, CHARLIE, BOB = "anonymous", "alice", "charlie", "bob"
PORTAL_LOGIN, CONSOLE_LOGIN = "redirect:/portal/login/", "redirect:/console/login/"

# (namespace:name, method, the object it is about) → expected answer per persona.
# "ok" is a 2xx or a redirect that is not to a sign-in page.
TABLE: dict[tuple[str, str, str], dict[str, str]] = {
    ("portal:dashboard", "GET", ""): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("portal:signup", "GET", ""): {ANON: "ok", ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("portal:login", "GET", ""): {ANON: "ok", ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    # Signing out lands on the sign-in page, whoever asked.
    ("portal:logout", "POST", ""): {ANON: PORTAL_LOGIN, ALICE: PORTAL_LOGIN, CHARLIE: PORTAL_LOGIN, BOB: PORTAL_LOGIN},
    ("portal:entity", "GET", "entity"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    ("portal:application-new", "GET", ""): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("portal:application", "GET", "draft"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    ("portal:application-edit", "GET", "draft"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    ("portal:application-submit", "POST", "draft"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    ("portal:application-withdraw", "POST", "submitted"): {
        ANON: PORTAL_LOGIN,
        ALICE: "ok",
        CHARLIE: "404",
        BOB: "404",
    },
    ("portal:application-abandon", "POST", "draft"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    ("portal:application-copy", "POST", "abandoned"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    # The lists and the exports show each person what is theirs (their own is empty for charlie).
    ("portal:applications", "GET", ""): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("portal:filings", "GET", ""): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("portal:export-applications", "GET", "csv"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("portal:export-filings", "GET", "csv"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("portal:applications-discard", "POST", "draft"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    ("portal:entity-batch", "POST", "entity"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    # Anyone may make an organisation; only its members see it, only its owners manage it.
    ("portal:organisations", "GET", ""): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("portal:organisations", "POST", ""): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("portal:organisation", "GET", "organisation"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    ("portal:organisation", "POST", "organisation"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    ("portal:membership", "POST", "membership"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    # Every account has its own API tokens (a specialist's reach the review endpoints).
    ("portal:tokens", "GET", ""): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("portal:tokens", "POST", ""): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("portal:token-revoke", "POST", "token"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    ("console:queue", "GET", ""): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:login", "GET", ""): {ANON: "ok", ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("console:logout", "POST", ""): {
        ANON: CONSOLE_LOGIN,
        ALICE: CONSOLE_LOGIN,
        CHARLIE: CONSOLE_LOGIN,
        BOB: CONSOLE_LOGIN,
    },
    ("console:application", "GET", "submitted"): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:claim", "POST", "submitted"): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:approve", "POST", "submitted"): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:return", "POST", "submitted"): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    # S20: a customer's claims are theirs alone (a POST without a code is refused at the field).
    ("portal:claim-new", "GET", ""): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "ok", BOB: "ok"},
    ("portal:claim", "GET", "claim"): {ANON: PORTAL_LOGIN, ALICE: "ok", CHARLIE: "404", BOB: "404"},
    ("portal:claim", "POST", "claim"): {ANON: PORTAL_LOGIN, ALICE: "422", CHARLIE: "404", BOB: "404"},
    # The specialists' whole work is theirs alone.
    ("console:applications", "GET", ""): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:filings", "GET", ""): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:export-applications", "GET", ""): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:export-filings", "GET", ""): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:deliveries", "GET", ""): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:delivery-retry", "POST", "delivery"): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:entity", "GET", "entity"): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:entity", "POST", "entity"): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:import", "GET", ""): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "ok"},
    ("console:import", "POST", ""): {ANON: CONSOLE_LOGIN, ALICE: "403", CHARLIE: "403", BOB: "422"},
}


def test_every_page_has_a_row():
    names = set()
    for namespace in ("portal", "console"):
        resolver = get_resolver().namespace_dict[namespace][1]
        names |= {f"{namespace}:{name}" for name in resolver.reverse_dict if isinstance(name, str)}
    assert names == {name for name, _, _ in TABLE}


def _objects(people) -> dict[str, object]:
    alice = people["alice"]
    entity = mirror(alice)
    draft = applications.create_draft(owner=alice, op_type="new_filing", data={})
    submitted = applications.create_draft(
        owner=alice,
        op_type="change_website",
        data={"website_number": entity.websites.first().number, "website": {"name": "新的网站名称"}},
    )
    submitted = applications.submit(app=submitted, user=alice)
    abandoned = applications.abandon(
        app=applications.create_draft(owner=alice, op_type="new_filing", data={}), user=alice
    )
    token = tokens.create(user=alice, name="alice 的脚本").token
    org = organisations.create(user=alice, name="alice 的代理公司")
    charlie_gone = User.objects.create_user("erin", "erin@example.cn", "erin-pass")
    membership = Membership.objects.create(organisation=org, user=charlie_gone, role="viewer")
    claim = Claim.objects.create(user=alice, entity=entity, mobile_masked="138****0001")
    approved = applications.create_draft(owner=alice, op_type="new_filing", data={})
    delivery = Delivery.objects.create(application=approved, created_at=clock.now(), next_attempt_at=clock.now())
    return {
        "claim": claim,
        "delivery": delivery,
        "entity": entity,
        "draft": draft,
        "submitted": submitted,
        "abandoned": abandoned,
        "token": token,
        "organisation": org,
        "membership": membership,
    }


def url_of(route: str, target) -> str:
    if route == "portal:applications-discard":
        return reverse(route)  # the drafts go in the body
    if route.startswith("portal:export-"):
        return reverse(route, kwargs={"fmt": target})
    if route == "portal:membership":
        return reverse(route, kwargs={"pk": target.organisation_id, "member": target.pk})
    return reverse(route, kwargs={"pk": target.pk} if target is not None else {})


BODIES = {
    "console:return": lambda o: {"reason": "请修改", "field-website-name": "名称不当"},
    "console:entity": lambda o: {"account": "charlie", "reason": "营业执照核实一致"},
    "portal:tokens": lambda o: {"name": "新脚本", "expires_in_days": "30"},
    "portal:applications-discard": lambda o: {"ids": [str(o["draft"].pk)]},
    "portal:entity-batch": lambda o: {"type": "cancel_access", "websites": [o["entity"].websites.first().number]},
    "portal:organisations": lambda o: {"name": "新的组织"},
    "portal:organisation": lambda o: {"username": "charlie", "role": "viewer"},
    "portal:membership": lambda o: {"action": "role", "role": "editor"},
}


def _state() -> tuple:
    return (
        sorted(Application.objects.values_list("pk", "state", "version", "data")),
        TimelineEntry.objects.count(),
        Delivery.objects.count(),
        sorted(ApiToken.objects.values_list("pk", "revoked_at")),
        sorted(Membership.objects.values_list("pk", "role")),
        Organisation.objects.count(),
    )


def _matches(response, expected: str) -> bool:
    location = response.get("Location", "")
    if expected.startswith("redirect:"):
        return response.status_code in (302, 303) and location.startswith(expected.removeprefix("redirect:"))
    if expected == "ok":
        signed_out = "/login/" in location
        return (200 <= response.status_code < 300 or response.status_code in (302, 303)) and not signed_out
    return response.status_code == int(expected)


class TestEachPersona:
    """Every row on one world of alice's objects (`_objects`), built once and rolled back after each
    row (tests/shared_world.py)."""

    @pytest.fixture(scope="class")
    @classmethod
    def built(cls, django_db_setup, django_db_blocker):
        def build():
            people = make_people()
            return people, _objects(people)

        with built_once(django_db_blocker, build, **SANDBOX) as made:
            yield made

    @pytest.fixture
    def world(self, built, db):
        return own_copy(built)

    @pytest.mark.parametrize(("route", "method", "about"), list(TABLE))
    @pytest.mark.parametrize("who", [ANON, ALICE, CHARLIE, BOB])
    def test_pages_answer_each_persona_as_the_table_says(self, world, route, method, about, who):
        people, objects = world
        target = objects.get(about, about or None)
        url = url_of(route, target)
        client = Client()
        if who != ANON:
            client.force_login(people[who])
        before = _state()
        body = BODIES[route](objects) if route in BODIES else {}
        response = client.get(url) if method == "GET" else client.post(url, body)
        expected = TABLE[(route, method, about)][who]
        assert _matches(response, expected), (route, who, response.status_code, response.get("Location"))
        if expected != "ok" or method == "GET":
            assert _state() == before  # a refusal, or a page, changes nothing


# ---------------------------------------------------------------- an organisation's: owner, editor, viewer

OWNER, EDITOR, VIEWER = "alice", "dave", "vera"
MEMBERS_SEE = {OWNER: "ok", EDITOR: "ok", VIEWER: "ok", CHARLIE: "404"}
MEMBERS_CHANGE = {OWNER: "ok", EDITOR: "ok", VIEWER: "403", CHARLIE: "404"}
EVERYONE = {OWNER: "ok", EDITOR: "ok", VIEWER: "ok", CHARLIE: "ok"}

# The portal's pages on the organisation's objects (the console's are the specialists' alone).
ORG_TABLE: dict[tuple[str, str, str], dict[str, str]] = {
    ("portal:dashboard", "GET", ""): EVERYONE,
    ("portal:signup", "GET", ""): EVERYONE,
    ("portal:login", "GET", ""): EVERYONE,
    ("portal:logout", "POST", ""): {who: PORTAL_LOGIN for who in EVERYONE},
    ("portal:entity", "GET", "entity"): MEMBERS_SEE,
    ("portal:application-new", "GET", ""): EVERYONE,
    ("portal:application", "GET", "draft"): MEMBERS_SEE,
    ("portal:application-edit", "GET", "draft"): MEMBERS_CHANGE,
    ("portal:application-submit", "POST", "draft"): MEMBERS_CHANGE,
    ("portal:application-withdraw", "POST", "submitted"): MEMBERS_CHANGE,
    ("portal:application-abandon", "POST", "draft"): MEMBERS_CHANGE,
    ("portal:application-copy", "POST", "abandoned"): MEMBERS_CHANGE,
    ("portal:applications", "GET", ""): EVERYONE,
    ("portal:filings", "GET", ""): EVERYONE,
    ("portal:export-applications", "GET", "csv"): EVERYONE,
    ("portal:export-filings", "GET", "csv"): EVERYONE,
    ("portal:applications-discard", "POST", "draft"): MEMBERS_CHANGE,
    ("portal:entity-batch", "POST", "entity"): MEMBERS_CHANGE,
    ("portal:organisations", "GET", ""): EVERYONE,
    ("portal:organisations", "POST", ""): EVERYONE,
    ("portal:organisation", "GET", "organisation"): MEMBERS_SEE,
    # Adding members and changing roles is the owners'; a member may leave (see the tests below).
    ("portal:organisation", "POST", "organisation"): {OWNER: "ok", EDITOR: "403", VIEWER: "403", CHARLIE: "404"},
    ("portal:membership", "POST", "membership"): {OWNER: "ok", EDITOR: "403", VIEWER: "403", CHARLIE: "404"},
    ("portal:tokens", "GET", ""): EVERYONE,
    ("portal:tokens", "POST", ""): EVERYONE,
    ("portal:token-revoke", "POST", "token"): {OWNER: "ok", EDITOR: "404", VIEWER: "404", CHARLIE: "404"},
    # A claim for the organisation is its claimant's to finish, as a token is its maker's.
    ("portal:claim-new", "GET", ""): EVERYONE,
    ("portal:claim", "GET", "claim"): {OWNER: "ok", EDITOR: "404", VIEWER: "404", CHARLIE: "404"},
    ("portal:claim", "POST", "claim"): {OWNER: "422", EDITOR: "404", VIEWER: "404", CHARLIE: "404"},
}


def test_every_portal_page_has_an_organisation_row():
    assert set(ORG_TABLE) == {key for key in TABLE if key[0].startswith("portal:")}


def _org_objects(people, organisation) -> dict[str, object]:
    from tests.provider.test_api_authorization import org_application

    alice = people["alice"]
    entity = mirror(alice, number="浙ICP备2026000009号")
    entity.organisation = organisation
    entity.save()
    submitted = org_application(people, organisation, "submitted")
    abandoned = applications.abandon(app=org_application(people, organisation, "draft"), user=people["dave"])
    return {
        "entity": entity,
        "draft": org_application(people, organisation, "draft"),
        "submitted": submitted,
        "abandoned": abandoned,
        "token": tokens.create(user=alice, name="alice 的脚本").token,
        "organisation": organisation,
        "membership": Membership.objects.get(organisation=organisation, user=people["vera"]),
        "claim": Claim.objects.create(
            user=alice, organisation=organisation, entity=entity, mobile_masked="138****0001"
        ),
    }


ORG_BODIES = {
    **BODIES,
    "portal:organisation": lambda o: {"username": "bob", "role": "viewer"},
    "portal:membership": lambda o: {"action": "role", "role": "editor"},
}


class TestEachRole:
    """Every row on one world of the organisation's objects (`_org_objects`), built once and rolled
    back after each row (tests/shared_world.py)."""

    @pytest.fixture(scope="class")
    @classmethod
    def built(cls, django_db_setup, django_db_blocker):
        def build():
            people = make_people()
            organisation = make_organisation(people)
            return people, _org_objects(people, organisation)

        with built_once(django_db_blocker, build, **SANDBOX) as made:
            yield made

    @pytest.fixture
    def world(self, built, db):
        return own_copy(built)

    @pytest.mark.parametrize(("route", "method", "about"), list(ORG_TABLE))
    @pytest.mark.parametrize("who", [OWNER, EDITOR, VIEWER, CHARLIE])
    def test_an_organisations_pages_answer_each_role(self, world, route, method, about, who):
        people, objects = world
        url = url_of(route, objects.get(about, about or None))
        client = Client()
        client.force_login(people[who])
        before = _state()
        body = ORG_BODIES[route](objects) if route in ORG_BODIES else {}
        response = client.get(url) if method == "GET" else client.post(url, body)
        expected = ORG_TABLE[(route, method, about)][who]
        assert _matches(response, expected), (route, who, response.status_code, response.get("Location"))
        if expected != "ok" or method == "GET":
            assert _state() == before  # a refusal, or a page, changes nothing
