"""The decision server, called through each of its doors with no socket: as an ASGI application
(scope, receive, send), and through its own HTTP/1.1 protocol (protocol.py) fed bytes, with a
transport that keeps what it writes. Over real sockets: test_protocol.py and, behind a real
nginx, test_s18_nginx.py."""

import asyncio
import gc
import json

import httpx
import pytest

from beian.enforcement.index import Index
from beian.enforcement.protocol import Connections, DecisionProtocol
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
        "client": ("127.0.0.1", 40000),
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


class Transport:
    """What protocol.py writes to, in memory."""

    def __init__(self):
        self.written = bytearray()
        self.closed = False
        self.reading = True

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.written += data

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


def read_responses(raw: bytes, methods=()) -> list[tuple[int, dict[str, str], bytes]]:
    """The HTTP/1.1 responses in `raw`, in order (`methods`: of their requests, for HEAD)."""
    found, methods = [], list(methods)
    while raw:
        head, sep, raw = raw.partition(b"\r\n\r\n")
        assert sep, "a response head without its end"
        version, status, *_ = head.split(b"\r\n")[0].decode("latin-1").split(" ")
        assert version == "HTTP/1.1"
        headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:])
        length = 0 if methods and methods.pop(0) == "HEAD" else int(headers["content-length"])
        found.append((int(status), headers, raw[:length]))
        raw = raw[length:]
    return found


def request(path: str, *, headers=(), query: bytes = b"", method: str = "GET", version: str = "1.1") -> bytes:
    target = path.encode() + (b"?" + query if query else b"")
    lines = [method.encode() + b" " + target + b" HTTP/" + version.encode()]
    lines += [name.encode() + b": " + (v if isinstance(v, bytes) else v.encode()) for name, v in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def connect(app, connections: Connections | None = None) -> tuple[DecisionProtocol, Transport]:
    transport = Transport()
    protocol = DecisionProtocol(app, connections or Connections(lambda: 0.0))
    protocol.connection_made(transport)
    return protocol, transport


def call_http1(app, path: str, *, headers=(), query: bytes = b"", method: str = "GET"):
    protocol, transport = connect(app)
    protocol.data_received(request(path, headers=headers, query=query, method=method))
    [answer] = read_responses(bytes(transport.written), [method])
    return answer


@pytest.fixture(params=["asgi", "http1"])
def door(request):
    """Each test that takes `door` runs through both: they must answer alike."""
    return call if request.param == "asgi" else call_http1


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
    if door is call_http1 and any(b < 0x20 for b in raw):
        assert code == 400  # llhttp refuses such a request whole (and nginx never sends one)
        return
    assert code == 403
    assert headers["x-beian-reason"] in ("invalid_host", "not_filed")


def test_check_prefers_the_original_host(door, app):
    code, headers, _ = door(
        app, "/enforcement/check", headers=[("host", "127.0.0.1:8001"), ("x-original-host", "www.example.cn")]
    )
    assert (code, headers["x-beian-reason"]) == (200, "filed")
    code, headers, _ = door(
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
    # RFC 9110 §7.2: a Host is ASCII (browsers send A-labels), whichever door it comes through.
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
        assert gc.get_freeze_count() > 0  # what start-up made, the index above all, kept from the collector
        code, headers, _ = call(app, "/enforcement/check", headers=[("host", "www.life.cn")])
        assert (code, headers["cache-control"]) == (200, "max-age=5")
    finally:
        asyncio.run(run())
        gc.unfreeze()  # the rest of the suite runs in this process
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert app.refresher is not None
    assert app.refresher._thread is None
