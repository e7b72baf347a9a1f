"""DESIGN §9, S20: every sign-in page counts its attempts per username and per client address and
refuses one over the limit before the password is checked (the portal, the console and the admin
with 429 and a message; the bureau's console with its problem), until the minute is over. The
filing passwords' wrong tries are kept only as long as a count reads them."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client

from beian.bureau.models import Entity, PasswordFailure
from tests.staff.conftest import PASSWORD

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

PAGES = {
    "portal": ("/portal/login/", "alice"),
    "console": ("/console/login/", "bob"),
    "admin": ("/admin/login/", "ada"),
}


@pytest.fixture
def accounts(people, staff):
    staff("ada", "--role", "admin")
    return {"alice": "alice-pass", "bob": "bob-pass", "ada": PASSWORD}


@pytest.mark.parametrize("page", list(PAGES))
def test_s20_sign_in_is_throttled_per_username_then_free_again(page, accounts, clock, settings):
    settings.BEIAN_SIGNIN_RATE_PER_MINUTE = 3
    settings.BEIAN_SIGNIN_CLIENT_RATE_PER_MINUTE = 100
    path, username = PAGES[page]
    client = Client()
    for _ in range(3):
        response = client.post(path, {"username": username, "password": "wrong"})
        assert response.status_code == 200
    # The fourth in the minute is refused even with the right password: no check is made.
    response = client.post(path, {"username": username, "password": accounts[username]})
    assert response.status_code == 429
    assert "登录尝试过于频繁" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address is refused too: the count is the username's.
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert other.post(path, {"username": username, "password": accounts[username]}).status_code == 429

    clock.advance(timedelta(seconds=60))
    assert client.post(path, {"username": username, "password": accounts[username]}).status_code == 302


@pytest.mark.parametrize("page", list(PAGES))
def test_s20_sign_in_is_throttled_per_client_address(page, accounts, clock, settings):
    settings.BEIAN_SIGNIN_RATE_PER_MINUTE = 100
    settings.BEIAN_SIGNIN_CLIENT_RATE_PER_MINUTE = 3
    path, username = PAGES[page]
    guesser = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(3):
        assert guesser.post(path, {"username": f"nobody{n}", "password": "x"}).status_code == 200
    assert guesser.post(path, {"username": username, "password": accounts[username]}).status_code == 429
    # Someone else, elsewhere, signs in.
    assert Client().post(path, {"username": username, "password": accounts[username]}).status_code == 302


def test_s20_sign_in_throttle_speaks_english_on_an_english_page(accounts, clock, settings):
    settings.BEIAN_SIGNIN_RATE_PER_MINUTE = 1
    client = Client(headers={"accept-language": "en"})
    client.post("/portal/login/", {"username": "alice", "password": "wrong"})
    response = client.post("/portal/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()


def test_s20_bureau_console_sign_in_is_throttled_per_username(staff, clock, settings):
    staff("zhou", "--role", "reviewer", "--name", "周审核")
    settings.BEIAN_SIGNIN_RATE_PER_MINUTE = 2
    for address in ("10.0.0.1", "10.0.0.2"):
        Client(REMOTE_ADDR=address).post("/bureau/console/login/", {"username": "zhou", "password": "wrong-one"})
    response = Client(REMOTE_ADDR="10.0.0.3").post("/bureau/console/login/", {"username": "zhou", "password": PASSWORD})
    assert response.status_code == 429
    clock.advance(timedelta(seconds=60))
    response = Client(REMOTE_ADDR="10.0.0.3").post("/bureau/console/login/", {"username": "zhou", "password": PASSWORD})
    assert response.status_code in (302, 303)


def test_s20_old_wrong_filing_password_rows_are_pruned_by_the_bureau_worker(world, sim_clock, settings):
    settings.BEIAN_PASSWORD_LOCK_MINUTES = 60
    op = world.file("pruned.cn")
    entity = Entity.objects.get(pk=op.entity_id)
    PasswordFailure.objects.create(entity=entity, client="old", at=sim_clock.now() - timedelta(minutes=61))
    PasswordFailure.objects.create(entity=entity, client="recent", at=sim_clock.now() - timedelta(minutes=59))
    call_command("bureau_worker", "--once")
    assert list(PasswordFailure.objects.values_list("client", flat=True)) == ["recent"]
