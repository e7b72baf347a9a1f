# ruff: noqa: F811 - open_page is the fixture imported from the journeys
"""The scenarios in English, in a real browser (issue 13): S22, a customer whose browser asks for
English, from sign-up to filing number; and S01 by a customer who switches to English on the page.
Every page, error and notice they see is English; the filing's own data stays as entered."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from beian.messaging import send
from beian.provider.models import Application, Profile
from tests.browser.test_journeys import (
    APPLICATION_URL,
    application_id,
    approve_at_bureau,
    approve_in_console,
    fill_new_filing,
    open_page,  # noqa: F401 - the fixture: another person at another computer
    sign_in_bureau,
    sign_in_console,
)
from tests.bureau.conftest import enterprise, person

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True)
S = Application.State
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]+")
FILING_NUMBER = re.compile(r"[\u4e00-\u9fff]ICP[备证]\d+号(?:-\d+)?")
CODE = re.compile(r"核验码为 (\d{6})")


@pytest.fixture
def english_page(browser):
    """A browser that asks for English (Accept-Language: en-US)."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()


def only_english(page: Page, data: list[str]) -> None:
    """No CJK on the page but the filing's own data (as entered) and filing numbers."""
    text = FILING_NUMBER.sub(" ", page.locator("body").inner_text())
    # The language switch names Chinese in Chinese, so that a Chinese reader finds the way back.
    text = text.replace(page.locator("#language-switch").inner_text(), " ")
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    assert not CJK.findall(text), (page.url, CJK.findall(text))


def data_of(unit: dict, website_name: str) -> list[str]:
    principal = unit["principal"]
    return [unit["name"], unit["address"], principal["name"], website_name]


def file_in_english(page: Page, url: str, unit: dict, domain: str, website_name: str) -> str:
    """A new filing through the portal's guided form, in English; returns the application's id."""
    data = data_of(unit, website_name)
    page.locator("#new-application").click()
    expect(page.locator("#new-application-form")).to_be_visible()  # the new page, not the one before
    only_english(page, data)
    page.locator("#type-new_filing").check()
    page.locator("#create-application").click()
    expect(page).to_have_url(APPLICATION_URL)
    expect(page.locator("#state-badge")).to_have_text("Draft")
    fill_new_filing(page, unit, "not a domain", website_name=website_name)
    page.locator("#save-and-review").click()
    # Bad input: a field-level error, in English, next to the field.
    expect(page.locator(".field.has-error", has=page.locator("#website-domains"))).to_be_visible()
    only_english(page, [*data, "not a domain"])
    page.locator("#website-domains").fill(domain)
    page.locator("#save-and-review").click()
    expect(page.locator("#flash")).to_contain_text("Saved")
    expect(page.locator("#field-entity-name")).to_contain_text(unit["name"])  # as entered
    only_english(page, data)
    page.locator("#submit-application").click()
    expect(page.locator("#flash")).to_contain_text("Submitted")
    expect(page.locator("#state-badge")).to_have_text("Awaiting provider review")
    only_english(page, data)
    return application_id(page)


def bureau_steps(platform, page: Page, phone: Page, app_id: str, unit: dict, site: tuple[str, str], open_page) -> str:
    """The specialist, the principal's SMS verification (on the bureau's page, in English) and the
    bureau's approval; returns the website's number as the customer's page shows it."""
    domain, website_name = site
    url, data = platform.url, data_of(unit, website_name)
    bob = open_page()
    sign_in_console(bob, url)
    approve_in_console(bob, url, app_id)
    platform.deliver_and_sync()
    page.reload()
    expect(page.locator("#state-badge")).to_have_text("Awaiting SMS verification")
    expect(page.locator("#next-step")).to_contain_text("please complete the SMS verification")
    only_english(page, data)

    # The code arrives on the principal's phone (in the bureau's Chinese); the customer follows
    # the page's link to the bureau, which opens in her own browser and so in her language.
    code = platform.sms_code(phone, unit["principal"]["mobile"])
    with page.context.expect_page() as opened:
        page.locator("#verification-link").click()
    bureau = opened.value
    bureau.set_default_timeout(15_000)
    expect(bureau.locator("h1")).to_contain_text("Filing SMS verification")
    only_english(bureau, data)
    bureau.locator("[name=mobile]").fill(unit["principal"]["mobile"])
    bureau.locator("[name=id_last6]").fill(unit["principal"]["id_number"][-6:])
    bureau.locator("[name=code]").fill("000000" if code != "000000" else "111111")
    bureau.locator("button[value=confirm]").click()
    expect(bureau.locator(".errorlist").first).to_contain_text("The code is wrong")  # an English error
    only_english(bureau, data)
    bureau.locator("[name=code]").fill(code)
    bureau.locator("button[value=confirm]").click()
    expect(bureau.locator(".notice.ok")).to_contain_text("Verified")
    only_english(bureau, data)
    bureau.close()

    platform.deliver_and_sync()
    page.reload()
    expect(page.locator("#state-badge")).to_have_text("Under bureau review")
    expect(page.locator("#decision-window")).to_contain_text("A decision is expected between")
    reviewer = open_page()
    sign_in_bureau(reviewer, url)
    approve_at_bureau(reviewer, url, domain, "首次备案")  # the reviewer reads Chinese
    platform.deliver_and_sync()
    page.reload()
    expect(page.locator("#state-badge")).to_have_text("Filed")
    only_english(page, data)
    return page.locator("#website-number").inner_text()


def test_s22_a_customer_files_in_english_from_sign_up_to_filing_number(platform, english_page, open_page):
    url, page = platform.url, english_page
    principal = person(22)
    unit = enterprise(22, principal=principal)
    website_name = "英文客户的产品网站"

    page.goto(f"{url}/portal/signup/")
    expect(page.locator("h1")).to_have_text("Create an account")
    only_english(page, [])
    page.locator("[name=username]").fill("emma")
    page.locator("[name=email]").fill("emma@example.com")
    page.locator("[name=mobile]").fill("13600000022")
    page.locator("[name=password1]").fill("short")
    page.locator("[name=password2]").fill("different")
    page.locator("#signup-submit").click()
    expect(page.locator(".errorlist").first).to_be_visible()
    only_english(page, [])  # the form's errors, Django's password rules included, in English
    page.locator("[name=password1]").fill("emma-files-in-english")
    page.locator("[name=password2]").fill("emma-files-in-english")
    page.locator("#signup-submit").click()
    expect(page).to_have_url(f"{url}/portal/")
    assert Profile.objects.get(user__username="emma").language == "en"  # her notices follow it
    only_english(page, [])

    app_id = file_in_english(page, url, unit, "example-s22.cn", website_name)
    phone = open_page()
    number = bureau_steps(platform, page, phone, app_id, unit, ("example-s22.cn", website_name), open_page)
    assert FILING_NUMBER.fullmatch(number)

    # Every notice she received (email and SMS) is English, her filing's data as entered.
    notices = [m.body for m in send.received("emma@example.com")] + [m.body for m in send.received("13600000022")]
    assert notices
    for body in notices:
        assert body.startswith("[Filing notice]"), body
        left = CJK.findall(FILING_NUMBER.sub(" ", body))
        assert not left, body
    page.goto(f"{url}/messages/emma@example.com/")
    only_english(page, data_of(unit, website_name))


def test_s01_new_filing_in_the_browser_in_english(platform, open_page):
    """S01 by a customer who reads Chinese by default and switches to English on the page: the choice
    is kept for the rest of the visit and on the account."""
    url = platform.url
    page = open_page()
    principal = person(101)
    unit = enterprise(101, principal=principal)
    website_name = "企业产品介绍网站"
    page.goto(f"{url}/portal/login/")
    expect(page.locator("h1")).not_to_have_text(re.compile("Sign in"))
    page.locator("#language-en").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("[name=username]").fill("alice")
    page.locator("[name=password]").fill("alice-pass")
    page.locator("#login-submit").click()
    expect(page).to_have_url(f"{url}/portal/")
    only_english(page, [])
    assert Profile.objects.get(user__username="alice").language == "en"

    app_id = file_in_english(page, url, unit, "example-s01-en.cn", website_name)
    number = bureau_steps(platform, page, open_page(), app_id, unit, ("example-s01-en.cn", website_name), open_page)
    expect(page.locator("#next-step")).to_contain_text("The bureau has sent the filing password")
    assert number.endswith("-1")
    page.locator("#language-zh-hans").click()  # and back: the switch is on every page
    expect(page.locator("#state-badge")).to_have_text("已备案")
