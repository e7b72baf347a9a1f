"""Rate limits of HTTP Basic on /api/v1/ (DESIGN §9): each Basic attempt, failed or successful,
counts once against the client's address and once against the username it names, in fixed windows
of one minute counted in Django's default cache (no database row per request).

Both count before the password is checked: the password hash is what costs (130–230 ms), and what
a guesser wants, so a refused attempt must not reach it. A limit per address bounds one client;
one per username bounds a guesser spread over many addresses (at the price that such a guesser can
hold up Basic for that account for a minute; its sessions and API tokens are untouched).

ninja's throttles are not used: they run after authentication, when the hash is already paid, and
never see a failed attempt. The counters are as shared as the cache: the local-memory default keeps
them per process, a cache shared by every process (Redis, Memcached) makes them per deployment.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from beian.clients import client_address
from beian.core import clock
from beian.provider.errors import ProviderError

WINDOW = 60  # seconds


def hit(scope: str, key: str, *, limit: int) -> int | None:
    """Count one event of `key` in `scope`: None while within `limit` this minute, else the seconds
    until the window ends (for Retry-After)."""
    second = int(clock.now().timestamp())
    window = second // WINDOW
    # Hashed: a username may hold characters a cache backend refuses in a key (Memcached: spaces, length).
    name = hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()[:40]
    cache_key = f"beian:rate:{scope}:{name}:{window}"
    cache.add(cache_key, 0, timeout=2 * WINDOW)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr: this is its first event again
        cache.add(cache_key, 1, timeout=2 * WINDOW)
        count = 1
    if count > limit:
        return WINDOW - second % WINDOW
    return None


def basic_attempt(request: HttpRequest, username: str) -> None:
    """Count one HTTP Basic attempt; ProviderError("rate_limited") with Retry-After if over a limit."""
    waits = [
        hit("basic-client", client_address(request), limit=settings.BEIAN_BASIC_CLIENT_RATE_PER_MINUTE),
        hit("basic-user", username, limit=settings.BEIAN_BASIC_RATE_PER_MINUTE),
    ]
    wait = max((w for w in waits if w is not None), default=None)
    if wait is not None:
        raise ProviderError(
            "rate_limited",
            detail=f"用户名和密码（HTTP Basic）认证过于频繁，请 {wait} 秒后重试。"
            "脚本请改用 API 令牌（在 /portal/tokens/ 创建，Authorization: Bearer …），它不受此限制且快得多",
            detail_en=f"Too many HTTP Basic sign-ins; retry in {wait} s. Scripts should use an API token "
            "(made at /portal/tokens/, sent as Authorization: Bearer …): it has no such limit and is much faster",
            retry_after=wait,
        )
