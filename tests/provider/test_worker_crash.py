"""The delivery worker is killed (SIGKILL) in the middle of a batch and started again: nothing is
lost and nothing reaches the bureau twice (DESIGN §6, §8).

Everything here is real processes: the bureau is served by gunicorn on a free port, the provider's
worker is `python -m beian provider_worker`, and they share on-disk databases that this test
creates for itself, never the test databases of pytest-django (whose transactions no other
process can see):

- when the suite runs on SQLite (no `BEIAN_DATABASE_URL`), two SQLite files in a tmp directory
  (`BEIAN_VAR_DIR`);
- when it runs on PostgreSQL, two databases named after the suite's, `test_<name>_crash_<xdist
  worker>` (created fresh, dropped WITH (FORCE) at the end), so the crash is also proved on
  PostgreSQL's row locks and transactions.

Setup goes through the product (`migrate`, `create_provider`, a `shell -c` script using
`beian.provider.applications` and `review`); the test only reads the databases, with plain SQL.

To kill the worker at the worst moment deterministically rather than by luck, the bureau is
wrapped (tests/provider/live_bureau_wsgi.py) so that the answer to its HOLD_AT-th new operation
is held back after the bureau committed it: the worker has a row claimed and the bureau has the
operation, but the worker never reads the answer. The worker is killed then; the next one must
take the row over once its lease has run out (the simulated clock is moved past the lease through
the simulation API, never slept through) and get the same operation back by idempotency key.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from beian.provider.delivery import LEASE
from tests.provider.test_flow import new_filing_data

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
N = 60  # more than one page of the worker (50 a page); the kill lands inside the first
HOLD_AT = 20  # the operation whose answer the killed worker never reads
# Seconds any single wait may take before the test fails with the logs: a guard against a hang, not
# a measure of speed (each wait polls and returns as soon as its condition holds). The longest wait,
# a fresh worker process delivering 40 operations, took over 30 s on a busy 2-core machine.
DEADLINE = 120.0

SETUP = """
import json, os
from django.contrib.auth.models import Group, User
from beian.provider import applications, review
from beian.provider.models import Profile

alice = User.objects.create_user("alice", "alice@example.cn")
Profile.objects.create(user=alice, mobile="13600000001")
bob = User.objects.create_user("bob", "bob@example.cn")
bob.groups.add(Group.objects.create(name=review.SPECIALISTS))
with open(os.environ["BEIAN_TEST_APPLICATIONS"]) as f:
    for data in json.load(f):
        app = applications.create_draft(owner=alice, op_type="new_filing", data=data)
        review.approve(app=applications.submit(app=app, user=alice), specialist=bob)
"""


class Databases:
    """The two on-disk databases the processes share, and plain-SQL reads of them. `part` names
    PostgreSQL's after the test that uses them (`test_<name>_<part>_<xdist worker>`)."""

    def __init__(self, tmp: Path, part: str = "crash"):
        self.tmp = tmp
        url = os.environ.get("BEIAN_DATABASE_URL", "")
        self.postgres = url.startswith(("postgres://", "postgresql://"))
        if self.postgres:
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            self.urls = {}
            for alias, var in (("default", "BEIAN_DATABASE_URL"), ("bureau", "BEIAN_BUREAU_DATABASE_URL")):
                parts = urlsplit(os.environ[var])
                self.urls[alias] = parts._replace(path=f"/test_{parts.path.lstrip('/')}_{part}_{worker}").geturl()
            self.admin_url = urlsplit(url)._replace(path="/postgres").geturl()

    def env(self) -> dict[str, str]:
        if self.postgres:
            return {"BEIAN_DATABASE_URL": self.urls["default"], "BEIAN_BUREAU_DATABASE_URL": self.urls["bureau"]}
        return {}

    def _names(self) -> list[str]:
        return [urlsplit(u).path.lstrip("/") for u in self.urls.values()]

    def create(self) -> None:
        if self.postgres:
            import psycopg

            with closing(psycopg.connect(self.admin_url, autocommit=True)) as admin:
                for name in self._names():
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    admin.execute(f'CREATE DATABASE "{name}"')

    def drop(self) -> None:
        if self.postgres:
            import psycopg

            with closing(psycopg.connect(self.admin_url, autocommit=True)) as admin:
                for name in self._names():
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def rows(self, alias: str, sql: str) -> list[tuple]:
        if self.postgres:
            import psycopg

            with closing(psycopg.connect(self.urls[alias], autocommit=True)) as conn:
                return conn.execute(sql).fetchall()
        path = self.tmp / ("bureau.sqlite3" if alias == "bureau" else "beian.sqlite3")
        with closing(sqlite3.connect(path, timeout=20)) as conn:
            return conn.execute(sql).fetchall()

    def value(self, alias: str, sql: str):
        return self.rows(alias, sql)[0][0]


def _uuid(value) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


def _free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return f"({path.name}: nothing)"
    return f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Processes:
    """Every subprocess the test starts, each with its output in a file, all ended in `close`."""

    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp = tmp
        self.env = env
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        out = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        out.close()  # the child holds its own descriptor
        self.running.append(proc)
        return proc

    def run(self, name: str, *args: str) -> str:
        proc = self.start(name, *args)
        try:
            rc = proc.wait(timeout=60)
        finally:
            self.stop(proc)
        log = (self.tmp / f"{name}.log").read_text(errors="replace")
        assert rc == 0, f"{' '.join(args)} failed ({rc}):\n{log[-3000:]}"
        return log

    def stop(self, proc: subprocess.Popen, timeout: float = 10.0) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if proc in self.running:
            self.running.remove(proc)

    def close(self) -> None:
        for proc in list(reversed(self.running)):
            self.stop(proc)

    def logs(self) -> str:
        return "\n".join(_tail(p) for p in sorted(self.tmp.glob("*.log")))


def _wait(what: str, done, procs: Processes, *, alive: tuple[subprocess.Popen, ...] = ()) -> None:
    """Poll `done()` every 20 ms until it is true; fail with every process's log on the deadline or
    if a process that must stay up has exited."""
    deadline = time.monotonic() + DEADLINE
    while not done():
        dead = [p.args for p in alive if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            pytest.fail(f"waiting for {what}: {'exited: ' + str(dead) if dead else 'timed out'}\n{procs.logs()}")
        time.sleep(0.02)


def _serve_bureau(procs: Processes) -> tuple[subprocess.Popen, str]:
    """gunicorn on a free port; a port taken between choosing and binding is tried again."""
    for _ in range(3):
        port = _free_port()
        server = procs.start(
            "gunicorn",
            str(BIN / "gunicorn"),
            "tests.provider.live_bureau_wsgi:application",
            "--chdir",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--timeout",
            "60",
            "--access-logfile",
            str(procs.tmp / "access.log"),
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + DEADLINE
        while server.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/bureau/api/v1/provinces", timeout=1).status_code == 200:
                    return server, base
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        procs.stop(server)
    pytest.fail(f"the bureau did not come up\n{procs.logs()}")


def test_delivery_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(tmp_path):
    dbs = Databases(tmp_path)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BEIAN_", "PYTEST_", "DJANGO_")) and k not in ("COVERAGE_PROCESS_START",)
    }
    env.update(
        DJANGO_SETTINGS_MODULE="beian.settings",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        BEIAN_VAR_DIR=str(tmp_path),
        BEIAN_SIMULATION="1",
        BEIAN_BUREAU_REVIEW="manual",
        BEIAN_EMAIL_BACKEND="beian.messaging.backends.SandboxEmailBackend",
        BEIAN_ARGON2_TIME_COST="1",  # the provider key's hash; cheap, as in the rest of the suite
        BEIAN_ARGON2_MEMORY_KIB="64",
        BEIAN_TEST_HOLD_AT=str(HOLD_AT),
        BEIAN_TEST_HOLD_DIR=str(tmp_path),
        BEIAN_TEST_APPLICATIONS=str(tmp_path / "applications.json"),
        **dbs.env(),
    )
    (tmp_path / "applications.json").write_text(
        json.dumps([new_filing_data(n, f"crash-site{n}.cn") for n in range(1, N + 1)], ensure_ascii=False)
    )
    python = sys.executable
    procs = Processes(tmp_path, env)  # shares `env`: the key and the URL added below reach later processes
    try:
        dbs.create()
        # Both databases, the operator's key at the bureau, N approved applications in the outbox.
        migrations = [
            procs.start("migrate-default", python, "-m", "beian", "migrate", "--noinput", "-v0"),
            procs.start("migrate-bureau", python, "-m", "beian", "migrate", "--noinput", "-v0", "--database", "bureau"),
        ]
        for proc in migrations:
            assert proc.wait(timeout=120) == 0, procs.logs()
            procs.stop(proc)
        printed = procs.run("create-provider", python, "-m", "beian", "create_provider", "operator", "本平台")
        env["BEIAN_BUREAU_API_KEY"] = re.search(r"^operator: (\S+)$", printed, re.M)[1]
        setup = procs.start("setup", python, "-m", "beian", "shell", "-c", SETUP)
        server, base = _serve_bureau(procs)
        env["BEIAN_BUREAU_URL"] = f"{base}/bureau/api/v1"
        assert setup.wait(timeout=120) == 0, procs.logs()
        procs.stop(setup)
        assert dbs.value("default", "SELECT count(*) FROM provider_delivery WHERE done_at IS NULL") == N
        assert dbs.value("default", "SELECT count(*) FROM provider_application WHERE state = 'delivered'") == N

        # The first worker delivers until the bureau holds back the answer to its HOLD_AT-th
        # operation; it dies there, in the middle of its first batch, waiting for that answer.
        worker = procs.start(
            "worker-1", python, "-m", "beian", "provider_worker", "--jobs", "deliver", "--interval", "0.2"
        )
        _wait("the held answer", (tmp_path / "held").exists, procs, alive=(worker, server))
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
        procs.stop(worker)

        # Some but not all delivered; the one in flight is at the bureau, unknown to the provider.
        at_bureau_before = {
            _uuid(k): _uuid(i) for k, i in dbs.rows("bureau", "SELECT idempotency_key, id FROM bureau_operation")
        }
        assert len(at_bureau_before) == HOLD_AT
        done = dbs.value("default", "SELECT count(*) FROM provider_delivery WHERE done_at IS NOT NULL")
        assert done == HOLD_AT - 1
        in_flight = dbs.rows(
            "default",
            "SELECT application_id FROM provider_delivery WHERE done_at IS NULL AND claimed_until IS NOT NULL",
        )
        assert len(in_flight) == 1
        lost_answer = _uuid(in_flight[0][0])
        assert lost_answer in at_bureau_before
        assert dbs.value("default", "SELECT count(*) FROM provider_application WHERE state = 'delivered'") == (
            N - HOLD_AT + 1
        )

        # The bureau answers again; simulated time moves past the dead worker's lease (no sleep).
        (tmp_path / "release").touch()
        minutes = int(LEASE.total_seconds()) // 60 + 1
        moved = httpx.post(f"{base}/bureau/sim/v1/clock/advance", json={"minutes": minutes}, timeout=10)
        assert moved.status_code == 200, moved.text

        # A new worker takes over and finishes: the in-flight row again, under the same key.
        worker = procs.start(
            "worker-2", python, "-m", "beian", "provider_worker", "--jobs", "deliver", "--interval", "0.2"
        )
        _wait(
            "every delivery done",
            lambda: dbs.value("default", "SELECT count(*) FROM provider_delivery WHERE done_at IS NULL") == 0,
            procs,
            alive=(worker, server),
        )
        procs.stop(worker)  # SIGTERM: the worker finishes its round and exits
        assert worker.returncode == 0, procs.logs()
        procs.stop(server)  # flushes the access log

        ops = {_uuid(k): _uuid(i) for k, i in dbs.rows("bureau", "SELECT idempotency_key, id FROM bureau_operation")}
        keys = Counter(_uuid(k) for (k,) in dbs.rows("bureau", "SELECT idempotency_key FROM bureau_operation"))
        apps = {
            _uuid(pk): (state, _uuid(op))
            for pk, state, op in dbs.rows("default", "SELECT id, state, bureau_operation_id FROM provider_application")
        }
        deliveries = {
            _uuid(app): (bool(done), outcome, bool(claimed), attempts)
            for app, done, outcome, claimed, attempts in dbs.rows(
                "default",
                "SELECT application_id, done_at IS NOT NULL, outcome, claimed_until IS NOT NULL, attempts"
                " FROM provider_delivery",
            )
        }
        arrivals = Counter(
            _uuid(app)
            for (app,) in dbs.rows(
                "default", "SELECT application_id FROM provider_timelineentry WHERE to_state = 'awaiting_verification'"
            )
        )
        access = (tmp_path / "access.log").read_text()
    finally:
        procs.close()
        dbs.drop()

    # The bureau: exactly N operations, each application's UUID exactly once as idempotency key.
    assert sum(keys.values()) == N
    assert max(keys.values()) == 1
    assert set(keys) == set(apps)
    # The one whose answer was lost got the same operation back, not a second one.
    assert apps[lost_answer][1] == ops[lost_answer] == at_bureau_before[lost_answer]
    # Over HTTP: N operations created, the lost answer asked for once more (200), nothing else.
    statuses = Counter(re.findall(r'"POST /bureau/api/v1/operations HTTP/[\d.]+" (\d{3})', access))
    assert statuses == {"201": N, "200": 1}, statuses

    # The provider: every application awaits verification, holding its operation's id.
    assert {state for state, _ in apps.values()} == {"awaiting_verification"}
    assert {app: op for app, (_, op) in apps.items()} == ops
    # Every delivery done and accepted, none still claimed; the one in flight took two attempts.
    assert {(done, outcome, claimed) for done, outcome, claimed, _ in deliveries.values()} == {
        (True, "accepted", False)
    }
    assert deliveries[lost_answer][3] == 2
    assert sum(attempts for *_, attempts in deliveries.values()) == N + 1
    # And each application arrived at awaiting_verification exactly once.
    assert arrivals == Counter(set(apps))
