"""The HTTP edge that the bureau's and the provider's JSON APIs share: JSON in (and only JSON),
readable JSON out, and every error as a problem document (`application/problem+json`, RFC 9457)
with a stable code and field-level messages in Chinese and English.

Neutral ground: it knows django, ninja, pydantic and `beian.core`, never either side. Each side
passes in what differs — its error class (a `beian.core.errors.Problem`), its discriminator tags,
how its union type is named, its authentication scheme — see `install_problem_handlers`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass
from typing import Annotated

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.renderers import JSONRenderer
from pydantic import AfterValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from beian.core.errors import FieldError, Problem, ValidationFailed

# ---------------------------------------------------------------- request shapes


def no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text or jsonb: refuse it here as a field error, not a 500 there.
    if "\x00" in value:
        raise PydanticCustomError("string_nul", "NUL characters are not allowed")
    return value


def text(max_length: int):
    """A string of at most `max_length` characters and no NUL."""
    return Annotated[str, Field(max_length=max_length), AfterValidator(no_nul)]


Text = text(300)
LongText = text(1000)


# Unknown fields are refused: a typo is an error, not a silently dropped value.
class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


# A problem document (no docstring: it would become the schema's description in the OpenAPI
# document). A side may narrow `errors` to its own schema of a field error.
class ProblemOut(Schema):
    type: str
    code: str
    title: str
    title_en: str
    status: int
    detail: str
    detail_en: str
    errors: list[dict] | None = None


class ProblemAPI(NinjaAPI):
    """A NinjaAPI whose OpenAPI document says what its errors are (ninja documents every response
    as `application/json`, but each 4xx and 5xx of these APIs is `application/problem+json`), and
    is made once per process: the document is derived from the routes alone, which are fixed once
    the module is loaded, and deriving it costs about a second of CPU (pydantic walks every
    schema), while /openapi.json is public. Kept per prefix and language, and copied out."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._openapi_documents: dict[tuple, dict] = {}

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict | None = None):
        key = (path_prefix, tuple(sorted((path_params or {}).items())), translation.get_language())
        if key not in self._openapi_documents:
            made = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
            self._openapi_documents[key] = self._problem_documents(dict(made))  # without its back-reference
        return deepcopy(self._openapi_documents[key])

    @staticmethod
    def _problem_documents(schema: dict) -> dict:
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content") or {}
                    if str(status)[:1] in "45" and "application/json" in content:
                        response["content"] = {"application/problem+json": content["application/json"]}
        return schema


# ---------------------------------------------------------------- shape errors

# pydantic error type → (中文, English) for the field-level messages of a malformed request.
SHAPE_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("必填项", "This field is required"),
    "extra_forbidden": ("不允许的字段", "Unknown field"),
    "string_type": ("应为文本", "Must be a string"),
    "string_too_long": ("内容过长", "Too long"),
    "string_pattern_mismatch": ("格式不正确", "Invalid format"),
    "list_type": ("应为列表", "Must be a list"),
    "too_long": ("条目过多", "Too many items"),
    "too_short": ("条目过少", "Too few items"),
    "model_type": ("应为对象", "Must be an object"),
    "model_attributes_type": ("应为对象", "Must be an object"),
    "dict_type": ("应为对象", "Must be an object"),
    "uuid_parsing": ("应为 UUID", "Must be a UUID"),
    "uuid_type": ("应为 UUID", "Must be a UUID"),
    "bool_type": ("应为 true 或 false", "Must be true or false"),
    "bool_parsing": ("应为 true 或 false", "Must be true or false"),
    "int_type": ("应为整数", "Must be an integer"),
    "int_parsing": ("应为整数", "Must be an integer"),
    "greater_than_equal": ("数值过小", "Too small"),
    "less_than_equal": ("数值过大", "Too large"),
    "literal_error": ("取值不在允许范围内", "Not one of the allowed values"),
    "enum": ("取值不在允许范围内", "Not one of the allowed values"),
    "json_invalid": ("不是有效的 JSON", "Not valid JSON"),
    "string_nul": ("不能包含 NUL 控制字符", "Must not contain NUL characters"),
    "string_unicode": ("包含无效的字符", "Contains invalid characters"),
}
DEFAULT_SHAPE = ("格式不正确", "Invalid value")
_UNION_TAG = frozenset({"union_tag_invalid", "union_tag_not_found"})
DICT_KEY = "[key]"  # pydantic's location of an error in a dict's key rather than its value


@dataclass(frozen=True)
class Shapes:
    """How one API reports a request of the wrong shape, field by field.

    `tag` and `tag_en` name what the `type` discriminator chooses ("操作类型", "operation type");
    `skip` are location parts that are no field (the discriminator's values); `unwrap` is a
    container whose fields are named without it (the provider's `data`)."""

    tag: str
    tag_en: str
    skip: frozenset[str] = frozenset()
    unwrap: str | None = None

    def message(self, kind: str) -> tuple[str, str]:
        if kind == "union_tag_invalid":
            return f"未知的{self.tag}", f"Unknown {self.tag_en}"
        if kind == "union_tag_not_found":
            return f"缺少{self.tag} type", f"The {self.tag_en} is missing"
        return SHAPE_MESSAGES.get(kind, DEFAULT_SHAPE)

    def field_path(self, loc: Iterable) -> str:
        """("body", "payload", "new_filing", "entity", "principal", "mobile") → "entity.principal.mobile"."""
        parts = [str(p) for p in loc]
        if parts and parts[0] in {"body", "query", "path"}:
            parts = parts[2:] if len(parts) > 1 and parts[1] in {"payload", "body"} else parts[1:]
        parts = [p for p in parts if p not in self.skip]
        if self.unwrap and len(parts) > 1 and parts[0] == self.unwrap:
            parts = parts[1:]
        return ".".join(parts)

    def errors(self, errors: list[dict], *, prefix: str = "") -> list[FieldError]:
        """pydantic's (or ninja's) errors as field errors."""
        out = []
        for e in errors:
            kind = e.get("type", "invalid")
            message, message_en = self.message(kind)
            path = self.field_path(e.get("loc", ()))
            if prefix:
                path = f"{prefix}.{path}" if path else prefix
            if kind in _UNION_TAG:
                # pydantic puts a bad or missing discriminator on the union itself; the field at fault is `type`.
                path = f"{path}.type" if path else "type"
            out.append(FieldError(path, kind, message, message_en))
        return out


# ---------------------------------------------------------------- JSON in, JSON out


class NotJSON(ValueError):
    """A body that is not declared JSON."""


class JSONOnly(Parser):
    """A body must be declared JSON (`application/json` or a `+json` type): a form post, or text that
    happens to parse as JSON, is refused rather than guessed at (it is also what a cross-site form
    would send)."""

    def parse_body(self, request: HttpRequest):
        content_type = (request.content_type or "").lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise NotJSON(content_type)
        return super().parse_body(request)


class ReadableJSON(JSONRenderer):
    """Chinese stays Chinese in the responses."""

    json_dumps_params = {"ensure_ascii": False}


def problem_response(problem: Problem) -> HttpResponse:
    response = HttpResponse(
        json.dumps(problem.problem(), ensure_ascii=False),
        status=problem.status,
        content_type="application/problem+json",
    )
    if problem.retry_after is not None:
        response["Retry-After"] = str(problem.retry_after)
    return response


def refusal(error: type[Problem], exc: Problem | ValidationFailed) -> HttpResponse:
    """The problem document of a side's own refusal or of its field errors, as its API answers them
    (and as a handler outside ninja must, beian/bureau/query_handler.py)."""
    if isinstance(exc, ValidationFailed):
        return problem_response(error("validation_failed", errors=exc.errors))
    return problem_response(exc)


def invalid_json(error: type[Problem]) -> Problem:
    return error("malformed_request", detail="请求体不是有效的 JSON", detail_en="The body is not valid JSON")


def install_problem_handlers(
    api: NinjaAPI,
    error: type[Problem],
    *,
    shapes: Shapes,
    www_authenticate: str,
    not_json: Callable[[], Problem],
    http_codes: Mapping[int, str],
    unparseable: Callable[[], Problem] | None = None,
    path_not_found: bool = False,
) -> None:
    """Every error of `api` as a problem document of `error`'s codes, which must include
    malformed_request, unauthorized, payload_too_large and validation_failed (and not_found with
    `path_not_found`).

    `not_json`: what a body not declared JSON is; `http_codes`: ninja's other HTTP errors by status
    (malformed_request for the rest); `unparseable`: a 400 (a body that does not parse), if not
    simply malformed_request; `path_not_found`: a malformed path parameter names nothing (404)
    rather than being a field error."""

    def _own(request, exc: Problem):
        return problem_response(exc)

    def _invalid(request, exc: ValidationFailed):
        return refusal(error, exc)

    def _shape(request, exc: NinjaValidationError):
        if path_not_found and any(tuple(e.get("loc", ()))[:1] == ("path",) for e in exc.errors):
            return problem_response(error("not_found"))  # /things/not-a-uuid names nothing
        errors = shapes.errors(exc.errors)
        if any(e.code == "json_invalid" for e in errors):
            return problem_response(invalid_json(error))
        return problem_response(error("validation_failed", errors=errors))

    def _unauthenticated(request, exc):
        response = problem_response(error("unauthorized"))
        response["WWW-Authenticate"] = www_authenticate
        return response

    def _too_big(request, exc):
        return problem_response(error("payload_too_large"))

    def _http(request, exc: HttpError):
        if isinstance(exc.__cause__, NotJSON):  # ninja wraps what the parser raises in a 400
            return problem_response(not_json())
        if exc.status_code == 400 and unparseable is not None:
            return problem_response(unparseable())
        return problem_response(error(http_codes.get(exc.status_code, "malformed_request")))

    for exc_type, handler in (
        (error, _own),
        (ValidationFailed, _invalid),
        (NinjaValidationError, _shape),
        (AuthenticationError, _unauthenticated),
        (RequestDataTooBig, _too_big),
        (HttpError, _http),
    ):
        api.add_exception_handler(exc_type, handler)
