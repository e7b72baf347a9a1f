"""Whatever a client sends, the bureau answers with a 4xx problem document (never a 500) that has a
stable code and, where a field is at fault, the field's path with a message in Chinese and English;
and a refused request changes nothing."""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from beian.bureau import secrets
from beian.bureau.models import Provider
from tests.bureau.conftest import Http
from tests.bureau.test_api_support import assert_problem, new_filing_body, nothing_changes

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SOME_ID = "00000000-0000-4000-8000-000000000000"


def _other_char(value: str, alphabet: str) -> str:
    """The same code with a different (so wrong) check character."""
    return value[:-1] + next(c for c in alphabet if c != value[-1])


def _set(path: str, value):
    def change(body: dict) -> dict:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return body

    return change


def _drop(path: str):
    def change(body: dict) -> dict:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node[key]
        del node[last]
        return body

    return change


def _wrong_check_digit(path: str, alphabet: str):
    def change(body: dict) -> dict:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node[key]
        node[last] = _other_char(node[last], alphabet)
        return body

    return change


# (case, change to a valid new-filing body, field → error code)
SHAPE_CASES = [
    ("number_for_a_string", _set("entity.name", 123), {"entity.name": "string_type"}),
    ("object_for_a_list", _set("website.domains", {"0": "a.cn"}), {"website.domains": "list_type"}),
    ("string_for_an_object", _set("entity.principal", "张三"), {"entity.principal": "model_attributes_type"}),
    ("null_for_a_string", _set("access.ips.0", None), {"access.ips.0": "string_type"}),
    ("missing_nested_field", _drop("entity.principal.mobile"), {"entity.principal.mobile": "missing"}),
    ("missing_section", _drop("access"), {"access": "missing"}),
    ("unknown_top_level_field", _set("comment", "hi"), {"comment": "extra_forbidden"}),
    (
        "unknown_nested_field",
        _set("entity.principal.nickname", "小张"),
        {"entity.principal.nickname": "extra_forbidden"},
    ),
    ("unknown_operation_type", _set("type", "teleport"), {"type": "union_tag_invalid"}),
    ("missing_operation_type", _drop("type"), {"type": "union_tag_not_found"}),
    ("invalid_idempotency_key", _set("idempotency_key", "not-a-uuid"), {"idempotency_key": "uuid_parsing"}),
    ("missing_idempotency_key", _drop("idempotency_key"), {"idempotency_key": "missing"}),
    ("too_long_text", _set("entity.address", "长" * 301), {"entity.address": "string_too_long"}),
    ("too_many_domains", _set("website.domains", [f"d{i}.cn" for i in range(21)]), {"website.domains": "too_long"}),
    ("nul_character", _set("entity.address", "测试路\x00一号"), {"entity.address": "string_nul"}),
]

RULE_CASES = [
    (
        "resident_id_check_digit",
        _wrong_check_digit("entity.principal.id_number", "0123456789X"),
        {"entity.principal.id_number": "resident_id_checksum"},
    ),
    ("uscc_check_digit", _wrong_check_digit("entity.cert_number", USCC_CHARS), {"entity.cert_number": "uscc_checksum"}),
    ("invalid_domain", _set("website.domains", ["exa_mple.cn"]), {"website.domains.0": "domain_idna"}),
    ("public_suffix", _set("website.domains", ["com.cn"]), {"website.domains.0": "domain_public_suffix"}),
    ("ip_as_domain", _set("website.domains", ["121.40.18.1"]), {"website.domains.0": "domain_ip"}),
    ("url_as_domain", _set("website.domains", ["http://example.cn/"]), {"website.domains.0": "domain_url"}),
    ("private_ip", _set("access.ips", ["10.0.0.8"]), {"access.ips.0": "ip_not_public"}),
    ("no_ip", _set("access.ips", []), {"access.ips": "ips_empty"}),
    ("unknown_province", _set("entity.province", "火星"), {"entity.province": "province_unknown"}),
]


@pytest.mark.parametrize(("case", "change", "fields"), SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_malformed_fields_are_named(operator_http, case, change, fields):
    body = change(copy.deepcopy(new_filing_body(201, "shape.cn")))
    with nothing_changes():
        assert_problem(operator_http.post("operations", body), 422, "validation_failed", fields=fields)


@pytest.mark.parametrize(("case", "change", "fields"), RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_field_rules_are_named(operator_http, case, change, fields):
    body = change(copy.deepcopy(new_filing_body(202, "rules.cn")))
    with nothing_changes():
        assert_problem(operator_http.post("operations", body), 422, "validation_failed", fields=fields)


def test_every_wrong_field_is_reported_at_once(operator_http):
    body = new_filing_body(203, "all-at-once.cn")
    body["entity"]["cert_number"] = _other_char(body["entity"]["cert_number"], USCC_CHARS)
    body["website"]["domains"] = ["com.cn"]
    body["access"]["ips"] = ["192.168.1.1"]
    with nothing_changes():
        assert_problem(
            operator_http.post("operations", body),
            422,
            "validation_failed",
            fields={
                "entity.cert_number": "uscc_checksum",
                "website.domains.0": "domain_public_suffix",
                "access.ips.0": "ip_not_public",
            },
        )


def test_malformed_json_is_a_400(operator_http):
    with nothing_changes():
        assert_problem(operator_http.post("operations", '{"type": "new_filing",'), 400, "malformed_request")


@pytest.mark.parametrize("raw", ["[1, 2]", '"new_filing"', "42", "null"], ids=["list", "string", "number", "null"])
def test_json_that_is_not_an_object(operator_http, raw):
    with nothing_changes():
        assert_problem(
            operator_http.post("operations", raw), 422, "validation_failed", fields={"": "model_attributes_type"}
        )


def test_empty_body(operator_http):
    with nothing_changes():
        assert_problem(operator_http.post("operations", ""), 422, "validation_failed", fields={"": "missing"})


def test_oversized_body_is_a_413(operator_http, public_http, settings):
    body = new_filing_body(204, "too-big.cn")
    body["entity"]["address"] = "长" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = json.dumps(body, ensure_ascii=False)
    assert len(raw.encode()) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    with nothing_changes():
        assert_problem(operator_http.post("operations", raw), 413, "payload_too_large")
        assert_problem(public_http.post("verifications", raw), 413, "payload_too_large")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"],
)
def test_non_json_content_type_is_a_415(operator_http, content_type):
    raw = json.dumps(new_filing_body(205, "not-json.cn"))  # valid JSON, but not declared so
    with nothing_changes():
        r = operator_http.client.post(
            "/bureau/api/v1/operations",
            raw,
            content_type=content_type,
            HTTP_AUTHORIZATION=f"Bearer {operator_http.key}",
        )
        assert_problem(r, 415, "unsupported_media_type")


def test_json_with_a_charset_is_json(operator_http):
    r = operator_http.client.post(
        "/bureau/api/v1/operations",
        json.dumps(new_filing_body(206, "charset.cn")),
        content_type="application/json; charset=utf-8",
        HTTP_AUTHORIZATION=f"Bearer {operator_http.key}",
    )
    assert r.status_code == 201, r.content


# ---------------------------------------------------------------- authentication

PROVIDER_ENDPOINTS = [
    ("post", "operations"),
    ("get", f"operations/{SOME_ID}"),
    ("post", f"operations/{SOME_ID}/withdraw"),
    ("get", "events"),
]


def _call(http, method: str, path: str, authorization: str | None):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    url = f"/bureau/api/v1/{path}"
    if method == "post":
        body = json.dumps(new_filing_body(207, "auth.cn"))
        return http.client.post(url, body, content_type="application/json", **headers)
    return http.client.get(url, **headers)


@pytest.mark.parametrize(("method", "path"), PROVIDER_ENDPOINTS, ids=[f"{m} {p}" for m, p in PROVIDER_ENDPOINTS])
@pytest.mark.parametrize(
    "how",
    ["missing", "wrong_secret", "unknown_key_id", "not_bearer", "bearer_without_token", "no_key_id", "nul"],
)
def test_unauthenticated_is_a_401_with_a_challenge(world, public_http, method, path, how):
    key = world.keys["operator"]
    key_id = key.split(".")[0]
    authorization = {
        "missing": None,
        "wrong_secret": f"Bearer {key_id}.not-the-secret",
        "unknown_key_id": f"Bearer 0000000000000000.{key.split('.', 1)[1]}",
        "not_bearer": f"Token {key}",
        "bearer_without_token": "Bearer",
        "no_key_id": "Bearer just-a-secret",
        "nul": f"Bearer {key_id}\x00.x",
    }[how]
    with nothing_changes():
        r = _call(public_http, method, path, authorization)
        assert_problem(r, 401, "unauthorized")
    assert r["WWW-Authenticate"].startswith("Bearer")


def test_deactivated_provider_is_refused(world, operator_http):
    Provider.objects.filter(pk=world.operator.pk).update(active=False)
    with nothing_changes():
        assert_problem(operator_http.post("operations", new_filing_body(208, "inactive.cn")), 401, "unauthorized")


# ---------------------------------------------------------------- paths and queries


def test_operation_id_must_be_a_uuid(operator_http):
    assert_problem(
        operator_http.get("operations/123"), 422, "validation_failed", fields={"operation_id": "uuid_parsing"}
    )
    with nothing_changes():
        assert_problem(
            operator_http.post("operations/not-a-uuid/withdraw", ""),
            422,
            "validation_failed",
            fields={"operation_id": "uuid_parsing"},
        )


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"after": -1}, {"after": "greater_than_equal"}),
        ({"limit": 0}, {"limit": "greater_than_equal"}),
        ({"limit": 5001}, {"limit": "less_than_equal"}),
        ({"after": "x"}, {"after": "int_parsing"}),
        ({"after": 10**30}, {"after": "less_than_equal"}),
    ],
    ids=["after_negative", "limit_zero", "limit_too_large", "after_not_a_number", "after_huge"],
)
def test_events_cursor_and_limit_are_checked(operator_http, params, fields):
    assert_problem(operator_http.get("events", **params), 422, "validation_failed", fields=fields)


def test_withdraw_of_an_unknown_operation_is_not_found(operator_http):
    with nothing_changes():
        assert_problem(operator_http.post(f"operations/{uuid.uuid4()}/withdraw", ""), 404, "not_found")


def test_a_key_issued_as_an_argon2_hash_works_once_by_argon2_and_then_by_its_digest(world, operator_http):
    """DESIGN §9: a provider's key is kept as a keyed digest. A key issued before that (bureau
    migration 0010) is still an Argon2 hash: its first use checks it by Argon2 and keeps its digest."""
    key = world.keys["operator"]
    Provider.objects.filter(pk=world.operator.pk).update(key_digest=secrets.hash_secret(key))
    wrong = Http(operator_http.client, key.split(".")[0] + ".not-the-secret")
    assert_problem(wrong.get("events"), 401, "unauthorized")
    assert Provider.objects.get(pk=world.operator.pk).key_digest.startswith("$argon2")  # a wrong key changes nothing

    assert operator_http.get("events").status_code == 200
    assert Provider.objects.get(pk=world.operator.pk).key_digest == secrets.api_key_digest(key)
    assert operator_http.get("events").status_code == 200


def test_a_key_outlives_a_rotation_of_secret_key_and_is_redigested(world, operator_http, settings):
    key = world.keys["operator"]
    old = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-" + "x" * 40, [old]
    assert operator_http.get("events").status_code == 200
    assert Provider.objects.get(pk=world.operator.pk).key_digest == secrets.api_key_digest(key)
    settings.SECRET_KEY_FALLBACKS = []
    assert operator_http.get("events").status_code == 200
