"""The provider's side of the bureau's API over HTTP: each of the nine operation types submitted once
and its effect read back after a forced approval; reading, withdrawing, the event feed; and the
refusals that depend on the registry (conflicts, idempotency, deregistered numbers, the filing
password and its lock)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from beian.bureau.models import Access, Entity, Operation, Status, Verification, Website
from tests.bureau.conftest import enterprise, person, website
from tests.bureau.test_api_support import (
    approve_over_http,
    assert_problem,
    events_of,
    new_filing_body,
    nothing_changes,
    op_body,
)

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

ENTITY_NUMBER = re.compile(r"粤ICP备2026\d{6}号")


def _password(world, filed: Operation) -> str:
    return world.password_of(filed.entity.number, filed.entity.principal_mobile)


def _submit(http, body: dict, status: int = 201) -> dict:
    r = http.post("operations", body)
    assert r.status_code == status, r.content
    assert r["Content-Type"].startswith("application/json")
    op = r.json()
    assert op["type"] == body["type"]
    assert op["idempotency_key"] == body["idempotency_key"]
    return op


def _two_domain_filing(world, n: int, domains: list[str]) -> Operation:
    principal = person(n)
    op = world.submit(
        "new_filing",
        {
            "entity": enterprise(n, principal=principal),
            "website": {"name": "双域名网站", "domains": domains, "principal": principal},
            "access": {"ips": ["121.40.18.10"]},
        },
    )
    return world.approve(op)


# ---------------------------------------------------------------- the nine operation types


def test_new_filing_over_http_gets_numbers_at_approval(operator_http, public_http):
    body = new_filing_body(101, "nf-http.cn")
    op = _submit(operator_http, body)
    assert op["state"] == "awaiting_verification"
    assert op["entity_number"] is None
    assert op["website_number"] is None
    assert op["window"] is None
    assert op["verification_deadline"]

    done = approve_over_http(operator_http, public_http, op["id"])
    assert done["state"] == "approved"
    assert done["decided_at"]
    assert ENTITY_NUMBER.fullmatch(done["entity_number"])
    assert done["website_number"] == done["entity_number"] + "-1"
    assert done["result"] == {"entity_number": done["entity_number"], "website_number": done["website_number"]}
    found = public_http.get("query", domain="nf-http.cn").json()["results"]
    assert [f["website_number"] for f in found] == [done["website_number"]]


def test_r2_new_website_with_the_password_read_from_the_sms(world, operator_http, public_http):
    filed = world.file("nw-base.cn")
    entity = filed.entity
    body = op_body(
        "new_website",
        entity_number=entity.number,
        filing_password=_password(world, filed),
        website=website("nw-second.cn", principal=person(160), name="第二个网站"),
        access={"ips": ["121.40.18.20"]},
    )
    op = _submit(operator_http, body)
    assert op["state"] == "awaiting_verification"
    assert op["entity_number"] == entity.number
    # Both the entity's principal and the new website's principal confirm.
    assert sorted(Verification.objects.filter(operation_id=op["id"]).values_list("mobile", flat=True)) == sorted(
        [entity.principal_mobile, person(160)["mobile"]]
    )

    done = approve_over_http(operator_http, public_http, op["id"])
    assert done["state"] == "approved"
    assert done["website_number"] == f"{entity.number}-2"
    assert done["result"]["website_number"] == done["website_number"]
    found = public_http.get("query", domain="nw-second.cn").json()["results"]
    assert [f["website_number"] for f in found] == [done["website_number"]]


def test_r1_transfer_in_by_the_other_provider_keeps_the_number(world, other_http, public_http):
    filed = world.file("ti-move.cn")  # filed and accessed with the operator
    body = op_body(
        "transfer_in",
        website_number=filed.website.number,
        filing_password=_password(world, filed),
        access={"ips": ["121.40.18.30"]},
    )
    op = _submit(other_http, body)
    assert op["state"] == "awaiting_verification"
    # Served from submission: a provisional access for the other provider (seed Q1).
    assert Access.objects.get(website=filed.website, provider=world.other).state == Access.State.PROVISIONAL

    done = approve_over_http(other_http, public_http, op["id"])
    assert done["state"] == "approved"
    assert done["website_number"] == filed.website.number  # no new number
    access = Access.objects.get(website=filed.website, provider=world.other)
    assert (access.state, access.ips) == (Access.State.ACTIVE, ["121.40.18.30"])
    updates = [e for e in events_of(other_http) if e["kind"] == "website.updated"]
    assert updates[-1]["data"]["number"] == filed.website.number
    assert updates[-1]["data"]["access"]["state"] == "active"


def test_r4_change_entity_takes_effect_at_approval(world, operator_http, public_http):
    filed = world.file("ce-change.cn")
    old_name = filed.entity.name
    body = op_body(
        "change_entity",
        entity_number=filed.entity.number,
        entity={"name": "新名称科技有限公司", "address": "新省新市新路 2 号"},
    )
    op = _submit(operator_http, body)
    assert op["state"] == "awaiting_verification"
    assert Entity.objects.get(pk=filed.entity_id).name == old_name  # not before approval

    done = approve_over_http(operator_http, public_http, op["id"])
    assert done["state"] == "approved"
    assert done["entity_number"] == filed.entity.number
    entity = Entity.objects.get(pk=filed.entity_id)
    assert (entity.name, entity.address) == ("新名称科技有限公司", "新省新市新路 2 号")
    found = public_http.get("query", number=filed.entity.number).json()["results"]
    assert [f["entity_name"] for f in found] == ["新名称科技有限公司"]


def test_change_website_removes_a_domain_at_approval(world, operator_http, public_http):
    filed = _two_domain_filing(world, 170, ["cw-keep.cn", "cw-drop.cn"])
    body = op_body("change_website", website_number=filed.website.number, website={"domains": ["cw-keep.cn"]})
    op = _submit(operator_http, body)
    assert op["state"] == "awaiting_verification"
    assert public_http.get("query", domain="cw-drop.cn").json()["results"]  # still filed until approval

    done = approve_over_http(operator_http, public_http, op["id"])
    assert done["state"] == "approved"
    assert done["website_number"] == filed.website.number
    assert public_http.get("query", domain="cw-drop.cn").json()["results"] == []
    kept = public_http.get("query", domain="cw-keep.cn").json()["results"]
    assert [f["domains"] for f in kept] == [["cw-keep.cn"]]
    updates = [e for e in events_of(operator_http) if e["kind"] == "website.updated"]
    assert updates[-1]["data"]["domains"] == ["cw-keep.cn"]


def test_r5_change_access_sets_the_new_ips_at_approval(world, operator_http, public_http):
    filed = world.file("ca-ips.cn")
    body = op_body("change_access", website_number=filed.website.number, access={"ips": ["121.40.18.99"]})
    op = _submit(operator_http, body)
    assert op["state"] == "under_review"  # no SMS verification for a change of access
    assert op["window"]["earliest"] <= op["window"]["latest"]
    assert Access.objects.get(website=filed.website).ips == ["121.40.18.10"]

    done = approve_over_http(operator_http, public_http, op["id"])
    assert done["state"] == "approved"
    assert Access.objects.get(website=filed.website).ips == ["121.40.18.99"]
    updates = [e for e in events_of(operator_http) if e["kind"] == "website.updated"]
    assert updates[-1]["data"]["access"]["ips"] == ["121.40.18.99"]


def test_r8_cancel_entity_with_the_password_deregisters_it(world, operator_http, public_http):
    filed = world.file("cx-entity.cn")
    body = op_body("cancel_entity", entity_number=filed.entity.number, filing_password=_password(world, filed))
    op = _submit(operator_http, body)
    assert op["state"] == "under_review"

    done = approve_over_http(operator_http, public_http, op["id"])
    assert done["state"] == "approved"
    assert Entity.objects.get(pk=filed.entity_id).status == Status.DEREGISTERED
    assert Website.objects.get(pk=filed.website_id).status == Status.DEREGISTERED
    assert public_http.get("query", number=filed.entity.number).json()["results"] == []


def test_r9_cancel_website_leaves_its_sibling(world, operator_http, public_http):
    filed = world.file("cw-first.cn")
    second = world.approve(
        world.submit(
            "new_website",
            {
                "entity_number": filed.entity.number,
                "filing_password": _password(world, filed),
                "website": website("cw-second.cn", principal=person(180)),
                "access": {"ips": ["121.40.18.11"]},
            },
        )
    )
    op = _submit(operator_http, op_body("cancel_website", website_number=second.website.number))
    assert op["state"] == "under_review"

    done = approve_over_http(operator_http, public_http, op["id"])
    assert done["state"] == "approved"
    assert done["website_number"] == second.website.number
    assert Website.objects.get(pk=second.website_id).status == Status.DEREGISTERED
    assert Website.objects.get(pk=filed.website_id).status == Status.ACTIVE
    assert [f["website_number"] for f in public_http.get("query", number=filed.entity.number).json()["results"]] == [
        filed.website.number
    ]


def test_r10_cancel_access_stops_at_submission_and_keeps_the_number(world, operator_http, public_http):
    filed = world.file("cxa-access.cn")
    op = _submit(operator_http, op_body("cancel_access", website_number=filed.website.number))
    assert op["state"] == "under_review"
    access = Access.objects.get(website=filed.website, provider=world.operator)
    assert (access.state, access.ended_reason) == (Access.State.ENDED, "cancel_access")

    done = approve_over_http(operator_http, public_http, op["id"])
    assert done["state"] == "approved"
    assert done["website_number"] == filed.website.number
    found = public_http.get("query", domain="cxa-access.cn").json()["results"]
    assert [(f["website_number"], f["access_limited"]) for f in found] == [(filed.website.number, True)]


# ---------------------------------------------------------------- reading, retrying, withdrawing


def test_same_idempotency_key_returns_the_same_operation(operator_http):
    body = new_filing_body(102, "idem-same.cn")
    first = _submit(operator_http, body)
    again = _submit(operator_http, body, status=200)
    assert again["id"] == first["id"]
    assert Operation.objects.count() == 1


def test_read_operation_returns_its_snapshot(operator_http):
    op = _submit(operator_http, new_filing_body(103, "read-op.cn"))
    r = operator_http.get(f"operations/{op['id']}")
    assert r.status_code == 200
    assert r.json() == op


def test_unknown_operation_is_not_found(operator_http):
    r = operator_http.get("operations/00000000-0000-4000-8000-000000000000")
    assert_problem(r, 404, "not_found")


def test_someone_elses_operation_is_not_found_rather_than_forbidden(operator_http, other_http):
    op = _submit(operator_http, new_filing_body(104, "mine-only.cn"))
    unknown = other_http.get("operations/00000000-0000-4000-8000-000000000000").json()
    with nothing_changes():
        got = assert_problem(other_http.get(f"operations/{op['id']}"), 404, "not_found")
        withdrawn = assert_problem(other_http.post(f"operations/{op['id']}/withdraw", ""), 404, "not_found")
    # Exactly what a made-up id gets: the existence of the operator's operation is not revealed.
    assert got == unknown == withdrawn
    assert operator_http.get(f"operations/{op['id']}").json()["state"] == "awaiting_verification"


def test_change_website_can_be_withdrawn_and_releases_its_locks(world, operator_http):
    filed = _two_domain_filing(world, 171, ["wd-keep.cn", "wd-drop.cn"])
    body = op_body("change_website", website_number=filed.website.number, website={"domains": ["wd-keep.cn"]})
    op = _submit(operator_http, body)

    r = operator_http.post(f"operations/{op['id']}/withdraw", "")
    assert r.status_code == 200, r.content
    assert (r.json()["state"], r.json()["reason_code"]) == ("withdrawn", "withdrawn")
    assert operator_http.get(f"operations/{op['id']}").json()["state"] == "withdrawn"
    states = [e["data"]["state"] for e in events_of(operator_http) if e["data"].get("id") == op["id"]]
    assert states[-1] == "withdrawn"

    # A withdrawn operation is closed: a second withdrawal is refused …
    with nothing_changes():
        assert_problem(operator_http.post(f"operations/{op['id']}/withdraw", ""), 409, "transition_not_allowed")
    # … and the website is free for a new change.
    _submit(operator_http, op_body("change_website", website_number=filed.website.number, website={"name": "新名称"}))


@pytest.mark.parametrize("op_type", ["cancel_access", "cancel_website"])
def test_s14_cancellations_cannot_be_withdrawn(world, operator_http, op_type):
    filed = world.file(f"s14-{op_type.replace('_', '-')}.cn")
    op = _submit(operator_http, op_body(op_type, website_number=filed.website.number))
    with nothing_changes():
        body = assert_problem(operator_http.post(f"operations/{op['id']}/withdraw", ""), 409, "transition_not_allowed")
    assert "不可撤回" in body["detail"]
    assert operator_http.get(f"operations/{op['id']}").json()["state"] == "under_review"


def test_events_are_paged_by_cursor_and_kept_per_provider(world, operator_http, other_http):
    world.file("feed-a.cn")
    world.file("feed-b.cn")
    everything = events_of(operator_http)
    assert len(everything) >= 4
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))

    page = operator_http.get("events", after=0, limit=2).json()
    assert [e["seq"] for e in page["events"]] == [1, 2]
    assert page["next_after"] == 2
    rest = operator_http.get("events", after=page["next_after"]).json()
    assert [e["seq"] for e in rest["events"]] == list(range(3, len(everything) + 1))
    end = operator_http.get("events", after=rest["next_after"]).json()
    assert end == {"events": [], "next_after": rest["next_after"]}

    # The other provider hears nothing of the operator's filings: only the calendar its feed starts with.
    theirs = other_http.get("events").json()
    assert [(e["seq"], e["kind"]) for e in theirs["events"]] == [(1, "calendar.updated")]


# ---------------------------------------------------------------- refusals that need the registry


def test_idempotency_key_reused_for_a_different_body(operator_http):
    body = new_filing_body(105, "idem-a.cn")
    _submit(operator_http, body)
    changed = dict(body, access={"ips": ["121.40.18.77"]})
    with nothing_changes():
        assert_problem(operator_http.post("operations", changed), 409, "idempotency_key_reused")


def test_one_open_operation_per_entity(world, operator_http):
    filed = world.file("busy-entity.cn")
    _submit(
        operator_http, op_body("change_entity", entity_number=filed.entity.number, entity={"address": "新地址一号楼"})
    )
    second = op_body("cancel_website", website_number=filed.website.number)
    with nothing_changes():
        assert_problem(operator_http.post("operations", second), 409, "entity_busy", fields={"entity": "entity_busy"})


def test_one_open_operation_per_domain(operator_http):
    _submit(operator_http, new_filing_body(106, "busy-domain.cn"))
    # Another entity asks for the same domain while the first filing is open (域名冲突).
    with nothing_changes():
        assert_problem(
            operator_http.post("operations", new_filing_body(107, "busy-domain.cn")),
            409,
            "domain_busy",
            fields={"domains": "domain_busy"},
        )


def test_r1_filed_domain_is_refused_with_a_pointer_to_transfer_in(world, other_http):
    world.file("r1-filed.cn")
    with nothing_changes():
        body = assert_problem(
            other_http.post("operations", new_filing_body(108, "r1-filed.cn")),
            422,
            "validation_failed",
            fields={"website.domains.0": "domain_already_filed"},
        )
    assert "转入备案" in body["errors"][0]["message"]


def test_r7_deregistered_number_refused(world, operator_http, public_http):
    filed = world.file("r7-gone.cn")
    cancel = _submit(operator_http, op_body("cancel_website", website_number=filed.website.number))
    approve_over_http(operator_http, public_http, cancel["id"])

    for body in (
        op_body("change_access", website_number=filed.website.number, access={"ips": ["121.40.18.12"]}),
        op_body("cancel_access", website_number=filed.website.number),
    ):
        with nothing_changes():
            problem = assert_problem(
                operator_http.post("operations", body),
                422,
                "validation_failed",
                fields={"website_number": "filing_number_deregistered"},
            )
        assert "不能恢复" in problem["errors"][0]["message"]


def test_s11_cancelled_entity_number_refused(world, operator_http, public_http):
    filed = world.file("s11-entity.cn")
    password = _password(world, filed)
    cancel = _submit(
        operator_http, op_body("cancel_entity", entity_number=filed.entity.number, filing_password=password)
    )
    approve_over_http(operator_http, public_http, cancel["id"])
    body = op_body(
        "new_website",
        entity_number=filed.entity.number,
        filing_password=password,
        website=website("s11-back.cn", principal=person(190)),
        access={"ips": ["121.40.18.13"]},
    )
    with nothing_changes():
        assert_problem(
            operator_http.post("operations", body),
            422,
            "validation_failed",
            fields={"entity_number": "filing_number_deregistered"},
        )


def test_unknown_filing_number_refused(operator_http):
    body = op_body("cancel_access", website_number="粤ICP备2026999999号-1")
    with nothing_changes():
        assert_problem(
            operator_http.post("operations", body),
            422,
            "validation_failed",
            fields={"website_number": "filing_number_unknown"},
        )


def test_only_the_hosting_provider_may_change_access(world, other_http):
    filed = world.file("not-yours.cn")
    body = op_body("change_access", website_number=filed.website.number, access={"ips": ["121.40.18.14"]})
    with nothing_changes():
        assert_problem(other_http.post("operations", body), 403, "not_accessed_here")


def test_change_may_not_add_a_domain(world, operator_http):
    filed = world.file("add-not.cn")
    body = op_body(
        "change_website", website_number=filed.website.number, website={"domains": ["add-not.cn", "add-new.cn"]}
    )
    with nothing_changes():
        assert_problem(
            operator_http.post("operations", body),
            422,
            "validation_failed",
            fields={"website.domains": "domain_add_not_allowed"},
        )


def test_entity_cannot_change_province(world, operator_http):
    filed = world.file("stay-here.cn")
    body = op_body("change_entity", entity_number=filed.entity.number, entity={"province": "33"})
    with nothing_changes():
        assert_problem(
            operator_http.post("operations", body),
            422,
            "validation_failed",
            fields={"entity.province": "province_change_not_allowed"},
        )


def test_filing_password_required_and_unknown_where_unused(world, other_http, operator_http):
    filed = world.file("pw-missing.cn")
    with nothing_changes():
        assert_problem(
            other_http.post(
                "operations",
                op_body("transfer_in", website_number=filed.website.number, access={"ips": ["121.40.18.15"]}),
            ),
            422,
            "validation_failed",
            fields={"filing_password": "filing_password_required"},
        )
        assert_problem(
            operator_http.post(
                "operations",
                op_body("cancel_website", website_number=filed.website.number, filing_password="whatever"),
            ),
            422,
            "validation_failed",
            fields={"filing_password": "extra_forbidden"},  # cancel_website has no such field
        )


def _transfer_in(filed: Operation, password: str) -> dict:
    return op_body(
        "transfer_in", website_number=filed.website.number, filing_password=password, access={"ips": ["121.40.18.16"]}
    )


def test_s04_wrong_password_is_refused_with_the_field(world, other_http):
    filed = world.file("s04-wrong.cn")
    # A refused password writes its failure to the audit log on purpose, and nothing else.
    with nothing_changes(audit=1):
        body = assert_problem(
            other_http.post("operations", _transfer_in(filed, "NotThePassword")),
            403,
            "filing_password_wrong",
            fields={"filing_password": "filing_password_wrong"},
        )
    assert "4" in body["errors"][0]["message"]  # tries left


def test_s04_wrong_password_locks_after_five(world, other_http, sim_clock, settings):
    assert settings.BEIAN_PASSWORD_MAX_FAILURES == 5
    filed = world.file("s04-lock.cn")
    password = _password(world, filed)
    # Failures count from the password's issue on; the guesses come a little after it.
    sim_clock.advance(timedelta(minutes=5))
    left = []
    for _ in range(5):
        with nothing_changes(audit=1):
            body = assert_problem(
                other_http.post("operations", _transfer_in(filed, "WrongPass99")),
                403,
                "filing_password_wrong",
                fields={"filing_password": "filing_password_wrong"},
            )
        left.append(body["errors"][0]["message_en"])
    assert "4 tries left" in left[0]
    assert "1 tries left" in left[3]
    assert "locked" in left[4]

    # Locked: even the right password is refused, with when to try again.
    for attempt in ("WrongPass99", password):
        with nothing_changes():
            r = other_http.post("operations", _transfer_in(filed, attempt))
            assert_problem(r, 429, "filing_password_locked")
        assert 0 < int(r["Retry-After"]) <= settings.BEIAN_PASSWORD_LOCK_MINUTES * 60

    # An hour later the right password is accepted.
    sim_clock.advance(timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES, seconds=1))
    _submit(other_http, _transfer_in(filed, password))
