"""The scenarios as people live them, in a real browser: the customer at /portal/, the specialist
at /console/, the principal with a phone (the message sandbox at /messages/) and the bureau's
verification page, the bureau's reviewer at /bureau/console/. Each actor has a browser context of
their own (their own cookies); alice's page is the one whose screenshot is kept, so each test ends
on the portal page that shows the outcome.

The provider's workers (delivery, sync) run in-process between steps (`platform.deliver_and_sync`),
as the worker processes of `make run` do in the background.
"""

from __future__ import annotations

import re

import httpx
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from beian.core import clock
from beian.messaging import send
from beian.provider import applications, review
from beian.provider.models import Application
from tests.bureau.conftest import enterprise, person, website

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True)

S = Application.State
APPLICATION_URL = re.compile(r"/portal/applications/([0-9a-f-]{36})/(edit/)?$")
PASSWORD = re.compile(r"备案密码为 (\S+?)。")
CODE = re.compile(r"核验码为 (\d{6})")


# ---------------------------------------------------------------- the cast


@pytest.fixture
def open_page(browser):
    """A page in a browser context of its own: another person at another computer or phone."""
    contexts = []

    def opener() -> Page:
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        contexts.append(context)
        new = context.new_page()
        new.set_default_timeout(15_000)
        new.on("dialog", lambda dialog: dialog.accept())  # "确认初审通过并提交管局？" → yes
        return new

    yield opener
    for context in contexts:
        context.close()


def sign_in_portal(page: Page, url: str) -> None:
    page.goto(f"{url}/portal/login/")
    page.locator("[name=username]").fill("alice")
    page.locator("[name=password]").fill("alice-pass")
    page.locator("#login-submit").click()
    expect(page).to_have_url(f"{url}/portal/")
    expect(page.locator("#who")).to_contain_text("alice")


def sign_in_console(page: Page, url: str) -> None:
    page.goto(f"{url}/console/login/")
    page.locator("[name=username]").fill("bob")
    page.locator("[name=password]").fill("bob-pass")
    page.locator("#login-submit").click()
    expect(page).to_have_url(f"{url}/console/")
    expect(page.locator("#who")).to_contain_text("bob")


def sign_in_bureau(page: Page, url: str) -> None:
    page.goto(f"{url}/bureau/console/login/")
    page.locator("[name=username]").fill("reviewer")
    page.locator("[name=password]").fill("reviewer-pass")
    page.locator("form[action$='/console/login/'] button[type=submit]").click()
    expect(page).to_have_url(f"{url}/bureau/console/")
    expect(page.locator("header")).to_contain_text("审核员")


def application_id(page: Page) -> str:
    return APPLICATION_URL.search(page.url)[1]


def expect_state(page: Page, state: str, label: str) -> None:
    badge = page.locator("#state-badge")
    expect(badge).to_have_attribute("data-state", state)
    expect(badge).to_have_text(label)


# ---------------------------------------------------------------- the customer


def start_new_filing(page: Page) -> None:
    """From the dashboard: 新建备案申请 → 首次备案 → 下一步, onto the guided form."""
    page.locator("#new-application").click()
    page.locator("#type-new_filing").check()
    expect(page.locator("#target-none")).to_be_visible()  # a new filing acts on no filing yet
    page.locator("#create-application").click()
    expect(page).to_have_url(APPLICATION_URL)
    expect_state(page, S.DRAFT, "待完善信息")


def fill_principal(page: Page, prefix: str, who: dict) -> None:
    page.locator(f"#{prefix}-name").fill(who["name"])
    page.locator(f"#{prefix}-id_type").select_option(who["id_type"])
    page.locator(f"#{prefix}-id_number").fill(who["id_number"])
    page.locator(f"#{prefix}-mobile").fill(who["mobile"])
    page.locator(f"#{prefix}-email").fill(who["email"])


def fill_new_filing(page: Page, unit: dict, domain: str, *, website_name: str = "企业产品介绍网站") -> None:
    """The guided form of a new filing, one person principal of both the entity and the website."""
    page.locator("#entity-unit_type").select_option("enterprise")
    page.locator("#entity-name").fill(unit["name"])
    expect(page.locator("#entity-cert_type")).to_be_enabled()
    page.locator("#entity-cert_type").select_option("uscc")
    page.locator("#entity-cert_number").fill(unit["cert_number"])
    page.locator("#entity-province").select_option("44")  # 广东（粤）
    page.locator("#entity-address").fill(unit["address"])
    fill_principal(page, "entity-principal", unit["principal"])
    page.locator("#website-name").fill(website_name)
    page.locator("#website-domains").fill(domain)
    page.locator("#website-principal-same").check()
    expect(page.locator("#website-principal-name")).to_be_hidden()  # the same person: nothing more to type
    page.locator("#access-ips").fill("121.40.18.10")


def save_and_review(page: Page) -> None:
    page.locator("#save-and-review").click()
    expect(page.locator("#flash")).to_contain_text("已保存")
    expect(page).to_have_url(APPLICATION_URL)
    expect(page.locator("#submit-application")).to_be_visible()


def submit(page: Page, *, filing_password: str | None = None) -> None:
    if filing_password is not None:
        page.locator("#filing-password").fill(filing_password)
    page.locator("#submit-application").click()
    expect(page.locator("#flash")).to_contain_text("已提交")
    expect_state(page, S.SUBMITTED, "待初审")


# ---------------------------------------------------------------- the others


def approve_in_console(bob: Page, url: str, app_id: str) -> None:
    """The specialist opens it from the queue and approves (the browser's confirm is accepted)."""
    bob.goto(f"{url}/console/")
    bob.locator(f"#review-{app_id}").click()
    expect(bob.locator("#application-id")).to_have_text(app_id)
    bob.locator("#approve-application").click()
    expect(bob.locator("#flash")).to_contain_text("初审通过")
    expect(bob).to_have_url(f"{url}/console/")


def verify_by_sms(phone: Page, platform, link: str, who: dict) -> None:
    """The principal reads the code on the phone, opens the verification link and confirms."""
    code = platform.sms_code(phone, who["mobile"])
    expect(phone.locator(".bubble").first).to_contain_text(link)  # the SMS carries the same link
    phone.goto(link)
    expect(phone.locator("h1")).to_contain_text("备案短信核验")
    expect(phone.locator("[name=operation]")).to_have_value(link.rsplit("=", 1)[1])
    phone.locator("[name=mobile]").fill(who["mobile"])
    phone.locator("[name=id_last6]").fill(who["id_number"][-6:])
    phone.locator("[name=code]").fill(code)
    phone.locator("button[value=confirm]").click()
    expect(phone.locator(".notice.ok")).to_contain_text("核验成功，管局已开始审核")


def approve_at_bureau(reviewer: Page, url: str, domain: str, type_name: str) -> None:
    """The bureau's reviewer opens the operation from the review queue and approves it."""
    reviewer.goto(f"{url}/bureau/console/")
    reviewer.locator("tr", has_text=domain).get_by_role("link", name=type_name).click()
    expect(reviewer.locator("h1")).to_contain_text(type_name)
    reviewer.locator("form:has(input[name=decision][value=approve]) button").click()
    expect(reviewer.locator(".notice.ok")).to_have_text("已审核通过")


def guangdong_number() -> re.Pattern:
    """A Guangdong entity number of this (simulated) year: 粤ICP备2026xxxxxx号."""
    return re.compile(rf"^粤ICP备{clock.today().year}\d{{6}}号$")


# ---------------------------------------------------------------- the scenarios


def test_s01_new_filing_in_the_browser(platform, page, open_page):
    url = platform.url
    principal = person(1)
    unit = enterprise(1, principal=principal)
    domain = "example-s01.cn"

    sign_in_portal(page, url)
    expect(page.locator("#no-filings")).to_be_visible()
    start_new_filing(page)
    fill_new_filing(page, unit, domain)
    save_and_review(page)
    expect(page.locator("#field-website-domains")).to_contain_text(domain)
    expect(page.locator("#filing-password")).to_have_count(0)  # a new filing has no password yet
    submit(page)
    app_id = application_id(page)

    bob = open_page()
    sign_in_console(bob, url)
    expect(bob.locator(f"tr[data-application='{app_id}']")).to_contain_text("alice")
    approve_in_console(bob, url, app_id)
    expect(bob.locator("#queue-empty")).to_be_visible()
    page.reload()
    expect_state(page, S.DELIVERED, "待提交管局")

    platform.deliver_and_sync()
    page.reload()
    expect_state(page, S.AWAITING_VERIFICATION, "待短信核验")
    expect(page.locator("#next-step")).to_contain_text("请主体负责人、网站负责人完成短信核验")
    link = page.locator("#verification-link").get_attribute("href")
    assert link.startswith(f"{url}/bureau/verify/?operation=")

    phone = open_page()  # one person is both principals: one code
    verify_by_sms(phone, platform, link, principal)

    platform.deliver_and_sync()
    page.reload()
    expect_state(page, S.BUREAU_REVIEW, "管局审核中")
    expect(page.locator("#decision-window")).to_be_visible()

    reviewer = open_page()
    sign_in_bureau(reviewer, url)
    approve_at_bureau(reviewer, url, domain, "首次备案")
    expect(reviewer.locator(".badge.ok", has_text="已核验")).to_have_count(1)  # one principal, verified

    platform.deliver_and_sync()
    page.reload()
    expect_state(page, S.APPROVED, "已备案")
    expect(page.locator("#entity-number")).to_have_text(guangdong_number())
    entity_number = page.locator("#entity-number").inner_text()
    expect(page.locator("#website-number")).to_have_text(f"{entity_number}-1")
    expect(page.locator("#next-step")).to_contain_text("备案密码已由管局发送到主体负责人的手机和邮箱")

    # The filing password reached the principal's phone and mailbox.
    phone.goto(f"{url}/messages/{principal['mobile']}/")
    expect(phone.locator(".bubble", has_text="备案密码为")).to_contain_text(entity_number)
    phone.goto(f"{url}/messages/{principal['email']}/")
    expect(phone.locator(".mail", has_text="备案密码为")).to_contain_text(entity_number)

    # The dashboard lists the filing; the last page is the application with its numbers.
    page.goto(f"{url}/portal/")
    expect(page.locator(f"tr[data-number='{entity_number}-1']")).to_contain_text(domain)
    page.goto(f"{url}/portal/applications/{app_id}/")
    expect(page.locator("#website-number")).to_have_text(f"{entity_number}-1")


def file_first_website(platform, n: int, domain: str) -> tuple[Application, dict]:
    """An S01 filing taken through the service layer and the bureau's APIs, for speed."""
    alice, bob = User.objects.get(username="alice"), User.objects.get(username="bob")
    principal = person(n)
    data = {
        "entity": enterprise(n, principal=principal),
        "website": website(domain, principal=principal),
        "access": {"ips": ["121.40.18.10"]},
    }
    app = applications.create_draft(owner=alice, op_type="new_filing", data=data)
    applications.submit(app=app, user=alice)
    review.approve(app=app, specialist=bob)
    platform.deliver_and_sync()
    app.refresh_from_db()
    code = CODE.search(next(m.body for m in send.received(principal["mobile"]) if CODE.search(m.body)))[1]
    platform.client._call(
        "POST",
        "verifications",
        json={
            "operation": str(app.bureau_operation_id),
            "mobile": principal["mobile"],
            "id_last6": principal["id_number"][-6:],
            "code": code,
        },
    )
    platform.deliver_and_sync()
    decided = httpx.post(
        f"{platform.url}/bureau/sim/v1/decisions",
        json={"operation": str(app.bureau_operation_id), "decision": "approve"},
    )
    assert decided.status_code == 200, decided.text
    platform.deliver_and_sync()
    app.refresh_from_db()
    assert app.state == S.APPROVED, app.state
    return app, principal


def test_s02_second_website_in_the_browser(platform, page, open_page):
    url = platform.url
    first, principal = file_first_website(platform, 2, "example-s02.cn")
    entity_number = first.entity_number
    second_domain = "second-s02.cn"

    # The principal's phone has the filing password; alice asks for it and types it in.
    phone = open_page()
    phone.goto(f"{url}/messages/{principal['mobile']}/")
    bubble = phone.locator(".bubble", has_text="备案密码为")
    expect(bubble).to_contain_text(entity_number)
    password = PASSWORD.search(bubble.inner_text())[1]

    sign_in_portal(page, url)
    first_row = page.locator(f"tr[data-number='{entity_number}-1']")
    expect(first_row).to_contain_text("example-s02.cn")
    first_row.locator("a[id^='manage-entity-']").click()  # the entity's name leads to its page
    expect(page.locator("#entity-summary #entity-number")).to_have_text(entity_number)
    page.locator("#action-new_website").click()
    expect(page.locator("#type-new_website")).to_be_checked()
    expect(page.locator("#new-entity")).to_have_value(entity_number)
    page.locator("#create-application").click()
    expect(page).to_have_url(APPLICATION_URL)
    expect(page.locator("#entity_number")).to_have_value(entity_number)
    page.locator("#website-name").fill("企业第二个网站")
    page.locator("#website-domains").fill(second_domain)
    fill_principal(page, "website-principal", principal)
    page.locator("#access-ips").fill("121.40.18.11")
    save_and_review(page)
    submit(page, filing_password=password)
    app_id = application_id(page)

    bob = open_page()
    sign_in_console(bob, url)
    approve_in_console(bob, url, app_id)
    platform.deliver_and_sync()
    page.reload()
    expect_state(page, S.AWAITING_VERIFICATION, "待短信核验")  # the password was right
    link = page.locator("#verification-link").get_attribute("href")
    verify_by_sms(phone, platform, link, principal)

    platform.deliver_and_sync()
    reviewer = open_page()
    sign_in_bureau(reviewer, url)
    approve_at_bureau(reviewer, url, second_domain, "新增网站")

    platform.deliver_and_sync()
    page.reload()
    expect_state(page, S.APPROVED, "已备案")
    expect(page.locator("#website-number")).to_have_text(f"{entity_number}-2")

    # The first website is untouched: still -1, still filed and served here, on the dashboard.
    page.goto(f"{url}/portal/")
    first_row = page.locator(f"tr[data-number='{entity_number}-1']")
    expect(first_row).to_contain_text("example-s02.cn")
    expect(first_row).to_contain_text("接入中")
    expect(first_row.locator(".badge")).to_have_text("已备案")
    second_row = page.locator(f"tr[data-number='{entity_number}-2']")
    expect(second_row).to_contain_text(second_domain)
    expect(second_row.locator(".badge")).to_have_text("已备案")
    expect(page.locator("#filings-table tbody tr")).to_have_count(2)  # one entity, two websites


def test_s15_return_fix_and_resubmit_in_the_browser(platform, page, open_page):
    url = platform.url
    reason = "网站名称须与网站内容一致，请修改"

    sign_in_portal(page, url)
    start_new_filing(page)
    fill_new_filing(page, enterprise(15, principal=person(15)), "example-s15.cn", website_name="随便网站")
    save_and_review(page)
    submit(page)
    app_id = application_id(page)

    bob = open_page()
    sign_in_console(bob, url)
    bob.locator(f"#review-{app_id}").click()
    bob.locator("#reason-website-name").fill(reason)
    bob.locator("#return-application").click()
    expect(bob.locator("#flash")).to_contain_text("已驳回")

    # Exactly that field is flagged, with the reason.
    page.reload()
    expect_state(page, S.RETURNED, "初审驳回待修改")
    expect(page.locator("#return-reasons")).to_be_visible()
    expect(page.locator("#field-website-name")).to_have_class("flagged")
    expect(page.locator("#field-website-name")).to_contain_text(reason)
    expect(page.locator("#application-data tr.flagged")).to_have_count(1)
    page.locator("#edit-application").click()
    wrap = page.locator("#wrap-website-name")
    expect(wrap).to_have_class(re.compile(r"\bflagged\b"))
    expect(wrap).to_contain_text(reason)
    expect(page.locator("#application-form .field.flagged")).to_have_count(1)
    expect(page.locator("#website-name")).to_have_value("随便网站")

    page.locator("#website-name").fill("企业产品介绍网站")
    save_and_review(page)
    expect(page.locator("#field-website-name")).to_contain_text("企业产品介绍网站")
    submit(page)
    expect(page.locator("#field-website-name")).not_to_have_class("flagged")

    # Both rounds are in the history.
    timeline = page.locator("#timeline")
    expect(timeline.locator("li[data-action='submit']")).to_have_count(2)
    expect(timeline.locator("li[data-action='return']")).to_have_count(1)
    expect(timeline.locator("li[data-action='return']")).to_contain_text(reason)
    expect(timeline.locator("li[data-action='return']")).to_contain_text("备案专员 bob")

    bob.goto(f"{url}/console/")
    bob.locator(f"#review-{app_id}").click()
    expect(bob.locator("#timeline li[data-action='submit']")).to_have_count(2)
    expect(bob.locator("#previous-reasons")).to_have_count(0)  # the reasons went with the fix
    approve_in_console(bob, url, app_id)

    page.reload()
    expect_state(page, S.DELIVERED, "待提交管局")
    expect(page.locator("#timeline li[data-action='submit']")).to_have_count(2)


def test_s16_unverified_filing_expires_in_the_browser(platform, page, open_page):
    url = platform.url
    principal = person(16)

    sign_in_portal(page, url)
    start_new_filing(page)
    fill_new_filing(page, enterprise(16, principal=principal), "example-s16.cn")
    save_and_review(page)
    submit(page)
    app_id = application_id(page)

    bob = open_page()
    sign_in_console(bob, url)
    approve_in_console(bob, url, app_id)
    platform.deliver_and_sync()
    page.reload()
    expect_state(page, S.AWAITING_VERIFICATION, "待短信核验")

    # Nobody verifies; a day and an hour pass at the bureau.
    moved = httpx.post(f"{url}/bureau/sim/v1/clock/advance", json={"hours": 25})
    assert moved.status_code == 200, moved.text
    assert moved.json()["done"]["expired"] == 1, moved.json()
    platform.deliver_and_sync()

    page.reload()
    expect_state(page, S.EXPIRED, "已过期")
    expect(page.locator("#expired-notice")).to_have_text("负责人未在有效期内完成短信核验，申请已过期。")
    expect(page.locator("#withdraw-application")).to_have_count(0)
    page.locator("#copy-application").click()
    expect(page.locator("#flash")).to_contain_text("已复制为新的申请草稿")
    expect(page).to_have_url(APPLICATION_URL)
    copy_id = application_id(page)
    assert copy_id != app_id  # a new application; the expired one stays as it was
    expect(page.locator("#website-domains")).to_have_value("example-s16.cn")
    save_and_review(page)
    submit(page)

    # The last pages: the expired one among the finished, the copy in progress on the dashboard.
    page.goto(f"{url}/portal/applications/?state=finished")
    expect(page.locator(f"#applications tr[data-application='{app_id}']")).to_contain_text("已过期")
    page.goto(f"{url}/portal/")
    expect(page.locator(f"#open-applications tr[data-application='{copy_id}']")).to_contain_text("待初审")
