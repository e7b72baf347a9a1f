"""Secrets the bureau issues and checks: filing passwords, provider API keys and SMS codes.

Filing passwords, short and read off a phone, are kept only as Argon2 hashes. A provider's API key
is 256 random bits, kept as a keyed digest (beian.digests: no slow hash is needed, and none is
paid on each request). An SMS code lives 24 hours and is kept as an HMAC, so a copy of the database
does not reveal codes that are still valid.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from django.conf import settings

from beian import digests
from beian.bureau.models import Provider
from beian.issued import Kind, issue

_API_KEY_PURPOSE = "beian.bureau.provider-key"
# Letters and digits that survive being read off a phone: no 0/O, 1/l/I.
_PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=settings.BEIAN_ARGON2_TIME_COST, memory_cost=settings.BEIAN_ARGON2_MEMORY_KIB)


def hash_secret(value: str) -> str:
    return _hasher().hash(value)


def check_secret(value: str, hashed: str) -> bool:
    if not hashed:
        return False
    try:
        return _hasher().verify(hashed, value)
    except (VerificationError, InvalidHashError):
        return False


def new_filing_password() -> str:
    """Ten characters: about 57 bits, enough against guessing behind the per-entity lockout."""
    return issue(Kind.FILING_PASSWORD, "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(10)))


def new_sms_code() -> str:
    return issue(Kind.SMS_CODE, f"{secrets.randbelow(1_000_000):06d}")


def code_digest(operation_id: str, mobile: str, code: str) -> str:
    message = f"{operation_id}:{mobile}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A new provider key: (key_id, full key `key_id.secret`)."""
    key_id = secrets.token_hex(8)
    return key_id, issue(Kind.PROVIDER_KEY, f"{key_id}.{secrets.token_urlsafe(32)}")


def api_key_digest(key: str) -> str:
    return digests.digest(key, purpose=_API_KEY_PURPOSE)


def api_key_matches(provider: Provider, key: str) -> bool:
    """Whether `key` is the provider's. A key issued before keys were digests (bureau migration
    0010) is still an Argon2 hash: checked once by Argon2 and then kept as its digest; so is one
    digested under a SECRET_KEY that has since moved to the fallbacks."""
    stored = provider.key_digest
    if stored.startswith("$argon2"):
        matched, rekeyed = check_secret(key, stored), api_key_digest(key)
    else:
        matched, rekeyed = digests.check(stored, key, purpose=_API_KEY_PURPOSE)
    if matched and rekeyed:
        Provider.objects.filter(pk=provider.pk, key_digest=stored).update(key_digest=rekeyed)
        provider.key_digest = rekeyed
    return matched


def split_api_key(key: str) -> tuple[str, str] | None:
    key_id, dot, secret = key.partition(".")
    if not dot or not key_id or not secret or len(key) > 200:
        return None
    return key_id, secret
