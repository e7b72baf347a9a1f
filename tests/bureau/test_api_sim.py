"""The simulation's control panel at /bureau/sim/v1/ over HTTP, and the scenarios it drives: the
clock expiring unverified operations (S16) and deregistering shell websites (S13), an outage, and
the panel's absence when the simulation is off."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from beian.bureau.models import Operation, Status, Website
from tests.bureau.test_api_support import (
    assert_problem,
    confirm_all,
    counts,
    events_of,
    force,
    latest_code,
    messages_to,
    new_filing_body,
    nothing_changes,
    op_body,
)

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

SIM_PATHS = {
    "/bureau/sim/v1/decisions": {"post"},
    "/bureau/sim/v1/faults": {"get", "put"},
    "/bureau/sim/v1/clock": {"get"},
    "/bureau/sim/v1/clock/advance": {"post"},
    "/bureau/sim/v1/messages": {"get"},
    "/bureau/sim/v1/outage": {"get", "put"},
    "/bureau/sim/v1/work": {"post"},
}


def _submit(http, body: dict) -> dict:
    r = http.post("operations", body)
    assert r.status_code == 201, r.content
    return r.json()


def _advance(http, **amount) -> dict:
    r = http.sim_post("clock/advance", amount)
    assert r.status_code == 200, r.content
    return r.json()


# ---------------------------------------------------------------- decisions


def test_forced_rejection_carries_its_reason(operator_http, public_http):
    op = _submit(operator_http, new_filing_body(401, "sim-reject.cn"))
    confirm_all(public_http, op["id"])
    out = force(public_http, op["id"], "reject", reason="网站名称与内容不符")
    assert out == {"operation": op["id"], "state": "rejected", "result": {}}
    done = operator_http.get(f"operations/{op['id']}").json()
    assert (done["state"], done["reason"], done["reason_code"]) == (
        "rejected",
        "网站名称与内容不符",
        "simulated_rejection",
    )


def test_forced_rejection_without_a_reason_gets_one(operator_http, public_http):
    op = _submit(operator_http, new_filing_body(402, "sim-reject-default.cn"))
    confirm_all(public_http, op["id"])
    force(public_http, op["id"], "reject")
    assert operator_http.get(f"operations/{op['id']}").json()["reason"] == "模拟驳回"


def test_decision_needs_an_operation_under_review(world, operator_http, public_http):
    op = _submit(operator_http, new_filing_body(403, "sim-early.cn"))
    with nothing_changes():
        # Not yet verified: nothing to decide.
        assert_problem(
            public_http.sim_post("decisions", {"operation": op["id"], "decision": "approve"}),
            409,
            "transition_not_allowed",
        )
        assert_problem(
            public_http.sim_post(
                "decisions", {"operation": "00000000-0000-4000-8000-000000000000", "decision": "approve"}
            ),
            404,
            "not_found",
        )
    # Cancel-access took effect at submission: the bureau can confirm it, not reject it.
    filed = world.file("sim-cxa.cn")
    cancel = _submit(operator_http, op_body("cancel_access", website_number=filed.website.number))
    with nothing_changes():
        assert_problem(
            public_http.sim_post("decisions", {"operation": cancel["id"], "decision": "reject", "reason": "不行"}),
            409,
            "transition_not_allowed",
        )


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"operation": "00000000-0000-4000-8000-000000000000", "decision": "maybe"}, {"decision": "literal_error"}),
        ({"operation": "nope", "decision": "approve"}, {"operation": "uuid_parsing"}),
        ({"decision": "approve"}, {"operation": "missing"}),
        (
            {"operation": "00000000-0000-4000-8000-000000000000", "decision": "approve", "when": "now"},
            {"when": "extra_forbidden"},
        ),
        (
            {"operation": "00000000-0000-4000-8000-000000000000", "decision": "reject", "reason": "长" * 1001},
            {"reason": "string_too_long"},
        ),
    ],
    ids=["unknown_decision", "operation_not_uuid", "operation_missing", "unknown_field", "reason_too_long"],
)
def test_decision_bad_input(public_http, payload, fields):
    with nothing_changes():
        assert_problem(public_http.sim_post("decisions", payload), 422, "validation_failed", fields=fields)


# ---------------------------------------------------------------- the clock


def test_clock_reads_and_advances(public_http, sim_clock):
    clock = public_http.sim_get("clock")
    assert clock.status_code == 200
    assert clock.json()["today"] == "2026-03-02"
    assert clock.json()["offset_seconds"] == 0
    assert isinstance(clock.json()["calendar_published"], bool)

    moved = _advance(public_http, days=1, hours=2, minutes=30)
    assert moved["today"] == "2026-03-03"
    assert moved["offset_seconds"] == 86400 + 2 * 3600 + 30 * 60
    assert moved["now"].startswith("2026-03-03T12:30:00")
    assert set(moved["done"]) == {"expired", "decided", "shells_deregistered", "messages_sent"}
    assert public_http.sim_get("clock").json()["now"] == moved["now"]

    # Five working days from Tuesday 3 March is Tuesday 10 March.
    assert _advance(public_http, working_days=5)["today"] == "2026-03-10"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"days": -1}, {"days": "greater_than_equal"}),
        ({"hours": "soon"}, {"hours": "int_parsing"}),
        ({"working_days": 100000}, {"working_days": "less_than_equal"}),
        ({"weeks": 1}, {"weeks": "extra_forbidden"}),
    ],
    ids=["backwards", "not_a_number", "too_far", "unknown_unit"],
)
def test_clock_advance_bad_input(public_http, payload, fields):
    with nothing_changes():
        assert_problem(public_http.sim_post("clock/advance", payload), 422, "validation_failed", fields=fields)
    assert public_http.sim_get("clock").json()["offset_seconds"] == 0


def test_s16_unverified_operation_expires_after_24_hours(operator_http, public_http):
    body = new_filing_body(404, "s16-late.cn")
    op = _submit(operator_http, body)
    principal = body["entity"]["principal"]
    code = latest_code(public_http, op["id"], principal["mobile"])

    assert _advance(public_http, hours=23)["done"]["expired"] == 0
    assert operator_http.get(f"operations/{op['id']}").json()["state"] == "awaiting_verification"

    assert _advance(public_http, hours=2)["done"]["expired"] == 1
    done = operator_http.get(f"operations/{op['id']}").json()
    assert (done["state"], done["reason_code"]) == ("expired", "verification_timeout")
    last = [e for e in events_of(operator_http) if e["kind"] == "operation.updated"][-1]
    assert (last["data"]["id"], last["data"]["state"], last["data"]["reason_code"]) == (
        op["id"],
        "expired",
        "verification_timeout",
    )

    # The code came too late; the same data may be submitted again (the locks are released).
    late = public_http.post(
        "verifications",
        {"operation": op["id"], "mobile": principal["mobile"], "id_last6": principal["id_number"][-6:], "code": code},
    )
    assert_problem(late, 409, "transition_not_allowed")
    again = _submit(operator_http, dict(body, idempotency_key=new_filing_body(404, "x.cn")["idempotency_key"]))
    assert again["state"] == "awaiting_verification"
    assert again["id"] != op["id"]


def test_s13_shell_website_is_warned_then_deregistered(world, operator_http, public_http, settings):
    filed = world.file("s13-shell.cn")
    site = filed.website
    _submit(operator_http, op_body("cancel_access", website_number=site.number))

    # No access anywhere: a shell. Its principal is warned, with the deadline.
    warnings = [t for t in messages_to(public_http, site.principal_mobile) if "空壳网站" in t]
    assert len(warnings) == 1
    assert site.number in warnings[0]
    assert "逾期管局将注销" in warnings[0]
    assert Website.objects.get(pk=site.pk).shell_since is not None

    grace = settings.BEIAN_SHELL_GRACE_DAYS
    assert _advance(public_http, working_days=grace - 1)["done"]["shells_deregistered"] == 0
    assert Website.objects.get(pk=site.pk).status == Status.ACTIVE
    assert _advance(public_http, working_days=1)["done"]["shells_deregistered"] == 1
    assert Website.objects.get(pk=site.pk).status == Status.DEREGISTERED

    updates = [e["data"] for e in events_of(operator_http) if e["kind"] == "website.updated"]
    assert (updates[-1]["number"], updates[-1]["status"], updates[-1]["deregistered_reason"]) == (
        site.number,
        "deregistered",
        "shell",
    )
    assert "已被注销备案" in messages_to(public_http, site.principal_mobile)[-1]
    assert public_http.get("query", domain="s13-shell.cn").json()["results"] == []


# ---------------------------------------------------------------- messages and work


def test_messages_shows_what_a_phone_and_an_inbox_received(world, public_http):
    filed = world.file("sim-msg.cn")
    phone = public_http.sim_get("messages", to=filed.entity.principal_mobile)
    assert phone.status_code == 200
    assert phone.json()["to"] == filed.entity.principal_mobile
    texts = phone.json()["messages"]
    assert {m["channel"] for m in texts} == {"sms"}
    assert any("备案密码" in m["body"] for m in texts)
    inbox = public_http.sim_get("messages", to=filed.entity.principal_email).json()["messages"]
    assert [m["channel"] for m in inbox] == ["email"]
    assert filed.entity.number in inbox[0]["subject"]

    assert public_http.sim_get("messages", to="13900000000").json()["messages"] == []
    assert public_http.sim_get("messages", to="not a recipient").json()["messages"] == []
    assert_problem(public_http.sim_get("messages"), 422, "validation_failed", fields={"to": "missing"})


def test_work_runs_what_is_due(operator_http, public_http, sim_clock):
    op = _submit(operator_http, new_filing_body(405, "sim-work.cn"))
    sim_clock.advance(timedelta(hours=25))  # the process clock moves; nothing has run yet
    assert operator_http.get(f"operations/{op['id']}").json()["state"] == "awaiting_verification"
    r = public_http.client.post("/bureau/sim/v1/work")
    assert r.status_code == 200, r.content
    assert r.json()["expired"] == 1
    assert operator_http.get(f"operations/{op['id']}").json()["state"] == "expired"
    assert public_http.client.post("/bureau/sim/v1/work").json() == {
        "expired": 0,
        "decided": 0,
        "shells_deregistered": 0,
        "messages_sent": 0,
    }


# ---------------------------------------------------------------- outage


def test_outage_delays_and_loses_nothing(world, operator_http, public_http):
    assert public_http.sim_get("outage").json() == {"on": False}
    filed = world.file("outage-base.cn")
    known = Operation.objects.get(pk=filed.pk)
    r = public_http.sim_put("outage", {"on": True})
    assert (r.status_code, r.json()) == (200, {"on": True})
    assert public_http.sim_get("outage").json() == {"on": True}

    body = new_filing_body(406, "outage.cn")
    calls = [
        lambda: operator_http.post("operations", body),
        lambda: operator_http.get(f"operations/{known.pk}"),
        lambda: operator_http.post(f"operations/{known.pk}/withdraw", ""),
        lambda: operator_http.get("events"),
        lambda: public_http.post(
            "verifications", {"operation": str(known.pk), "mobile": "13800000001", "id_last6": "123456", "code": "1"}
        ),
        lambda: public_http.post("verifications/resend", {"operation": str(known.pk), "mobile": "13800000001"}),
        lambda: public_http.post(
            "password-recoveries", {"province": "44", "entity_number": filed.entity.number, "cert_number": "x"}
        ),
        lambda: public_http.get("query", domain="outage-base.cn"),
    ]
    before = counts()
    for call in calls:
        r = call()
        assert_problem(r, 503, "bureau_unavailable")
        assert int(r["Retry-After"]) > 0
    assert counts() == before
    # Reference data does not need the bureau's registry.
    assert public_http.get("provinces").status_code == 200
    assert public_http.get("catalogue").status_code == 200

    assert public_http.sim_put("outage", {"on": False}).json() == {"on": False}
    first = operator_http.post("operations", body)
    assert first.status_code == 201, first.content
    retry = operator_http.post("operations", body)
    assert (retry.status_code, retry.json()["id"]) == (200, first.json()["id"])
    assert Operation.objects.filter(idempotency_key=body["idempotency_key"]).count() == 1


def test_outage_bad_input(public_http):
    assert_problem(
        public_http.sim_put("outage", {"on": "maybe"}), 422, "validation_failed", fields={"on": "bool_parsing"}
    )
    assert_problem(public_http.sim_put("outage", {}), 422, "validation_failed", fields={"on": "missing"})
    r = public_http.client.put("/bureau/sim/v1/outage", "on=1", content_type="application/x-www-form-urlencoded")
    assert_problem(r, 415, "unsupported_media_type")
    assert public_http.sim_get("outage").json() == {"on": False}


# ---------------------------------------------------------------- simulation off


def test_simulation_off_hides_the_panel(world, operator_http, public_http, settings):
    op = _submit(operator_http, new_filing_body(407, "sim-off.cn"))
    confirm_all(public_http, op["id"])
    public_http.sim_put("outage", {"on": True})
    settings.BEIAN_SIMULATION = False

    calls = [
        lambda: public_http.sim_post("decisions", {"operation": op["id"], "decision": "approve"}),
        lambda: public_http.sim_get("clock"),
        lambda: public_http.sim_post("clock/advance", {"days": 1}),
        lambda: public_http.sim_get("messages", to="13800000001"),
        lambda: public_http.sim_get("outage"),
        lambda: public_http.sim_put("outage", {"on": False}),
        lambda: public_http.client.post("/bureau/sim/v1/work"),
    ]
    with nothing_changes():
        for call in calls:
            assert_problem(call(), 404, "simulation_disabled")
    assert operator_http.get(f"operations/{op['id']}").json()["state"] == "under_review"
    # Without the simulation there is no simulated outage either.
    assert operator_http.get("events").status_code == 200


def test_sim_openapi_document_lists_the_controls(public_http):
    r = public_http.client.get("/bureau/sim/v1/openapi.json")
    assert r.status_code == 200
    doc = json.loads(r.content)
    assert "openapi" in doc
    assert {path: set(methods) for path, methods in doc["paths"].items()} == SIM_PATHS
    assert public_http.client.get("/bureau/sim/v1/docs").status_code == 200


def test_sim_openapi_document_gives_every_answer_its_schema(public_http):
    """Found by schemathesis (tests/test_fuzz_apis.py): the controls documented only a 200 without
    a schema, and answered 404, 422 and 503 as well."""
    doc = json.loads(public_http.client.get("/bureau/sim/v1/openapi.json").content)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert {"200", "404", "422"} <= set(responses), (method, path)
            assert responses["200"]["content"]["application/json"]["schema"], (method, path)
            assert set(responses["422"]["content"]) == {"application/problem+json"}, (method, path)
    r = public_http.client.post("/bureau/sim/v1/decisions", "{}", content_type="application/json")
    assert r.status_code == 422
    assert r["Content-Type"] == "application/problem+json"
