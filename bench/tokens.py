"""`python -m bench tokens [--requests N] [--rounds R] [--database-url URL] [--no-server]`: what
authentication costs on the provider's API (issue 10's row "one authenticated /api/v1/ request with
a token: within 2× of the same request with a session").

One request, `GET /api/v1/applications` as alice (who has a few drafts), is sent again and again
with each of three credentials, all in the same run on the same data:

- a session (the portal's cookie; Django's database sessions: the session row, then the user);
- a personal API token (`Authorization: Bearer …`: one query for the token and its user, an HMAC);
- HTTP Basic with the password (Argon2 with the production parameters of settings.py), for contrast,
  with fewer requests because each takes a password hash, and with its rate limit lifted.

Measured twice: in process with Django's test client (the whole middleware stack and the view, no
HTTP), then through gunicorn on loopback with the project's config (one worker, one thread, so the
requests do not overlap), over one keep-alive connection. Rounds alternate the credentials' order;
each latency is wall time of one request, and the figures are over every round: median, p90 and the
ratio token/session of the medians, the one the target is about.

The data is a fresh SQLite file in a temporary directory (the embedded default), or, with
`--database-url postgres://user@host:port`, a database created on that server for the run and
dropped after it.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
PATH = "/api/v1/applications"
DRAFTS = 5
TARGET_RATIO = 2.0
BASIC_SHARE = 50  # one Basic request for every this many of the others: each costs a password hash
STARTUP_SECONDS = 60.0


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPU(s) (nproc), {model}, Python {platform.python_version()}"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# ---------------------------------------------------------------- the data


class Database:
    """Where the run's data lives: a temporary SQLite file, or a database made on a PostgreSQL server."""

    def __init__(self, tmp: Path, url: str | None):
        self.tmp = tmp
        self.server = url.rstrip("/") if url else None
        self.name = f"beian_bench_tokens_{uuid.uuid4().hex[:8]}"

    def environment(self) -> dict[str, str]:
        env = {"BEIAN_VAR_DIR": str(self.tmp), "BEIAN_DATABASE_URL": "", "BEIAN_BUREAU_DATABASE_URL": ""}
        if self.server:
            env["BEIAN_DATABASE_URL"] = f"{self.server}/{self.name}"
            env["BEIAN_BUREAU_DATABASE_URL"] = f"{self.server}/{self.name}_bureau"
        return env

    def describe(self) -> str:
        return f"PostgreSQL ({urlsplit(self.server).netloc})" if self.server else "SQLite (a file, as embedded)"

    def _admin(self, statement: str) -> None:
        import psycopg

        parts = urlsplit(self.server)
        with psycopg.connect(
            host=parts.hostname, port=parts.port or 5432, user=parts.username, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(statement)

    def create(self) -> None:
        if self.server:
            for name in (self.name, f"{self.name}_bureau"):
                self._admin(f'CREATE DATABASE "{name}"')

    def drop(self) -> None:
        if self.server:
            for name in (self.name, f"{self.name}_bureau"):
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare() -> dict[str, str]:
    """Migrate, make alice with her drafts, her session and her token: the three credentials."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    logging.getLogger("beian.provider.tokens").setLevel(logging.WARNING)  # "API token … made": not a figure
    call_command("migrate", verbosity=0)
    call_command("migrate", database="bureau", verbosity=0)  # the simulation's clock lives there, as in make run
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    from beian.provider import applications, tokens

    if not settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher"):
        raise SystemExit("the bench measures Basic with the production password hasher, Argon2")
    alice = User.objects.create_user("alice", "alice@example.cn", "alice-bench-password")
    for _ in range(DRAFTS):
        applications.create_draft(owner=alice, op_type="new_filing", data={})
    session = SessionStore()
    session["_auth_user_id"] = str(alice.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = alice.get_session_auth_hash()
    session.create()
    return {
        "session": session.session_key,
        "token": tokens.create(user=alice, name="bench").secret,
        "basic": "Basic " + base64.b64encode(b"alice:alice-bench-password").decode(),
    }


# ---------------------------------------------------------------- measuring


def timed(send: Callable[[], int], count: int) -> list[float]:
    took = []
    for _ in range(count):
        start = time.perf_counter()
        status = send()
        took.append(time.perf_counter() - start)
        if status != 200:
            raise SystemExit(f"a request answered {status}, not 200: the bench measures nothing")
    return took


def run(senders: dict[str, Callable[[], int]], requests: int, rounds: int) -> dict[str, list[float]]:
    """Each credential's latencies over `rounds` rounds, the order alternating; a warm-up first."""
    per_round = max(1, requests // rounds)
    counts = {name: per_round if name != "basic" else max(1, per_round // BASIC_SHARE) for name in senders}
    for name, send in senders.items():
        timed(send, min(20, counts[name]))
    out: dict[str, list[float]] = {name: [] for name in senders}
    for r in range(rounds):
        for name in list(senders) if r % 2 == 0 else list(reversed(senders)):
            out[name] += timed(senders[name], counts[name])
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(title: str, results: dict[str, list[float]], queries: dict[str, int] | None = None) -> bool:
    print(title)
    print(f"  {'':<16}{'requests':>9}{'median':>11}{'p90':>11}{'mean':>11}" + ("  queries" if queries else ""))
    labels = {"session": "session", "token": "API token", "basic": "Basic (Argon2)"}
    for name, took in results.items():
        line = (
            f"  {labels[name]:<16}{len(took):>9}{statistics.median(took) * 1000:>9.2f}ms"
            f"{percentile(took, 0.9) * 1000:>9.2f}ms{statistics.fmean(took) * 1000:>9.2f}ms"
        )
        if queries:
            line += f"  {queries[name]:>7}"
        print(line)
    session, token = statistics.median(results["session"]), statistics.median(results["token"])
    basic = statistics.median(results["basic"])
    ok = token / session <= TARGET_RATIO
    print(
        f"  token/session {token / session:.2f} (target ≤ {TARGET_RATIO:g}: {verdict(ok)});"
        f" Basic/token {basic / token:.0f}×",
        flush=True,
    )
    return ok


def in_process(credentials: dict[str, str], requests: int, rounds: int) -> bool:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.BEIAN_BASIC_RATE_PER_MINUTE = settings.BEIAN_BASIC_CLIENT_RATE_PER_MINUTE = 10**9
    session = Client()
    session.cookies[settings.SESSION_COOKIE_NAME] = credentials["session"]
    token, basic = (
        Client(HTTP_AUTHORIZATION=f"Bearer {credentials['token']}"),
        Client(HTTP_AUTHORIZATION=credentials["basic"]),
    )
    senders = {
        "session": lambda: session.get(PATH).status_code,
        "token": lambda: token.get(PATH).status_code,
        "basic": lambda: basic.get(PATH).status_code,
    }
    queries = {}
    for name, send in senders.items():
        send()
        with CaptureQueriesContext(connection) as captured:
            send()
        queries[name] = len(captured)
    results = run(senders, requests, rounds)
    return report(f"in process, Django's test client: GET {PATH} ({DRAFTS} applications)", results, queries)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def through_gunicorn(credentials: dict[str, str], env: dict[str, str], requests: int, rounds: int) -> bool:
    import httpx
    from django.conf import settings

    port = free_port()
    server_env = {k: v for k, v in os.environ.items() if not k.startswith(("BEIAN_", "DJANGO_"))}
    server_env.update(env)
    server_env.update(
        DJANGO_SETTINGS_MODULE="beian.settings",
        BEIAN_BIND=f"127.0.0.1:{port}",
        BEIAN_WEB_WORKERS="1",
        BEIAN_WEB_THREADS="1",
        BEIAN_BASIC_RATE_PER_MINUTE=str(10**9),
        BEIAN_BASIC_CLIENT_RATE_PER_MINUTE=str(10**9),
    )
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    log = Path(env["BEIAN_VAR_DIR"]) / "gunicorn.log"
    server = subprocess.Popen(
        [gunicorn, "beian.wsgi:application", "--config", str(ROOT / "beian" / "gunicorn_conf.py")],
        cwd=ROOT,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                httpx.get(f"{base}/api/v1/openapi.json", timeout=5)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        clients = {
            "session": httpx.Client(base_url=base, cookies={settings.SESSION_COOKIE_NAME: credentials["session"]}),
            "token": httpx.Client(base_url=base, headers={"Authorization": f"Bearer {credentials['token']}"}),
            "basic": httpx.Client(base_url=base, headers={"Authorization": credentials["basic"]}),
        }
        senders = {name: (lambda c=client: c.get(PATH).status_code) for name, client in clients.items()}
        results = run(senders, requests, rounds)
        for client in clients.values():
            client.close()
        return report(f"through gunicorn on loopback (1 worker, 1 thread, keep-alive): GET {PATH}", results)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench tokens")
    parser.add_argument("--requests", type=int, default=1000, help="session and token requests each, per measure")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", help="a PostgreSQL server (postgres://user@host:port); default: SQLite")
    parser.add_argument("--no-server", action="store_true", help="in process only, without gunicorn")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="beian-bench-tokens-"))
    database = Database(tmp, args.database_url)
    env = database.environment()
    for name in [k for k in os.environ if k.startswith("BEIAN_")]:
        del os.environ[name]  # this run's data, whatever the shell points at
    os.environ.update(env, DJANGO_SETTINGS_MODULE="beian.settings")
    database.create()
    try:
        print(f"API authentication: {machine()}; {database.describe()}\n", flush=True)
        credentials = prepare()
        met = [in_process(credentials, args.requests, args.rounds)]
        if not args.no_server:
            from django.db import connections

            connections.close_all()  # the server's process has the database to itself while measured
            met.append(through_gunicorn(credentials, env, args.requests, args.rounds))
    finally:
        from django.db import connections

        connections.close_all()
        database.drop()
        shutil.rmtree(tmp, ignore_errors=True)
    if not all(met):
        sys.exit(1)


if __name__ == "__main__":
    main()
