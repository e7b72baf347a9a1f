"""The provider's client of the bureau's HTTP API (DESIGN §6). The provider never imports the
bureau's code: this is the only way it reaches the authority, real or simulated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pydantic_core
from django.conf import settings

from beian.core.errors import FieldError


class Unavailable(Exception):
    """The bureau could not be reached or answered 5xx (or 429): try again later."""


@dataclass
class Refused(Exception):
    """The bureau answered 4xx: the request as it stands will never be accepted."""

    status: int
    code: str
    detail: str
    detail_en: str
    errors: list[FieldError]

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail_en}"


class BureauClient:
    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ):
        self._http = httpx.Client(
            base_url=(base_url or settings.BEIAN_BUREAU_URL).rstrip("/") + "/",
            headers={"Authorization": f"Bearer {api_key or settings.BEIAN_BUREAU_API_KEY}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Unavailable(str(exc)) from exc
        if response.status_code >= 500:
            raise Unavailable(f"{response.status_code} {response.text[:200]}")
        if response.status_code == 401:
            # Our own key is wrong: a configuration fault, not the customer's; keep retrying.
            raise Unavailable("the bureau refused this provider's API key")
        try:
            # pydantic's parser (pydantic_core, pinned by pydantic's own pin), about twice as fast as
            # the standard library's on a feed page of thousands of events.
            body = pydantic_core.from_json(response.content)
        except ValueError:
            raise Unavailable(f"{response.status_code}: not JSON") from None
        if response.status_code == 429 and body.get("code") == "rate_limited":
            raise Unavailable("rate limited by the bureau")
        if response.status_code >= 400:
            raise Refused(
                status=response.status_code,
                code=body.get("code", "refused"),
                detail=body.get("detail", ""),
                detail_en=body.get("detail_en", ""),
                errors=[
                    FieldError(e["field"], e["code"], e["message"], e["message_en"]) for e in body.get("errors", [])
                ],
            )
        return body

    def submit(self, body: dict) -> dict:
        return self._call("POST", "operations", json=body)

    def operation(self, operation_id: str) -> dict:
        return self._call("GET", f"operations/{operation_id}")

    def withdraw(self, operation_id: str) -> dict:
        return self._call("POST", f"operations/{operation_id}/withdraw")

    def start_claim(self, *, claim_id: str, entity_number: str) -> dict:
        return self._call("POST", "claims", json={"idempotency_key": claim_id, "entity_number": entity_number})

    def confirm_claim(self, bureau_claim_id: str, code: str) -> dict:
        return self._call("POST", f"claims/{bureau_claim_id}/confirm", json={"code": code})

    def events(self, *, after: int, limit: int = 200) -> dict:
        return self._call("GET", "events", params={"after": after, "limit": limit})


class InProcessWSGI:
    """This deployment's own Django application, called in-process. Unlike a request from outside,
    it must not close the caller's database connections when it finishes (the caller may be in
    the middle of a transaction), so it holds back Django's per-request connection clean-up, as
    Django's test client does."""

    def __init__(self):
        from django.core.handlers.wsgi import WSGIHandler

        self.handler = WSGIHandler()

    def __call__(self, environ, start_response):
        from django.core import signals
        from django.db import close_old_connections

        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                response.close()
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)


def in_process(*, api_key: str) -> BureauClient:
    """A client of the bureau served by this same deployment, without a socket (the demo world
    uses it before the server is up)."""
    return BureauClient(
        base_url="http://127.0.0.1/bureau/api/v1", api_key=api_key, transport=httpx.WSGITransport(app=InProcessWSGI())
    )
