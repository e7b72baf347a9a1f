"""Helpers shared by the HTTP tests of the bureau's API (test_api_*.py); no tests of its own.

(Named test_api_* only because the HTTP tests own that name; conftest.py belongs to others.)"""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager

from beian.bureau.models import Access, AuditRecord, Entity, Event, Operation, Verification, Website
from tests.bureau.conftest import CODE, Http, enterprise, person, website

PROBLEM = "application/problem+json"
CJK = re.compile(r"[\u4e00-\u9fff]")
COUNTED = {
    "operations": Operation,
    "entities": Entity,
    "websites": Website,
    "accesses": Access,
    "events": Event,
    "audit": AuditRecord,
}


def counts() -> dict[str, int]:
    return {name: model.objects.count() for name, model in COUNTED.items()}


@contextmanager
def nothing_changes(**allowed: int):
    """No Operation/Entity/Website/Access/Event/AuditRecord row appears while the block runs
    (`allowed` names the rows a refusal writes on purpose, e.g. `audit=1` for a wrong password)."""
    before = counts()
    yield
    after = counts()
    expected = {name: before[name] + allowed.get(name, 0) for name in before}
    assert after == expected, f"rows changed: before {before}, after {after}"


def assert_problem(response, status: int, code: str, *, fields: dict[str, str] | None = None) -> dict:
    """A problem document (RFC 9457) with a stable code; `fields` maps each field at fault to its
    error code, and every field error speaks Chinese and English."""
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"].split(";")[0] == PROBLEM
    body = response.json()
    assert body["code"] == code
    assert body["type"] == f"urn:beian:error:{code}"
    assert body["status"] == status
    assert CJK.search(body["title"])
    assert CJK.search(body["detail"])
    assert body["title_en"]
    assert body["detail_en"]
    if fields is not None:
        found = {e["field"]: e["code"] for e in body.get("errors", [])}
        assert found == fields, body
        for e in body["errors"]:
            assert CJK.search(e["message"]), e
            assert re.search("[A-Za-z]{3}", e["message_en"]), e
    return body


def new_filing_body(n: int, domain: str, *, domains: list[str] | None = None, **over) -> dict:
    site = website(domain, principal=person(n), name=f"测试网站{n}号")  # equal to, not the same dict as, …
    if domains:
        site["domains"] = domains
    body = {
        "idempotency_key": str(uuid.uuid4()),
        "type": "new_filing",
        "entity": enterprise(n, principal=person(n)),  # … the entity's principal, so a test may change one
        "website": site,
        "access": {"ips": ["121.40.18.10"]},
    }
    body.update(over)
    return body


def op_body(op_type: str, **fields) -> dict:
    return {"idempotency_key": str(uuid.uuid4()), "type": op_type, **fields}


def latest_code(http: Http, operation_id: str, mobile: str) -> str:
    """The last code the phone received for this operation, read from the simulation's sandbox."""
    texts = [m["body"] for m in http.sim_get("messages", to=mobile).json()["messages"]]
    codes = [CODE.search(t).group(1) for t in texts if operation_id in t and CODE.search(t)]
    assert codes, f"{mobile} received no code for {operation_id}"
    return codes[-1]


def confirm_all(http: Http, operation_id: str) -> dict:
    """Every principal who must verify confirms the code their phone received (over HTTP; who
    they are is read from the bureau, as the principals would know it themselves)."""
    last = None
    for ver in Verification.objects.filter(operation_id=operation_id).order_by("pk"):
        r = http.post(
            "verifications",
            {
                "operation": operation_id,
                "mobile": ver.mobile,
                "id_last6": ver.id_last6,
                "code": latest_code(http, operation_id, ver.mobile),
            },
        )
        assert r.status_code == 200, r.content
        assert r.json()["verified"] is True
        last = r.json()
    return last


def force(http: Http, operation_id: str, decision: str = "approve", **extra) -> dict:
    r = http.sim_post("decisions", {"operation": operation_id, "decision": decision, **extra})
    assert r.status_code == 200, r.content
    return r.json()


def approve_over_http(provider: Http, public: Http, operation_id: str) -> dict:
    """Verify (where the operation waits for it), force an approval, and read the operation back."""
    state = provider.get(f"operations/{operation_id}").json()["state"]
    if state == "awaiting_verification":
        confirm_all(public, operation_id)
        assert provider.get(f"operations/{operation_id}").json()["state"] == "under_review"
    force(public, operation_id)
    r = provider.get(f"operations/{operation_id}")
    assert r.status_code == 200, r.content
    return r.json()


def events_of(provider: Http, *, after: int = 0) -> list[dict]:
    r = provider.get("events", after=after, limit=1000)
    assert r.status_code == 200, r.content
    return r.json()["events"]


def messages_to(http: Http, to: str) -> list[str]:
    return [m["body"] for m in http.sim_get("messages", to=to).json()["messages"]]
