"""A customer's API token in a real browser: made at /portal/tokens/ from the portal's navigation,
shown once, used by a script (httpx over real HTTP at the live server), listed afterwards by its
public part only, revoked with the browser's confirm (asked by the page's script under the content
security policy, which blocks nothing on the way), and refused by the API from then on."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_journeys import sign_in_portal

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True)


def test_a_token_is_made_shown_once_used_and_revoked_in_the_browser(platform, page):
    url = platform.url
    blocked = []  # what the content security policy refused, as the browser reports it
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in_portal(page, url)
    page.locator("#nav-tokens").click()
    expect(page).to_have_url(f"{url}/portal/tokens/")
    expect(page.locator("#no-tokens")).to_be_visible()

    page.locator("#id_name").fill("部署脚本")
    page.locator("#id_expires_in_days").select_option("30")
    page.locator("#create-token").click()
    expect(page.locator("#new-token-card")).to_contain_text("部署脚本")
    secret = page.locator("#new-token").input_value()
    assert secret.startswith("beian_")

    script = httpx.get(f"{url}/api/v1/applications", headers={"Authorization": f"Bearer {secret}"})
    assert script.status_code == 200, script.text

    page.locator("#nav-tokens").click()  # the page again: the token is not shown any more
    expect(page.locator("#new-token")).to_have_count(0)
    row = page.locator("#tokens tbody tr").first
    expect(row).to_have_attribute("data-status", "active")
    expect(row).to_contain_text(secret[: len("beian_") + 16])
    expect(row).not_to_contain_text("从未使用")  # the script's request is its last use
    assert secret[-43:] not in page.content()

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))  # "确定撤销？" → no
    row.get_by_role("button", name="撤销").click()
    assert asked  # the confirm is the page's script's (data-confirm), not an inline handler's
    expect(row).to_have_attribute("data-status", "active")
    page.once("dialog", lambda dialog: dialog.accept())  # → yes
    row.get_by_role("button", name="撤销").click()
    expect(page.locator("#flash")).to_contain_text("已撤销")
    expect(page.locator("#tokens tbody tr").first).to_have_attribute("data-status", "revoked")

    refused = httpx.get(f"{url}/api/v1/applications", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_revoked"
    assert blocked == []
