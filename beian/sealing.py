"""Personal data sealed at rest (DESIGN §9, issue 14, docs/hardening.md).

A person's certificate number, mobile and email, and a filing password in flight, are stored as
AES-256-GCM ciphertext (`cryptography`'s AESGCM). A sealed value reads

    ~<key id>~<base64url(96-bit random nonce ‖ ciphertext ‖ tag)>

The key id says which of `BEIAN_DATA_KEYS` sealed it, so old keys keep opening what they sealed
until `python -m beian rotate_data_key` has sealed everything again under the current one. The
table and column are the associated data: a value copied into another column (or another table's
same-named column) does not open there.

Equality cannot be asked of ciphertext (each sealing is different), so a value that is looked up
or must be unique has a companion digest column: HMAC-SHA256 under `BEIAN_DIGEST_KEY`, with the
purpose in the message, of the value normalised as the code compares it (`digest`).

In the embedded default and the tests, with neither variable set, both keys are derived from
`SECRET_KEY` (HKDF); the production profile refuses to start without its own keys, and
`check --deploy` reports derived keys as an error (`beian.E001`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.apps import apps as django_apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import FieldError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import setting_changed
from django.db import connections, models, router, transaction
from django.db.models.lookups import Exact

MARK = "~"
NONCE_BYTES = 12
MIGRATION_BATCH = 2000
DERIVED_KEY_ID = "derived"


class Unsealable(Exception):
    """A stored value that no configured key opens: a key removed too early, or a value moved."""


@dataclass(frozen=True)
class Keyring:
    current_id: str
    ciphers: dict[str, AESGCM]
    digest_key: bytes
    derived: bool  # the keys come from SECRET_KEY: fine for `make run`, never for production


def _derive(info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(settings.SECRET_KEY.encode())


@cache
def keyring() -> Keyring:
    keys = tuple(getattr(settings, "BEIAN_DATA_KEYS", ()))
    digest_key = getattr(settings, "BEIAN_DIGEST_KEY", b"")
    derived = not keys or not digest_key
    if not keys:
        keys = ((DERIVED_KEY_ID, _derive(b"beian data key")),)
    if not digest_key:
        digest_key = _derive(b"beian digest key")
    return Keyring(keys[0][0], {key_id: AESGCM(key) for key_id, key in keys}, digest_key, derived)


def _forget_keys(*, setting: str, **kwargs: Any) -> None:
    if setting in {"BEIAN_DATA_KEYS", "BEIAN_DIGEST_KEY", "SECRET_KEY"}:
        keyring.cache_clear()


setting_changed.connect(_forget_keys)


def seal(clear: str, context: str) -> str:
    ring = keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring.ciphers[ring.current_id].encrypt(nonce, clear.encode(), context.encode())
    return f"{MARK}{ring.current_id}{MARK}{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"


def seal_many(clears: Iterable[str], context: str) -> list[str]:
    """`seal` of each value, for a bulk writer (`load_national`): the key, the context and one
    read of the random source for all the nonces are taken once rather than once a value."""
    clears = list(clears)
    ring = keyring()
    encrypt = ring.ciphers[ring.current_id].encrypt
    head = f"{MARK}{ring.current_id}{MARK}"
    aad = context.encode()
    nonces = os.urandom(NONCE_BYTES * len(clears))
    encode = base64.urlsafe_b64encode
    return [
        head + encode((nonce := nonces[i : i + NONCE_BYTES]) + encrypt(nonce, clear.encode(), aad)).decode().rstrip("=")
        for i, clear in zip(range(0, len(nonces), NONCE_BYTES), clears, strict=True)
    ]


def is_sealed(stored: str) -> bool:
    return stored.startswith(MARK) and stored.count(MARK) >= 2


def key_id_of(stored: str) -> str | None:
    return stored.split(MARK, 2)[1] if is_sealed(stored) else None


def unseal(stored: str, context: str) -> str:
    if not is_sealed(stored):
        raise Unsealable(f"{context}: not a sealed value")
    _, key_id, body = stored.split(MARK, 2)
    cipher = keyring().ciphers.get(key_id)
    if cipher is None:
        raise Unsealable(f"{context}: sealed under key {key_id!r}, which BEIAN_DATA_KEYS no longer holds")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    try:
        return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
    except InvalidTag:
        raise Unsealable(f"{context}: the value does not open here (altered, or moved from another column)") from None


# How each kind of value is compared, exactly as the code compares it in the clear: the kind is
# also the digest's purpose, so a certificate number's digest is the same wherever it is kept.
NORMALISE: dict[str, Callable[[str], str]] = {
    "certificate": lambda value: value.strip().upper(),
    # A sandbox recipient, already canonical (beian.messaging.addresses.normalise).
    "recipient": lambda value: value,
    # An account's email (beian.accounts): the customer list matched it without regard to case.
    "email": lambda value: value.strip().lower(),
}


def digest(kind: str, value: str) -> str:
    """The keyed digest of `value` compared as a `kind` (a key of NORMALISE): 64 hex characters."""
    message = f"{kind}\x00{NORMALISE[kind](value)}".encode()
    return hmac.new(keyring().digest_key, message, hashlib.sha256).hexdigest()


def digests(kind: str, values: Iterable[str]) -> list[str]:
    """`digest` of each value (the one-shot HMAC: the same bytes, a bulk writer's speed)."""
    key, normalise = keyring().digest_key, NORMALISE[kind]
    prefix = f"{kind}\x00"
    one = hmac.digest
    return [one(key, (prefix + normalise(value)).encode(), "sha256").hex() for value in values]


# ---------------------------------------------------------------- model fields


class _EmptyOnly(Exact):
    """`= ""` on a sealed column: an empty value is stored empty, so whether there is one may be
    asked (`exclude(filing_password="")`); any other value would never match its ciphertext."""

    def __init__(self, lhs: Any, rhs: Any) -> None:
        if rhs != "":
            raise FieldError(
                f"{lhs.target.model._meta.db_table}.{lhs.target.column} is sealed: look it up by its digest"
            )
        super().__init__(lhs, rhs)


class _Sealed:
    """Shared by the sealed fields: the clear value in Python, ciphertext in the column. Only
    `isnull` and `= ""` may be asked of the column; equality goes through a digest column."""

    def context(self) -> str:
        return f"{self.model._meta.db_table}.{self.column}"  # type: ignore[attr-defined]

    def get_internal_type(self) -> str:
        return "TextField"

    def get_lookup(self, lookup_name: str):
        if lookup_name == "exact":
            return _EmptyOnly
        if lookup_name != "isnull":
            raise FieldError(f"{self.context()} is sealed: look it up by its digest, not with {lookup_name!r}")
        return super().get_lookup(lookup_name)  # type: ignore[misc]

    def _to_text(self, value: Any) -> str:
        return value

    def _from_text(self, text: str) -> Any:
        return text

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        text = self._to_text(value)
        # An empty value stays empty: it tells only that there is nothing, and keeps `blank` working.
        return "" if text == "" else seal(text, self.context())

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        if value == "":
            return self._from_text("")
        return self._from_text(unseal(value, self.context()))


class SealedCharField(_Sealed, models.CharField):
    """A short personal value (a certificate number, a mobile, an email, a filing password).
    `max_length` limits the clear value, as forms and the admin check it; the column is text."""


class SealedTextField(_Sealed, models.TextField):
    """A message body that may carry a filing password or an address."""


class SealedJSONField(_Sealed, models.TextField):
    """JSON that holds personal data (an operation's submitted data): sealed as a whole."""

    def _to_text(self, value: Any) -> str:
        return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))

    def _from_text(self, text: str) -> Any:
        return json.loads(text) if text else None

    def to_python(self, value: Any) -> Any:
        # A fixture or a serialized test database gives the JSON text (`value_to_string`).
        return json.loads(value) if isinstance(value, str) else value

    def value_to_string(self, obj: Any) -> str:
        return self._to_text(self.value_from_object(obj))


class DigestField(models.CharField):
    """The keyed digest of a sibling sealed field, kept by every save (`pre_save`): what equality
    look-ups and unique constraints use. Empty when the value is empty."""

    def __init__(self, *args: Any, of: str, kind: str, **kwargs: Any) -> None:
        self.of, self.kind = of, kind
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        for default in ("max_length", "editable", "blank"):
            kwargs.pop(default, None)
        return name, path, args, {**kwargs, "of": self.of, "kind": self.kind}

    def of_instance(self, instance: models.Model) -> str:
        value = getattr(instance, self.of)
        return digest(self.kind, value) if value else ""

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        value = self.of_instance(model_instance)
        setattr(model_instance, self.attname, value)
        return value


def sealed_fields(model: type[models.Model]) -> list[Any]:
    return [f for f in model._meta.concrete_fields if isinstance(f, _Sealed)]


def digest_fields(model: type[models.Model]) -> list[DigestField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, DigestField)]


# ---------------------------------------------------------------- data migrations


def seal_in_place(model: type[models.Model], connection: Any) -> int:
    """Seal every clear value of `model`'s sealed columns and fill its digests: the data migration
    that follows turning a clear column into a sealed one. Works on the column's text, so it runs
    with the historical model of any migration; a value already sealed is left alone."""
    return _rewrite(model, connection, lambda text, context: text if is_sealed(text) else seal(text, context))


def unseal_in_place(model: type[models.Model], connection: Any) -> int:
    """The reverse: every sealed value back to clear text (digests left as they are)."""
    return _rewrite(model, connection, lambda text, context: unseal(text, context) if is_sealed(text) else text)


def _rewrite(model: type[models.Model], connection: Any, change: Callable[[str, str], str]) -> int:
    sealed = sealed_fields(model)
    digests = digest_fields(model)
    q = connection.ops.quote_name
    table, pk = q(model._meta.db_table), q(model._meta.pk.column)
    select = f"SELECT {pk}, {', '.join(q(f.column) for f in sealed)} FROM {table}"
    changed, after = 0, None
    with connection.cursor() as cursor:
        while True:
            # In batches by primary key: a national registry does not fit in memory at once.
            if after is None:
                cursor.execute(f"{select} ORDER BY {pk} LIMIT %s", [MIGRATION_BATCH])
            else:
                cursor.execute(f"{select} WHERE {pk} > %s ORDER BY {pk} LIMIT %s", [after, MIGRATION_BATCH])
            rows = cursor.fetchall()
            if not rows:
                return changed
            after = rows[-1][0]
            for pk_value, *texts in rows:
                values, clear = {}, {}
                for f, text in zip(sealed, texts, strict=True):
                    context = f"{model._meta.db_table}.{f.column}"
                    values[f.column] = change(text, context) if text else text
                    clear[f.name] = unseal(text, context) if text and is_sealed(text) else text
                for f in digests:
                    values[f.column] = digest(f.kind, clear[f.of]) if clear[f.of] else ""
                assignments = ", ".join(f"{q(c)} = %s" for c in values)
                cursor.execute(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", [*values.values(), pk_value])
                changed += 1


# ---------------------------------------------------------------- key rotation


@dataclass
class Rotation:
    model: str
    rows: int = 0  # read
    resealed: int = 0  # written again: a value under an old key, or (asked for) a digest


ROTATION_BATCH = 500


def rotate(
    model: type[models.Model],
    *,
    batch: int = ROTATION_BATCH,
    digests: bool = False,
    progress: Callable[[Rotation], None] | None = None,
) -> Rotation:
    """Seal again under the current key every value of `model` sealed under another, in batches by
    primary key, each one transaction with its rows locked (a change made meanwhile is neither lost
    nor overwritten). A row's key ids are read from the stored text, so a row already under the
    current key costs no decryption: a run that stopped is resumed by running again, and a second
    run writes nothing. `digests`: also compute every digest again (after BEIAN_DIGEST_KEY changed)."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    sealed, digest_of = sealed_fields(model), digest_fields(model)
    current = keyring().current_id
    q = connection.ops.quote_name
    table, pk = q(model._meta.db_table), q(model._meta.pk.column)
    select = f"SELECT {pk}, {', '.join(q(f.column) for f in sealed)} FROM {table}"
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    done = Rotation(model._meta.label)
    after = None
    while True:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            where, params = ("", []) if after is None else (f" WHERE {pk} > %s", [after])
            cursor.execute(f"{select}{where} ORDER BY {pk} LIMIT %s{lock}", [*params, batch])
            rows = cursor.fetchall()
            if not rows:
                return done
            after = rows[-1][0]
            stale = [row[0] for row in rows if digests or any(t and key_id_of(t) != current for t in row[1:])]
            manager = model._base_manager.using(alias)
            for obj in manager.filter(pk__in=stale):
                values = {f.attname: getattr(obj, f.attname) for f in sealed}
                values.update({f.attname: f.of_instance(obj) for f in digest_of})
                manager.filter(pk=obj.pk).update(**values)
            done.rows += len(rows)
            done.resealed += len(stale)
        if progress is not None:
            progress(done)


def models_with_sealed_fields() -> list[type[models.Model]]:
    return [model for model in django_apps.get_models() if sealed_fields(model)]


# ---------------------------------------------------------------- production check


@checks.register(checks.Tags.security, deploy=True)
def keys_of_its_own(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not keyring().derived:
        return []
    return [
        checks.Error(
            "Personal data is sealed with keys derived from SECRET_KEY.",
            hint="Set BEIAN_DATA_KEYS (id:base64 of 32 random bytes) and BEIAN_DIGEST_KEY (base64 of 32 random "
            "bytes); see docs/hardening.md.",
            id="beian.E001",
        )
    ]
