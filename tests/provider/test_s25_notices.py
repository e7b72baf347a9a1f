"""S25: the mail server and the SMS gateway are down for an hour; every notice of that hour arrives
once when they return, and nothing else waits for them (issue 14, beian/messaging/outbox.py).

Real servers stand in for the real ones: aiosmtpd's SMTP server, reached by Django's SMTP backend,
and an HTTP SMS gateway (the standard library's HTTP server) reached by `HttpSmsBackend`, each on a
free port. Notices of both sides go through them: the bureau's verification codes and the
provider's notices to its customer. Time is the simulated clock, moved by hand between the
workers' rounds (the rounds are what `bureau_worker` and `provider_worker` do, called in-process).
"""

from __future__ import annotations

import email
import json
import threading
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.db import connections

from beian.accounts import emails
from beian.bureau import work as bureau_work
from beian.bureau.models import OutgoingMessage
from beian.core import clock
from beian.messaging import outbox, send
from beian.provider import applications, notices, review
from beian.provider import work as provider_work
from beian.provider.models import Application, OutgoingNotice
from tests.provider.test_flow import new_filing_data
from tests.provider.test_worker_crash import _free_port

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State
ROWS = (OutgoingMessage, OutgoingNotice)  # the bureau's outbox and the provider's


class MailServer:
    """An SMTP server that is off, then refuses every recipient (451, try later), then accepts."""

    def __init__(self):
        self.port = _free_port()
        self.accepting = False
        self.received: list[tuple[str, tuple[str, ...]]] = []  # (Message-ID, recipients)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.running = False

    def start(self) -> None:
        self.controller.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.accepting:
            return "451 4.3.0 Mail server unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content)
        self.received.append((message["Message-ID"], tuple(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmsGateway:
    """An HTTP SMS gateway that answers 503 while down and takes every SMS when up."""

    def __init__(self):
        self.down = True
        self.received: list[dict] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if gateway.down:
                    self.send_response(503)
                else:
                    gateway.received.append({**body, "idempotency_key": self.headers.get("Idempotency-Key")})
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mail(settings):
    server = MailServer()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, 5
    yield server
    server.stop()


@pytest.fixture
def gateway(settings):
    server = SmsGateway()
    settings.BEIAN_SMS_BACKEND = "beian.messaging.backends.HttpSmsBackend"
    settings.BEIAN_SMS_URL = server.url
    yield server
    server.close()


def a_round(bureau) -> None:
    """One round of each worker: the provider delivers and syncs, the bureau works, the provider notifies."""
    provider_work.JOBS["deliver"](bureau)
    provider_work.JOBS["sync"](bureau)
    bureau_work.run_due()
    provider_work.JOBS["notify"](bureau)


def pending() -> int:
    return sum(model.objects.filter(sent_at__isnull=True).count() for model in ROWS)


def tries_expected(rounds: list, created) -> int:
    """How many times a row written at `created` is tried in `rounds`, if each failure waits its backoff."""
    tries, due = 0, created
    for at in rounds:
        if at >= due:
            tries += 1
            due = at + outbox.backoff(tries)
    return tries


def test_s25_mail_and_sms_down_for_an_hour_every_notice_arrives_once(people, bureau, sim_clock, mail, gateway):
    alice, bob = people["alice"], people["bob"]
    app = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(25, "s25-outage.cn"))
    review.approve(app=applications.submit(app=app, user=alice), specialist=bob)

    # The hour: rounds every 5 s for the first minutes, then every minute. The mail server is off
    # for the first half hour and refuses every recipient for the second; the gateway answers 503.
    start = clock.now()
    rounds = [start + timedelta(seconds=5 * n) for n in range(36)]
    rounds += [start + timedelta(minutes=m) for m in range(4, 60)]
    for at in rounds:
        sim_clock.advance(at - clock.now())
        if at - start >= timedelta(minutes=30) and not mail.running:
            mail.start()
        a_round(bureau)
        if at == start:
            # Nothing waits for the notices: delivered and at the bureau in the first round.
            app.refresh_from_db()
            assert app.state == S.AWAITING_VERIFICATION

    assert mail.received == []
    assert gateway.received == []
    written = {model: list(model.objects.all()) for model in ROWS}
    assert all(written.values())  # both sides had notices to send: the bureau's codes, the provider's news
    assert {row.channel for rows in written.values() for row in rows} == {"sms", "email"}
    for rows in written.values():
        for row in rows:
            assert row.sent_at is None
            assert row.last_error
            # Retried with exponential backoff, not at every round.
            assert row.attempts == tries_expected([at for at in rounds if at >= row.created_at], row.created_at)
            assert row.attempts < len(rounds) / 5

    # They return: every notice of the hour arrives, once.
    mail.accepting, gateway.down = True, False
    for _ in range(10):
        sim_clock.advance(timedelta(minutes=1))
        a_round(bureau)
        if not pending():
            break
    assert pending() == 0
    emails = [row for rows in written.values() for row in rows if row.channel == "email"]
    texts = [row for rows in written.values() for row in rows if row.channel == "sms"]
    assert Counter(mail.received) == Counter((outbox.message_id(row.key), (row.recipient,)) for row in emails)
    assert Counter((sms["key"], sms["to"]) for sms in gateway.received) == Counter(
        (str(row.key), row.recipient) for row in texts
    )
    assert all(sms["idempotency_key"] == sms["key"] for sms in gateway.received)
    # The bureau keeps no body once sent (a filing password may be in it).
    assert set(OutgoingMessage.objects.values_list("body", flat=True)) == {OutgoingMessage.SENT_PLACEHOLDER}


def test_a_notice_is_sent_once_when_the_worker_dies_after_sending_it(people, clock):
    """The worker hands a notice to the backend and dies before recording it: another sends it
    again once the lease has run out, under the same key, and the sandbox keeps it once."""
    alice = people["alice"]
    app = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(26, "s25-crash.cn"))
    notices.tell(app, "expired")
    rows = list(OutgoingNotice.objects.all())
    assert {row.channel for row in rows} == {"email", "sms"}
    for row in rows:  # the dying worker: claimed and handed over, never recorded
        assert outbox.claim(OutgoingNotice, row)
        outbox.hand_over(row, sender=notices.SENDER)

    assert notices.dispatch() == 0  # its lease holds: no other worker sends them meanwhile
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    assert notices.dispatch() == 2  # the lease ran out: sent again, under the same keys
    assert notices.dispatch() == 0

    assert [m.key for m in send.received(emails.of(alice))] == [
        outbox.message_id(r.key) for r in rows if r.channel == "email"
    ]
    assert [m.key for m in send.received("13600000001")] == [str(r.key) for r in rows if r.channel == "sms"]
    assert set(OutgoingNotice.objects.values_list("attempts", flat=True)) == {2}


def test_a_notice_goes_to_the_accounts_sealed_email_as_it_is_now(people):
    """Issue 14: the address is read from the account's sealed email, not from auth_user.email."""
    alice = people["alice"]
    emails.keep(alice, "alice.new@example.cn")  # she changed it since signing up
    app = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(28, "s25-mail.cn"))
    notices.tell(app, "expired")
    assert OutgoingNotice.objects.get(channel="email").recipient == "alice.new@example.cn"
    assert notices.dispatch() == 2
    [told] = send.received("alice.new@example.cn")
    assert "失效" in told.body
    assert not send.received("alice@example.cn")

    emails.keep(alice, "")  # no email any more: told by SMS alone
    notices.tell(app, "expired")
    assert list(OutgoingNotice.objects.filter(attempts=0).values_list("channel", flat=True)) == ["sms"]


def test_a_notice_of_a_rolled_back_change_is_never_sent(people):
    from django.db import transaction

    app = applications.create_draft(owner=people["alice"], op_type="new_filing", data=new_filing_data(27, "gone.cn"))

    def change_that_fails() -> None:
        with transaction.atomic():
            notices.tell(app, "expired")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert not OutgoingNotice.objects.exists()


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 5), (2, 10), (3, 20), (6, 160), (7, 300), (40, 300)])
def test_backoff_doubles_from_five_seconds_up_to_the_cap(settings, attempts, seconds):
    settings.BEIAN_NOTICE_MAX_BACKOFF_SECONDS = 300
    assert outbox.backoff(attempts) == timedelta(seconds=seconds)


# Serialized rollback, as every transactional test here: the flush at its end empties what the
# migrations filled, which the next test finds put back (tests/conftest.py).
@pytest.mark.django_db(databases=["default", "bureau"], transaction=True, serialized_rollback=True)
def test_issue10_a_worker_takes_the_next_notice_no_other_worker_is_taking(people, clock):
    """Issue 10: on PostgreSQL a worker claims the first due notice that no other worker is claiming
    at that moment (FOR UPDATE SKIP LOCKED), with its lease, in one statement: it never reads a row
    that another then takes from under it. Another worker's claim in progress is a lock held by
    another connection here."""
    if not outbox.skips_locked(OutgoingNotice):
        pytest.skip("SQLite keeps the compare-and-set of a list read first")
    app = applications.create_draft(
        owner=people["alice"], op_type="new_filing", data=new_filing_data(27, "s25-skip.cn")
    )
    notices.tell(app, "expired")
    first, second = outbox.due(OutgoingNotice)
    other = connections["default"].copy()
    other.connect()
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:  # the other worker, mid-claim of the first
            cursor.execute(f"SELECT id FROM {OutgoingNotice._meta.db_table} WHERE id = %s FOR UPDATE", [first.pk])
        taken = outbox.claim_next(outbox.due(OutgoingNotice), until=clock.now() + outbox.LEASE)
        assert taken.pk == second.pk
        assert taken.attempts == 1
        assert outbox.claim_next(outbox.due(OutgoingNotice), until=clock.now() + outbox.LEASE) is None
        other.rollback()
    finally:
        other.close()
    taken = outbox.claim_next(outbox.due(OutgoingNotice), until=clock.now() + outbox.LEASE)
    assert taken.pk == first.pk
    assert outbox.claim_next(outbox.due(OutgoingNotice), until=clock.now() + outbox.LEASE) is None  # both leased
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    assert outbox.claim_next(outbox.due(OutgoingNotice), until=clock.now() + outbox.LEASE).pk == first.pk
