"""Field-level errors, in Chinese first and English beside it.

Every rule that refuses input says which field, a stable code a client can branch on, and a message
a person can act on. The HTTP edges turn these into problem documents; the portal shows them next to
the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str  # 中文
    message_en: str

    def at(self, prefix: str) -> FieldError:
        """The same error under a parent field: `principal.mobile` → `entity.principal.mobile`."""
        path = f"{prefix}.{self.field}" if self.field else prefix
        return FieldError(path, self.code, self.message, self.message_en)

    def as_dict(self) -> dict[str, str]:
        return {
            "field": self.field,
            "code": self.code,
            "message": self.message,
            "message_en": self.message_en,
        }


class Invalid(ValueError):
    """One value broke one rule. Raised by validators, which do not know the field's name."""

    def __init__(self, code: str, message: str, message_en: str):
        super().__init__(message_en)
        self.code = code
        self.message = message
        self.message_en = message_en

    def on(self, field_name: str) -> FieldError:
        return FieldError(field_name, self.code, self.message, self.message_en)


class ValidationFailed(ValueError):
    """One or more fields are wrong; nothing was changed."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(f"{e.field}: {e.message_en}" for e in errors))
        self.errors = errors


@dataclass
class Errors:
    """Collects field errors so a form reports every wrong field at once, not the first one."""

    items: list[FieldError] = field(default_factory=list)

    @contextmanager
    def field(self, name: str) -> Iterator[None]:
        try:
            yield
        except Invalid as exc:
            self.items.append(exc.on(name))
        except ValidationFailed as exc:
            self.items.extend(e.at(name) for e in exc.errors)

    def add(self, name: str, code: str, message: str, message_en: str) -> None:
        self.items.append(FieldError(name, code, message, message_en))

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(list(self.items))

    def __bool__(self) -> bool:
        return bool(self.items)


class Problem(Exception):
    """An error with a stable code, for a whole request rather than one field. Each side keeps its
    own table of codes (`CODES`: code → HTTP status, 中文 title, English title); the HTTP edges turn
    it into a problem document (RFC 9457)."""

    CODES: dict[str, tuple[int, str, str]] = {}

    def __init__(
        self,
        code: str,
        *,
        detail: str | None = None,
        detail_en: str | None = None,
        errors: list[FieldError] | None = None,
        retry_after: int | None = None,
    ):
        status, title, title_en = self.CODES[code]
        super().__init__(f"{code}: {detail_en or title_en}")
        self.code = code
        self.status = status
        self.title = title
        self.title_en = title_en
        self.detail = detail or title
        self.detail_en = detail_en or title_en
        self.errors = errors or []
        self.retry_after = retry_after

    def problem(self) -> dict:
        body: dict = {
            "type": f"urn:beian:error:{self.code}",
            "code": self.code,
            "title": self.title,
            "title_en": self.title_en,
            "status": self.status,
            "detail": self.detail,
            "detail_en": self.detail_en,
        }
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        return body
