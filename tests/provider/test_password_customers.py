"""Issue 14, DESIGN §9: one customer's wrong filing passwords never stop another customer's
operation. The provider limits its own customers before the bureau sees them, and tells the bureau
whose password it is by an opaque customer key, so that the bureau counts them apart too.

Two customers of this platform, alice and charlie; websites filed at another provider move here
by transfer-in, over the real bureau through its HTTP API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from beian.bureau.models import PasswordFailure, Provider
from beian.provider import applications, delivery, passwords, review, work
from beian.provider.errors import ProviderError
from beian.provider.models import Application, PasswordRefusal
from tests.bureau.conftest import World

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State


@pytest.fixture
def world(keys) -> World:
    return World(Provider.objects.get(slug="operator"), Provider.objects.get(slug="other"), keys)


@pytest.fixture
def elsewhere(world, sim_clock):
    """Three websites filed at the other provider, and their filing passwords."""
    filed = [world.file(f"elsewhere{n}.cn", provider=world.other) for n in range(3)]
    sim_clock.advance(timedelta(minutes=5))
    return [(op.website.number, world.password_of(op.entity.number, op.entity.principal_mobile)) for op in filed]


def transfer_in(user, number: str, password: str) -> Application:
    app = applications.create_draft(
        owner=user, op_type="transfer_in", data={"website_number": number, "access": {"ips": ["121.40.18.10"]}}
    )
    return applications.submit(app=app, user=user, filing_password=password)


def deliver(app: Application, specialist, bureau) -> Application:
    review.approve(app=app, specialist=specialist)
    delivery.deliver_due(client=bureau)
    app.refresh_from_db()
    return app


def test_one_customer_locked_out_the_others_transfer_in_goes_through(people, bureau, elsewhere, settings, sim_clock):
    # Both limits at 2: without customer keys, alice's two wrong passwords would lock charlie out at the bureau.
    settings.BEIAN_CUSTOMER_PASSWORD_MAX_FAILURES = settings.BEIAN_CLIENT_PASSWORD_MAX_FAILURES = 2
    alice, charlie, bob = people["alice"], people["charlie"], people["bob"]
    (guessed, _), (rightful, password), _ = elsewhere

    for _ in range(2):
        refused = deliver(transfer_in(alice, guessed, "WrongPass99"), bob, bureau)
        assert (refused.state, refused.reason_code) == (S.RETURNED, "filing_password_wrong")

    # The provider stops alice before the bureau sees a third guess, and says until when.
    with pytest.raises(ProviderError) as stopped:
        transfer_in(alice, rightful, password)
    assert [(e.field, e.code) for e in stopped.value.errors] == [("filing_password", "filing_password_locked")]
    assert PasswordFailure.objects.count() == 2

    # Charlie, a customer of the same provider, transfers in: the bureau accepts it.
    moved = deliver(transfer_in(charlie, rightful, password), bob, bureau)
    assert moved.state == S.AWAITING_VERIFICATION
    assert moved.bureau_operation_id is not None

    # The bureau counted alice's wrong passwords under her key alone: an HMAC, not her account.
    assert set(PasswordFailure.objects.values_list("customer", flat=True)) == {passwords.customer_key(refused)}
    assert passwords.customer_key(refused) != passwords.customer_key(moved)

    # An hour after her first refusal, alice may try again.
    sim_clock.advance(timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES))
    assert transfer_in(alice, rightful, password).state == S.SUBMITTED


def test_the_customer_key_is_the_same_for_a_customer_and_differs_between_customers(people, organisation):
    alice, charlie = people["alice"], people["charlie"]
    own = [applications.create_draft(owner=alice, op_type="transfer_in", data={}) for _ in range(2)]
    theirs = applications.create_draft(owner=charlie, op_type="transfer_in", data={})
    agency = applications.create_draft(
        owner=people["dave"], op_type="transfer_in", data={}, organisation=organisation.pk
    )
    agency_by_alice = applications.create_draft(
        owner=alice, op_type="transfer_in", data={}, organisation=organisation.pk
    )
    assert passwords.customer_key(own[0]) == passwords.customer_key(own[1])
    assert passwords.customer_key(agency) == passwords.customer_key(agency_by_alice)  # the organisation is the customer
    assert len({passwords.customer_key(a) for a in (own[0], theirs, agency)}) == 3


def test_old_refusals_are_pruned_by_the_worker(people, clock, settings):
    alice = people["alice"]
    app = applications.create_draft(owner=alice, op_type="transfer_in", data={})
    passwords.refused(app, "filing_password_wrong")
    passwords.refused(app, "domain_busy")  # not a wrong password: not counted
    clock.advance(timedelta(minutes=30))
    passwords.refused(app, "filing_password_wrong")
    assert PasswordRefusal.objects.count() == 2

    clock.advance(timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES - 30, seconds=1))
    assert work.JOBS["prune"](None) == 1
    assert PasswordRefusal.objects.count() == 1
    assert work.JOBS["prune"](None) == 0


def test_issue10_the_worker_prunes_old_refusals_once_a_minute_not_every_round(people, clock, settings, monkeypatch):
    seconds = [1000.0]  # the throttle's monotonic clock, moved by hand
    monkeypatch.setattr(work.prune_refusals, "clock", lambda: seconds[0])
    app = applications.create_draft(owner=people["alice"], op_type="transfer_in", data={})
    passwords.refused(app, "filing_password_wrong")
    clock.advance(timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES, seconds=1))
    assert work.JOBS["prune"](None) == 1

    passwords.refused(app, "filing_password_wrong")
    clock.advance(timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES, seconds=1))
    seconds[0] += work.PRUNE_EVERY - 1
    assert work.JOBS["prune"](None) == 0  # within the minute: not even looked for
    assert PasswordRefusal.objects.count() == 1
    seconds[0] += 1
    assert work.JOBS["prune"](None) == 1
    assert not PasswordRefusal.objects.exists()
