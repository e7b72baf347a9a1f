"""The provider's JSON API over the same services as the portal: every endpoint's happy path, bad
input refused with field-level problem documents and nothing changed, and the scenarios S08, S14
and S15 driven only through the API (the bureau is the real one, reached over HTTP)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from beian.bureau.models import Operation
from beian.core.catalogue import OPERATION_CODES
from beian.core.clock import CHINA
from beian.provider import api as provider_api
from beian.provider import delivery, sync
from beian.provider.models import Application, Delivery, FiledDomain, FiledEntity, FiledWebsite, TimelineEntry
from beian.provider.schemas import DATA_SCHEMAS
from beian.provider.transitions import apply
from tests.provider.test_flow import decide_at_bureau, new_filing_data, verify_at_bureau

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State
ENTITY_NUMBER = "粤ICP备2024012345号"
WEBSITE_NUMBER = ENTITY_NUMBER + "-1"


# ---------------------------------------------------------------- helpers


def call(client: Client, method: str, path: str, body=None, *, raw: str | None = None, content_type="application/json"):
    if raw is None and body is not None:
        raw = json.dumps(body)
    kwargs = {"data": raw, "content_type": content_type} if raw is not None else {}
    return client.generic(method, f"/api/v1{path}", **kwargs)


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content.decode()
    return response.json()


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert all(body[key] for key in ("title", "title_en", "detail", "detail_en"))
    return body


def fields(body: dict) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


def snapshot() -> tuple:
    return (
        list(Application.objects.order_by("pk").values()),
        TimelineEntry.objects.count(),
        Delivery.objects.count(),
    )


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice(people) -> Client:
    return logged_in(people["alice"])


@pytest.fixture
def bob(people) -> Client:
    return logged_in(people["bob"])


@pytest.fixture
def api_bureau(monkeypatch, bureau):
    """The API reaches the bureau (for a withdrawal it already holds) through the test's client."""

    @contextmanager
    def use():
        yield bureau

    monkeypatch.setattr(provider_api, "bureau", use)
    return bureau


def mirror(owner, *, entity_number: str = ENTITY_NUMBER, website_number: str = WEBSITE_NUMBER) -> FiledWebsite:
    """A filing of `owner` accessed here, as the event feed would have mirrored it."""
    entity = FiledEntity.objects.create(
        number=entity_number,
        name="测试科技有限公司",
        unit_type="enterprise",
        province="44",
        status="active",
        owner=owner,
    )
    site = FiledWebsite.objects.create(
        entity=entity,
        number=website_number,
        name="测试网站",
        home_url="http://mirror.cn",
        status="active",
        access_state="active",
        ips=["121.40.18.10"],
    )
    FiledDomain.objects.create(website=site, name="mirror.cn")
    FiledDomain.objects.create(website=site, name="mirror.com.cn")
    return site


def create(client: Client, op_type: str, data: dict | None = None) -> dict:
    body = {"type": op_type} if data is None else {"type": op_type, "data": data}
    return ok(call(client, "POST", "/applications", body), 201)


def submitted(client: Client, op_type: str, data: dict, **submit) -> dict:
    app = create(client, op_type, data)
    return ok(call(client, "POST", f"/applications/{app['id']}/submit", submit))


def read(client: Client, app: dict) -> dict:
    return ok(call(client, "GET", f"/applications/{app['id']}"))


def model(app: dict) -> Application:
    return Application.objects.get(pk=app["id"])


def to_state(alice: Client, bob: Client, bureau, app: dict, state: str) -> dict:
    """Take a submitted application forward through review, delivery and the bureau to `state`."""
    order = [S.SUBMITTED, S.PROVIDER_REVIEW, S.DELIVERED, S.AWAITING_VERIFICATION, S.BUREAU_REVIEW, S.APPROVED]
    current = read(alice, app)["state"]
    while current != state:
        assert order.index(current) < order.index(state), (current, state)
        if current == S.SUBMITTED:
            ok(call(bob, "POST", f"/applications/{app['id']}/claim"))
        elif current == S.PROVIDER_REVIEW:
            ok(call(bob, "POST", f"/applications/{app['id']}/review", {"decision": "approve"}))
        elif current == S.DELIVERED:
            assert delivery.deliver_due(client=bureau) == 1
        elif current == S.AWAITING_VERIFICATION:
            verify_at_bureau(bureau, model(app))
            sync.sync_once(client=bureau)
        elif current == S.BUREAU_REVIEW:
            decide_at_bureau(bureau, model(app))
            sync.sync_once(client=bureau)
        current = read(alice, app)["state"]
    return read(alice, app)


def filed(alice: Client, bob: Client, bureau, n: int, domain: str) -> dict:
    """A new filing of alice's, approved by the bureau and mirrored here."""
    app = submitted(alice, "new_filing", new_filing_data(n, domain))
    return to_state(alice, bob, bureau, app, S.APPROVED)


# ---------------------------------------------------------------- happy paths


def test_a_new_filing_from_draft_to_numbers_over_the_api(people, alice, bob, bureau):
    data = new_filing_data(11, "life.cn")
    draft = create(alice, "new_filing", {"entity": data["entity"]})
    assert (draft["state"], draft["state_name"], draft["type_name"]) == (S.DRAFT, "待完善信息", "首次备案")
    assert draft["data"] == {"entity": data["entity"]}
    assert draft["next_step"]["code"] == "complete_and_submit"
    assert draft["next_step"]["message"] == "完善信息并提交"
    path = f"/applications/{draft['id']}"

    updated = ok(call(alice, "PUT", path, {"data": data}))
    assert updated["data"] == data
    assert updated["version"] == draft["version"] + 1
    warned = ok(call(alice, "GET", f"{path}/warnings"))
    assert warned == {
        "warnings": [],
        "stops_serving": [],
        "irreversible": False,
        "password_required": False,
        "confirm_required": False,
    }

    sent = ok(call(alice, "POST", f"{path}/submit"))  # an empty body is as good as {}
    assert sent["state"] == S.SUBMITTED
    assert sent["withdrawable"] is True
    assert sent["next_step"]["code"] == "wait_provider_review"

    queue = ok(call(bob, "GET", "/review/queue"))
    assert [(item["id"], item["owner"]) for item in queue["items"]] == [(draft["id"], "alice")]
    assert queue["items"][0]["data"]["website"]["domains"] == ["life.cn"]
    claimed = ok(call(bob, "POST", f"{path}/claim"))
    assert claimed["state"] == S.PROVIDER_REVIEW
    assert ok(call(bob, "GET", "/review/queue"))["items"][0]["reviewer"] == "bob"
    approved = ok(call(bob, "POST", f"{path}/review", {"decision": "approve"}))
    assert approved["state"] == S.DELIVERED
    assert approved["next_step"]["code"] == "wait_delivery"

    assert delivery.deliver_due(client=bureau) == 1
    waiting = read(alice, draft)
    app = model(draft)
    assert waiting["state"] == S.AWAITING_VERIFICATION
    step = waiting["next_step"]
    deadline = app.verification_deadline.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    assert step["code"] == "verify_sms"
    assert step["message"].startswith(f"负责人须在 {deadline} 前完成短信核验")
    assert step["link"] == f"{settings.BEIAN_BUREAU_PUBLIC_URL}/bureau/verify/?operation={app.bureau_operation_id}"
    assert step["deadline"] is not None

    verify_at_bureau(bureau, app)
    sync.sync_once(client=bureau)
    reviewing = read(alice, draft)
    app.refresh_from_db()
    assert reviewing["state"] == S.BUREAU_REVIEW
    assert reviewing["window"]["earliest"] == app.window_earliest.isoformat()
    assert reviewing["next_step"]["code"] == "wait_bureau_review"
    assert reviewing["next_step"]["window"] == reviewing["window"]
    assert app.window_earliest.isoformat() in reviewing["next_step"]["message"]
    assert app.window_latest.isoformat() in reviewing["next_step"]["message"]
    assert "1–20 个工作日" in reviewing["next_step"]["message"]

    decide_at_bureau(bureau, app)
    sync.sync_once(client=bureau)
    done = read(alice, draft)
    app.refresh_from_db()
    assert done["state"] == S.APPROVED
    assert done["next_step"]["code"] == "done"
    assert done["next_step"]["numbers"] == [app.entity_number, app.website_number]
    assert app.website_number in done["next_step"]["message"]

    entities = ok(call(alice, "GET", "/entities"))
    assert [(e["number"], e["websites"]) for e in entities["items"]] == [(app.entity_number, [app.website_number])]
    websites = ok(call(alice, "GET", "/websites"))["items"]
    assert [(w["number"], w["domains"], w["access_state"], w["at_risk"]) for w in websites] == [
        (app.website_number, ["life.cn"], "active", False)
    ]
    assert ok(call(logged_in(people["charlie"]), "GET", "/websites"))["items"] == []

    history = ok(call(alice, "GET", f"{path}/timeline"))["items"]
    assert [(e["action"], e["actor"]) for e in history] == [
        ("create", "customer"),
        ("submit", "customer"),
        ("claim", "specialist"),
        ("approve", "specialist"),
        ("bureau:awaiting_verification", "bureau"),
        ("bureau:under_review", "bureau"),
        ("bureau:approved", "bureau"),
    ]
    assert history[2]["actor_name"] == "备案专员"
    assert "bob" not in json.dumps(history)  # staff accounts are not shown to customers


def test_my_applications_newest_first_and_filtered_by_state(people, alice, clock):
    first = create(alice, "new_filing", new_filing_data(21, "one.cn"))
    clock.advance(timedelta(minutes=1))
    second = create(alice, "cancel_website", {"website_number": WEBSITE_NUMBER})
    clock.advance(timedelta(minutes=1))
    third = submitted(alice, "new_filing", new_filing_data(22, "three.cn"))
    create(logged_in(people["charlie"]), "new_filing")

    listed = ok(call(alice, "GET", "/applications"))
    assert listed["count"] == 3
    assert [a["id"] for a in listed["items"]] == [third["id"], second["id"], first["id"]]
    drafts = ok(call(alice, "GET", "/applications?state=draft"))
    assert [a["id"] for a in drafts["items"]] == [second["id"], first["id"]]
    assert [a["id"] for a in ok(call(alice, "GET", "/applications?state=submitted"))["items"]] == [third["id"]]
    assert ok(call(alice, "GET", "/applications?limit=1&offset=1"))["items"][0]["id"] == second["id"]


def test_the_review_queue_is_oldest_first(people, alice, bob, clock):
    charlie = logged_in(people["charlie"])
    older = submitted(charlie, "new_filing", new_filing_data(31, "older.cn"))
    clock.advance(timedelta(hours=1))
    newer = submitted(alice, "new_filing", new_filing_data(32, "newer.cn"))
    create(alice, "new_filing")  # a draft is not in the queue
    queue = ok(call(bob, "GET", "/review/queue"))
    assert [i["id"] for i in queue["items"]] == [older["id"], newer["id"]]
    assert queue["count"] == 2


def test_abandon_and_copy(alice):
    draft = create(alice, "new_filing", new_filing_data(41, "given-up.cn"))
    gone = ok(call(alice, "POST", f"/applications/{draft['id']}/abandon"))
    assert gone["state"] == S.ABANDONED
    assert gone["next_step"]["message"] == "申请已放弃"
    problem(call(alice, "POST", f"/applications/{draft['id']}/abandon"), 409)

    copy = ok(call(alice, "POST", f"/applications/{draft['id']}/copy"), 201)
    assert copy["id"] != draft["id"]
    assert (copy["state"], copy["type"], copy["data"]) == (S.DRAFT, "new_filing", draft["data"])
    body = problem(call(alice, "POST", f"/applications/{copy['id']}/copy"), 409)  # a draft is not finished
    assert body["code"] == "transition_not_allowed"


def test_a_rejection_says_to_copy_and_resubmit(alice, bob, bureau):
    app = submitted(alice, "new_filing", new_filing_data(51, "refused.cn"))
    to_state(alice, bob, bureau, app, S.BUREAU_REVIEW)
    decide_at_bureau(bureau, model(app), "reject")
    sync.sync_once(client=bureau)
    rejected = read(alice, app)
    assert rejected["state"] == S.REJECTED
    assert rejected["next_step"]["code"] == "copy_and_resubmit"
    assert "重新提交" in rejected["next_step"]["message"]
    again = ok(call(alice, "POST", f"/applications/{app['id']}/copy"), 201)
    assert again["data"] == model(app).data
    assert ok(call(alice, "POST", f"/applications/{again['id']}/submit"))["state"] == S.SUBMITTED


def test_an_expired_application_says_to_copy_and_resubmit(people, alice):
    app = submitted(alice, "new_filing", new_filing_data(52, "late.cn"))
    Application.objects.filter(pk=app["id"]).update(state=S.AWAITING_VERIFICATION)
    apply(model(app), "bureau:expired", actor="bureau")
    expired = read(alice, app)
    assert expired["state"] == S.EXPIRED
    assert expired["next_step"]["code"] == "copy_and_resubmit"
    assert "短信核验" in expired["next_step"]["message"]


def test_a_provisional_window_is_flagged(alice):
    app = submitted(alice, "new_filing", new_filing_data(53, "window.cn"))
    Application.objects.filter(pk=app["id"]).update(
        state=S.BUREAU_REVIEW,
        window_earliest=date(2026, 12, 28),
        window_latest=date(2027, 1, 25),
        window_provisional=True,
    )
    step = read(alice, app)["next_step"]
    assert step["window"] == {"earliest": "2026-12-28", "latest": "2027-01-25", "calendar_provisional": True}
    assert "2026-12-28 至 2027-01-25" in step["message"]
    assert "尚未公布" in step["message"]


def test_the_catalogue_for_forms(alice):
    catalogue = ok(call(alice, "GET", "/catalogue"))
    assert catalogue["rule_set"] == settings.BEIAN_RULE_SET
    operations = {o["code"]: o for o in catalogue["operations"]}
    assert set(operations) == set(DATA_SCHEMAS)
    assert operations["transfer_in"]["password"] is True
    assert operations["transfer_in"]["serving"] == "from_submission"
    assert (operations["cancel_access"]["name"], operations["cancel_access"]["irreversible"]) == ("取消接入", True)
    assert operations["cancel_access"]["serving"] == "stops_at_submission"
    assert all(o["name"] and o["name_en"] and o["serving_name"] for o in operations.values())
    assert not operations["change_website"]["irreversible"]


def test_my_websites_show_a_shell_as_at_risk(people, alice):
    site = mirror(people["alice"])
    FiledWebsite.objects.filter(pk=site.pk).update(access_state="ended", shell_since="2026-03-01T10:00:00+08:00")
    (shown,) = ok(call(alice, "GET", "/websites"))["items"]
    assert shown["domains"] == ["mirror.cn", "mirror.com.cn"]
    assert (shown["access_state"], shown["at_risk"]) == ("ended", True)
    assert shown["shell_since"].startswith("2026-03-01")


# ---------------------------------------------------------------- bad input


def _draft(alice_client, op_type="new_filing", data=None):
    return create(alice_client, op_type, new_filing_data(61, "bad.cn") if data is None else data)


def _bad_uscc():
    data = new_filing_data(62, "uscc.cn")
    number = data["entity"]["cert_number"]
    data["entity"]["cert_number"] = number[:-1] + ("0" if number[-1] != "0" else "1")
    return data


def _bad_resident_id():
    data = new_filing_data(63, "rid.cn")
    number = data["website"]["principal"]["id_number"]
    data["website"]["principal"] = {
        **data["website"]["principal"],
        "id_number": number[:-1] + ("1" if number[-1] != "1" else "2"),
    }
    return data


# name: (what to set up, method, path under the application or "", raw body, status, fields or code)
BAD_INPUT = {
    "malformed JSON": (None, "POST", "", '{"type": "new_filing",', 400, "malformed_request"),
    "not JSON at all": (None, "POST", "", "type=new_filing", 400, "malformed_request"),
    "unknown type": (None, "POST", "", {"type": "new_flling"}, 422, {"type"}),
    "missing type": (None, "POST", "", {"data": {}}, 422, {"type"}),
    "unknown top-level field": (None, "POST", "", {"type": "new_filing", "colour": "red"}, 422, {"colour"}),
    "unknown field in the data": (
        None,
        "POST",
        "",
        {"type": "new_filing", "data": {"entity": {"colour": "red"}}},
        422,
        {"entity.colour"},
    ),
    "password is not data": (
        None,
        "POST",
        "",
        {"type": "transfer_in", "data": {"filing_password": "secret"}},
        422,
        {"filing_password"},
    ),
    "wrong types": (
        None,
        "POST",
        "",
        {"type": "new_filing", "data": {"entity": {"name": 5}, "website": {"domains": "a.cn"}, "access": []}},
        422,
        {"entity.name", "website.domains", "access"},
    ),
    "a NUL character": (
        None,
        "POST",
        "",
        {"type": "new_filing", "data": {"entity": {"name": "a\x00b"}}},
        422,
        {"entity.name"},
    ),
    "PUT unknown field": ("draft", "PUT", "", {"data": {"website": {"nmae": "x"}}}, 422, {"website.nmae"}),
    "PUT data of another type": (
        "draft",
        "PUT",
        "",
        {"data": {"website_number": WEBSITE_NUMBER}},
        422,
        {"website_number"},
    ),
    "PUT data not an object": ("draft", "PUT", "", {"data": ["x"]}, 422, {"data"}),
    "PUT malformed": ("draft", "PUT", "", "{data:", 400, "malformed_request"),
    "submit wrong type": (
        "draft",
        "POST",
        "/submit",
        {"confirm_irreversible": "perhaps"},
        422,
        {"confirm_irreversible"},
    ),
    "submit unknown field": ("draft", "POST", "/submit", {"password": "x"}, 422, {"password"}),
    "invalid USCC check digit": ("bad_uscc", "POST", "/submit", {}, 422, {"entity.cert_number"}),
    "invalid resident ID check digit": ("bad_resident_id", "POST", "/submit", {}, 422, {"website.principal.id_number"}),
    "incomplete draft": ("empty", "POST", "/submit", {}, 422, {"entity", "website", "access"}),
    "transfer_in without password": ("transfer_in", "POST", "/submit", {}, 422, {"filing_password"}),
    "cancel_access without confirmation": ("cancel_access", "POST", "/submit", {}, 422, {"confirm_irreversible"}),
    "unknown state filter": (None, "GET", "?state=done", None, 422, {"state"}),
    "review decision unknown": ("submitted", "POST", "/review", {"decision": "maybe"}, 422, {"decision"}),
    "review field path malformed": (
        "submitted",
        "POST",
        "/review",
        {"decision": "return", "field_reasons": {"Website Name!": "x"}},
        422,
        {"field_reasons.Website Name!"},
    ),
    "return without a reason": ("submitted", "POST", "/review", {"decision": "return"}, 422, {"reason"}),
    "approval with reasons": (
        "submitted",
        "POST",
        "/review",
        {"decision": "approve", "field_reasons": {"website.name": "x"}},
        422,
        {"field_reasons"},
    ),
}


def _set_up(kind: str | None, people, alice_client) -> dict | None:
    if kind is None:
        return None
    if kind in ("transfer_in", "cancel_access"):
        mirror(people["alice"])
    data = {
        "draft": None,
        "empty": {},
        "submitted": None,
        "bad_uscc": _bad_uscc(),
        "bad_resident_id": _bad_resident_id(),
        "transfer_in": {"website_number": "京ICP备2020000001号-2", "access": {"ips": ["121.40.18.10"]}},
        "cancel_access": {"website_number": WEBSITE_NUMBER},
    }[kind]
    op_type = kind if kind in ("transfer_in", "cancel_access") else "new_filing"
    app = _draft(alice_client, op_type, data)
    if kind == "submitted":
        app = ok(call(alice_client, "POST", f"/applications/{app['id']}/submit", {}))
    return app


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_a_problem_with_field_errors_and_changes_nothing(people, alice, bob, case):
    kind, method, suffix, body, status, expected = BAD_INPUT[case]
    app = _set_up(kind, people, alice)
    client = bob if suffix == "/review" else alice
    path = f"/applications/{app['id']}{suffix}" if app else f"/applications{suffix}"
    raw = body if isinstance(body, str) else None
    content_type = "application/x-www-form-urlencoded" if case == "not JSON at all" else "application/json"
    before = snapshot()

    answer = problem(call(client, method, path, None if raw else body, raw=raw, content_type=content_type), status)

    if isinstance(expected, str):
        assert answer["code"] == expected
    else:
        assert answer["code"] == "validation_failed"
        assert expected <= fields(answer), answer
        assert all(e["message"] and e["message_en"] and e["code"] for e in answer["errors"])
    assert snapshot() == before


def test_an_oversized_body_is_413(alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    before = snapshot()
    body = {"type": "new_filing", "data": {"entity": {"address": "路" * 250}, "website": {"domains": ["a.cn"] * 20}}}
    body["data"]["website"]["home_url"] = "x" * 300
    raw = json.dumps(body, ensure_ascii=False) + " " * 3000
    answer = problem(call(alice, "POST", "/applications", raw=raw), 413)
    assert answer["code"] == "payload_too_large"
    assert snapshot() == before


def test_wrong_state_is_409_and_changes_nothing(alice):
    app = submitted(alice, "new_filing", new_filing_data(64, "busy.cn"))
    before = snapshot()
    for method, suffix, body in (
        ("PUT", "", {"data": new_filing_data(65, "other.cn")}),
        ("POST", "/submit", {}),
        ("POST", "/abandon", None),
    ):
        answer = problem(call(alice, method, f"/applications/{app['id']}{suffix}", body), 409)
        assert answer["code"] == "transition_not_allowed"
    assert snapshot() == before


# ---------------------------------------------------------------- scenarios


def test_s15_a_field_reason_goes_back_to_the_customer_and_the_fix_comes_back(alice, bob):
    data = new_filing_data(71, "s15.cn")
    app = submitted(alice, "new_filing", data)
    path = f"/applications/{app['id']}"
    reason = "网站名称与网站内容不符，请修改"
    returned = ok(
        call(bob, "POST", f"{path}/review", {"decision": "return", "field_reasons": {"website.name": reason}})
    )
    assert returned["state"] == S.RETURNED

    seen = read(alice, app)
    assert seen["state_name"] == "初审驳回待修改"
    assert seen["field_reasons"] == [
        {"field": "website.name", "code": "specialist_reason", "message": reason, "message_en": reason}
    ]
    step = seen["next_step"]
    assert step["code"] == "fix_returned_fields"
    assert step["fields"] == seen["field_reasons"]
    assert "website.name" in step["message"]
    assert reason in step["message"]
    assert ok(call(bob, "GET", "/review/queue"))["items"] == []
    problem(call(alice, "POST", f"{path}/submit", {}), 409)  # fix it first

    data["website"]["name"] = "测试企业官网"
    fixed = ok(call(alice, "PUT", path, {"data": data}))
    assert fixed["state"] == S.DRAFT
    assert fixed["next_step"]["fields"] == seen["field_reasons"]  # still shown until resubmitted
    again = ok(call(alice, "POST", f"{path}/submit", {}))
    assert again["state"] == S.SUBMITTED
    assert again["field_reasons"] == []
    assert again["data"]["website"]["name"] == "测试企业官网"

    history = ok(call(alice, "GET", f"{path}/timeline"))["items"]
    actions = [e["action"] for e in history]
    assert actions == ["create", "submit", "claim", "return", "edit", "submit"]
    (returned_entry,) = [e for e in history if e["action"] == "return"]
    assert [r["field"] for r in returned_entry["field_reasons"]] == ["website.name"]
    assert returned_entry["actor"] == "specialist"
    assert ok(call(bob, "GET", "/review/queue"))["items"][0]["id"] == app["id"]


def test_s08_changing_the_entity_name_and_certificate_warns_but_submits(people, alice):
    mirror(people["alice"])
    changes = {"name": "新名称科技有限公司", "cert_number": "91440300MA5XXXXX0X"}
    app = create(alice, "change_entity", {"entity_number": ENTITY_NUMBER, "entity": changes})
    warned = ok(call(alice, "GET", f"/applications/{app['id']}/warnings"))
    assert [(w["field"], w["code"]) for w in warned["warnings"]] == [
        ("entity.name", "consult_specialist"),
        ("entity.cert_number", "consult_specialist"),
    ]
    assert all("备案专员" in w["message"] and w["message_en"] for w in warned["warnings"])
    assert warned["irreversible"] is False
    sent = ok(call(alice, "POST", f"/applications/{app['id']}/submit", {}))
    assert sent["state"] == S.SUBMITTED


def test_r11_warnings_show_what_stops_being_served(people, alice):
    mirror(people["alice"])
    app = create(alice, "cancel_access", {"website_number": WEBSITE_NUMBER})
    warned = ok(call(alice, "GET", f"/applications/{app['id']}/warnings"))
    assert warned["stops_serving"] == ["mirror.cn", "mirror.com.cn"]
    assert warned["irreversible"] is warned["confirm_required"] is True
    assert [w["code"] for w in warned["warnings"]] == ["irreversible"]
    assert "mirror.cn" in warned["warnings"][0]["message"]
    sent = ok(call(alice, "POST", f"/applications/{app['id']}/submit", {"confirm_irreversible": True}))
    assert (sent["state"], sent["withdrawable"]) == (S.SUBMITTED, False)


WITHDRAW_STAGES = [S.SUBMITTED, S.PROVIDER_REVIEW, S.DELIVERED, S.AWAITING_VERIFICATION, S.BUREAU_REVIEW]


def test_s14_a_change_can_be_withdrawn_until_the_bureau_decides(alice, bob, api_bureau):
    site = filed(alice, bob, api_bureau, 81, "s14-change.cn")["website_number"]
    for n, stage in enumerate(WITHDRAW_STAGES):
        app = submitted(alice, "change_website", {"website_number": site, "website": {"name": f"变更后的网站{n}"}})
        app = to_state(alice, bob, api_bureau, app, stage)
        assert app["withdrawable"] is True, stage
        gone = ok(call(alice, "POST", f"/applications/{app['id']}/withdraw"))
        assert gone["state"] == S.WITHDRAWN, stage
        operation_id = model(app).bureau_operation_id
        if operation_id:  # the bureau held it: withdrawn there too
            assert Operation.objects.get(pk=operation_id).state == "withdrawn"
        if stage == S.DELIVERED:
            assert Delivery.objects.get(application_id=app["id"]).outcome == "cancelled"


def test_s14_cancel_access_cannot_be_withdrawn_once_submitted(alice, bob, api_bureau):
    site = filed(alice, bob, api_bureau, 82, "s14-cancel.cn")["website_number"]
    app = submitted(alice, "cancel_access", {"website_number": site}, confirm_irreversible=True)
    for stage in (S.SUBMITTED, S.PROVIDER_REVIEW, S.DELIVERED, S.BUREAU_REVIEW, S.APPROVED):
        app = to_state(alice, bob, api_bureau, app, stage)
        assert app["withdrawable"] is False
        before = snapshot()
        operation = Operation.objects.filter(pk=model(app).bureau_operation_id).values("state").first()
        refused = problem(call(alice, "POST", f"/applications/{app['id']}/withdraw"), 409)
        assert refused["code"] == "transition_not_allowed", stage
        assert snapshot() == before, stage
        assert Operation.objects.filter(pk=model(app).bureau_operation_id).values("state").first() == operation


# ---------------------------------------------------------------- the OpenAPI document


EXCEL = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_the_openapi_document_lists_every_path(alice):
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    paths = {
        (method.upper(), path.removeprefix("/api/v1")) for path, item in document["paths"].items() for method in item
    }
    assert paths == {
        ("GET", "/applications"),
        ("POST", "/applications"),
        ("GET", "/applications/{application_id}"),
        ("PUT", "/applications/{application_id}"),
        ("GET", "/applications/{application_id}/timeline"),
        ("GET", "/applications/{application_id}/warnings"),
        ("POST", "/applications/{application_id}/submit"),
        ("POST", "/applications/{application_id}/withdraw"),
        ("POST", "/applications/{application_id}/abandon"),
        ("POST", "/applications/{application_id}/copy"),
        ("GET", "/entities"),
        ("GET", "/websites"),
        ("POST", "/applications/discard"),
        ("POST", "/applications/batch"),
        ("GET", "/exports/applications"),
        ("GET", "/exports/websites"),
        ("GET", "/organisations"),
        ("GET", "/review/queue"),
        ("POST", "/applications/{application_id}/claim"),
        ("POST", "/applications/{application_id}/review"),
        ("GET", "/catalogue"),
        ("GET", "/tokens"),
        ("POST", "/tokens"),
        ("POST", "/tokens/{token_id}/revoke"),
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method} {path}"
            assert operation["summary"], where
            assert operation["description"], where
            success = {k: v for k, v in operation["responses"].items() if str(k).startswith("2")}
            assert success, where
            if path.startswith("/api/v1/exports/"):  # a file, CSV or .xlsx
                assert set(success["200"]["content"]) == {"text/csv", EXCEL}, where
            else:
                assert all("$ref" in str(v["content"]) for v in success.values()), where
            for status in ("401", "404") if "{application_id}" in path else ("401",):
                assert "application/problem+json" in operation["responses"][status]["content"], where
            assert operation["security"], where
    assert Client().get("/api/v1/docs").status_code == 200


# ---------------------------------------------------------------- never a 500

_SAMPLE = new_filing_data(90, "sample.cn")
_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            ENTITY_NUMBER,
            WEBSITE_NUMBER,
            "京ICP证030173号",
            "enterprise",
            "individual",
            "uscc",
            "resident_id",
            "passport",
            "44",
            "粤",
            "sample.cn",
            "http://sample.cn/",
            "121.40.18.10",
            "::1",
            _SAMPLE["entity"]["cert_number"],
            _SAMPLE["entity"]["principal"]["id_number"],
            "13800000001",
            "x@example.cn",
        ]
    ),
)
_JUNK = st.one_of(st.integers(), st.none(), st.booleans(), st.lists(st.integers(), max_size=2), st.just({}))


def _values_for(schema) -> st.SearchStrategy:
    """Data of the schema's shape, right or wrong field by field."""
    from pydantic import BaseModel

    optional = {}
    for name, info in schema.model_fields.items():
        nested = [
            a for a in getattr(info.annotation, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if nested:
            right = _values_for(nested[0])
        elif "list" in str(info.annotation):
            right = st.lists(_TEXT, max_size=3)
        else:
            right = _TEXT
        optional[name] = st.one_of(right, right, right, _JUNK)
    return st.fixed_dictionaries({}, optional=optional)


@pytest.mark.parametrize("op_type", OPERATION_CODES)
def test_whatever_the_data_the_answer_is_never_a_500(people, alice, op_type):
    mirror(people["alice"])
    draft = create(alice, op_type)

    @hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=_values_for(DATA_SCHEMAS[op_type]), password=st.one_of(st.none(), _TEXT), confirm=st.booleans())
    def check(data, password, confirm):
        Application.objects.filter(pk=draft["id"]).update(state=S.DRAFT)
        for method, suffix, body in (
            ("POST", "", {"type": op_type, "data": data}),
            ("PUT", f"/{draft['id']}", {"data": data}),
            ("GET", f"/{draft['id']}/warnings", None),
            ("POST", f"/{draft['id']}/submit", {"filing_password": password, "confirm_irreversible": confirm}),
            ("GET", f"/{draft['id']}", None),
        ):
            response = call(alice, method, f"/applications{suffix}", body)
            assert response.status_code < 500, response.content.decode()
            assert response.status_code in (200, 201) or response["Content-Type"] == "application/problem+json"

    check()


def test_a_withdrawal_the_bureau_cannot_hear_is_503_and_changes_nothing(alice, settings):
    settings.BEIAN_BUREAU_URL = "http://127.0.0.1:9/bureau/api/v1"  # nothing listens there
    app = submitted(alice, "new_filing", new_filing_data(91, "unheard.cn"))
    Application.objects.filter(pk=app["id"]).update(
        state=S.AWAITING_VERIFICATION, bureau_operation_id="00000000-0000-4000-8000-000000000091"
    )
    before = snapshot()
    answer = problem(call(alice, "POST", f"/applications/{app['id']}/withdraw"), 503)
    assert answer["code"] == "bureau_unavailable"
    assert snapshot() == before


@pytest.mark.parametrize("op_type", OPERATION_CODES)
def test_the_draft_of_each_type_holds_its_catalogue_sections(op_type):
    from beian.core.catalogue import shape
    from beian.provider.schemas import DATA_SCHEMAS

    assert set(DATA_SCHEMAS[op_type].model_fields) == set(shape(op_type).sections)


def test_the_review_queue_documents_only_the_paging_it_does():
    """Found by schemathesis: the queue documented `cursor` (PageQuery's) and silently ignored it,
    so any value, repeated or not, was accepted; it pages by offset."""
    document = Client().get("/api/v1/openapi.json").json()
    parameters = document["paths"]["/api/v1/review/queue"]["get"]["parameters"]
    assert {p["name"] for p in parameters} == {"limit", "offset"}
