"""Who may call what on the provider's API (DESIGN §9): every endpoint × {alice (the owner),
charlie (another customer), bob (a filing specialist), anonymous}, with the expected status of each
cell written out below. Someone else's application is as absent as one that does not exist (404),
review endpoints refuse customers (403), no credentials is 401 — and a refusal changes nothing.

Then every endpoint again on an organisation's application and filing × {alice (its owner), dave (an
editor), vera (a viewer), charlie (not a member)}: members see, the viewer may change nothing (403),
an outsider finds nothing (404)."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from django.test import Client

from beian.provider import applications, tokens
from beian.provider.models import (
    ApiToken,
    Application,
    Delivery,
    FiledDomain,
    FiledEntity,
    FiledWebsite,
    TimelineEntry,
)
from tests.provider.conftest import SANDBOX, enterprise, make_organisation, make_people, person, website
from tests.shared_world import built_once, own_copy

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State
ACTORS = ("alice", "charlie", "bob", "anonymous")


def complete_data(n: int = 1, domain: str = "alice.cn") -> dict:
    principal = person(n)
    return {
        "entity": enterprise(n, principal=principal),
        "website": website(domain, principal=principal),
        "access": {"ips": ["121.40.18.10"]},
    }


def alice_application(alice, state: str) -> Application:
    """Alice's new_filing in `state`, reached through the service functions."""
    app = applications.create_draft(owner=alice, op_type="new_filing", data=complete_data())
    if state == S.SUBMITTED:
        app = applications.submit(app=app, user=alice)
    elif state == S.WITHDRAWN:
        app = applications.withdraw(app=applications.submit(app=app, user=alice), user=alice)
    assert app.state == state
    return app


# endpoint: (method, path, body, state of alice's application it acts on or None, {actor: status})
TABLE: dict[str, tuple[str, str, dict | None, str | None, dict[str, int]]] = {
    "list": ("GET", "/applications", None, S.DRAFT, {"alice": 200, "charlie": 200, "bob": 200, "anonymous": 401}),
    "create": (
        "POST",
        "/applications",
        {"type": "new_filing"},
        None,
        {"alice": 201, "charlie": 201, "bob": 201, "anonymous": 401},
    ),
    "read": ("GET", "/applications/{id}", None, S.DRAFT, {"alice": 200, "charlie": 404, "bob": 404, "anonymous": 401}),
    "update": (
        "PUT",
        "/applications/{id}",
        {"data": complete_data(2, "changed.cn")},
        S.DRAFT,
        {"alice": 200, "charlie": 404, "bob": 404, "anonymous": 401},
    ),
    "timeline": (
        "GET",
        "/applications/{id}/timeline",
        None,
        S.DRAFT,
        {"alice": 200, "charlie": 404, "bob": 404, "anonymous": 401},
    ),
    "warnings": (
        "GET",
        "/applications/{id}/warnings",
        None,
        S.DRAFT,
        {"alice": 200, "charlie": 404, "bob": 404, "anonymous": 401},
    ),
    "submit": (
        "POST",
        "/applications/{id}/submit",
        {},
        S.DRAFT,
        {"alice": 200, "charlie": 404, "bob": 404, "anonymous": 401},
    ),
    "withdraw": (
        "POST",
        "/applications/{id}/withdraw",
        None,
        S.SUBMITTED,
        {"alice": 200, "charlie": 404, "bob": 404, "anonymous": 401},
    ),
    "abandon": (
        "POST",
        "/applications/{id}/abandon",
        None,
        S.DRAFT,
        {"alice": 200, "charlie": 404, "bob": 404, "anonymous": 401},
    ),
    "copy": (
        "POST",
        "/applications/{id}/copy",
        None,
        S.WITHDRAWN,
        {"alice": 201, "charlie": 404, "bob": 404, "anonymous": 401},
    ),
    "entities": ("GET", "/entities", None, None, {"alice": 200, "charlie": 200, "bob": 200, "anonymous": 401}),
    "websites": ("GET", "/websites", None, None, {"alice": 200, "charlie": 200, "bob": 200, "anonymous": 401}),
    "discard": (
        "POST",
        "/applications/discard",
        {"ids": ["{id}"]},
        S.DRAFT,
        {"alice": 200, "charlie": 404, "bob": 404, "anonymous": 401},
    ),
    # Someone else's websites are not among those one may act on: a field error names them.
    "batch": (
        "POST",
        "/applications/batch",
        {"type": "cancel_access", "website_numbers": ["{website}"]},
        None,
        {"alice": 201, "charlie": 422, "bob": 422, "anonymous": 401},
    ),
    "export_applications": (
        "GET",
        "/exports/applications",
        None,
        S.DRAFT,
        {"alice": 200, "charlie": 200, "bob": 200, "anonymous": 401},
    ),
    "export_websites": (
        "GET",
        "/exports/websites",
        None,
        None,
        {"alice": 200, "charlie": 200, "bob": 200, "anonymous": 401},
    ),
    "organisations": (
        "GET",
        "/organisations",
        None,
        None,
        {"alice": 200, "charlie": 200, "bob": 200, "anonymous": 401},
    ),
    "catalogue": ("GET", "/catalogue", None, None, {"alice": 200, "charlie": 200, "bob": 200, "anonymous": 401}),
    "review_queue": (
        "GET",
        "/review/queue",
        None,
        S.SUBMITTED,
        {"alice": 403, "charlie": 403, "bob": 200, "anonymous": 401},
    ),
    "claim": (
        "POST",
        "/applications/{id}/claim",
        None,
        S.SUBMITTED,
        {"alice": 403, "charlie": 403, "bob": 200, "anonymous": 401},
    ),
    "review": (
        "POST",
        "/applications/{id}/review",
        {"decision": "return", "field_reasons": {"website.name": "网站名称请与网站内容一致"}},
        S.SUBMITTED,
        {"alice": 403, "charlie": 403, "bob": 200, "anonymous": 401},
    ),
    # Each account manages its own API tokens only (alice's token is the one revoked).
    "tokens": ("GET", "/tokens", None, None, {"alice": 200, "charlie": 200, "bob": 200, "anonymous": 401}),
    "token_create": (
        "POST",
        "/tokens",
        {"name": "部署脚本"},
        None,
        {"alice": 201, "charlie": 201, "bob": 201, "anonymous": 401},
    ),
    "token_revoke": (
        "POST",
        "/tokens/{token}/revoke",
        None,
        None,
        {"alice": 200, "charlie": 404, "bob": 404, "anonymous": 401},
    ),
    # The documentation is public.
    "openapi": ("GET", "/openapi.json", None, None, {"alice": 200, "charlie": 200, "bob": 200, "anonymous": 200}),
}
CELLS = [(endpoint, actor) for endpoint in TABLE for actor in ACTORS]


def call(client: Client, method: str, path: str, body: dict | None = None, **headers):
    kwargs = {"content_type": "application/json", "data": json.dumps(body, ensure_ascii=False)} if body else {}
    if body == {}:
        kwargs = {"content_type": "application/json", "data": "{}"}
    return client.generic(method, f"/api/v1{path}", headers=headers, **kwargs)


def snapshot() -> tuple:
    """Everything a request could change on the provider's side."""
    return (
        list(Application.objects.order_by("pk").values()),
        list(TimelineEntry.objects.order_by("pk").values()),
        list(Delivery.objects.order_by("pk").values()),
        list(FiledEntity.objects.order_by("pk").values()),
        list(ApiToken.objects.order_by("pk").values("pk", "user", "revoked_at")),
    )


def make_alice_filing(people) -> FiledWebsite:
    """Alice's filing in the mirror, which no one else may see."""
    entity = FiledEntity.objects.create(
        number="粤ICP备2024012345号",
        name="测试科技有限公司1号",
        unit_type="enterprise",
        province="44",
        status="active",
        owner=people["alice"],
    )
    site = FiledWebsite.objects.create(
        entity=entity,
        number="粤ICP备2024012345号-1",
        name="测试网站",
        home_url="http://alice.cn",
        status="active",
        access_state="active",
        ips=["121.40.18.10"],
    )
    FiledDomain.objects.create(website=site, name="alice.cn")
    return site


def client_for(people, actor: str) -> Client:
    client = Client()
    if actor != "anonymous":
        client.force_login(people[actor])
    return client


def test_the_table_covers_every_endpoint_of_the_api():
    from beian.provider.api import api

    documented = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, item in api.get_openapi_schema()["paths"].items()
        for method in item
    }
    tabled = {
        (method, path.replace("{id}", "{application_id}").replace("{token}", "{token_id}"))
        for method, path, *_ in TABLE.values()
    }
    assert documented == tabled - {("GET", "/openapi.json")}
    assert set(ORG_TABLE) == set(TABLE)


def make_alice_token(people) -> ApiToken:
    """Alice's API token, which no one else may see or revoke."""
    return tokens.create(user=people["alice"], name="alice 的脚本").token


def fill(template, **values):
    """A path or a body with its placeholders ({id}, {token}, {website}) filled in."""
    if template is None:
        return None
    text = json.dumps(template, ensure_ascii=False)
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return json.loads(text)


def check_cell(client: Client, endpoint: str, actor: str, people, alice_token: ApiToken, **headers) -> None:
    method, path, body, state, expected = TABLE[endpoint]
    app = alice_application(people["alice"], state) if state else None
    values = {"id": app.pk if app else "", "token": alice_token.pk, "website": "粤ICP备2024012345号-1"}
    path, body = fill(path, **values), fill(body, **values)
    before = snapshot()

    response = call(client, method, path, body, **headers)

    assert response.status_code == expected[actor], response.content.decode()
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == response.status_code
        assert snapshot() == before, "a refused request changed something"
    elif endpoint in ("list", "entities", "websites") and actor != "alice":
        assert response.json()["items"] == []  # never anyone else's
    elif endpoint.startswith("export_"):
        rows = list(csv.reader(io.StringIO(response.getvalue().decode("utf-8-sig"))))
        assert len(rows) == (3 if actor == "alice" else 2)  # header, titles, alice's one row
    elif endpoint == "organisations":
        assert response.json()["items"] == []
    elif endpoint == "list":
        assert [item["id"] for item in response.json()["items"]] == [str(app.pk)]
    elif endpoint in ("entities", "websites"):
        assert response.json()["count"] == 1
    elif endpoint == "tokens":
        listed = [item["shown_as"] for item in response.json()["items"]]
        assert (tokens.display(alice_token) in listed) == (actor == "alice")


TOKEN_CELLS = [(endpoint, actor) for endpoint, actor in CELLS if actor != "anonymous"]


class TestEachPerson:
    """Every cell on one world (the people, alice's filing and her token), built once and rolled back
    after each cell (tests/shared_world.py); the application a cell acts on is made in the cell."""

    @pytest.fixture(scope="class")
    @classmethod
    def built(cls, django_db_setup, django_db_blocker):
        def build():
            people = make_people()
            return people, make_alice_filing(people), make_alice_token(people)

        with built_once(django_db_blocker, build, **SANDBOX) as made:
            yield made

    @pytest.fixture
    def world(self, built, db):
        return own_copy(built)

    @pytest.mark.parametrize(("endpoint", "actor"), CELLS, ids=[f"{e}-{a}" for e, a in CELLS])
    def test_who_may_call_what(self, world, endpoint, actor):
        people, _alice_filing, alice_token = world
        check_cell(client_for(people, actor), endpoint, actor, people, alice_token)

    @pytest.mark.parametrize(("endpoint", "actor"), TOKEN_CELLS, ids=[f"{e}-{a}" for e, a in TOKEN_CELLS])
    def test_a_token_carries_the_accounts_permissions_exactly(self, world, endpoint, actor):
        """The same table, each person sending an API token of their own instead of a session."""
        people, _alice_filing, alice_token = world
        secret = tokens.create(user=people[actor], name="权限").secret
        check_cell(Client(), endpoint, actor, people, alice_token, Authorization=f"Bearer {secret}")


@pytest.mark.parametrize("actor", ["alice", "charlie", "bob"])
def test_an_application_that_does_not_exist_is_the_same_404(people, actor):
    client = client_for(people, actor)
    for path in ("/applications/00000000-0000-4000-8000-000000000000", "/applications/not-a-uuid/timeline"):
        response = call(client, "GET", path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_a_specialist_does_not_review_their_own_application(people):
    bob = people["bob"]
    app = applications.submit(
        app=applications.create_draft(owner=bob, op_type="new_filing", data=complete_data(3, "bob.cn")), user=bob
    )
    client = client_for(people, "bob")
    before = snapshot()
    response = call(client, "POST", f"/applications/{app.pk}/review", {"decision": "approve"})
    assert response.status_code == 403
    assert snapshot() == before


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_scripts_use_basic_auth_without_csrf(people):
    alice_application(people["alice"], S.DRAFT)
    client = Client(enforce_csrf_checks=True)

    listed = call(client, "GET", "/applications", Authorization=basic("alice", "alice-pass"))
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    created = call(client, "POST", "/applications", {"type": "new_filing"}, Authorization=basic("alice", "alice-pass"))
    assert created.status_code == 201, created.content
    assert Application.objects.get(pk=created.json()["id"]).owner == people["alice"]
    assert call(client, "GET", "/review/queue", Authorization=basic("bob", "bob-pass")).status_code == 200
    assert call(client, "GET", "/review/queue", Authorization=basic("alice", "alice-pass")).status_code == 403

    before = snapshot()
    wrong = call(client, "POST", "/applications", {"type": "new_filing"}, Authorization=basic("alice", "wrong"))
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Basic")
    assert call(client, "GET", "/applications", Authorization="Basic not-base64!").status_code == 401
    # A browser with cached Basic credentials on a cross-site request is not authenticated by them.
    cross_site = call(
        client,
        "POST",
        "/applications",
        {"type": "new_filing"},
        Authorization=basic("alice", "alice-pass"),
        Origin="https://evil.example",
    )
    assert cross_site.status_code == 401
    assert snapshot() == before


def test_session_posts_need_the_csrf_token(people):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["alice"])
    before = snapshot()

    refused = call(client, "POST", "/applications", {"type": "new_filing"})
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "forbidden"
    assert snapshot() == before
    assert call(client, "GET", "/applications").status_code == 200  # safe methods need no token

    token = "k" * 32
    client.cookies["csrftoken"] = token
    accepted = call(client, "POST", "/applications", {"type": "new_filing"}, **{"X-CSRFToken": token})
    assert accepted.status_code == 201, accepted.content


def test_anonymous_posts_are_401_not_a_csrf_403(people):
    response = call(Client(enforce_csrf_checks=True), "POST", "/applications", {"type": "new_filing"})
    assert response.status_code == 401


# ---------------------------------------------------------------- an organisation's: owner, editor, viewer

ROLES = ("alice", "dave", "vera", "charlie")  # owner, editor, viewer, not a member
SEE = {"alice": 200, "dave": 200, "vera": 200, "charlie": 404}
LIST = {"alice": 200, "dave": 200, "vera": 200, "charlie": 200}
ORG_WEBSITE = "浙ICP备2024054321号-1"

# endpoint: (state of the organisation's application it acts on, or None; {role: status}).
ORG_TABLE: dict[str, tuple[str | None, dict[str, int]]] = {
    "list": (S.DRAFT, LIST),
    # Starting one for the organisation: its editors may, its viewer may not, an outsider names none.
    "create": (None, {"alice": 201, "dave": 201, "vera": 403, "charlie": 422}),
    "read": (S.DRAFT, SEE),
    "update": (S.DRAFT, {"alice": 200, "dave": 200, "vera": 403, "charlie": 404}),
    "timeline": (S.DRAFT, SEE),
    "warnings": (S.DRAFT, SEE),
    "submit": (S.DRAFT, {"alice": 200, "dave": 200, "vera": 403, "charlie": 404}),
    "withdraw": (S.SUBMITTED, {"alice": 200, "dave": 200, "vera": 403, "charlie": 404}),
    "abandon": (S.DRAFT, {"alice": 200, "dave": 200, "vera": 403, "charlie": 404}),
    "copy": (S.WITHDRAWN, {"alice": 201, "dave": 201, "vera": 403, "charlie": 404}),
    "entities": (None, LIST),
    "websites": (None, LIST),
    "discard": (S.DRAFT, {"alice": 200, "dave": 200, "vera": 403, "charlie": 404}),
    "batch": (None, {"alice": 201, "dave": 201, "vera": 422, "charlie": 422}),
    "export_applications": (S.DRAFT, LIST),
    "export_websites": (None, LIST),
    "organisations": (None, LIST),
    "catalogue": (None, LIST),
    "review_queue": (S.SUBMITTED, {"alice": 403, "dave": 403, "vera": 403, "charlie": 403}),
    "claim": (S.SUBMITTED, {"alice": 403, "dave": 403, "vera": 403, "charlie": 403}),
    "review": (S.SUBMITTED, {"alice": 403, "dave": 403, "vera": 403, "charlie": 403}),
    "tokens": (None, LIST),
    "token_create": (None, {"alice": 201, "dave": 201, "vera": 201, "charlie": 201}),
    # A token is its account's alone, organisation or not.
    "token_revoke": (None, {"alice": 200, "dave": 404, "vera": 404, "charlie": 404}),
    "openapi": (None, LIST),
}
ORG_CELLS = [(endpoint, role) for endpoint in ORG_TABLE for role in ROLES]


def make_org_filing(organisation, people) -> FiledWebsite:
    """The organisation's filing in the mirror: its members see it, charlie does not."""
    entity = FiledEntity.objects.create(
        number="浙ICP备2024054321号",
        name="杭州客户网络有限公司",
        unit_type="enterprise",
        province="33",
        status="active",
        owner=people["alice"],
        organisation=organisation,
    )
    site = FiledWebsite.objects.create(
        entity=entity,
        number=ORG_WEBSITE,
        name="客户网站",
        home_url="http://client-site.cn",
        status="active",
        access_state="active",
        ips=["121.40.18.11"],
    )
    FiledDomain.objects.create(website=site, name="client-site.cn")
    return site


def org_application(people, organisation, state: str) -> Application:
    """The organisation's new_filing in `state`, made by its editor dave."""
    dave = people["dave"]
    app = applications.create_draft(
        owner=dave, op_type="new_filing", data=complete_data(4, "client-new.cn"), organisation=organisation.pk
    )
    if state == S.SUBMITTED:
        app = applications.submit(app=app, user=dave)
    elif state == S.WITHDRAWN:
        app = applications.withdraw(app=applications.submit(app=app, user=dave), user=dave)
    assert app.state == state
    assert app.organisation_id == organisation.pk
    return app


class TestEachRole:
    """Every cell on one world (the people, the organisation, its filing and alice's token), built
    once and rolled back after each cell (tests/shared_world.py); the organisation's application a
    cell acts on is made in the cell."""

    @pytest.fixture(scope="class")
    @classmethod
    def built(cls, django_db_setup, django_db_blocker):
        def build():
            people = make_people()
            organisation = make_organisation(people)
            return people, organisation, make_org_filing(organisation, people), make_alice_token(people)

        with built_once(django_db_blocker, build, **SANDBOX) as made:
            yield made

    @pytest.fixture
    def world(self, built, db):
        return own_copy(built)

    @pytest.mark.parametrize(("endpoint", "role"), ORG_CELLS, ids=[f"{e}-{r}" for e, r in ORG_CELLS])
    def test_an_organisations_members_by_role(self, world, endpoint, role):
        people, organisation, org_filing, alice_token = world
        state, expected = ORG_TABLE[endpoint]
        method, path, body, _state, _personal = TABLE[endpoint]
        app = org_application(people, organisation, state) if state else None
        values = {"id": app.pk if app else "", "token": alice_token.pk, "website": ORG_WEBSITE}
        path, body = fill(path, **values), fill(body, **values)
        if endpoint == "create":
            body = {"type": "new_filing", "organisation": organisation.pk}
        client = client_for(people, role)
        before = snapshot()

        response = call(client, method, path, body)

        assert response.status_code == expected[role], response.content.decode()
        if response.status_code >= 400:
            assert response["Content-Type"] == "application/problem+json"
            assert snapshot() == before, "a refused request changed something"
            return
        member = role != "charlie"
        if endpoint == "list":
            assert (str(app.pk) in [item["id"] for item in response.json()["items"]]) == member
        elif endpoint in ("entities", "websites"):
            numbers = [item["number"] for item in response.json()["items"]]
            assert (ORG_WEBSITE if endpoint == "websites" else org_filing.entity.number) in numbers or not member
            assert not member or response.json()["items"][0]["organisation"]["name"] == "西湖建站代理"
            assert member or numbers == []
        elif endpoint == "export_applications":
            assert (str(app.pk) in response.getvalue().decode("utf-8-sig")) == member
        elif endpoint == "export_websites":
            assert (ORG_WEBSITE in response.getvalue().decode("utf-8-sig")) == member
        elif endpoint == "organisations":
            roles = [item["role"] for item in response.json()["items"]]
            assert roles == {"alice": ["owner"], "dave": ["editor"], "vera": ["viewer"], "charlie": []}[role]
        elif endpoint in ("create", "copy", "batch"):
            made = response.json()["items"] if endpoint == "batch" else [response.json()]
            assert all(item["organisation"]["id"] == organisation.pk for item in made)
            assert all(item["created_by"] == role for item in made)


def test_the_timeline_says_which_member_did_what(people, organisation):
    app = org_application(people, organisation, S.SUBMITTED)
    response = call(client_for(people, "vera"), "GET", f"/applications/{app.pk}/timeline")
    assert [(item["action"], item["by"]) for item in response.json()["items"]] == [
        ("create", "dave"),
        ("submit", "dave"),
    ]


@pytest.mark.parametrize(("role", "read", "submit"), [("dave", 200, 200), ("vera", 200, 403), ("charlie", 404, 404)])
def test_a_token_carries_the_role_in_the_organisation(people, organisation, role, read, submit):
    app = org_application(people, organisation, S.DRAFT)
    bearer = {"Authorization": f"Bearer {tokens.create(user=people[role], name='脚本').secret}"}
    assert call(Client(), "GET", f"/applications/{app.pk}", **bearer).status_code == read
    assert call(Client(), "POST", f"/applications/{app.pk}/submit", {}, **bearer).status_code == submit
