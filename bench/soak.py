"""`python -m bench.soak [--minutes 10] [--clients 4] [--workers 2] [--seed 14]`: a soak with faults
(issue 14), a benchmark, not a test; `make soak` runs it (`SOAK="--minutes 2"` for a shorter one) and
writes its figures into docs/hardening.md.

For `--minutes`, customers file steadily, as bench/volume.py drives them (over HTTP only: a personal
API token for the customer and the specialist, the principal's SMS code read from what the SMS
gateway received and confirmed at the bureau), while everything around the platform fails:

- the simulated bureau refuses 10 % of the requests to its API (503) and carries out 5 % and then
  drops their connection unanswered (`PUT /bureau/sim/v1/faults`);
- every 30 s a provider or bureau worker, drawn at random (seeded), is killed with SIGKILL and
  started again at once;
- the mail server (a real SMTP server, aiosmtpd, on a free port) is down, connections refused,
  for two minutes from a fifth of the run (a fifth of the run if that is shorter);
- PostgreSQL is restarted once (`pg_ctl restart -m fast`), at three fifths of the run.

The platform runs as `make run` runs it: gunicorn with beian/gunicorn_conf.py, `--workers` provider
workers and as many bureau workers, on a PostgreSQL cluster of the soak's own (Debian's initdb and
pg_ctl, in a temporary directory, on a free port; removed at the end): the machine's shared server is
never restarted. Email goes to the SMTP server, SMS to an HTTP gateway the soak serves
(`HttpSmsBackend`); both count what they receive per message (the email's Message-ID, the SMS's key).

Then the faults stop and the soak waits for everything to settle (every application decided, every
notice sent), and counts from the side of truth, never from the platform's belief:

- delivered once / twice: the bureau's operations per application (the idempotency key is the
  application's id), and operations the bureau holds for no submitted application;
- notices queued: the rows of both outboxes; sent: distinct messages the SMTP server and the gateway
  received; sent twice: messages they received more than once; lost: queued and never received;
- whether the audit chain verifies (`python -m beian verify_audit_chain`).

It exits non-zero if anything was delivered or sent twice, lost, not decided, or the chain breaks.
"""

from __future__ import annotations

import argparse
import email
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import closing, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from bench.scale import free_port, run
from bench.volume import CODE, PY, ROOT, SETUP, Platform, filing, write_block

PG_BIN = Path(os.environ.get("BEIAN_SOAK_PG_BIN", "/usr/lib/postgresql/15/bin"))
DATABASES = ("beian_soak", "beian_soak_bureau")
KILL_EVERY = 30.0
PROGRESS_EVERY = 30.0
FAIL_SHARE, DROP_SHARE = 0.10, 0.05
SMTP_DOWN = 120.0
SETTLE = 600.0  # seconds at most for the platform to settle once the faults stop
MARKER, END = "<!-- bench-soak -->", "<!-- /bench-soak -->"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# ---------------------------------------------------------------- PostgreSQL of the soak's own


class PrivatePostgres:
    """A cluster in a temporary directory, on a free port, trust authentication on 127.0.0.1."""

    def __init__(self, tmp: Path):
        self.dir = tmp / "pg"
        self.dir.mkdir()
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}"
        self.log_file = str(self.dir / "server.log")
        # PostgreSQL refuses to run as root: then it runs as the system's postgres user.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            tmp.chmod(0o711)  # the postgres user passes through the temporary directory to its own
            shutil.chown(self.dir, "postgres")
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        self.start()

    def _pg(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.prefix, str(PG_BIN / tool), *args], capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise SystemExit(f"{tool} {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def _options(self) -> str:
        # fsync off: a fast restart is a clean shutdown, and the machine's disk is shared.
        return f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off"

    def start(self) -> None:
        self._pg("pg_ctl", "start", "-w", "-D", str(self.data), "-l", self.log_file, "-o", self._options())

    def restart(self) -> None:
        # With its log file, or the server would write to pg_ctl's output, which we read to its end.
        self._pg(
            "pg_ctl", "restart", "-w", "-m", "fast", "-D", str(self.data), "-l", self.log_file, "-o", self._options()
        )

    def stop(self) -> None:
        with suppress(SystemExit):
            self._pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))
        shutil.rmtree(self.dir, ignore_errors=True)

    def admin(self, sql: str) -> None:
        import psycopg

        with closing(psycopg.connect(f"{self.url}/postgres", autocommit=True)) as conn:
            conn.execute(sql)

    def rows(self, database: str, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with closing(psycopg.connect(f"{self.url}/{database}", autocommit=True, connect_timeout=5)) as conn:
            return conn.execute(sql, params).fetchall()


# ---------------------------------------------------------------- the receivers


class SmsGateway:
    """An SMS gateway's HTTP API as HttpSmsBackend speaks it: every POST is kept, counted by key."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received: Counter[str] = Counter()
        self.bodies: dict[str, list[str]] = {}  # to → bodies, in order of arrival
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with gateway.lock:
                    gateway.received[body["key"]] += 1
                    gateway.bodies.setdefault(body["to"], []).append(body["body"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def code(self, mobile: str, operation: str) -> str | None:
        with self.lock:
            bodies = list(self.bodies.get(mobile, ()))
        for body in reversed(bodies):
            if operation in body and (found := CODE.search(body)):
                return found[1]
        return None

    def stop(self) -> None:
        self.server.shutdown()


class MailServer:
    """A real SMTP server (aiosmtpd) that counts each message by Message-ID; stopped, its port
    refuses connections."""

    def __init__(self):
        self.port = free_port()
        self.lock = threading.Lock()
        self.received: Counter[str] = Counter()
        self.controller = None
        self.start()

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):
                message = email.message_from_bytes(envelope.original_content or envelope.content)
                with server.lock:
                    server.received[(message["Message-ID"] or "").strip("<> ").removesuffix("@beian")] += 1
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


# ---------------------------------------------------------------- the customers


class Unsettled(Exception):
    pass


@dataclass
class Tally:
    submitted: dict[str, int] = field(default_factory=dict)  # application id → n
    filed: int = 0
    failed: list[str] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Customers:
    """Client threads, each a customer with the specialist and the principal beside it, filing one
    application after another until `stop`; each finishes the one it has begun (until `give_up`)."""

    def __init__(self, url: str, secrets: dict, sms: SmsGateway, clients: int, tally: Tally):
        self.url, self.secrets, self.sms, self.tally = url, secrets, sms, tally
        self.stop = threading.Event()
        self.give_up_at = float("inf")
        self.numbers = iter(range(1, 10**7))
        self.numbers_lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)]
        for t in self.threads:
            t.start()

    def join(self, timeout: float) -> None:
        for t in self.threads:
            t.join(max(timeout, 0.1))

    def _http(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, limits=httpx.Limits(keepalive_expiry=1.0))

    def _client(self, i: int) -> None:
        with (
            self._http(self.secrets["customers"][i]) as customer,
            self._http(self.secrets["specialist"]) as specialist,
            self._http() as public,
        ):
            while not self.stop.is_set():
                with self.numbers_lock:
                    n = next(self.numbers)
                try:
                    self._one(n, customer, specialist, public)
                except Exception as exc:  # counted and shown, never hidden
                    with self.tally.lock:
                        self.tally.failed.append(f"{n}: {exc}")
                time.sleep(0.2)

    def _retry(self, what: str) -> None:
        with self.tally.lock:
            self.tally.retries[what] += 1
        if time.monotonic() > self.give_up_at:
            raise Unsettled(f"gave up: {what}")
        time.sleep(0.5)

    def _call(self, what: str, send, ok: tuple[int, ...] = (200,)) -> dict | None:
        """One request; None if it failed in a way worth trying again (a 5xx, a dropped connection)."""
        try:
            response = send()
        except httpx.TransportError:
            self._retry(f"{what}: no answer")
            return None
        if response.status_code in ok:
            return response.json()
        if response.status_code >= 500:
            self._retry(f"{what}: {response.status_code}")
            return None
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:300]}")

    def _read(self, customer: httpx.Client, path: str) -> dict:
        while (app := self._call("read", lambda: customer.get(path))) is None:
            pass
        return app

    def _one(self, n: int, customer: httpx.Client, specialist: httpx.Client, public: httpx.Client) -> None:
        data, mobile, last6 = filing(n)
        # A draft whose answer is lost is left a draft (it is never submitted); a new one is made.
        while (app := self._call("create", lambda: customer.post("/api/v1/applications",
                                 json={"type": "new_filing", "data": data}), (201,))) is None:  # fmt: skip
            pass
        path = f"/api/v1/applications/{app['id']}"
        # Submit and approve: a step whose answer is lost is found done by reading the application.
        while self._call("submit", lambda: customer.post(f"{path}/submit", json={})) is None:
            if self._read(customer, path)["state"] != "draft":
                break
        with self.tally.lock:
            self.tally.submitted[app["id"]] = n
        while self._call("review", lambda: specialist.post(f"{path}/review", json={"decision": "approve"})) is None:
            if self._read(customer, path)["state"] not in ("submitted", "provider_review"):
                break
        app = self._wait(customer, path, lambda a: a["state"] != "delivered" and a["bureau_operation_id"])
        if app["state"] == "awaiting_verification":
            operation = str(app["bureau_operation_id"])
            while (code := self.sms.code(mobile, operation)) is None:
                self._wait_a_little(app, "its SMS code")
            body = {"operation": operation, "mobile": mobile, "id_last6": last6, "code": code}
            while True:
                # After a lost answer, a retry finds the code taken (200, already verified) or the
                # operation under review already (409): both mean the first one arrived.
                answer = self._call(
                    "verify", lambda: public.post("/bureau/api/v1/verifications", json=body), (200, 409)
                )
                if answer is not None and answer.get("code") == "transition_not_allowed":
                    break
                if answer is not None:
                    if not answer["verified"]:
                        raise RuntimeError(f"the code was refused: {answer}")
                    break
                if self._read(customer, path)["state"] != "awaiting_verification":
                    break
        app = self._wait(customer, path, lambda a: a["state"] in ("approved", "rejected", "expired", "returned"))
        if app["state"] != "approved" or not app["website_number"]:
            raise RuntimeError(f"ended {app['state']}: {app.get('reason')}")
        with self.tally.lock:
            self.tally.filed += 1

    def _wait(self, customer: httpx.Client, path: str, done) -> dict:
        tries = 0
        while not done(app := self._read(customer, path)):
            self._wait_a_little(app, "the application to move", tries)
            tries += 1
        return app

    def _wait_a_little(self, app: dict, what: str, tries: int = 3) -> None:
        if time.monotonic() > self.give_up_at:
            raise Unsettled(f"gave up waiting for {what} (state {app['state']})")
        time.sleep(min(0.1 * 2**tries, 1.0))


# ---------------------------------------------------------------- the counts


@dataclass
class Counts:
    submitted: int
    delivered_once: int
    delivered_twice: int
    not_delivered: int
    strays: int  # operations at the bureau for no submitted application
    filed: int
    queued: int
    sent: int
    sent_twice: int
    lost_notices: int
    unsent_rows: int


def count(pg: PrivatePostgres, tally: Tally, mail: MailServer, sms: SmsGateway) -> Counts:
    keys = Counter(str(k) for (k,) in pg.rows(DATABASES[1], "SELECT idempotency_key FROM bureau_operation"))
    with tally.lock:
        submitted = set(tally.submitted)
        filed = tally.filed
    rows = [
        *pg.rows(DATABASES[0], "SELECT key, sent_at IS NOT NULL FROM provider_outgoingnotice"),
        *pg.rows(DATABASES[1], "SELECT key, sent_at IS NOT NULL FROM bureau_outgoingmessage"),
    ]
    with mail.lock, sms.lock:
        received = Counter(mail.received) + Counter(sms.received)
    queued = {str(k) for k, _ in rows}
    return Counts(
        submitted=len(submitted),
        delivered_once=sum(1 for a in submitted if keys[a] == 1),
        delivered_twice=sum(1 for a in submitted if keys[a] > 1),
        not_delivered=sum(1 for a in submitted if keys[a] == 0),
        strays=sum(n for k, n in keys.items() if k not in submitted),
        filed=filed,
        queued=len(queued),
        sent=sum(1 for k in queued if received[k] >= 1),
        sent_twice=sum(1 for k in received if received[k] > 1),
        lost_notices=sum(1 for k in queued if received[k] == 0),
        unsent_rows=sum(1 for _, sent in rows if not sent),
    )


# ---------------------------------------------------------------- the faults


class Workers:
    """The provider and bureau workers, each in a slot that is started again when it is killed."""

    def __init__(self, platform: Platform, count: int):
        self.platform = platform
        self.slots: dict[str, subprocess.Popen] = {}
        for i in range(count):
            for side in ("provider", "bureau"):
                self.start(f"{side}-{i}")
        self.kills: Counter[str] = Counter()

    def start(self, name: str) -> None:
        command = "provider_worker" if name.startswith("provider") else "bureau_worker"
        self.slots[name] = self.platform._start(name, [PY, "-m", "beian", command, "--interval", "1"])

    def kill(self, rng: random.Random) -> str:
        name = rng.choice(sorted(self.slots))
        proc = self.slots[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        self.kills[name] += 1
        self.start(name)
        return name

    def exited(self, elapsed: float) -> list[str]:
        """Workers that ended by themselves (not killed by the soak), started again as a supervisor
        would: a worker must never stop."""
        gone = [name for name, proc in self.slots.items() if proc.poll() is not None]
        for name in gone:
            log(f"{elapsed:6.0f} s  {name} exited by itself ({self.slots[name].returncode}); started again")
            self.start(name)
        return [f"{elapsed:.0f} s: {name}" for name in gone]

    def stop(self) -> None:
        for proc in self.slots.values():
            proc.terminate()
        for proc in self.slots.values():
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60)


def sim(url: str, method: str, path: str, body: dict | None = None) -> dict:
    """The simulation's panel; tried again while PostgreSQL restarts."""
    for _ in range(60):
        with suppress(httpx.HTTPError):
            response = httpx.request(method, f"{url}/bureau/sim/v1/{path}", json=body, timeout=10)
            if response.status_code == 200:
                return response.json()
        time.sleep(1)
    raise SystemExit(f"the simulation's panel does not answer {method} {path}")


# ---------------------------------------------------------------- the run


def environment(pg: PrivatePostgres, tmp: Path, mail: MailServer, sms: SmsGateway) -> dict:
    return {
        **os.environ,
        "BEIAN_DATABASE_URL": f"{pg.url}/{DATABASES[0]}",
        "BEIAN_BUREAU_DATABASE_URL": f"{pg.url}/{DATABASES[1]}",
        "BEIAN_VAR_DIR": str(tmp),
        "BEIAN_SIMULATION": "1",
        "BEIAN_BUREAU_REVIEW": "auto",
        "BEIAN_BUREAU_DELAY": "instant",
        "BEIAN_BUREAU_REJECT_SHARE": "0",
        "BEIAN_PUBLIC_RATE_PER_MINUTE": "100000000",
        "BEIAN_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "BEIAN_EMAIL_HOST": "127.0.0.1",
        "BEIAN_EMAIL_PORT": str(mail.port),
        "BEIAN_SMS_BACKEND": "beian.messaging.backends.HttpSmsBackend",
        "BEIAN_SMS_URL": sms.url,
        # The soak's minutes are real minutes: retries wait at most a minute, not five or ten.
        "BEIAN_NOTICE_MAX_BACKOFF_SECONDS": "60",
        "BEIAN_DELIVERY_MAX_BACKOFF_SECONDS": "60",
        "BEIAN_LOG_LEVEL": "WARNING",
    }


@dataclass
class Schedule:
    minutes: float

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    @property
    def smtp_down(self) -> tuple[float, float]:
        start = self.seconds / 5
        return start, start + min(SMTP_DOWN, self.seconds / 5)

    @property
    def pg_restart(self) -> float:
        return self.seconds * 3 / 5


def progress(elapsed: float, pg: PrivatePostgres, tally: Tally, mail: MailServer, sms: SmsGateway) -> Counts | None:
    try:
        c = count(pg, tally, mail, sms)
    except Exception as exc:  # PostgreSQL restarting: the next line will tell
        log(f"{elapsed:6.0f} s  (counts unavailable: {str(exc).splitlines()[0]})")
        return None
    delivered = c.delivered_once + c.delivered_twice
    log(f"{elapsed:6.0f} s  submitted {c.submitted}, delivered {delivered}, pending {c.submitted - delivered}, "
        f"filed {c.filed}, failed {len(tally.failed)}; notices queued {c.queued}, sent {c.sent}, "
        f"waiting {c.unsent_rows}")  # fmt: skip
    return c


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="of applications under faults")
    parser.add_argument("--clients", type=int, default=4, help="customers filing at once")
    parser.add_argument("--workers", type=int, default=2, help="provider workers and as many bureau workers")
    parser.add_argument("--seed", type=int, default=14, help="of the draws of which worker is killed")
    parser.add_argument("--out", default=str(ROOT / "docs" / "hardening.md"))
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    args = parser.parse_args(argv)
    schedule = Schedule(args.minutes)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="beian-soak-") as tmpdir:
        tmp = Path(tmpdir)
        pg = PrivatePostgres(tmp)
        mail, sms = MailServer(), SmsGateway()
        platform = workers = customers = None
        try:
            for name in DATABASES:
                pg.admin(f'CREATE DATABASE "{name}"')
            env = environment(pg, tmp, mail, sms)
            run([PY, "-m", "beian", "migrate", "--noinput", "-v0"], env)
            run([PY, "-m", "beian", "migrate", "--noinput", "--database", "bureau", "-v0"], env)
            setup = SETUP.format(clients=args.clients, slug="soak", provider_name="浸泡测试接入商")
            out = run([PY, "-m", "beian", "shell", "-c", setup], env)
            secrets = json.loads(out.strip().splitlines()[-1])
            env["BEIAN_BUREAU_API_KEY"] = secrets["key"]
            platform = Platform(env, tmp)
            sim(platform.url, "PUT", "faults", {"fail_share": FAIL_SHARE, "drop_share": DROP_SHARE})
            workers = Workers(platform, args.workers)
            log(f"soak: {args.minutes:g} min, {args.clients} customers, {args.workers} provider and "
                f"{args.workers} bureau workers, PostgreSQL {pg.port} (private), SMTP {mail.port}; bureau "
                f"fails {FAIL_SHARE:.0%} and drops {DROP_SHARE:.0%}; a worker killed every {KILL_EVERY:.0f} s, "
                f"SMTP down {schedule.smtp_down[0]:.0f}–{schedule.smtp_down[1]:.0f} s, "
                f"PostgreSQL restarted at {schedule.pg_restart:.0f} s")  # fmt: skip
            tally = Tally()
            customers = Customers(platform.url, secrets, sms, args.clients, tally)
            started = time.monotonic()
            next_kill, next_progress = KILL_EVERY, PROGRESS_EVERY
            smtp_stopped = smtp_restarted = pg_restarted = False
            events: list[str] = []
            exited: list[str] = []
            loads: list[float] = []
            while (elapsed := time.monotonic() - started) < schedule.seconds:
                if elapsed >= next_kill:
                    events.append(f"{elapsed:.0f} s: killed {workers.kill(rng)}")
                    next_kill += KILL_EVERY
                if not smtp_stopped and elapsed >= schedule.smtp_down[0]:
                    mail.stop()
                    smtp_stopped = True
                    log(f"{elapsed:6.0f} s  SMTP server stopped")
                if smtp_stopped and not smtp_restarted and elapsed >= schedule.smtp_down[1]:
                    mail.start()
                    smtp_restarted = True
                    log(f"{elapsed:6.0f} s  SMTP server started again")
                if not pg_restarted and elapsed >= schedule.pg_restart:
                    began = time.monotonic()
                    pg.restart()
                    pg_restarted = True
                    log(f"{elapsed:6.0f} s  PostgreSQL restarted ({time.monotonic() - began:.1f} s)")
                if elapsed >= next_progress:
                    loads.append(os.getloadavg()[0])  # the machine may be shared: said beside the counts
                    progress(elapsed, pg, tally, mail, sms)
                    if events:
                        log("         " + "; ".join(events[-2:]))
                    next_progress += PROGRESS_EVERY
                exited += workers.exited(elapsed)
                time.sleep(0.2)

            loads.append(os.getloadavg()[0])
            # The faults stop; what was begun is finished and every notice sent.
            customers.stop.set()
            customers.give_up_at = time.monotonic() + SETTLE
            sim(platform.url, "PUT", "faults", {"fail_share": 0, "drop_share": 0})
            if not smtp_restarted:
                mail.start()
            log(f"{time.monotonic() - started:6.0f} s  faults off; settling (at most {SETTLE:.0f} s)")
            settle_deadline = time.monotonic() + SETTLE
            while time.monotonic() < settle_deadline:
                customers.join(0)
                c = progress(time.monotonic() - started, pg, tally, mail, sms)
                exited += workers.exited(time.monotonic() - started)
                alive = any(t.is_alive() for t in customers.threads)
                if c is not None and not alive and c.unsent_rows == 0:
                    break
                time.sleep(10)
            customers.join(settle_deadline - time.monotonic())
            final = count(pg, tally, mail, sms)
            workers.stop()
            kills = sum(workers.kills.values())
            chain = subprocess.run([PY, "-m", "beian", "verify_audit_chain"], cwd=ROOT, env=env,
                                   capture_output=True, text=True)  # fmt: skip
            chain_text = (chain.stdout.strip() or chain.stderr.strip().splitlines()[-1]).strip()
            chain_ok = chain.returncode == 0
        finally:
            if customers is not None:
                customers.stop.set()
                customers.give_up_at = 0
            if workers is not None:
                workers.stop()  # a second time after the run: nothing left to stop
            if platform is not None:
                platform.web.terminate()
                with suppress(subprocess.TimeoutExpired):
                    platform.web.wait(timeout=60)
            mail.stop()
            sms.stop()
            pg.stop()
            logs = {p.name: p.read_text(errors="replace") for p in tmp.glob("*.log")}

    tracebacks = Counter()
    for name, text in logs.items():
        for m in re.finditer(r"^(\w+(?:\.\w+)*(?:Error|Exception)): (.*)$", text, re.M):
            tracebacks[f"{name.split('-')[0]}: {m[1]}: {m[2][:100]}"] += 1
    ok = (
        final.delivered_twice == 0
        and final.strays == 0
        and final.not_delivered == 0
        and final.sent_twice == 0
        and final.lost_notices == 0
        and final.unsent_rows == 0
        and not tally.failed
        and not exited
        and chain_ok
    )
    rows = [
        ("applications submitted", final.submitted),
        ("filed (approved, with a website number)", final.filed),
        ("delivered once", final.delivered_once),
        ("delivered twice (must be 0)", final.delivered_twice),
        ("operations for no submitted application (must be 0)", final.strays),
        ("not delivered (lost; must be 0)", final.not_delivered),
        ("applications failed or unsettled (must be 0)", len(tally.failed)),
        ("notices queued (both outboxes)", final.queued),
        ("notices sent (received by the SMTP server and the SMS gateway)", final.sent),
        ("notices sent twice (must be 0)", final.sent_twice),
        ("notices lost (queued, never received; must be 0)", final.lost_notices),
        ("workers killed (SIGKILL) and started again", kills),
        ("workers that stopped by themselves (must be 0)", len(exited)),
        ("audit chain", "verifies" if chain_ok else "BROKEN"),
    ]
    print("\n== soak: " + ("passed" if ok else "FAILED"))
    for what, value in rows:
        print(f"   {what:<70} {value}")
    print(f"   {chain_text}")
    print(f"   load average (1 min) of the machine: up to {max(loads, default=0):.1f} on {os.cpu_count()} cores")
    print("   retries by the customers: " + ", ".join(f"{w} {n}" for w, n in tally.retries.most_common(8)))
    for failure in tally.failed[:10]:
        print(f"   failed: {failure}")
    for what in exited[:10]:
        print(f"   exited: {what}")
    for what, n in tracebacks.most_common(12):
        print(f"   logged {n}× {what}")
    if not args.no_write:
        write(Path(args.out), args, rows, tally, chain_text, max(loads, default=0))
    return 0 if ok else 1


def write(out: Path, args, rows, tally: Tally, chain: str, load: float) -> None:
    lines = [
        f"### Soak with faults: {args.minutes:g} minutes, {args.clients} customers, {args.workers} provider "
        f"and {args.workers} bureau workers, seed {args.seed}",
        "",
        "| what | count |",
        "| --- | ---: |",
        *(f"| {what} | {value} |" for what, value in rows),
        "",
        f"{chain}. Retries by the customers (a 5xx or an unanswered request, tried again): "
        + (", ".join(f"{w} {n}" for w, n in tally.retries.most_common(8)) or "none")
        + f". Load average (1 min) of the machine: up to {load:.1f} on {os.cpu_count()} cores.",
        "",
    ]
    write_block(out, MARKER, END, lines)


if __name__ == "__main__":
    sys.exit(main())
