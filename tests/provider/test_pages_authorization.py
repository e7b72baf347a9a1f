"""Who may open and do what, over every page and action of the portal and the console: alice (the
owner), charlie (another customer), bob (a filing specialist) and an anonymous visitor. A refusal
changes nothing. A page added without a row here fails `test_every_page_has_a_row`."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import get_resolver

from beian.provider import applications, tokens
from beian.provider.models import ApiToken, Application, Delivery, TimelineEntry
from tests.provider.test_portal_pages import mirror, new_filing_post  # noqa: F401 - shared page fixtures

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
    return {"entity": entity, "draft": draft, "submitted": submitted, "abandoned": abandoned, "token": token}


def _state() -> tuple:
    return (
        sorted(Application.objects.values_list("pk", "state", "version", "data")),
        TimelineEntry.objects.count(),
        Delivery.objects.count(),
        sorted(ApiToken.objects.values_list("pk", "revoked_at")),
    )


def _matches(response, expected: str) -> bool:
    location = response.get("Location", "")
    if expected.startswith("redirect:"):
        return response.status_code in (302, 303) and location.startswith(expected.removeprefix("redirect:"))
    if expected == "ok":
        signed_out = "/login/" in location
        return (200 <= response.status_code < 300 or response.status_code in (302, 303)) and not signed_out
    return response.status_code == int(expected)


@pytest.mark.parametrize(("route", "method", "about"), list(TABLE))
@pytest.mark.parametrize("who", [ANON, ALICE, CHARLIE, BOB])
def test_pages_answer_each_persona_as_the_table_says(people, route, method, about, who):
    objects = _objects(people)
    target = objects.get(about)
    kwargs = {"pk": target.pk} if target is not None else {}
    from django.urls import reverse

    url = reverse(route, kwargs=kwargs)
    client = Client()
    if who != ANON:
        client.force_login(people[who])
    before = _state()
    body = {
        "console:return": {"reason": "请修改", "field-website-name": "名称不当"},
        "portal:tokens": {"name": "新脚本", "expires_in_days": "30"},
    }.get(route, {})
    response = client.get(url) if method == "GET" else client.post(url, body)
    expected = TABLE[(route, method, about)][who]
    assert _matches(response, expected), (route, who, response.status_code, response.get("Location"))
    if expected != "ok" or method == "GET":
        assert _state() == before  # a refusal, or a page, changes nothing
