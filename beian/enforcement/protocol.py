"""The decision server's own HTTP/1.1: an asyncio protocol on uvloop that parses with httptools
(llhttp, the parser of Node.js) and answers each request with a response built once.

Why its own: the decision server does one thing, a GET answered from memory in about a
microsecond, so whatever else a request costs is the server's, and under the fastest ASGI / RSGI
server tried that was most of each request (the figures, against nginx's static map, are in
docs/enforcement.md, "Measured by hand"). A parser that Node.js relies on does the part where
HTTP is subtle; what is left here is small:

- HTTP/1.1 and 1.0, keep-alive as llhttp reads the request (`Connection`, the version), requests
  pipelined on one connection answered in order;
- any method (nginx's `auth_request` repeats the visitor's), HEAD without the body; a request body
  is read and dropped;
- anything llhttp refuses gets 400 and the connection closed; so does an Upgrade, once the request
  has had its answer; a fault in answering gets 500 (logged), which nginx's `auth_request` also
  takes as a refusal; a request line and headers over HEAD_LIMIT bytes get 431 (counted as data
  arrives, so at most one read more is held);
- a connection idle for IDLE_SECONDS, or a request not whole within REQUEST_SECONDS, is closed
  by a sweep once a second (tests call `Connections.sweep` with their own `now`);
- a client that does not read its answers: reading pauses until the transport drains.

The routing and the answers are `DecisionServer.answer`, shared with the ASGI door.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

import httptools

from beian.enforcement.server import Answer, DecisionServer

log = logging.getLogger("beian.enforcement")

HEAD_LIMIT = 16 * 1024  # bytes of request line and headers (nginx's large_client_header_buffers: 4 × 8k)
IDLE_SECONDS = 75.0  # longer than nginx keeps an idle upstream connection (keepalive_timeout 60 s)
REQUEST_SECONDS = 10.0  # from a request's first byte to its last
SWEEP_SECONDS = 1.0

_CLOSE = (("content-type", "text/plain; charset=utf-8"), ("cache-control", "no-store"), ("connection", "close"))
BAD_REQUEST = Answer(400, _CLOSE, b"bad request\n")
TOO_LARGE = Answer(431, _CLOSE, b"request header fields too large\n")
SERVER_ERROR = Answer(500, _CLOSE, b"internal server error\n")  # to nginx's auth_request, a refusal too


class Connections:
    """The open connections, so that a sweep can close the idle and the slow ones."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.open: set[DecisionProtocol] = set()

    def sweep(self, now: float | None = None) -> int:
        """Close what has waited too long; returns how many."""
        now = self.clock() if now is None else now
        late = [
            c
            for c in self.open
            if not c.closing and now - c.since > (REQUEST_SECONDS if c.in_request else IDLE_SECONDS)
        ]
        for connection in late:
            connection.close()
        return len(late)

    def close_all(self) -> None:
        for connection in list(self.open):
            connection.close()


class DecisionProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: DecisionServer, connections: Connections) -> None:
        self.server = server
        self.connections = connections
        self.clock = connections.clock
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.host: bytes | None = None
        self.original_host: bytes | None = None
        self.authorization = b""  # read by /metrics only
        self.peer = ""
        self.in_request = False  # from a request's first byte to its answer
        self.in_head = False  # from a request's first byte to the end of its headers
        self.pending = 0  # bytes received while in a request's head (see HEAD_LIMIT)
        self.since = 0.0  # when the current request began, or the connection last became idle
        self.closing = False

    # ---------------------------------------------------------------- asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        peername = transport.get_extra_info("peername")
        self.peer = peername[0] if isinstance(peername, tuple) and peername else ""
        self.since = self.clock()
        self.connections.open.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.connections.open.discard(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.pending += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No WebSockets, no h2c: a whole request has had its answer; nothing after it is HTTP.
            if self.in_request:
                self._refuse(BAD_REQUEST)
            else:
                self.close()
        except httptools.HttpParserCallbackError:  # a fault here, not in the request
            log.exception("enforcement: a request could not be answered")
            self._refuse(SERVER_ERROR)
        except httptools.HttpParserError:
            self._refuse(BAD_REQUEST)
        else:
            if self.in_head and self.pending > HEAD_LIMIT:
                self._refuse(TOO_LARGE)

    def pause_writing(self) -> None:  # the client is not reading its answers: stop reading its requests
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def close(self) -> None:
        self.closing = True
        self.transport.close()

    def _refuse(self, answer: Answer) -> None:
        if not self.closing:  # llhttp also refuses what follows a request that closed the connection
            self.transport.write(answer.http1)
            self.close()

    # ---------------------------------------------------------------- httptools

    def on_message_begin(self) -> None:
        self.url = b""
        self.host = self.original_host = None
        self.authorization = b""
        self.in_request = self.in_head = True
        self.pending = 0
        self.since = self.clock()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # The first of each counts, as in the ASGI door.
        name = name.lower()
        if name == b"x-original-host":
            if self.original_host is None:
                self.original_host = value
        elif name == b"host" and self.host is None:
            self.host = value
        elif name == b"authorization":
            self.authorization = value

    def on_headers_complete(self) -> None:
        self.in_head = False

    def on_message_complete(self) -> None:
        if self.closing:  # pipelined behind a request that closed the connection
            return
        url = self.url
        if url[:1] != b"/":  # absolute form (http://host/path), as a proxy may send
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                self._refuse(BAD_REQUEST)
                return
            path, query = parsed.path or b"/", parsed.query or b""
        else:
            path, _, query = url.partition(b"?")
        if b"%" in path:
            path = unquote_to_bytes(path)
        host = self.original_host if self.original_host is not None else self.host
        answer = self.server.answer(
            path.decode("latin-1"), host, query, authorization=self.authorization, peer=self.peer
        )
        self.transport.write(answer.http1_head if self.parser.get_method() == b"HEAD" else answer.http1)
        self.in_request = False
        self.since = self.clock()
        if not self.parser.should_keep_alive():
            self.close()


async def serve(
    server: DecisionServer,
    host: str,
    port: int,
    stop: asyncio.Event,
    listening: asyncio.Event | None = None,
    *,
    reuse_port: bool = False,
) -> None:
    """Answer on host:port until `stop` is set (`listening` is set once it accepts connections);
    the index must be loaded already. With `reuse_port`, other processes may listen on the same
    port (SO_REUSEPORT) and the kernel spreads the connections between them."""
    loop = asyncio.get_running_loop()
    connections = Connections()
    listener = await loop.create_server(
        lambda: DecisionProtocol(server, connections),
        host,
        port,
        backlog=1024,
        reuse_address=True,
        reuse_port=reuse_port or None,
    )
    log.info("enforcement: answering on %s:%d", host, port)
    if listening is not None:
        listening.set()

    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            connections.sweep()

    sweeper = loop.create_task(sweep())
    try:
        await stop.wait()
    finally:
        sweeper.cancel()
        listener.close()
        connections.close_all()
        await listener.wait_closed()
