"""Claims where writers meet (STYLE: a race test where exactly one wins), on PostgreSQL: two
customers' right codes for one filing at once give it to exactly one of them, in one history row;
wrong codes sent at once are each counted, and the fifth locks the claim."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from django.db import connections

from beian.bureau import claims, outbox
from beian.bureau.errors import BureauError
from beian.bureau.models import Claim as BureauClaim
from beian.messaging import send
from beian.provider import holders
from beian.provider.models import HolderChange
from tests.bureau.test_races_postgres import race
from tests.provider.test_adoption import CLAIM_CODE
from tests.provider.test_adoption import world as world
from tests.provider.test_portal_pages import mirror

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connections["default"].vendor != "postgresql",
        reason="needs concurrent writers with row locks: set BEIAN_DATABASE_URL to a PostgreSQL database",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True),
]


def test_two_claims_of_one_filing_at_once_give_it_to_exactly_one():
    alice = User.objects.create_user("alice", "alice@example.cn", "x")
    charlie = User.objects.create_user("charlie", "charlie@example.cn", "x")
    entity = mirror(None, number="粤ICP备2026000301号", sites=1)

    def take(user):
        return lambda: holders.assign(
            entity, holders.Holder.personal(user), actor=f"customer:{user.username}", how="claim", unheld_only=True
        )

    results = race(take(alice), take(charlie))
    assert sorted(value for _kind, value in results) == [False, True]
    entity.refresh_from_db()
    winner = alice if results[0][1] else charlie
    assert entity.owner_id == winner.pk
    assert list(HolderChange.objects.values_list("to_owner", flat=True)) == [winner.pk]


def test_wrong_codes_at_once_are_each_counted_and_the_fifth_locks(world):
    op = world.file("race-claim.cn")
    started = claims.start(
        provider=world.operator, entity_number=op.result["entity_number"], idempotency_key=uuid.uuid4()
    )
    outbox.dispatch()
    mobile = started.claim.mobile
    right = CLAIM_CODE.search(next(m.body for m in send.received(mobile) if CLAIM_CODE.search(m.body)))[1]
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    def guess():
        return claims.confirm(provider=world.operator, claim_id=started.claim.pk, code=wrong)

    results = race(*[guess for _ in range(5)])
    codes = sorted(value.code for _kind, value in results if isinstance(value, BureauError))
    assert codes == ["claim_locked"] + ["validation_failed"] * 4
    claim = BureauClaim.objects.get(pk=started.claim.pk)
    assert (claim.wrong_attempts, claim.state) == (5, BureauClaim.State.LOCKED)
