"""The provider's client of the bureau's HTTP API (DESIGN §6). The provider never imports the
bureau's code: this is the only way it reaches the authority, real or simulated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
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
            body = response.json()
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

    def events(self, *, after: int, limit: int = 200) -> dict:
        return self._call("GET", "events", params={"after": after, "limit": limit})
