"""The public rate limits count in Django's cache, not in the registry (issue 10): a public request
writes nothing to the database, and with Redis (BEIAN_CACHE_URL) every process of a deployment
shares the counts."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from django.core.cache.backends.redis import RedisCache
from django.db import connections
from django.test.utils import CaptureQueriesContext

from beian import env
from beian.bureau import throttle
from beian.bureau.errors import BureauError

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def test_a_public_query_writes_nothing_to_the_database(world, public_http):
    with CaptureQueriesContext(connections["bureau"]) as captured:
        assert public_http.get("query", domain="nothing-here.cn").status_code == 200
    assert all(q["sql"].lstrip().upper().startswith("SELECT") for q in captured.captured_queries)


def test_the_limit_holds_per_client_and_window(clock, settings):
    for _ in range(3):
        throttle.hit("query", "198.51.100.1", per_minute=3)
    with pytest.raises(BureauError) as refused:
        throttle.hit("query", "198.51.100.1", per_minute=3)
    assert refused.value.code == "rate_limited"
    throttle.hit("query", "198.51.100.2", per_minute=3)  # another client
    throttle.hit("recovery", "198.51.100.1", per_minute=3)  # another scope
    clock.advance(timedelta(minutes=1))
    throttle.hit("query", "198.51.100.1", per_minute=3)  # the next window


def test_the_cache_url_is_read_strictly(monkeypatch):
    monkeypatch.delenv("BEIAN_CACHE_URL", raising=False)
    assert env.cache("BEIAN_CACHE_URL")["BACKEND"].endswith("LocMemCache")
    monkeypatch.setenv("BEIAN_CACHE_URL", "redis://127.0.0.1:6379/0")
    assert env.cache("BEIAN_CACHE_URL") == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/0",
    }
    monkeypatch.setenv("BEIAN_CACHE_URL", "memcached://127.0.0.1")
    with pytest.raises(env.ImproperValue):
        env.cache("BEIAN_CACHE_URL")


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: `make cache-tools` installs Debian's")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    proc = subprocess.Popen(
        [server, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_with_redis_two_processes_share_one_count(redis_url, clock, monkeypatch):
    """Two web processes are two cache clients; the limit is the deployment's, not each one's."""
    first = RedisCache(redis_url, {})
    second = RedisCache(redis_url, {})
    for cache in (first, second):
        cache.clear()
    monkeypatch.setattr(throttle, "cache", first)
    throttle.hit("query", "203.0.113.7", per_minute=2)
    monkeypatch.setattr(throttle, "cache", second)
    throttle.hit("query", "203.0.113.7", per_minute=2)
    with pytest.raises(BureauError):
        throttle.hit("query", "203.0.113.7", per_minute=2)


def test_with_redis_a_count_is_one_round_trip_and_ends_with_its_window(redis_url, clock, monkeypatch):
    """Issue 10: the public query counts every answer, so a count is one round trip to Redis (not
    Django's add, EXISTS and INCR), atomic, and its key expires however the window began; Django's
    cache reads the count it wrote."""
    import redis

    backend = RedisCache(redis_url, {})
    backend.clear()
    monkeypatch.setattr(throttle, "cache", backend)
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    throttle.hit("query", "203.0.113.99", per_minute=5)  # connects (the handshake is commands too)
    sent.clear()
    for _ in range(3):
        throttle.hit("query", "203.0.113.8", per_minute=5)
    assert len(sent) == 3
    window = int(clock.now().timestamp()) // throttle.WINDOW_SECONDS
    key = f"beian:throttle:query:{window}:203.0.113.8"
    assert backend.get(key) == 3
    ttl = backend._cache.get_client(write=True).ttl(backend.make_and_validate_key(key))
    assert 0 < ttl <= throttle.KEPT_SECONDS


def test_in_local_memory_a_window_starts_at_one_and_counts_on(clock, settings):
    from django.core.cache import cache

    cache.clear()
    assert [throttle._count("beian:throttle:test:1:a") for _ in range(3)] == [1, 2, 3]
    cache.delete("beian:throttle:test:1:a")  # the window ended
    assert throttle._count("beian:throttle:test:1:a") == 1
