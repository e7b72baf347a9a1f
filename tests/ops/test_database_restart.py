"""PostgreSQL restarts under the workers (issue 14's soak, bench/soak.py): the server drops every
connection, and a worker must carry on without a restart of its own, and without sending a notice
twice.

Django replaces a dropped connection only between requests; a worker serves none. Found by the
soak: after `pg_ctl restart` a provider worker failed every round ("the connection is closed")
until its heartbeat, reading the simulated clock from the bureau's database, raised and ended the
process; and a notice handed to the SMS gateway just before the restart could not be recorded, so
it was sent again once its lease ran out.

A restart is what the server does to a connection: `pg_terminate_backend` on this test's own
backends. SQLite has no server to restart: these run on PostgreSQL and are skipped on SQLite.
"""

from __future__ import annotations

import json
import signal
import threading
from contextlib import closing
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections

from beian.bureau import outbox as bureau_outbox
from beian.bureau import simulation
from beian.bureau.models import OutgoingMessage
from beian.core import clock as clock_module
from beian.messaging import outbox, send
from beian.ops.connections import drop_broken
from beian.provider import bureau_client, notices, work
from beian.provider.models import OutgoingNotice

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connections["default"].vendor != "postgresql" or connections["bureau"].vendor != "postgresql",
        reason="a server restart needs a server: set BEIAN_DATABASE_URL and BEIAN_BUREAU_DATABASE_URL to PostgreSQL",
    ),
    # Committed for real, so that the rows outlive the dropped connections.
    pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True),
]


def _admin_url(alias: str) -> str:
    s = connections[alias].settings_dict
    return f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} user={s['USER']} dbname={s['NAME']}"


def backend_pid(alias: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def drop_connection(alias: str, pid: int) -> None:
    """What a restart does to the connection: the server ends it (and waits until it has ended)."""
    with closing(psycopg.connect(_admin_url(alias), autocommit=True)) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()[0]


def restart_under_this_process() -> None:
    for alias in ("default", "bureau"):
        drop_connection(alias, backend_pid(alias))


@pytest.fixture
def saved_signals():
    """bureau_worker installs its own SIGINT and SIGTERM handlers; the suite's come back after."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_provider_worker_carries_on_after_postgres_restarts(sim_clock):
    notice = OutgoingNotice.objects.create(channel="sms", recipient="13600000011", body="您的备案申请已提交")
    clock_module.now()  # the simulated clock has read its offset once, as a running worker has
    restart_under_this_process()
    simulation.forget_cache()  # and reads it again now, from a database that dropped it
    unused = bureau_client.BureauClient(base_url="http://127.0.0.1:9/bureau/api/v1", api_key="unused")

    work.run(["notify"], interval=1, once=True, client=unused)  # the round that meets the restart
    assert OutgoingNotice.objects.get(pk=notice.pk).sent_at is None
    work.run(["notify"], interval=1, once=True, client=unused)  # the next round
    assert OutgoingNotice.objects.get(pk=notice.pk).sent_at is not None
    assert [m.key for m in send.received("13600000011")] == [str(notice.key)]


def test_bureau_worker_carries_on_after_postgres_restarts(sim_clock, saved_signals):
    message = bureau_outbox.sms("13600000012", "您的核验码为 123456")
    clock_module.now()
    restart_under_this_process()
    simulation.forget_cache()

    call_command("bureau_worker", "--once")  # the round that meets the restart
    assert OutgoingMessage.objects.get(pk=message.pk).sent_at is None
    call_command("bureau_worker", "--once")
    assert OutgoingMessage.objects.get(pk=message.pk).sent_at is not None
    assert [m.key for m in send.received("13600000012")] == [str(message.key)]


class RestartingGateway:
    """An HTTP SMS gateway that takes the SMS, and PostgreSQL restarts before it answers."""

    def __init__(self, pid: int):
        self.received: list[str] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                gateway.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["key"])
                drop_connection("default", pid)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_notice_sent_as_postgres_restarts_is_recorded_and_never_sent_again(clock, settings):
    notice = OutgoingNotice.objects.create(channel="sms", recipient="13600000013", body="您的备案已通过")
    gateway = RestartingGateway(backend_pid("default"))
    settings.BEIAN_SMS_BACKEND = "beian.messaging.backends.HttpSmsBackend"
    settings.BEIAN_SMS_URL = gateway.url
    try:
        assert notices.dispatch() == 1  # the gateway has it; the record waits for the database
        assert OutgoingNotice.objects.get(pk=notice.pk).sent_at is not None
        clock.advance(outbox.LEASE + timedelta(seconds=1))  # no lease left to hold a repeat back
        assert notices.dispatch() == 0
    finally:
        gateway.close()
    assert gateway.received == [str(notice.key)]


def test_a_request_that_meets_the_restart_answers_503_with_retry_after(client):
    """A web request in flight when PostgreSQL drops its connection: the request is not at fault
    and the same request a moment later succeeds, so the answer says "retry" (503, Retry-After),
    not 500 (beian/ops/unavailable.py). Here the request's session is read from the dropped
    connection (the public query's own read would be sent again: the next test)."""
    client.raise_request_exception = False
    assert client.get("/bureau/api/v1/query", {"domain": "example.cn"}).status_code == 200
    drop_connection("default", backend_pid("default"))

    client.cookies["sessionid"] = "x" * 32  # a session to look up, in the platform's database
    answer = client.get("/bureau/api/v1/query", {"domain": "example.cn"})
    assert answer.status_code == 503
    assert answer["Retry-After"] == "5"
    assert answer["Content-Type"] == "application/problem+json"
    assert answer.json()["code"] == "service_unavailable"

    # A served process closes the broken connection when the request ends (Django's
    # close_old_connections, which the test client holds back); the next request is answered.
    assert drop_broken() == ["default"]
    assert client.get("/bureau/api/v1/query", {"domain": "example.cn"}).status_code == 200


def test_the_public_query_reads_again_on_a_new_connection_after_a_restart(client):
    """The public query's lean handler skips Django's health check (a round trip a request); a
    kept connection that the server dropped is replaced and the read sent again (`query.fetch`),
    so the query is answered, not refused."""
    assert client.get("/bureau/api/v1/query", {"domain": "example.cn"}).status_code == 200
    drop_connection("bureau", backend_pid("bureau"))
    simulation.forget_faults()  # the switches' read meets the dropped connection first
    assert client.get("/bureau/api/v1/query", {"domain": "example.cn"}).status_code == 200
    assert client.get("/bureau/api/v1/query", {"domain": "example.cn"}).status_code == 200
