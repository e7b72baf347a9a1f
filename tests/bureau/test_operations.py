"""What each operation type does at the bureau lives in one place (beian.bureau.operations) and
follows the catalogue: what its request holds, what happens at submission and when it closes."""

import pytest

from beian.bureau import operations
from beian.bureau.schemas import OPERATION_SCHEMAS
from beian.core.catalogue import FAQ, OPERATION_CODES, Serving, takes_password

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def test_every_type_of_the_catalogue_has_its_approval_and_nothing_else_does():
    assert set(operations.APPROVAL) == set(OPERATION_CODES)


@pytest.mark.parametrize("code", OPERATION_CODES)
def test_the_request_of_each_type_is_its_catalogue_row(code):
    fields = set(OPERATION_SCHEMAS[code].model_fields)
    expected = {"idempotency_key", "type", *FAQ[code].sections}
    if takes_password(code):
        # With the password, the opaque key of the provider's customer who gave it (its failures
        # are counted per customer: docs/hardening.md).
        expected |= {"filing_password", "customer_key"}
    assert fields == expected


def test_what_happens_at_submission_and_at_closing_is_keyed_by_serving():
    assert set(operations.AT_SUBMISSION) == {Serving.FROM_SUBMISSION, Serving.STOPS_AT_SUBMISSION}
    # Only what happened at submission can need undoing when the operation is not approved.
    assert set(operations.WITHOUT_APPROVAL) <= set(operations.AT_SUBMISSION)
