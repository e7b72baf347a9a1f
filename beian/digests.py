"""Keyed digests of random secrets: provider API keys, personal API tokens, edge tokens (DESIGN §9).

Why no slow hash: a password is slow-hashed because people choose guessable ones; a secret of 256
random bits cannot be guessed however fast each guess is, so one HMAC-SHA256 (microseconds) protects
it as well as Argon2 (a tenth of a second, on every request) would. Why keyed rather than a plain
SHA-256: a copy of the database without the deployment's SECRET_KEY cannot even confirm a secret
found elsewhere. Each kind of secret has its own purpose, so that a digest of one kind is never
taken for another's (Django's `salted_hmac` derives a key per purpose).

Rotating SECRET_KEY keeps every secret working as long as the old key is in SECRET_KEY_FALLBACKS: a
digest made under an old key still matches, and `check` gives the digest under the current key for
its owner to store, so that the old key can leave the fallbacks once every secret has been used.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac


def digest(secret: str, *, purpose: str, key: str | None = None) -> str:
    """The stored form of `secret`: HMAC-SHA256 under a key derived from `key` (SECRET_KEY by
    default) and `purpose`, in hex."""
    return salted_hmac(purpose, secret, secret=key, algorithm="sha256").hexdigest()


def check(stored: str, presented: str, *, purpose: str) -> tuple[bool, str | None]:
    """Whether `presented` is the secret whose digest is `stored`; and, when it matched only under a
    key of SECRET_KEY_FALLBACKS, its digest under SECRET_KEY, to be stored in place of the old one."""
    current = digest(presented, purpose=purpose)
    if constant_time_compare(stored, current):
        return True, None
    for old_key in settings.SECRET_KEY_FALLBACKS:
        if constant_time_compare(stored, digest(presented, purpose=purpose, key=old_key)):
            return True, current
    return False, None
