"""S01 at the bureau level, over HTTP: a provider submits a new filing, both principals confirm the
codes their phones received, the bureau approves, and numbers and password messages are right."""

import re
import uuid

import pytest

from tests.bureau.conftest import CODE, PASSWORD, enterprise, person, website

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def test_s01_new_filing_over_http(operator_http, public_http, sim_clock):
    entity_principal, website_principal = person(1, mobile="13800000001"), person(2, mobile="13800000002")
    key = str(uuid.uuid4())
    body = {
        "idempotency_key": key,
        "type": "new_filing",
        "entity": enterprise(1, province="44", principal=entity_principal),
        "website": website("example-s01.cn", principal=website_principal, name="示例一号站"),
        "access": {"ips": ["121.40.18.1"]},
    }
    r = operator_http.post("operations", body)
    assert r.status_code == 201, r.content
    op = r.json()
    assert op["state"] == "awaiting_verification"
    assert op["verification_deadline"]

    # A retried delivery with the same key returns the same operation, not a second one.
    again = operator_http.post("operations", body)
    assert again.status_code == 200
    assert again.json()["id"] == op["id"]

    for p in (entity_principal, website_principal):
        texts = public_http.sim_get("messages", to=p["mobile"]).json()["messages"]
        code = CODE.search(texts[-1]["body"]).group(1)
        assert op["id"] in texts[-1]["body"]  # the SMS links the verification page of this operation
        r = public_http.post(
            "verifications",
            {"operation": op["id"], "mobile": p["mobile"], "id_last6": p["id_number"][-6:], "code": code},
        )
        assert r.status_code == 200, r.content
        assert r.json()["verified"] is True

    op = operator_http.get(f"operations/{op['id']}").json()
    assert op["state"] == "under_review"
    assert op["window"]["earliest"] <= op["window"]["latest"]

    r = public_http.sim_post("decisions", {"operation": op["id"], "decision": "approve"})
    assert r.status_code == 200, r.content

    op = operator_http.get(f"operations/{op['id']}").json()
    assert op["state"] == "approved"
    assert re.fullmatch(r"粤ICP备2026\d{6}号", op["entity_number"])
    assert op["website_number"] == op["entity_number"] + "-1"

    # R2: the filing password reaches the entity principal by SMS and by email.
    sms = [
        m
        for m in public_http.sim_get("messages", to=entity_principal["mobile"]).json()["messages"]
        if PASSWORD.search(m["body"])
    ]
    mail = [
        m
        for m in public_http.sim_get("messages", to=entity_principal["email"]).json()["messages"]
        if PASSWORD.search(m["body"])
    ]
    assert len(sms) == 1
    assert len(mail) == 1
    assert PASSWORD.search(sms[0]["body"]).group(1) == PASSWORD.search(mail[0]["body"]).group(1)
    assert op["entity_number"] in sms[0]["body"]

    # The public query shows the filing, public fields only.
    found = public_http.get("query", domain="www.example-s01.cn").json()["results"]
    assert [f["website_number"] for f in found] == [op["website_number"]]
    assert entity_principal["mobile"] not in str(found)
    assert body["entity"]["cert_number"] not in str(found)

    # The provider's feed tells the whole story, in order.
    events = operator_http.get("events", after=0).json()["events"]
    states = [e["data"]["state"] for e in events if e["kind"] == "operation.updated"]
    assert states == ["awaiting_verification", "under_review", "approved"]
    website_events = [e for e in events if e["kind"] == "website.updated"]
    assert website_events[-1]["data"]["domains"] == ["example-s01.cn"]
    assert website_events[-1]["data"]["access"]["state"] == "active"
