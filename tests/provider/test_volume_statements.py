"""Filing at volume (issue 10, docs/performance.md): the SQL statements of each request and each
worker's job on one application's way from the provider API's draft to its filing number, as
bench/volume.py drives it (a customer's and a specialist's API token, the principal on the bureau's
public API, the workers' jobs), pinned so that they do not regrow."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from beian.bureau import outbox as bureau_outbox
from beian.bureau import review as bureau_review
from beian.messaging import send
from beian.provider import delivery, holidays, notices, sync, tokens
from beian.provider.models import Profile
from tests.provider.test_flow import new_filing_data

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
CODE = re.compile(r"核验码为 (\d{6})")


class Counted:
    """Statements sent to both databases while a block runs."""

    def __enter__(self) -> Counted:
        self._contexts = [CaptureQueriesContext(connections[alias]) for alias in ("default", "bureau")]
        for context in self._contexts:
            context.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for context in self._contexts:
            context.__exit__(*exc)

    @property
    def sql(self) -> list[str]:
        """Without the simulated clock's offset, which each process reads at most once a second
        whatever it does (beian.bureau.simulation.offset): when it falls due is the test's timing."""
        return [
            q["sql"]
            for context in self._contexts
            for q in context.captured_queries
            if '"bureau_simstate"."clock_offset_seconds"' not in q["sql"]
        ]


@pytest.fixture
def world(settings, bureau, sim_clock, monkeypatch):
    # The calendar is read once, as a process does within its reread interval, however long the
    # steps take on a loaded machine (the suite's fixture has made it read afresh for this test).
    monkeypatch.setattr(holidays, "REREAD_SECONDS", float("inf"))
    settings.BEIAN_BUREAU_REVIEW = "auto"
    settings.BEIAN_BUREAU_DELAY = "instant"
    settings.BEIAN_BUREAU_REJECT_SHARE = 0
    specialists = Group.objects.create(name="specialists")
    customers = Group.objects.create(name="customers")
    spec = User.objects.create_user("volume-specialist", "spec@example.cn", None)
    spec.groups.add(specialists)
    user = User.objects.create_user("volume-0", "volume-0@example.cn", None)
    user.groups.add(customers)
    Profile.objects.create(user=user, mobile="13700000000")
    return {
        "customer": tokens.create(user=user, name="volume").secret,
        "specialist": tokens.create(user=spec, name="volume").secret,
        "bureau": bureau,
    }


# Statements of each step of one application, by database vendor (PostgreSQL sets a sync's commit
# not to wait for the disk, and locks rows; SQLite does neither). Each number includes what commits
# set off (the sealing of the audit chain and of the timeline).
STEPS = {
    "create draft": 16,
    "submit": 21,  # 22 before a person's own application was found without their memberships
    "approve": 26,  # 29 before the specialist's group was kept on the user for the request
    # Every poll of a waiting client: 4 before its owner came with it and a person's own
    # application was found without a read of their memberships.
    "read application": 2,
    "deliver (both sides)": 50,  # 52 before the feed named the provider by id and the notice
    "send the customer's notices": 11,
    "send the SMS code": 6,
    "read the SMS sandbox": 2,
    "confirm the code": 19,  # 20 before
    "decide (approval)": 48,  # 50 before; and who served the website is one query
    "sync (both sides)": 54,  # 2 more before: a notice loaded its owner
    "send the customer's notices again": 21,
    "idle sync (both sides)": 5,
}
# PostgreSQL's sync sets its transaction's commit not to wait for the disk: one statement more. Its
# workers claim a due row with the row back (`outbox.claim_next`, issue 10): a delivery is not read
# again after its claim.
EXPECTED = {"sqlite": STEPS, "postgresql": {**STEPS, "sync (both sides)": 55, "deliver (both sides)": 49}}


def test_filing_at_volume_statements_of_one_application(world, django_capture_on_commit_callbacks):
    customer = Client(HTTP_AUTHORIZATION=f"Bearer {world['customer']}")
    specialist = Client(HTTP_AUTHORIZATION=f"Bearer {world['specialist']}")
    public = Client()
    bureau = world["bureau"]
    counts: dict[str, int] = {}

    def step(name: str, run):
        with Counted() as counted, django_capture_on_commit_callbacks(execute=True):
            result = run()
        counts[name] = len(counted.sql)
        return result

    data = new_filing_data(1, "volume1.cn")
    principal = data["entity"]["principal"]
    app = step(
        "create draft",
        lambda: customer.post("/api/v1/applications", {"type": "new_filing", "data": data}, "application/json"),
    ).json()
    path = f"/api/v1/applications/{app['id']}"
    assert step("submit", lambda: customer.post(f"{path}/submit", {}, "application/json")).status_code == 200
    answer = step("approve", lambda: specialist.post(f"{path}/review", {"decision": "approve"}, "application/json"))
    assert answer.status_code == 200, answer.content
    assert step("read application", lambda: customer.get(path)).status_code == 200
    assert step("deliver (both sides)", lambda: delivery.deliver_due(client=bureau)) == 1
    assert step("send the customer's notices", notices.dispatch) == 2
    assert step("send the SMS code", bureau_outbox.dispatch) == 1
    op = customer.get(path).json()["bureau_operation_id"]
    step("read the SMS sandbox", lambda: public.get("/bureau/sim/v1/messages", {"to": principal["mobile"]}))
    code = CODE.search([m.body for m in send.received(principal["mobile"]) if str(op) in m.body][-1])[1]
    body = {"operation": op, "mobile": principal["mobile"], "id_last6": principal["id_number"][-6:], "code": code}
    answer = step("confirm the code", lambda: public.post("/bureau/api/v1/verifications", body, "application/json"))
    assert answer.json()["verified"], answer.content
    assert step("decide (approval)", bureau_review.decide_due) == 1
    assert step("sync (both sides)", lambda: sync.sync_once(client=bureau)) > 0
    assert step("send the customer's notices again", notices.dispatch) > 0
    assert step("idle sync (both sides)", lambda: sync.sync_once(client=bureau)) == 0
    final = customer.get(path).json()
    assert final["state"] == "approved"
    assert final["website_number"]
    assert counts == EXPECTED[connections["default"].vendor], counts
