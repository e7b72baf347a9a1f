"""S20 in the browser: the provider's admin, made by `create_staff`, signs in to the admin and adds
a filing specialist; the specialist signs in to the console with the password the admin set and
approves the customer's application, which goes on to the bureau."""

from __future__ import annotations

import io
import sys

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from playwright.sync_api import expect

from beian.provider import applications
from beian.provider.models import Application
from tests.browser.test_journeys import approve_in_console, expect_state, open_page  # noqa: F401 - a fixture
from tests.bureau.conftest import enterprise, person, website

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True)

ADMIN_PASSWORD = "Kq7-vatn-2Lzp-wexo"
SPECIALIST_PASSWORD = "Vt9-qorx-Lm4e-yuzk"


def test_s20_the_admin_creates_a_specialist_who_signs_in_and_approves(platform, page, open_page, monkeypatch):  # noqa: F811
    url = platform.url
    monkeypatch.setattr(sys, "stdin", io.StringIO(ADMIN_PASSWORD + "\n"))
    call_command("create_staff", "ada", "--role", "admin", "--name", "Ada 吴", stdout=io.StringIO())
    alice = User.objects.get(username="alice")
    principal = person(20)
    app = applications.create_draft(
        owner=alice,
        op_type="new_filing",
        data={
            "entity": enterprise(20, principal=principal),
            "website": website("adopted-staff.cn", principal=principal),
            "access": {"ips": ["121.40.18.10"]},
        },
    )
    app = applications.submit(app=app, user=alice)

    # The admin signs in to /admin/ and adds the specialist, with the role as a tick box.
    admin = open_page()
    admin.goto(f"{url}/admin/")
    admin.locator("[name=username]").fill("ada")
    admin.locator("[name=password]").fill(ADMIN_PASSWORD)
    admin.locator("input[type=submit]").click()
    expect(admin).to_have_url(f"{url}/admin/")
    admin.locator("tr.model-user a.addlink").click()
    # Django's change_form.js is an async script that moves focus to the form's first field when it
    # runs: typed before it has, the password can land in the username (CI saw "samVt9-…"). It has
    # run once the load event has fired, and left the focus on the username.
    admin.wait_for_load_state("load")
    expect(admin.locator("#id_username")).to_be_focused()
    admin.locator("#id_username").fill("sam")
    admin.locator("#id_password1").fill(SPECIALIST_PASSWORD)
    admin.locator("#id_password2").fill(SPECIALIST_PASSWORD)
    admin.locator("#id_first_name").fill("Sam 孙")
    admin.get_by_label("specialists").check()
    expect(admin.get_by_label("provider_admins")).to_have_count(0)  # no admin can make an admin
    admin.locator("input[name=_save]").click()
    expect(admin.locator("ul.messagelist")).to_contain_text("sam")

    # The specialist signs in to the console and approves alice's application from the queue.
    sam = open_page()
    sam.goto(f"{url}/console/login/")
    sam.locator("[name=username]").fill("sam")
    sam.locator("[name=password]").fill(SPECIALIST_PASSWORD)
    sam.locator("#login-submit").click()
    expect(sam).to_have_url(f"{url}/console/")
    expect(sam.locator("#who")).to_contain_text("sam")
    approve_in_console(sam, url, str(app.pk))

    app.refresh_from_db()
    assert app.state == Application.State.DELIVERED
    assert app.timeline.filter(actor="specialist:sam", to_state=Application.State.DELIVERED).exists()

    # It reaches the bureau, and alice sees it there.
    platform.deliver_and_sync()
    page.goto(f"{url}/portal/login/")
    page.locator("[name=username]").fill("alice")
    page.locator("[name=password]").fill("alice-pass")
    page.locator("#login-submit").click()
    page.goto(f"{url}/portal/applications/{app.pk}/")
    expect_state(page, Application.State.AWAITING_VERIFICATION, "待短信核验")
