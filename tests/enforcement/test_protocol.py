"""The decision server's own HTTP/1.1 (protocol.py): what it does besides deciding. Connections
are fed bytes in memory (test_server.py's Transport) and the clock is the test's; one test goes
over a real socket on uvloop, as `python -m beian.enforcement` serves."""

import asyncio
import socket

import pytest
import uvloop

from beian.enforcement.protocol import HEAD_LIMIT, IDLE_SECONDS, REQUEST_SECONDS, Connections, serve
from beian.enforcement.server import DecisionServer
from tests.enforcement.test_index import memory_index
from tests.enforcement.test_server import connect, read_responses, request


@pytest.fixture
def app():
    return DecisionServer(memory_index("example.cn", cancelled=["gone.cn"]), runtime=False, cache_seconds=1)


FILED = request("/enforcement/check", headers=[("host", "www.example.cn")])
UNFILED = request("/enforcement/check", headers=[("host", "nope.cn")])
CANCELLED = request("/enforcement/check", headers=[("host", "gone.cn")])


def reasons(transport, methods=()) -> list[tuple[int, str]]:
    answers = read_responses(transport.written, methods)
    return [(code, headers.get("x-beian-reason", "")) for code, headers, _ in answers]


def test_pipelined_requests_are_answered_in_order(app):
    connection, transport = connect(app)
    connection.data_received(FILED + UNFILED + CANCELLED)
    assert reasons(transport) == [(200, "filed"), (403, "not_filed"), (403, "access_cancelled")]
    assert not transport.closed  # HTTP/1.1: kept alive


def test_a_request_may_arrive_a_byte_at_a_time(app):
    connection, transport = connect(app)
    for i in range(len(FILED)):
        connection.data_received(FILED[i : i + 1])
    assert reasons(transport) == [(200, "filed")]


@pytest.mark.parametrize(
    ("version", "connection_header", "closed"),
    [("1.1", None, False), ("1.1", "close", True), ("1.0", None, True), ("1.0", "keep-alive", False)],
)
def test_keep_alive_as_the_client_asks(app, version, connection_header, closed):
    headers = [("host", "example.cn")] + ([("connection", connection_header)] if connection_header else [])
    connection, transport = connect(app)
    connection.data_received(request("/enforcement/check", headers=headers, version=version))
    assert reasons(transport) == [(200, "filed")]
    assert transport.closed is closed


def test_nothing_is_answered_after_a_request_that_closes(app):
    connection, transport = connect(app)
    closing = request("/enforcement/check", headers=[("host", "example.cn"), ("connection", "close")])
    connection.data_received(closing + UNFILED)
    connection.data_received(UNFILED)
    assert reasons(transport) == [(200, "filed")]
    assert transport.closed


@pytest.mark.parametrize(
    "garbage",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET /enforcement/check HTTP/1.1\r\nhost: exa\x00mple.cn\r\n\r\n",
        b"GET /enforcement/check HTTP/1.1\r\nbad header\r\n\r\n",
        b"GET /enforcement/check HTTP/1.1\r\nhost: example.cn\r\ncontent-length: x\r\n\r\n",
    ],
)
def test_what_is_no_http_request_gets_400_and_the_connection_closed(app, garbage):
    connection, transport = connect(app)
    connection.data_received(FILED + garbage + FILED)
    assert [code for code, _, _ in read_responses(transport.written)] == [200, 400]
    assert transport.closed


def test_a_fault_in_answering_is_a_500_not_a_400(app, monkeypatch, caplog):
    def broken(path, host, query):
        raise RuntimeError("a fault")

    monkeypatch.setattr(app, "answer", broken)
    connection, transport = connect(app)
    connection.data_received(FILED)
    assert [code for code, _, _ in read_responses(transport.written)] == [500]
    assert transport.closed
    assert "could not be answered" in caplog.text


def test_an_upgrade_is_answered_and_the_connection_closed(app):
    connection, transport = connect(app)
    upgrade = request(
        "/enforcement/check", headers=[("host", "example.cn"), ("connection", "upgrade"), ("upgrade", "websocket")]
    )
    connection.data_received(upgrade + b"\x00\x01 whatever the client sends next")
    assert reasons(transport) == [(200, "filed")]
    assert transport.closed


def test_a_head_over_the_limit_gets_431(app):
    connection, transport = connect(app)
    connection.data_received(b"GET /enforcement/check HTTP/1.1\r\nhost: example.cn\r\nx-pad: ")
    connection.data_received(b"a" * (HEAD_LIMIT // 2))  # counted from the first read after the request began
    connection.data_received(b"a" * (HEAD_LIMIT // 2))
    assert not transport.written
    connection.data_received(b"a")
    assert [code for code, _, _ in read_responses(transport.written)] == [431]
    assert transport.closed


def test_the_limit_is_per_request_however_many_arrive_at_once(app):
    connection, transport = connect(app)
    many = FILED * (2 * HEAD_LIMIT // len(FILED) + 1)
    connection.data_received(many)
    assert reasons(transport) == [(200, "filed")] * (len(many) // len(FILED))
    assert not transport.closed


def test_a_body_is_read_and_dropped(app):
    connection, transport = connect(app)
    post = request("/enforcement/check", headers=[("host", "example.cn"), ("content-length", "5")], method="POST")
    connection.data_received(post + b"hello" + UNFILED)
    assert reasons(transport) == [(200, "filed"), (403, "not_filed")]


def test_head_gets_the_headers_only(app):
    connection, transport = connect(app)
    head = request("/enforcement/status", method="HEAD")
    connection.data_received(head + FILED)
    [(status, headers, body), (code, _, _)] = read_responses(transport.written, ["HEAD", "GET"])
    assert (status, body, code) == (200, b"", 200)
    assert int(headers["content-length"]) > 0  # the length the body would have


@pytest.mark.parametrize(
    "target",
    [b"http://edge.example/enforcement/check", b"/enforcement/%63heck", b"/enforcement/check?x=1"],
)
def test_absolute_and_percent_encoded_targets(app, target):
    connection, transport = connect(app)
    connection.data_received(b"GET " + target + b" HTTP/1.1\r\nhost: www.example.cn\r\n\r\n")
    assert reasons(transport) == [(200, "filed")]


def test_the_sweep_closes_idle_connections_and_slow_requests(app):
    now = [0.0]
    connections = Connections(lambda: now[0])
    _, idle_transport = connect(app, connections)
    slow, slow_transport = connect(app, connections)
    busy, busy_transport = connect(app, connections)
    slow.data_received(FILED[:10])  # a request that does not finish

    assert connections.sweep(REQUEST_SECONDS - 1) == 0
    assert connections.sweep(REQUEST_SECONDS + 1) == 1
    assert slow_transport.closed
    assert not idle_transport.closed

    now[0] = IDLE_SECONDS - 1
    busy.data_received(FILED)  # answered: idle from now on
    assert connections.sweep(IDLE_SECONDS + 1) == 1
    assert idle_transport.closed
    assert not busy_transport.closed
    assert connections.sweep(now[0] + IDLE_SECONDS + 1) == 1
    assert busy_transport.closed


def test_a_client_that_does_not_read_its_answers_is_not_read_either(app):
    connection, transport = connect(app)
    connection.pause_writing()
    assert not transport.reading
    connection.resume_writing()
    assert transport.reading


def test_lost_connections_are_forgotten(app):
    connection, _ = connect(app)
    assert connection in connection.connections.open
    connection.connection_lost(None)
    assert connection not in connection.connections.open


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_over_a_real_socket_on_uvloop(app):
    port = free_port()

    async def main():
        stop, listening = asyncio.Event(), asyncio.Event()
        server = asyncio.get_running_loop().create_task(serve(app, "127.0.0.1", port, stop, listening))
        await listening.wait()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(FILED + UNFILED)
        await writer.drain()
        answers = await reader.readuntil(b"\r\n\r\n") + await reader.readuntil(b"\r\n\r\n")
        stop.set()
        await server
        rest = await reader.read()  # the server closes its connections as it stops
        writer.close()
        return answers, rest

    answers, rest = uvloop.run(main())
    assert [headers["x-beian-reason"] for _, headers, _ in read_responses(answers)] == ["filed", "not_filed"]
    assert rest == b""
