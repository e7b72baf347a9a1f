"""DESIGN §9, issue 14: wrong filing passwords are counted per entity and per client, and a
provider's customers are clients apart (by the opaque `customer_key` the provider sends), so that
one customer's wrong passwords never stop another's operations. Old failures are pruned."""

from __future__ import annotations

from datetime import timedelta

import pytest

from beian.bureau import work
from beian.bureau.models import AuditRecord, PasswordFailure
from tests.bureau.test_api_support import assert_problem, nothing_changes, op_body

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

ALICE = "a1" * 32  # two customers of the provider `other`, as it keys them (HMACs, 64 hex digits)
CHARLIE = "c3" * 32


def transfer_in(filed, password: str, customer: str | None) -> dict:
    extra = {} if customer is None else {"customer_key": customer}
    return op_body(
        "transfer_in",
        website_number=filed.website.number,
        filing_password=password,
        access={"ips": ["121.40.18.16"]},
        **extra,
    )


@pytest.fixture
def two_filings(world, sim_clock, settings):
    """Two entities filed elsewhere; a customer's lock (3 wrong) comes before any entity's (5)."""
    settings.BEIAN_CLIENT_PASSWORD_MAX_FAILURES = 3
    guessed, rightful = world.file("guessed.cn"), world.file("rightful.cn")
    sim_clock.advance(timedelta(minutes=5))
    return guessed, rightful, world.password_of(rightful.entity.number, rightful.entity.principal_mobile)


def test_one_customer_locked_out_the_other_customers_transfer_in_goes_through(two_filings, other_http):
    guessed, rightful, password = two_filings
    for _ in range(3):
        assert_problem(
            other_http.post("operations", transfer_in(guessed, "WrongPass99", ALICE)), 403, "filing_password_wrong"
        )
    # Alice is locked out, even with another entity's right password...
    with nothing_changes():
        assert_problem(
            other_http.post("operations", transfer_in(rightful, password, ALICE)), 429, "filing_password_locked"
        )
    # ...and Charlie, another customer of the same provider, is not.
    r = other_http.post("operations", transfer_in(rightful, password, CHARLIE))
    assert r.status_code == 201, r.content
    assert set(PasswordFailure.objects.values_list("client", "customer")) == {("provider:other", ALICE)}
    assert {r.data.get("customer") for r in AuditRecord.objects.filter(action="filing_password_wrong")} == {ALICE}


def test_without_customer_keys_a_providers_customers_count_as_one(two_filings, other_http):
    guessed, rightful, password = two_filings
    for _ in range(3):
        assert_problem(
            other_http.post("operations", transfer_in(guessed, "WrongPass99", None)), 403, "filing_password_wrong"
        )
    with nothing_changes():
        assert_problem(
            other_http.post("operations", transfer_in(rightful, password, None)), 429, "filing_password_locked"
        )


def test_a_malformed_customer_key_is_a_field_error_and_changes_nothing(two_filings, other_http):
    _, rightful, password = two_filings
    with nothing_changes():
        assert_problem(
            other_http.post("operations", transfer_in(rightful, password, "alice@example.cn")),
            422,
            "validation_failed",
            fields={"customer_key": "string_pattern_mismatch"},
        )


def test_the_customer_key_is_not_part_of_the_operation(two_filings, other_http):
    """The same delivery repeated with another key (the provider rotated its secret) is the same operation."""
    _, rightful, password = two_filings
    body = transfer_in(rightful, password, ALICE)
    first = other_http.post("operations", body).json()
    again = other_http.post("operations", {**body, "customer_key": CHARLIE})
    assert again.status_code == 200, again.content
    assert again.json()["id"] == first["id"]


def test_old_password_failures_are_pruned_by_the_worker(two_filings, other_http, sim_clock, settings):
    guessed, _, _ = two_filings
    for _ in range(2):
        other_http.post("operations", transfer_in(guessed, "WrongPass99", ALICE))
    sim_clock.advance(timedelta(minutes=30))
    other_http.post("operations", transfer_in(guessed, "WrongPass99", CHARLIE))
    assert PasswordFailure.objects.count() == 3

    # Alice's two are older than any lock they could hold; Charlie's still counts.
    sim_clock.advance(timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES - 30, seconds=1))
    assert work.run_due().password_failures_pruned == 2
    assert list(PasswordFailure.objects.values_list("customer", flat=True)) == [CHARLIE]
    assert work.run_due().password_failures_pruned == 0
