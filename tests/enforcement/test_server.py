"""The decision server, called through each of its doors with no socket: as an ASGI application
(scope, receive, send) and as an RSGI one (scope, protocol), the way granian calls it. Through a
real granian: test_s18_nginx.py."""

import asyncio
import json

import httpx
import pytest

from beian.enforcement.index import Index
from beian.enforcement.server import DecisionServer
from tests.enforcement.test_index import memory_index

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def call(app, path: str, *, headers=(), query: bytes = b"", method: str = "GET"):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(k.lower().encode(), v if isinstance(v, bytes) else v.encode()) for k, v in headers],
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, body = sent
    assert start["type"] == "http.response.start"
    assert body["type"] == "http.response.body"
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body["body"]


class RsgiScope:
    """What granian hands over: header values as text, without any that is not visible ASCII."""

    def __init__(self, path: str, headers, query: bytes, method: str):
        self.proto, self.method, self.path, self.query_string = "http", method, path, query.decode("latin-1")
        self.headers = {}
        for name, value in headers:
            raw = value if isinstance(value, bytes) else value.encode()
            if all(0x20 <= b < 0x7F or b == 0x09 for b in raw):
                self.headers.setdefault(name.lower(), raw.decode("ascii"))


class RsgiProtocol:
    def __init__(self):
        self.responses = []

    def response_bytes(self, status, headers, body):
        self.responses.append((status, headers, body))


def call_rsgi(app, path: str, *, headers=(), query: bytes = b"", method: str = "GET"):
    protocol = RsgiProtocol()
    asyncio.run(app.__rsgi__(RsgiScope(path, headers, query, method), protocol))
    [(status, pairs, body)] = protocol.responses
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in pairs)
    answer = dict(pairs)
    answer.setdefault("content-length", str(len(body)))  # granian adds it
    return status, answer, body


@pytest.fixture(params=["asgi", "rsgi"])
def door(request):
    """Each test that takes `door` runs through both: they must answer alike."""
    return call if request.param == "asgi" else call_rsgi


@pytest.fixture
def app():
    return DecisionServer(
        memory_index("example.cn", cancelled=["gone.cn"], deregistered=["dead.cn"]), runtime=False, cache_seconds=1
    )


@pytest.mark.parametrize(
    ("host", "status", "reason"),
    [
        ("example.cn", 200, "filed"),
        ("www.example.cn", 200, "filed"),
        ("WWW.EXAMPLE.CN:80", 200, "filed"),
        ("badexample.cn", 403, "not_filed"),
        ("unknown.cn", 403, "not_filed"),
        ("gone.cn", 403, "access_cancelled"),
        ("dead.cn", 403, "deregistered"),
        ("", 403, "invalid_host"),
        ("1.2.3.4", 403, "invalid_host"),
        ("a..example.cn", 403, "invalid_host"),
        ("x" * 2000, 403, "invalid_host"),
    ],
)
def test_check_answers_200_or_403_with_the_reason(door, app, host, status, reason):
    code, headers, body = door(app, "/enforcement/check", headers=[("host", host)])
    # No body: nginx could not keep its upstream connection after an auth_request (server.py).
    assert (code, headers["x-beian-reason"], body) == (status, reason, b"")
    assert headers["cache-control"] == "max-age=1"
    assert headers["content-length"] == "0"


@pytest.mark.parametrize(
    "raw", [b"\x00", b"\xff\xfe", b"exa\x00mple.cn", "例子.中国".encode(), b"[::1]", b"example.cn:99999999", b" "]
)
def test_check_never_fails_on_garbage(door, app, raw):
    code, headers, _ = door(app, "/enforcement/check", headers=[("host", raw)])
    assert code == 403
    assert headers["x-beian-reason"] in ("invalid_host", "not_filed")


def test_check_prefers_the_original_host(door, app):
    code, headers, _ = call(
        app, "/enforcement/check", headers=[("host", "127.0.0.1:8001"), ("x-original-host", "www.example.cn")]
    )
    assert (code, headers["x-beian-reason"]) == (200, "filed")
    code, headers, _ = call(
        app, "/enforcement/check", headers=[("x-original-host", "unknown.cn"), ("host", "example.cn")]
    )
    assert (code, headers["x-beian-reason"]) == (403, "not_filed")


def test_check_without_a_host_is_refused(door, app):
    code, headers, _ = door(app, "/enforcement/check")
    assert (code, headers["x-beian-reason"]) == (403, "invalid_host")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_check_answers_whatever_the_method(door, app, method):
    # nginx's auth_request subrequest repeats the original request's method.
    assert door(app, "/enforcement/check", headers=[("host", "example.cn")], method=method)[0] == 200


def test_head_has_no_body(door, app):
    code, headers, body = door(app, "/enforcement/check", headers=[("host", "example.cn")], method="HEAD")
    assert (code, body, headers["x-beian-reason"]) == (200, b"", "filed")


@pytest.mark.parametrize(
    ("query", "status", "reason"),
    [
        (b"domain=example.cn", 200, "filed"),
        (b"domain=www.example.cn", 200, "filed"),
        (b"domain=WWW.Example.cn", 200, "filed"),
        (b"foo=1&domain=www.example.cn", 200, "filed"),
        (b"domain=%E4%BE%8B%E5%AD%90.example.cn", 200, "filed"),  # 例子.example.cn
        (b"domain=%E4%BE%8B%E5%AD%90.cn", 403, "not_filed"),  # 例子.cn: a valid IDN, not filed
        (b"domain=unknown.cn", 403, "not_filed"),
        (b"domain=gone.cn", 403, "access_cancelled"),
        (b"domain=", 403, "invalid_host"),
        (b"domain=%FF", 403, "invalid_host"),
        (b"", 403, "invalid_host"),
        (b"domain=a%00b.cn", 403, "invalid_host"),
    ],
)
def test_ask_answers_caddy(door, app, query, status, reason):
    code, headers, _ = door(app, "/enforcement/ask", query=query)
    assert (code, headers["x-beian-reason"]) == (status, reason)


def test_an_idn_served_through_ask_and_its_a_labels(door):
    app = DecisionServer(memory_index("xn--fsqu00a.xn--fiqs8s"), runtime=False)
    assert door(app, "/enforcement/ask", query=b"domain=%E4%BE%8B%E5%AD%90.%E4%B8%AD%E5%9B%BD")[0] == 200
    assert door(app, "/enforcement/check", headers=[("host", "www.xn--fsqu00a.xn--fiqs8s")])[0] == 200


def test_a_host_header_that_is_not_ascii_is_refused_through_either_door(door):
    # RFC 9110 §7.2: a Host is ASCII (browsers send A-labels); granian drops any other header
    # value before the application sees it, and the ASGI door refuses it likewise.
    app = DecisionServer(memory_index("xn--fsqu00a.xn--fiqs8s"), runtime=False)
    code, headers, _ = door(app, "/enforcement/check", headers=[("host", "www.例子.中国")])
    assert (code, headers["x-beian-reason"]) == (403, "invalid_host")


def test_other_paths_are_not_found(door, app):
    assert door(app, "/")[0] == 404
    assert door(app, "/enforcement/checkout")[0] == 404
    assert door(app, "/enforcement/blocked")[0] == 404  # the block page is the main server's


def test_envoy_ext_authz_appends_the_original_path(door, app):
    assert door(app, "/enforcement/check/index.html", headers=[("host", "www.example.cn")])[0] == 200
    assert door(app, "/enforcement/check/", headers=[("host", "nope.cn")])[0] == 403


def test_before_the_first_load_everything_is_refused_and_not_cached(door):
    app = DecisionServer(Index(), runtime=False)
    code, headers, _ = door(app, "/enforcement/check", headers=[("host", "example.cn")])
    assert (code, headers["cache-control"]) == (403, "no-store")


def test_status_reports_the_index(door, app):
    code, headers, body = door(app, "/enforcement/status")
    report = json.loads(body)
    assert code == 200
    assert headers["content-type"] == "application/json"
    assert report["loaded"] is True
    assert report["served_domains"] == 1
    assert report["known_not_served"] == 2


def test_through_httpx(app):
    async def ask():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
            filed = await client.get("/enforcement/check", headers={"X-Original-Host": "www.example.cn"})
            unfiled = await client.get("/enforcement/ask", params={"domain": "nope.cn"})
            return filed, unfiled

    filed, unfiled = asyncio.run(ask())
    assert (filed.status_code, filed.headers["x-beian-reason"]) == (200, "filed")
    assert (unfiled.status_code, unfiled.headers["x-beian-reason"]) == (403, "not_filed")


def test_lifespan_starts_django_loads_the_index_and_stops(rows, settings):
    rows.website("life.cn")
    settings.BEIAN_ENFORCEMENT_POLL_SECONDS = 1.0
    settings.BEIAN_ENFORCEMENT_CACHE_SECONDS = 5
    app = DecisionServer()
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent = []

    async def receive():
        return next(events)

    async def send(message):
        sent.append(message["type"])

    async def run():
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

    # The first load runs in start-up's thread; the test's database lives in this thread's transaction.
    app.start()
    try:
        assert app.index.loaded
        code, headers, _ = call(app, "/enforcement/check", headers=[("host", "www.life.cn")])
        assert (code, headers["cache-control"]) == (200, "max-age=5")
    finally:
        asyncio.run(run())
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert app.refresher is not None
    assert app.refresher._thread is None
