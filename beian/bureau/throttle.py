"""Fixed-window rate limits for the public endpoints (query, recovery, verification), counted in
Django's cache rather than the database: a public request then writes nothing to the registry.

The embedded default cache is local memory, so each process counts for itself (a deployment with
several web processes allows up to that many times the limit); set `BEIAN_CACHE_URL` to a Redis
server and every process of a deployment shares the counts.

A count is one call to the cache in the common case (issue 10: the public query counts every
answer). With Redis, one round trip: `SET … NX EX` (the window starts, if it has not) and `INCR`
in one MULTI/EXEC, atomic, so a key never outlives its window and no count is lost between two
processes. Django's own `add()` then `incr()` cost three (`incr` asks `EXISTS` first). In local
memory, `incr()` first: only a window's first request pays for `add()` as well.
"""

from __future__ import annotations

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache

from beian.bureau.errors import BureauError
from beian.core import clock

WINDOW_SECONDS = 60
KEPT_SECONDS = 2 * WINDOW_SECONDS  # a window's count outlives it: a late request still finds it


def _count_redis(backend: RedisCache, key: str) -> int:
    # Django's RedisCache stores an int as a plain Redis integer (RedisSerializer), so its get()
    # reads what INCR wrote; its key (prefix, version) is made the way its own calls make it.
    key = backend.make_and_validate_key(key)
    pipe = backend._cache.get_client(key, write=True).pipeline(transaction=True)
    pipe.set(key, 0, ex=KEPT_SECONDS, nx=True)
    pipe.incr(key)
    return int(pipe.execute()[1])


def _count(key: str) -> int:
    # The thread's own backend (what the `cache` proxy hands on), so that its kind is asked once.
    backend = cache if isinstance(cache, BaseCache) else caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        return _count_redis(backend, key)
    # incr() counts atomically in every backend; add() starts a window only if none is running.
    for _ in range(2):
        try:
            return backend.incr(key)
        except ValueError:  # no window yet (or it expired just now)
            if backend.add(key, 1, timeout=KEPT_SECONDS):
                return 1
    return backend.incr(key)  # another request started the window twice over: it exists now


def hit(scope: str, key: str, *, per_minute: int) -> None:
    now = clock.now()
    window = int(now.timestamp()) // WINDOW_SECONDS
    if _count(f"beian:throttle:{scope}:{window}:{key}") > per_minute:
        raise BureauError("rate_limited", retry_after=WINDOW_SECONDS - now.second)
