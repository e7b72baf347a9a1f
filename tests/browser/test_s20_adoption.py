"""S20 in the browser: a provider adopting beian finds the filings it already hosts in its mirror,
held by nobody; alice claims one in the portal with the code the bureau texts to the principal's
registered mobile, which the principal reads in the message sandbox (a wrong code first: refused
next to the field), and the filing is hers."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from beian.bureau import outbox
from beian.bureau.models import Entity, Provider
from beian.provider import claim_pages
from beian.provider.bureau_client import BureauClient
from beian.provider.models import FiledEntity, HolderChange
from tests.browser.test_journeys import open_page as open_page
from tests.browser.test_journeys import sign_in_portal
from tests.bureau.conftest import World

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True)
CLAIM_CODE = re.compile(r"认领核验码为 (\d{6})")


def test_s20_a_customer_claims_an_existing_filing_with_the_code_from_the_sandbox(
    platform, page, open_page, monkeypatch
):
    url = platform.url
    monkeypatch.setattr(
        claim_pages, "BUREAU_CLIENT", lambda: BureauClient(base_url=f"{url}/bureau/api/v1", api_key=platform.key)
    )
    # The operator hosted this filing before it ran beian: made at the bureau, not through the portal.
    operator = Provider.objects.get(slug="operator")
    filed = World(operator, operator, {}).file("adopted-s20.cn")
    number = filed.result["entity_number"]
    entity = Entity.objects.get(number=number)
    mobile = entity.principal_mobile
    platform.deliver_and_sync()
    assert FiledEntity.objects.get(number=number).owner_id is None

    sign_in_portal(page, url)
    expect(page.locator("#no-filings")).to_be_visible()
    page.locator("#claim-filing").click()
    page.locator("[name=entity_number]").fill(filed.result["website_number"])
    page.locator("#claim-send").click()
    expect(page).to_have_url(re.compile(r"/portal/claims/[0-9a-f-]{36}/$"))
    expect(page.locator("#claim-sent")).to_contain_text(f"{mobile[:3]}****{mobile[-4:]}")

    outbox.dispatch()
    phone = open_page()
    phone.goto(f"{url}/messages/{mobile}/")
    code = CLAIM_CODE.findall(phone.content())[0]

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page.locator("[name=code]").fill(wrong)
    page.locator("#claim-confirm").click()
    expect(page.locator("#wrap-code")).to_contain_text("核验码不正确，还可尝试 4 次")
    assert FiledEntity.objects.get(number=number).owner_id is None

    page.locator("[name=code]").fill(code)
    page.locator("#claim-confirm").click()
    expect(page.locator("#flash")).to_contain_text("认领成功")
    expect(page.locator("h1")).to_contain_text(entity.name)
    page.goto(f"{url}/portal/filings/")
    expect(page.locator("#filings-table")).to_contain_text("adopted-s20.cn")
    assert FiledEntity.objects.get(number=number).owner.username == "alice"
    assert HolderChange.objects.get(entity__number=number).how == "claim"
