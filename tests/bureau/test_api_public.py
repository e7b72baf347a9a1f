"""The public side of the bureau's API over HTTP: SMS verification, password recovery, the public
query and its rate limit, the reference data, and the OpenAPI document."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from beian.bureau.models import Entity, Verification
from tests.bureau.conftest import PASSWORD
from tests.bureau.test_api_support import (
    assert_problem,
    events_of,
    latest_code,
    messages_to,
    new_filing_body,
    nothing_changes,
)

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

NINE = [
    "NewFilingIn",
    "NewWebsiteIn",
    "TransferInIn",
    "ChangeEntityIn",
    "ChangeWebsiteIn",
    "ChangeAccessIn",
    "CancelEntityIn",
    "CancelWebsiteIn",
    "CancelAccessIn",
]


def _awaiting(operator_http, n: int, domain: str) -> tuple[dict, dict]:
    """A new filing waiting for its one principal (entity and website principal are one person)."""
    body = new_filing_body(n, domain)
    r = operator_http.post("operations", body)
    assert r.status_code == 201, r.content
    op = r.json()
    assert Verification.objects.filter(operation_id=op["id"]).count() == 1
    return op, body["entity"]["principal"]


def _confirm(public_http, op_id: str, principal: dict, code: str, **over):
    payload = {"operation": op_id, "mobile": principal["mobile"], "id_last6": principal["id_number"][-6:], "code": code}
    payload.update(over)
    return public_http.post("verifications", payload)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# ---------------------------------------------------------------- verifications


def test_verification_starts_review(operator_http, public_http):
    op, principal = _awaiting(operator_http, 301, "verify-ok.cn")
    code = latest_code(public_http, op["id"], principal["mobile"])
    r = _confirm(public_http, op["id"], principal, code)
    assert r.status_code == 200, r.content
    assert r.json() == {"verified": True, "code": "verified", "attempts_left": 6, "review_started": True}
    assert operator_http.get(f"operations/{op['id']}").json()["state"] == "under_review"

    # Nothing is left to verify: a second confirmation is refused, not counted.
    with nothing_changes():
        assert_problem(_confirm(public_http, op["id"], principal, code), 409, "transition_not_allowed")


def test_verification_accepts_lower_case_x_and_spaces(operator_http, public_http):
    op, principal = _awaiting(operator_http, 302, "verify-trim.cn")
    code = latest_code(public_http, op["id"], principal["mobile"])
    r = _confirm(
        public_http,
        op["id"],
        principal,
        f" {code} ",
        mobile=f" {principal['mobile']} ",
        id_last6=principal["id_number"][-6:].lower(),
    )
    assert r.status_code == 200, r.content
    assert r.json()["verified"] is True


def test_sixth_wrong_code_returns_the_operation(operator_http, public_http):
    op, principal = _awaiting(operator_http, 303, "verify-wrong.cn")
    code = latest_code(public_http, op["id"], principal["mobile"])
    left = []
    for _ in range(5):
        with nothing_changes():
            r = _confirm(public_http, op["id"], principal, _wrong(code))
        assert r.status_code == 200, r.content
        assert (r.json()["verified"], r.json()["code"]) == (False, "code_wrong")
        left.append(r.json()["attempts_left"])
    assert left == [5, 4, 3, 2, 1]

    r = _confirm(public_http, op["id"], principal, _wrong(code))
    assert r.json() == {"verified": False, "code": "returned", "attempts_left": 0, "review_started": False}
    done = operator_http.get(f"operations/{op['id']}").json()
    assert (done["state"], done["reason_code"]) == ("expired", "verification_attempts_exhausted")
    assert events_of(operator_http)[-1]["data"]["state"] == "expired"

    # Too late for the right code; the entity and domain are free for a new submission.
    assert_problem(_confirm(public_http, op["id"], principal, code), 409, "transition_not_allowed")
    r = operator_http.post("operations", new_filing_body(303, "verify-wrong.cn"))
    assert r.status_code == 201, r.content


@pytest.mark.parametrize("wrong", ["mobile", "id_last6", "operation"])
def test_verification_mismatch_does_not_say_which_part(operator_http, public_http, wrong):
    op, principal = _awaiting(operator_http, 304, "verify-who.cn")
    code = latest_code(public_http, op["id"], principal["mobile"])
    change = {
        "mobile": {"mobile": "13999999999"},
        "id_last6": {"id_last6": "00000X" if principal["id_number"][-6:] != "00000X" else "00000Y"},
        "operation": {"operation": "00000000-0000-4000-8000-000000000000"},
    }[wrong]
    with nothing_changes():
        body = assert_problem(_confirm(public_http, op["id"], principal, code, **change), 404, "not_found")
    assert body["detail_en"] == "No pending verification matches this mobile number and ID"
    assert "errors" not in body  # no field is singled out
    assert Verification.objects.get(operation_id=op["id"]).wrong_attempts == 0


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"operation": "x", "mobile": "1", "id_last6": "1", "code": "1"}, {"operation": "uuid_parsing"}),
        ({"operation": "00000000-0000-4000-8000-000000000000", "mobile": "1", "id_last6": "1"}, {"code": "missing"}),
        (
            {"operation": "00000000-0000-4000-8000-000000000000", "mobile": 1, "id_last6": "1", "code": "1"},
            {"mobile": "string_type"},
        ),
        (
            {
                "operation": "00000000-0000-4000-8000-000000000000",
                "mobile": "1",
                "id_last6": "1",
                "code": "1",
                "name": "x",
            },
            {"name": "extra_forbidden"},
        ),
    ],
    ids=["operation_not_uuid", "code_missing", "mobile_not_string", "unknown_field"],
)
def test_verification_bad_input(public_http, payload, fields):
    with nothing_changes():
        assert_problem(public_http.post("verifications", payload), 422, "validation_failed", fields=fields)


def test_resend_sends_a_new_code_that_works(operator_http, public_http):
    op, principal = _awaiting(operator_http, 305, "resend.cn")
    before = len(messages_to(public_http, principal["mobile"]))
    r = public_http.post("verifications/resend", {"operation": op["id"], "mobile": principal["mobile"]})
    assert r.status_code == 200, r.content
    assert r.json() == {"message": "新的核验码已发送", "message_en": "A new code has been sent"}
    assert len(messages_to(public_http, principal["mobile"])) == before + 1
    code = latest_code(public_http, op["id"], principal["mobile"])
    assert _confirm(public_http, op["id"], principal, code).json()["verified"] is True


def test_resend_is_limited_and_unknown_numbers_are_not_found(operator_http, public_http):
    op, principal = _awaiting(operator_http, 306, "resend-limit.cn")
    with nothing_changes():
        assert_problem(
            public_http.post("verifications/resend", {"operation": op["id"], "mobile": "13999999999"}),
            404,
            "not_found",
        )
    for _ in range(4):  # five codes in all, counting the first
        r = public_http.post("verifications/resend", {"operation": op["id"], "mobile": principal["mobile"]})
        assert r.status_code == 200, r.content
    assert_problem(
        public_http.post("verifications/resend", {"operation": op["id"], "mobile": principal["mobile"]}),
        429,
        "rate_limited",
    )
    assert_problem(
        public_http.post("verifications/resend", {"operation": "nope", "mobile": principal["mobile"]}),
        422,
        "validation_failed",
        fields={"operation": "uuid_parsing"},
    )


# ---------------------------------------------------------------- password recovery


def test_s05_recovery_answers_the_same_and_sends_only_on_a_match(world, public_http):
    filed = world.file("s05-recover.cn")
    entity = filed.entity
    old_hash = entity.password_hash
    phone, mail = entity.principal_mobile, entity.principal_email
    sent = (len(messages_to(public_http, phone)), len(messages_to(public_http, mail)))

    mismatches = [
        {"province": "33", "entity_number": entity.number, "cert_number": entity.cert_number},
        {"province": "44", "entity_number": entity.number, "cert_number": "91440300MA00000000"},
        {"province": "44", "entity_number": "粤ICP备2026999999号", "cert_number": entity.cert_number},
        {"province": "火星", "entity_number": "不是备案号", "cert_number": ""},
    ]
    answers = []
    for payload in mismatches:
        r = public_http.post("password-recoveries", payload)
        assert r.status_code == 200, r.content
        answers.append(r.content)
    assert (len(messages_to(public_http, phone)), len(messages_to(public_http, mail))) == sent
    assert Entity.objects.get(pk=entity.pk).password_hash == old_hash

    r = public_http.post(
        "password-recoveries",
        {"province": "广东", "entity_number": entity.number, "cert_number": entity.cert_number.lower()},
    )
    assert r.status_code == 200
    assert set(answers) == {r.content}  # one answer whether or not it matched
    assert "如信息匹配" in r.json()["message"]
    assert (len(messages_to(public_http, phone)), len(messages_to(public_http, mail))) == (sent[0] + 1, sent[1] + 1)
    assert PASSWORD.search(messages_to(public_http, phone)[-1])
    assert Entity.objects.get(pk=entity.pk).password_hash != old_hash


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"province": "44", "entity_number": "x"}, {"cert_number": "missing"}),
        ({"province": 44, "entity_number": "x", "cert_number": "y"}, {"province": "string_type"}),
        ({"province": "44", "entity_number": "x", "cert_number": "y", "mobile": "z"}, {"mobile": "extra_forbidden"}),
    ],
    ids=["missing", "wrong_type", "unknown_field"],
)
def test_recovery_bad_input(public_http, payload, fields):
    with nothing_changes():
        assert_problem(public_http.post("password-recoveries", payload), 422, "validation_failed", fields=fields)


# ---------------------------------------------------------------- public query


def test_query_by_domain_number_and_name_shows_public_fields_only(world, public_http):
    filed = world.file("public-q.cn")
    entity, site = filed.entity, filed.website
    for params in (
        {"domain": "www.public-q.cn"},
        {"domain": "PUBLIC-Q.CN"},
        {"number": site.number},
        {"number": entity.number},
        {"name": entity.name[:6]},
    ):
        r = public_http.get("query", **params)
        assert r.status_code == 200, r.content
        results = r.json()["results"]
        assert [x["website_number"] for x in results] == [site.number], params
    record = results[0]
    assert record["entity_name"] == entity.name
    assert record["domains"] == ["public-q.cn"]
    assert record["access_limited"] is False
    text = json.dumps(record, ensure_ascii=False)
    for private in (entity.cert_number, entity.principal_mobile, entity.principal_email, entity.address):
        assert private not in text


@pytest.mark.parametrize(
    "params", [{"domain": "nobody-filed.cn"}, {"domain": "::::"}, {"number": "ICP"}, {"name": "x"}]
)
def test_query_finds_nothing_without_error(world, public_http, params):
    r = public_http.get("query", **params)
    assert r.status_code == 200, r.content
    assert r.json() == {"results": [], "next": None}


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({}, None),
        ({"domain": "a.cn", "number": "粤ICP备2026000001号"}, None),
        ({"domain": "", "name": ""}, None),
        ({"name": "长" * 301}, {"name": "string_too_long"}),
        ({"domain": "a" * 5000 + ".cn"}, {"domain": "string_too_long"}),
        ({"name": "ab\x00cd"}, {"name": "string_nul"}),
    ],
    ids=["none", "two", "empty", "long_name", "very_long_domain", "nul"],
)
def test_query_wants_exactly_one_reasonable_value(world, public_http, params, fields):
    body = assert_problem(public_http.get("query", **params), 422, "validation_failed", fields=fields)
    if fields is None:
        assert "domain" in body["detail_en"]
        assert "exactly one" in body["detail_en"]


def test_query_is_rate_limited_per_client(world, public_http, settings, sim_clock):
    settings.BEIAN_PUBLIC_RATE_PER_MINUTE = 3
    for _ in range(3):
        assert public_http.get("query", domain="rate.cn").status_code == 200
    r = public_http.get("query", domain="rate.cn")
    assert_problem(r, 429, "rate_limited")
    assert 0 < int(r["Retry-After"]) <= 60

    # Another client is not held back, and the next minute this one may ask again.
    other = public_http.client.get("/bureau/api/v1/query", {"domain": "rate.cn"}, REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 200
    sim_clock.advance(timedelta(seconds=int(r["Retry-After"])))
    assert public_http.get("query", domain="rate.cn").status_code == 200


def test_recovery_is_rate_limited(world, public_http, settings):
    settings.BEIAN_PUBLIC_RATE_PER_MINUTE = 2
    payload = {"province": "44", "entity_number": "粤ICP备2026000001号", "cert_number": "x"}
    assert public_http.post("password-recoveries", payload).status_code == 200
    assert public_http.post("password-recoveries", payload).status_code == 200
    assert_problem(public_http.post("password-recoveries", payload), 429, "rate_limited")


# ---------------------------------------------------------------- reference data and documents


def test_provinces_list_their_rules(public_http):
    r = public_http.get("provinces")
    assert r.status_code == 200
    by_code = {p["code"]: p for p in r.json()["provinces"]}
    assert len(by_code) >= 31
    assert (by_code["44"]["short"], by_code["44"]["online_recovery_only"]) == ("粤", True)
    assert by_code["33"]["review_limit_days"] == 30


def test_catalogue_lists_the_nine_operations(public_http):
    r = public_http.get("catalogue")
    assert r.status_code == 200
    catalogue = r.json()
    assert catalogue["rule_set"] == "faq"
    ops = {o["code"]: o for o in catalogue["operations"]}
    assert set(ops) == {
        "new_filing",
        "new_website",
        "transfer_in",
        "change_entity",
        "change_website",
        "change_access",
        "cancel_entity",
        "cancel_website",
        "cancel_access",
    }
    assert ops["cancel_access"]["irreversible"]
    assert not ops["change_website"]["irreversible"]
    assert ops["transfer_in"]["password"]
    assert not ops["new_filing"]["password"]


def test_openapi_document_lists_every_path_and_the_nine_bodies(public_http):
    r = public_http.client.get("/bureau/api/v1/openapi.json")
    assert r.status_code == 200
    doc = json.loads(r.content)
    assert doc["openapi"].startswith("3.")
    prefix = "/bureau/api/v1"
    assert {
        f"{prefix}/operations": {"post"},
        f"{prefix}/operations/{{operation_id}}": {"get"},
        f"{prefix}/operations/{{operation_id}}/withdraw": {"post"},
        f"{prefix}/events": {"get"},
        f"{prefix}/claims": {"post"},
        f"{prefix}/claims/{{claim_id}}/confirm": {"post"},
        f"{prefix}/verifications": {"post"},
        f"{prefix}/verifications/resend": {"post"},
        f"{prefix}/password-recoveries": {"post"},
        f"{prefix}/query": {"get"},
        f"{prefix}/provinces": {"get"},
        f"{prefix}/catalogue": {"get"},
    } == {path: set(methods) for path, methods in doc["paths"].items()}
    schemas = doc["components"]["schemas"]
    assert set(NINE) <= set(schemas)
    body = doc["paths"][f"{prefix}/operations"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert sorted(ref["$ref"].rsplit("/", 1)[1] for ref in body["oneOf"]) == sorted(NINE)
    assert body["discriminator"]["propertyName"] == "type"
    for name in NINE:
        assert "idempotency_key" in schemas[name]["required"]
    # Problems are documented with the operations that return them.
    responses = doc["paths"][f"{prefix}/operations"]["post"]["responses"]
    assert {"201", "401", "409", "413", "422", "503"} <= set(responses)


def test_docs_page_points_at_the_document(public_http):
    r = public_http.client.get("/bureau/api/v1/docs")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/html")
    assert b"/bureau/api/v1/openapi.json" in r.content


def test_openapi_document_says_errors_are_problem_documents_and_every_answer_has_a_schema(public_http):
    """Found by schemathesis (tests/test_fuzz_apis.py): the document called every 4xx
    `application/json`, the API answers `application/problem+json`; /provinces and /catalogue had
    no schema for their answer."""
    doc = json.loads(public_http.client.get("/bureau/api/v1/openapi.json").content)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                kinds = set(response.get("content", {}))
                if status[0] in "45":
                    assert kinds == {"application/problem+json"}, (method, path, status)
                else:
                    assert kinds == {"application/json"}, (method, path, status)
                    assert response["content"]["application/json"].get("schema"), (method, path, status)
    r = public_http.client.get("/bureau/api/v1/provinces")
    assert r.status_code == 200
    assert r["Content-Type"] == "application/json; charset=utf-8"
