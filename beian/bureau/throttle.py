"""Fixed-window rate limits for the public endpoints (query, recovery, verification), counted in
Django's cache rather than the database: a public request then writes nothing to the registry.

The embedded default cache is local memory, so each process counts for itself (a deployment with
several web processes allows up to that many times the limit); set `BEIAN_CACHE_URL` to a Redis
server and every process of a deployment shares the counts (Django's RedisCache: INCR is atomic).
"""

from __future__ import annotations

from django.core.cache import cache

from beian.bureau.errors import BureauError
from beian.core import clock

WINDOW_SECONDS = 60


def _count(key: str) -> int:
    # add() starts a window only if none is running; incr() counts atomically in both backends.
    if cache.add(key, 1, timeout=2 * WINDOW_SECONDS):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # the window expired between add() and incr()
        cache.add(key, 1, timeout=2 * WINDOW_SECONDS)
        return 1


def hit(scope: str, key: str, *, per_minute: int) -> None:
    now = clock.now()
    window = int(now.timestamp()) // WINDOW_SECONDS
    if _count(f"beian:throttle:{scope}:{window}:{key}") > per_minute:
        raise BureauError("rate_limited", retry_after=WINDOW_SECONDS - now.second)
