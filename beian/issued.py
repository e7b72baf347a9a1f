"""The one signal every secret the platform issues goes through as it is made: filing passwords,
SMS codes, provider API keys, personal API tokens, edge tokens (DESIGN §9: no secret is shown after
it is sent, nor logged).

Nothing in the platform listens. The test suite does (tests/secretscan.py): it fails a test in
which a secret that test's world issued shows up in clear in a log record or in an answer that is
not the one whose job is to show it once. A signal without receivers costs one attribute check."""

from __future__ import annotations

from enum import StrEnum

from django.dispatch import Signal


class Kind(StrEnum):
    FILING_PASSWORD = "filing_password"
    SMS_CODE = "sms_code"
    PROVIDER_KEY = "provider_key"
    API_TOKEN = "api_token"
    EDGE_TOKEN = "edge_token"


# Sent with `kind` (a Kind) and `secret` (the clear text), by `issue` below.
secret_issued = Signal()


def issue(kind: Kind, secret: str) -> str:
    """`secret`, once the listeners (if any) have heard of it."""
    if secret_issued.receivers:
        secret_issued.send(sender=Kind, kind=kind, secret=secret)
    return secret
