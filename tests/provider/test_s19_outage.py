"""S19: the bureau is down for a while; customers keep submitting and specialists keep approving;
when it comes back every application reaches it exactly once.

The provider talks to the real bureau application through its HTTP API (httpx's WSGI transport,
in-process). The outage is switched on and off through the simulation API, time moves only on
the test's ManualClock (past each backoff between delivery rounds), and every request the
delivery worker sends is recorded so that attempts can be counted against what the bureau saw.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from itertools import pairwise

import pytest
from django.db.models import Max, Min, Q, Sum

from beian.bureau.models import AuditRecord, Operation
from beian.core import clock, validators
from beian.provider import applications, delivery, review
from beian.provider.models import Application, Delivery, TimelineEntry
from tests.provider.test_flow import new_filing_data

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State
N = 200
WAVES = 4  # customers submit and specialists approve in waves while the bureau is down
QUIET_ROUNDS = 2  # then rounds with nothing new, the bureau still down
SIM = "http://127.0.0.1/bureau/sim/v1"


def _domain(n: int) -> str:
    return f"s19-site{n}.cn"


def _due() -> Q:
    now = clock.now()
    return Q(done_at__isnull=True, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def _round(client) -> int:
    """One delivery round as a worker runs it: pages of `deliver_due` until nothing is due now.
    Returns how many the bureau answered."""
    answered = 0
    for _ in range(N):  # bounded: each page either answers or postpones up to 50 rows
        if not Delivery.objects.filter(_due()).exists():
            return answered
        answered += delivery.deliver_due(client=client)
    raise AssertionError("the outbox did not drain in a round")


def _past_backoff(sim_clock) -> None:
    """Move the test's clock just past the latest pending `next_attempt_at` (never a sleep)."""
    latest = Delivery.objects.filter(done_at__isnull=True).aggregate(m=Max("next_attempt_at"))["m"]
    if latest is not None and latest >= clock.now():
        sim_clock.advance(latest - clock.now() + timedelta(seconds=1))


def _outage(client, on: bool) -> None:
    response = client._http.put(f"{SIM}/outage", json={"on": on})
    assert response.status_code == 200, response.text
    assert client._http.get(f"{SIM}/outage").json() == {"on": on}


def test_synthetic_identities_are_valid_and_distinct():
    """The generated entities and principals pass the bureau's own checks and never collide, so a
    refusal in S19 could only come from the outage, never from the data."""
    datas = [new_filing_data(n, _domain(n)) for n in range(1, N + 1)]
    usccs = [validators.uscc(d["entity"]["cert_number"]) for d in datas]
    ids = [validators.resident_id(d["entity"]["principal"]["id_number"]) for d in datas]
    mobiles = [validators.mobile(d["entity"]["principal"]["mobile"]) for d in datas]
    domains = [validators.domain(d["website"]["domains"][0]) for d in datas]
    for values in (usccs, ids, mobiles, domains):
        assert len(set(values)) == N


def test_s19_outage_delays_delivery_and_loses_or_doubles_nothing(people, bureau, sim_clock):
    alice, charlie, bob = people["alice"], people["charlie"], people["bob"]
    sent: list[tuple[str, int]] = []  # (path, status) of every request the delivery worker makes
    bureau._http.event_hooks["response"].append(lambda r: sent.append((r.request.url.path, r.status_code)))

    _outage(bureau, True)
    watched: Delivery | None = None
    gaps: list[timedelta] = []  # the watched delivery's wait after each failed attempt
    per_wave = N // WAVES
    for wave in range(WAVES):
        # Customers submit, the specialist approves: the outbox fills although the bureau is down.
        for n in range(wave * per_wave + 1, (wave + 1) * per_wave + 1):
            owner = alice if n % 2 else charlie
            app = applications.create_draft(owner=owner, op_type="new_filing", data=new_filing_data(n, _domain(n)))
            app = applications.submit(app=app, user=owner)
            app = review.approve(app=app, specialist=bob)
            assert app.state == S.DELIVERED
        # A round of delivery during the outage answers nothing and postpones everything due.
        sent.clear()
        assert _round(bureau) == 0
        assert sent
        assert {status for _, status in sent} == {503}
        watched = watched or Delivery.objects.order_by("created_at", "pk").first()
        watched.refresh_from_db()
        gaps.append(watched.next_attempt_at - clock.now())
        _past_backoff(sim_clock)
    # More rounds with nothing new: every row is tried again, the backoff keeps growing.
    for _ in range(QUIET_ROUNDS):
        sent.clear()
        assert _round(bureau) == 0
        assert len(sent) == N
        assert {status for _, status in sent} == {503}
        watched.refresh_from_db()
        gaps.append(watched.next_attempt_at - clock.now())
        _past_backoff(sim_clock)

    assert Operation.objects.count() == 0
    assert Application.objects.filter(state=S.DELIVERED).count() == N
    pending = Delivery.objects.filter(done_at__isnull=True, claimed_until__isnull=True)
    assert pending.count() == N
    assert not pending.filter(last_error="").exists()
    assert pending.filter(last_error__startswith="503").count() == N
    # The first wave was tried in every round, the last one only from its own wave on.
    span = pending.aggregate(least=Min("attempts"), most=Max("attempts"))
    assert (span["least"], span["most"]) == (1 + QUIET_ROUNDS, WAVES + QUIET_ROUNDS)
    assert watched.attempts == WAVES + QUIET_ROUNDS
    assert gaps == [delivery.backoff(a) for a in range(1, WAVES + QUIET_ROUNDS + 1)]
    assert all(shorter < longer for shorter, longer in pairwise(gaps))
    failed_attempts = pending.aggregate(total=Sum("attempts"))["total"]

    # The bureau comes back: rounds until nothing is left, moving time past the backoff between.
    _outage(bureau, False)
    sent.clear()
    for _ in range(10):
        if not Delivery.objects.filter(done_at__isnull=True).exists():
            break
        _past_backoff(sim_clock)
        _round(bureau)
    assert not Delivery.objects.filter(done_at__isnull=True).exists()

    # Exactly one request per application after the outage, each creating its operation.
    assert Counter(status for _, status in sent) == {201: N}
    assert Delivery.objects.aggregate(total=Sum("attempts"))["total"] == failed_attempts + N
    assert set(Delivery.objects.values_list("outcome", flat=True)) == {"accepted"}

    # At the bureau: N operations, each application's UUID exactly once as idempotency key.
    assert Operation.objects.count() == N
    keys = Counter(Operation.objects.values_list("idempotency_key", flat=True))
    assert max(keys.values()) == 1
    at_bureau = dict(Operation.objects.values_list("idempotency_key", "id"))
    at_provider = dict(Application.objects.values_list("id", "bureau_operation_id"))
    assert at_bureau == at_provider
    assert AuditRecord.objects.filter(action="submit", actor="provider:operator").count() == N

    # At the provider: every application awaits SMS verification, having got there once.
    assert Application.objects.filter(state=S.AWAITING_VERIFICATION, verification_deadline__isnull=False).count() == N
    arrivals = TimelineEntry.objects.filter(from_state=S.DELIVERED, to_state=S.AWAITING_VERIFICATION)
    assert arrivals.count() == N
    assert arrivals.values("application").distinct().count() == N
    assert not Application.objects.exclude(filing_password="").exists()
