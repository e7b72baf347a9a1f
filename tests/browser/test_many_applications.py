"""Issue 15 in the browser: a customer with 500 applications (made by the fixture below, straight
into the database, as the years would have made them) finds one by domain and by state, pages
through them, discards 20 drafts at once and exports a CSV whose rows match the API; no portal page
is wider than its window at 1,280 and 390 px, however long a domain or a name; an organisation's
viewer sees its filings and cannot submit."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.urls import get_resolver
from playwright.sync_api import Page, expect

from beian.core import clock
from beian.provider import applications, listing, organisations, tokens
from beian.provider.models import Application, Claim, FiledDomain, FiledEntity, FiledWebsite, TimelineEntry
from tests.provider.conftest import enterprise, person, website

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True)
S = Application.State
COUNT = 500
# The states of the 500, in turn: 100 of each.
STATES = (S.DRAFT, S.SUBMITTED, S.RETURNED, S.APPROVED, S.WITHDRAWN)
LONG_DOMAIN = "a" * 50 + "-an-unbroken-label-that-is-long.cn"  # 83 characters, no place to break
LONG_NAME = "深圳市" + "非常长的名称没有空格" * 9 + "有限公司"
ENTITY = "粤ICP备2026000100号"
WIDTHS = (1280, 390)


@pytest.fixture
def five_hundred(platform):
    """alice's 500 applications, 100 in each of five states, the newest first by a minute each, and
    a filing of three websites, one with a domain and an entity name that never break."""
    alice = User.objects.get(username="alice")
    start = clock.now() - timedelta(days=30)
    rows = []
    for n in range(COUNT):
        p = person(n % 90 + 1)
        data = {
            "entity": enterprise(n % 90 + 1, principal=p),
            "website": website(f"client{n:03d}.cn", principal=p),
            "access": {"ips": ["121.40.18.10"]},
        }
        at = start + timedelta(minutes=n)
        rows.append(
            Application(
                owner=alice,
                type="new_filing",
                state=STATES[n % len(STATES)],
                data=data,
                created_at=at,
                updated_at=at,
                submitted_at=None if n % len(STATES) == 0 else at,
                field_reasons=[{"field": "website.name", "code": "x", "message": "请修改", "message_en": "Fix"}]
                if STATES[n % len(STATES)] == S.RETURNED
                else [],
                **listing.keys("new_filing", data),
            )
        )
    Application.objects.bulk_create(rows)
    entity = FiledEntity.objects.create(
        number=ENTITY, name=LONG_NAME, unit_type="enterprise", province="44", status="active", owner=alice
    )
    for n, domain in enumerate(("shop-s15.cn", LONG_DOMAIN, "blog-s15.cn"), start=1):
        site = FiledWebsite.objects.create(
            entity=entity,
            number=f"{ENTITY}-{n}",
            name=f"网站{n}",
            home_url=f"http://{domain}/",
            status="active",
            access_state="active" if n != 3 else "ended",
            ips=["121.40.18.10"],
        )
        FiledDomain.objects.create(website=site, name=domain)
    return platform


def sign_in(page: Page, url: str, username: str = "alice") -> None:
    page.goto(f"{url}/portal/login/")
    page.locator("[name=username]").fill(username)
    page.locator("[name=password]").fill(f"{username}-pass")
    page.locator("#login-submit").click()
    expect(page).to_have_url(f"{url}/portal/")


def rows(page: Page):
    return page.locator("#applications tbody tr")


def test_a_customer_with_500_applications_finds_pages_and_discards(five_hundred, page):
    url = five_hundred.url
    sign_in(page, url)
    # The overview stays short: what needs her (the returned ones) bounded, then a few of each list.
    expect(page.locator("#todo li")).to_have_count(10)
    expect(page.locator("#count-action")).to_have_text("100")
    expect(page.locator("#open-applications tbody tr")).to_have_count(10)
    assert page.evaluate("document.documentElement.scrollHeight") < 6000

    # By domain: one, and the search is in the URL (a bookmark).
    page.locator("#nav-applications").click()
    expect(page.locator("#result-count")).to_contain_text("500")
    page.locator("#filter-q").fill("client417.cn")
    page.locator("#filter-submit").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page)).to_contain_text("client417.cn")
    assert "q=client417.cn" in page.url
    page.goto(page.url)  # the bookmark opens the same list
    expect(rows(page)).to_have_count(1)

    # By state: the returned ones, 100, over two pages.
    page.locator("#filter-reset").click()
    page.locator("#filter-state").select_option("returned")
    page.locator("#filter-submit").click()
    expect(page.locator("#result-count")).to_contain_text("100")
    expect(rows(page)).to_have_count(listing.PER_PAGE)
    expect(page.locator("#page-number")).to_have_text("第 1 / 2 页")
    first_page = set(rows(page).evaluate_all("rows => rows.map(r => r.dataset.application)"))
    page.locator("#page-next").click()
    expect(page.locator("#page-number")).to_have_text("第 2 / 2 页")
    second_page = set(rows(page).evaluate_all("rows => rows.map(r => r.dataset.application)"))
    assert len(first_page | second_page) == 100
    assert all(s == S.RETURNED for s in rows(page).evaluate_all("rows => rows.map(r => r.dataset.state)"))

    # Discard 20 drafts at once.
    page.goto(f"{url}/portal/applications/?state=draft")
    expect(page.locator("#result-count")).to_contain_text("100")
    picks = page.locator("input.pick")
    chosen = [picks.nth(i).get_attribute("value") for i in range(20)]
    for i in range(20):
        picks.nth(i).check()
    expect(page.locator("#selected-count")).to_contain_text("20")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#discard-selected").click()
    expect(page.locator("#flash")).to_have_text("已放弃 20 份草稿")
    expect(page.locator("#result-count")).to_contain_text("80")
    assert sorted(str(pk) for pk in Application.objects.filter(state=S.ABANDONED).values_list("pk", flat=True)) == (
        sorted(chosen)
    )
    assert TimelineEntry.objects.filter(action="abandon", actor="customer:alice").count() == 20


def test_the_csv_export_matches_the_api(five_hundred, page):
    url = five_hundred.url
    sign_in(page, url)
    page.goto(f"{url}/portal/applications/")
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    text = open(download.value.path(), encoding="utf-8-sig").read()  # noqa: SIM115
    exported = list(csv.DictReader(io.StringIO(text)))[1:]  # the second row holds the titles
    assert len(exported) == COUNT

    # The same rows through the API, page by page by cursor, with the browser's session.
    items, cursor = [], ""
    while True:
        answer = page.request.get(f"{url}/api/v1/applications?limit=200{cursor}").json()
        items += answer["items"]
        if not answer["next_cursor"]:
            break
        cursor = f"&cursor={answer['next_cursor']}"
    fields = ("id", "type", "type_name", "state", "state_name", "entity_number", "website_number", "created_by")
    assert [tuple(row[f] for f in fields) for row in exported] == [
        tuple(str(item[f]) for f in fields) for item in items
    ]
    assert [row["domains"] for row in exported] == [" ".join(item["data"]["website"]["domains"]) for item in items]


def portal_pages(url: str, *, app: Application, entity: FiledEntity, organisation, claim) -> dict[str, str]:
    """Every page of the portal a person opens (its GET routes), at a URL with content."""
    return {
        "portal:dashboard": f"{url}/portal/",
        "portal:applications": f"{url}/portal/applications/?state=drafts",
        "portal:filings": f"{url}/portal/filings/",
        "portal:entity": f"{url}/portal/entities/{entity.pk}/",
        "portal:application-new": f"{url}/portal/applications/new/",
        "portal:application": f"{url}/portal/applications/{app.pk}/",
        "portal:application-edit": f"{url}/portal/applications/{app.pk}/edit/",
        "portal:tokens": f"{url}/portal/tokens/",
        "portal:organisations": f"{url}/portal/organisations/",
        "portal:organisation": f"{url}/portal/organisations/{organisation.pk}/",
        "portal:claim-new": f"{url}/portal/claims/new/",
        "portal:claim": f"{url}/portal/claims/{claim.pk}/",
    }


# Routes that answer only a POST, or a file, or are for signed-out visitors (checked signed out).
NOT_PAGES = {
    "portal:logout",
    "portal:application-submit",
    "portal:application-withdraw",
    "portal:application-abandon",
    "portal:application-copy",
    "portal:applications-discard",
    "portal:entity-batch",
    "portal:membership",
    "portal:token-revoke",
    "portal:export-applications",
    "portal:export-filings",
}
SIGNED_OUT = {"portal:login": "/portal/login/", "portal:signup": "/portal/signup/"}


def test_no_portal_page_is_wider_than_its_window(five_hundred, page):
    url = five_hundred.url
    alice = User.objects.get(username="alice")
    p = person(3)
    app = applications.create_draft(
        owner=alice,
        op_type="new_filing",
        data={
            "entity": {**enterprise(3, principal=p), "name": LONG_NAME},
            "website": website(LONG_DOMAIN, principal=p, name="长域名网站"),
            "access": {"ips": ["121.40.18.10"]},
        },
    )
    organisation = organisations.create(user=alice, name=LONG_NAME)
    tokens.create(user=alice, name="部署脚本" * 15)
    entity = FiledEntity.objects.get(number=ENTITY)
    claim = Claim.objects.create(
        user=alice, entity=entity, mobile_masked="138****0001", expires_at=clock.now() + timedelta(hours=24)
    )
    pages = portal_pages(url, app=app, entity=entity, organisation=organisation, claim=claim)
    resolver = get_resolver().namespace_dict["portal"][1]
    routes = {f"portal:{name}" for name in resolver.reverse_dict if isinstance(name, str)}
    assert routes == set(pages) | NOT_PAGES | set(SIGNED_OUT)

    too_wide = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for route, path in SIGNED_OUT.items():
            page.context.clear_cookies()
            page.goto(f"{url}{path}")
            too_wide += _overflow(page, route, width)
        sign_in(page, url)
        for route, address in pages.items():
            page.goto(address)
            too_wide += _overflow(page, route, width)
        # The header of a phone: brand, navigation and sign-out all inside the window.
        header = page.locator("header.top").bounding_box()
        assert header["x"] + header["width"] <= width
        logout = page.locator("#logout").bounding_box()
        assert logout["x"] + logout["width"] <= width
    assert too_wide == []


def _overflow(page: Page, route: str, width: int) -> list[tuple[str, int, int]]:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    return [(route, width, scroll)] if scroll > inner else []


def test_an_organisations_viewer_sees_the_filings_but_cannot_submit(platform, page):
    url = platform.url
    alice = User.objects.get(username="alice")
    vera = User.objects.create_user("vera", "vera@example.cn", "vera-pass")
    vera.groups.add(Group.objects.get(name="customers"))
    org = organisations.create(user=alice, name="西湖建站代理")
    organisations.add(user=alice, organisation=org, username="vera", role="viewer")
    entity = FiledEntity.objects.create(
        number=ENTITY,
        name="深圳市客户科技有限公司",
        unit_type="enterprise",
        province="44",
        status="active",
        owner=alice,
        organisation=org,
    )
    site = FiledWebsite.objects.create(
        entity=entity,
        number=f"{ENTITY}-1",
        name="客户官网",
        home_url="http://client-shop.cn",
        status="active",
        access_state="active",
        ips=["121.40.18.10"],
    )
    FiledDomain.objects.create(website=site, name="client-shop.cn")
    p = person(7)
    draft = applications.create_draft(
        owner=alice,
        op_type="new_filing",
        data={
            "entity": enterprise(7, principal=p),
            "website": website("client-next.cn", principal=p),
            "access": {"ips": ["121.40.18.10"]},
        },
        organisation=org.pk,
    )

    sign_in(page, url, "vera")
    expect(page.locator(f"tr[data-number='{ENTITY}-1']")).to_contain_text("client-shop.cn")
    page.locator(f"tr[data-number='{ENTITY}-1'] a[id^='manage-entity-']").click()
    expect(page.locator("#viewer-note")).to_be_visible()
    expect(page.locator("#batch-form")).to_have_count(0)
    page.goto(f"{url}/portal/applications/{draft.pk}/")
    expect(page.locator("#application-holder")).to_have_text("西湖建站代理")
    expect(page.locator("#viewer-note")).to_be_visible()
    expect(page.locator("#submit-application")).to_have_count(0)
    expect(page.locator("#edit-application")).to_have_count(0)
    # Even a hand-made submission is refused, and nothing changes.
    token = page.locator("[name=csrfmiddlewaretoken]").first.get_attribute("value")
    refused = page.request.post(
        f"{url}/portal/applications/{draft.pk}/submit/", form={"csrfmiddlewaretoken": token}, max_redirects=0
    )
    assert refused.status == 403
    draft.refresh_from_db()
    assert draft.state == S.DRAFT
