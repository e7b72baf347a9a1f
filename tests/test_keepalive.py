"""A client that keeps its connection open gets an answer to every request it sends, after a 413,
a 401 or any other refusal (issue 14, beian/keepalive.py).

The platform runs as `make run` serves it: gunicorn with beian/gunicorn_conf.py (the Procfile's
`web`), on a free port, on SQLite files of its own (the framing of a connection does not depend on
the database). The client is a raw socket spoken through h11, which enforces HTTP/1.1's framing
rules on both sides: a connection the server is about to close must have said so
(`Connection: close`), and one it keeps must carry the next request's answer.

Before the fix, each refusal below answered `Connection: keep-alive`, then gunicorn drained at
most 64 KB of the unread body and closed: the next request got no answer at all.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import closing, suppress
from pathlib import Path

import h11
import pytest

from tests.provider.test_worker_crash import Processes, _free_port

BIN = Path(sys.executable).parent
WITHIN = 200 * 1024  # within DATA_UPLOAD_MAX_MEMORY_SIZE (256 KB by default), larger than what gunicorn drains (64 KB)
BEYOND = 300 * 1024  # a body it refuses unread
DEADLINE = 60.0  # seconds for the platform to come up: a hang guard, it returns as soon as it answers


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """(host, port) of the platform under gunicorn with beian/gunicorn_conf.py."""
    tmp = tmp_path_factory.mktemp("keepalive")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEIAN_", "PYTEST_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="beian.settings",
        PYTHONDONTWRITEBYTECODE="1",
        BEIAN_VAR_DIR=str(tmp),
        BEIAN_WEB_WORKERS="1",
    )
    procs = Processes(tmp, env)
    python = sys.executable
    try:
        for args in (("migrate",), ("migrate", "--database", "bureau")):
            procs.run("-".join(args), python, "-m", "beian", *args, "--noinput", "-v0")
        for _ in range(3):  # a port taken between choosing and binding is tried again
            port = _free_port()
            env["BEIAN_BIND"] = f"127.0.0.1:{port}"
            server = procs.start(
                "gunicorn", str(BIN / "gunicorn"), "beian.wsgi:application", "--config", "beian/gunicorn_conf.py"
            )
            deadline = time.monotonic() + DEADLINE
            while server.poll() is None and time.monotonic() < deadline:
                try:
                    with closing(socket.create_connection(("127.0.0.1", port), timeout=1)) as sock:
                        status, _ = Client(sock).exchange("GET", "/bureau/api/v1/provinces")
                    if status == 200:
                        yield ("127.0.0.1", port)
                        return
                except OSError:
                    time.sleep(0.05)
            procs.stop(server)
        pytest.fail(f"the platform did not come up\n{procs.logs()}")
    finally:
        procs.close()


class Client:
    """One kept-open connection, HTTP/1.1 by h11."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sock.settimeout(20)  # a hang guard: every answer here comes in milliseconds
        self.conn = h11.Connection(h11.CLIENT)

    def exchange(self, method: str, path: str, body: bytes = b"", headers: tuple = ()) -> tuple[int, str]:
        """Send one request and read its whole answer: (status, the Connection header)."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        head = [("Host", "127.0.0.1"), ("Content-Length", str(len(body))), *headers]
        # The server may answer and close before the whole of a body it refuses unread is sent:
        # as curl does, the client then reads the answer that is waiting.
        with suppress(BrokenPipeError, ConnectionResetError):
            self.sock.sendall(
                self.conn.send(h11.Request(method=method, target=path, headers=head))
                + self.conn.send(h11.Data(data=body))
                + self.conn.send(h11.EndOfMessage())
            )
        status, connection = None, ""
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                data = self.sock.recv(65536)
                if not data:
                    raise AssertionError(f"{method} {path}: the connection closed without an answer")
                self.conn.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
                connection = dict(event.headers).get(b"connection", b"").decode()
            elif isinstance(event, h11.EndOfMessage):
                return status, connection

    def closed_by_server(self) -> bool:
        """After an answer that said close: the server does close (no request is left waiting)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:  # closed with some of our body unread: RST after its FIN
            return True


def json_body(size: int) -> bytes:
    return json.dumps({"padding": "x" * size}).encode()


# (what is refused, method, path, body's content type, extra headers, its status)
REFUSALS = [
    (
        "401 bureau API, wrong key",
        "POST",
        "/bureau/api/v1/operations",
        "application/json",
        (("Authorization", "Bearer no.key"),),
        401,
    ),
    ("401 provider API, no credentials", "POST", "/api/v1/applications", "application/json", (), 401),
    ("422 a verification of the wrong shape", "POST", "/bureau/api/v1/verifications", "application/json", (), 422),
    ("415 not JSON", "POST", "/bureau/api/v1/verifications", "text/plain", (), 415),
    (
        "403 a form posted without its CSRF token",
        "POST",
        "/portal/login/",
        "application/x-www-form-urlencoded",
        (),
        403,
    ),
    ("404 no such path", "POST", "/no/such/path", "application/json", (), 404),
    ("405 a method the page does not take", "PUT", "/bureau/api/v1/provinces", "application/json", (), 405),
]


def test_kept_open_connection_answers_every_request_after_refusals_of_bodies_within_the_limit(platform):
    """Refusal after refusal on one connection, each leaving a 200 KB body unread, then a read:
    every request is answered on the same connection, which stays open."""
    with closing(socket.create_connection(platform)) as sock:
        client = Client(sock)
        for what, method, path, content_type, headers, expected in REFUSALS:
            status, connection = client.exchange(
                method, path, json_body(WITHIN), (("Content-Type", content_type), *headers)
            )
            assert (status, connection) == (expected, "keep-alive"), what
        assert client.exchange("GET", "/bureau/api/v1/provinces") == (200, "keep-alive")


@pytest.mark.parametrize(
    ("what", "path", "headers", "expected"),
    [
        ("413 a body larger than the platform takes", "/bureau/api/v1/verifications", (), 413),
        ("401 before the large body is read", "/bureau/api/v1/operations", (("Authorization", "Bearer no.key"),), 401),
        ("401 on the provider API", "/api/v1/applications", (), 401),
    ],
)
def test_refusal_of_a_body_beyond_the_limit_says_connection_close(platform, what, path, headers, expected):
    """A body the platform will never read is not read to be thrown away: the answer says
    `Connection: close`, the server closes, and the client's next request goes on a new connection."""
    with closing(socket.create_connection(platform)) as sock:
        client = Client(sock)
        status, connection = client.exchange(
            "POST", path, json_body(BEYOND), (("Content-Type", "application/json"), *headers)
        )
        assert (status, connection) == (expected, "close"), what
        assert client.closed_by_server()
    with closing(socket.create_connection(platform)) as sock:
        assert Client(sock).exchange("GET", "/bureau/api/v1/provinces") == (200, "keep-alive")


def test_a_chunked_body_is_answered_with_connection_close(platform):
    """A body of unknown length (chunked) is one Django never reads: the answer closes the connection."""
    with closing(socket.create_connection(platform)) as sock:
        sock.settimeout(20)
        conn = h11.Connection(h11.CLIENT)
        head = [("Host", "127.0.0.1"), ("Transfer-Encoding", "chunked"), ("Content-Type", "application/json")]
        sock.sendall(
            conn.send(h11.Request(method="POST", target="/bureau/api/v1/verifications", headers=head))
            + conn.send(h11.Data(data=json_body(WITHIN)))
            + conn.send(h11.EndOfMessage())
        )
        while not isinstance(event := conn.next_event(), h11.Response):
            assert event is h11.NEED_DATA
            conn.receive_data(sock.recv(65536))
        assert dict(event.headers)[b"connection"] == b"close"
