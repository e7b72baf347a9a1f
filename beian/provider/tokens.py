"""Personal API tokens for /api/v1/ (DESIGN §9): made, listed and revoked by their owner at
/portal/tokens/ or through /api/v1/tokens, sent as `Authorization: Bearer beian_<key_id>_<secret>`.

A token is three parts: `beian_`, so that a token pasted somewhere is recognisable (and secret
scanners can look for it); the key id, 64 random bits in hex, stored as it is and unique, which
finds the row by its index without scanning; and the secret, 256 random bits (base64url), which is
never stored. The row keeps a keyed digest of the whole token (HMAC-SHA256 under a key derived
from SECRET_KEY), compared in constant time; beian.digests says why no slow hash, and how a
token outlives a rotation of SECRET_KEY (it is re-keyed on use).

A token carries its account's permissions exactly: it stands for the user, nothing more or less. It
stops working when revoked, when it expires, or when its account is made inactive.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from beian import digests
from beian.core import clock
from beian.core.errors import Errors
from beian.issued import Kind, issue
from beian.provider.errors import ProviderError
from beian.provider.models import ApiToken

log = logging.getLogger(__name__)

PREFIX = "beian_"
_TOKEN = re.compile(r"beian_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_SALT = "beian.provider.tokens"
# last_used_at is for people ("used 3 days ago"), not an access log: one write a minute per token at most.
TOUCH_EVERY = timedelta(minutes=1)
NAME_MAX = 60
DAYS_MAX = 3650
# Enough for every script of one account; a bound so that a session left open cannot mint tokens without end.
ACTIVE_MAX = 50

ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"
STATUS_LABELS = {ACTIVE: "有效", EXPIRED: "已过期", REVOKED: "已撤销"}


class TokenRefused(ProviderError):
    """A bearer token that does not authenticate: 401 with a code that says why (token_invalid,
    token_revoked, token_expired, account_inactive), never with the token in it."""


@dataclass(frozen=True)
class Issued:
    """A token just made: `secret` is the whole token string, to be shown once and then forgotten."""

    token: ApiToken
    secret: str


def digest(token: str, key: str | None = None) -> str:
    """The stored form of a token (beian.digests), under `key` (SECRET_KEY by default)."""
    return digests.digest(token, purpose=_SALT, key=key)


def display(token: ApiToken) -> str:
    """How a token is named after its creation: its public part, never the secret."""
    return f"{PREFIX}{token.key_id}_…"


def status(token: ApiToken, now: datetime | None = None) -> str:
    if token.revoked_at is not None:
        return REVOKED
    if token.expires_at is not None and token.expires_at <= (now or clock.now()):
        return EXPIRED
    return ACTIVE


def of(user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The account's tokens, newest first, revoked and expired ones included."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def own(user: AbstractBaseUser, token_id: int) -> ApiToken:
    """One of the account's tokens; someone else's is as absent as one that does not exist."""
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise ProviderError("not_found")
    return token


def _clean_name(errors: Errors, name: object) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        errors.add("name", "required", "请填写令牌名称，例如用途或所在的服务器", "Name the token, e.g. what uses it")
    elif len(text) > NAME_MAX:
        errors.add("name", "too_long", f"名称不能超过 {NAME_MAX} 个字符", f"At most {NAME_MAX} characters")
    elif any(unicodedata.category(c) == "Cc" for c in text):
        errors.add("name", "control_character", "名称不能包含控制字符", "The name must not contain control characters")
    return text


def _clean_days(errors: Errors, days: object) -> int | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= DAYS_MAX:
        errors.add(
            "expires_in_days",
            "out_of_range",
            f"有效期应为 1 至 {DAYS_MAX} 天，或不填表示永不过期",
            f"The lifetime is 1 to {DAYS_MAX} days, or none for a token that does not expire",
        )
        return None
    return days


def create(*, user: AbstractBaseUser, name: str, expires_in_days: int | None = None) -> Issued:
    """A new token for `user`, valid for `expires_in_days` days from now (or until revoked)."""
    errors = Errors()
    name = _clean_name(errors, name)
    days = _clean_days(errors, expires_in_days)
    errors.raise_if_any()
    now = clock.now()
    live = ApiToken.objects.filter(user=user, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    if live.count() >= ACTIVE_MAX:
        raise ProviderError(
            "token_limit_reached",
            detail=f"每个账户最多 {ACTIVE_MAX} 个有效的 API 令牌，请先撤销不再使用的令牌",
            detail_en=f"An account has at most {ACTIVE_MAX} live API tokens; revoke those no longer used first",
        )
    for _attempt in range(3):
        key_id = secrets.token_hex(8)
        secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    name=name,
                    key_id=key_id,
                    digest=digest(secret),
                    created_at=now,
                    expires_at=now + timedelta(days=days) if days else None,
                )
        except IntegrityError:  # a key id drawn twice in 2**64: draw again
            continue
        log.info("API token %s (%s) made for %s", display(token), token.name, user.get_username())
        return Issued(token, issue(Kind.API_TOKEN, secret))
    raise RuntimeError("three key ids in a row were taken: the random source is broken")


def revoke(token: ApiToken) -> ApiToken:
    """The token stops working at once. Revoking it again keeps the time of its first revocation."""
    if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=clock.now()):
        log.info("API token %s (%s) revoked", display(token), token.name)
    token.refresh_from_db(fields=["revoked_at"])
    return token


def _refused(code: str, detail: str, detail_en: str) -> TokenRefused:
    return TokenRefused(code, detail=detail, detail_en=detail_en)


def _matches(token: ApiToken, presented: str) -> bool:
    matched, rekeyed = digests.check(token.digest, presented, purpose=_SALT)
    if rekeyed:
        ApiToken.objects.filter(pk=token.pk, digest=token.digest).update(digest=rekeyed)
    return matched


def authenticate(presented: str) -> AbstractBaseUser:
    """The account a presented token stands for, or TokenRefused. One indexed query (the token and its
    user), one HMAC, and a write at most once a minute for last_used_at. Whether a token is revoked or
    expired is said only to someone who holds it: a wrong secret is just an invalid token."""
    match = _TOKEN.fullmatch(presented)
    token = None
    if match is not None:
        token = ApiToken.objects.select_related("user").filter(key_id=match[1]).first()
    if token is None or not _matches(token, presented):
        raise _refused(
            "token_invalid",
            "API 令牌无效：请检查请求头 Authorization: Bearer 后的令牌是否完整",
            "The API token is not valid: check that the whole token follows `Authorization: Bearer`",
        )
    now = clock.now()
    state = status(token, now)
    if state == REVOKED:
        raise _refused(
            "token_revoked",
            "API 令牌已撤销，请在备案控制台（/portal/tokens/）创建新的令牌",
            "The API token has been revoked; make a new one at /portal/tokens/",
        )
    if state == EXPIRED:
        raise _refused(
            "token_expired",
            "API 令牌已过期，请在备案控制台（/portal/tokens/）创建新的令牌",
            "The API token has expired; make a new one at /portal/tokens/",
        )
    if not token.user.is_active:
        raise _refused("account_inactive", "令牌所属的账户已停用", "The token's account is disabled")
    _touch(token, now)
    return token.user


def _touch(token: ApiToken, now: datetime) -> None:
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        return
    # Conditional, so that of many requests in the same minute (on any process) only one writes.
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - TOUCH_EVERY)
    ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
