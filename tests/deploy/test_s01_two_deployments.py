"""S01 across two deployments (BEIAN_DEPLOYMENT): a provider deployment and a bureau deployment,
each its own processes on its own databases, the provider reaching the bureau only at its URL.
A customer's new filing is approved by the provider's specialist, delivered by the provider's
worker to the bureau's web process, verified by the principal with the code the bureau sent, approved
at the bureau, and followed home by the provider's worker: the filing numbers arrive in the
provider's mirror. Neither deployment serves the other's pages.

On SQLite each deployment has its own directory of files; on PostgreSQL three databases named after
the suite's (`test_<name>_two_<part>_<xdist worker>`, dropped at the end)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
import uuid
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.provider.test_flow import new_filing_data
from tests.provider.test_worker_crash import BIN, Processes, _free_port

CODE = re.compile(r"核验码为 (\d{6})")
# A guard against a hang, not a measure: each command returns when done. Under the load of a full
# suite on two shared cores one command took over the 60 s of Processes.run.
COMMAND_DEADLINE = 300
GUNICORN = (str(BIN / "gunicorn"), "beian.wsgi:application", "--config", "beian/gunicorn_conf.py")


def serve(procs: Processes, name: str, url: str, *args: str) -> None:
    """Start a web process and wait (bounded) until it answers /healthz."""
    proc = procs.start(name, *args)
    deadline = time.monotonic() + COMMAND_DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}\n{procs.logs()}")
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{name} did not answer in {COMMAND_DEADLINE} s\n{procs.logs()}")


def run(procs: Processes, name: str, *args: str) -> str:
    proc = procs.start(name, *args)
    try:
        rc = proc.wait(timeout=COMMAND_DEADLINE)
    except subprocess.TimeoutExpired:
        procs.stop(proc)
        pytest.fail(f"{' '.join(args)} did not finish in {COMMAND_DEADLINE} s\n{procs.logs()}")
    log = (procs.tmp / f"{name}.log").read_text(errors="replace")
    assert rc == 0, f"{' '.join(args)} failed ({rc}):\n{log[-3000:]}"
    return log


SETUP = """
import json, os
from django.contrib.auth.models import Group, User
from beian.provider import applications, review
from beian.provider.models import Profile

alice = User.objects.create_user("alice", "alice@example.cn")
Profile.objects.create(user=alice, mobile="13600000001")
bob = User.objects.create_user("bob", "bob@example.cn")
bob.groups.add(Group.objects.create(name=review.SPECIALISTS))
app = applications.create_draft(owner=alice, op_type="new_filing", data=json.loads(os.environ["BEIAN_TEST_DATA"]))
review.approve(app=applications.submit(app=app, user=alice), specialist=bob)
print(app.pk)
"""


class Deployments:
    """The databases of the two deployments: SQLite files in a directory each, or three
    PostgreSQL databases (the provider's; the bureau's `default` and `bureau`)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        url = os.environ.get("BEIAN_DATABASE_URL", "")
        self.postgres = url.startswith(("postgres://", "postgresql://"))
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        if self.postgres:
            parts = urlsplit(url)
            base = parts.path.lstrip("/")
            self.urls = {
                part: parts._replace(path=f"/test_{base}_two_{part}_{worker}").geturl()
                for part in ("provider", "bureau_default", "bureau")
            }
            self.admin_url = parts._replace(path="/postgres").geturl()
            self._each(
                lambda admin, name: (
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'),
                    admin.execute(f'CREATE DATABASE "{name}"'),
                )
            )

    def _each(self, act) -> None:
        import psycopg

        with closing(psycopg.connect(self.admin_url, autocommit=True)) as admin:
            for url in self.urls.values():
                act(admin, urlsplit(url).path.lstrip("/"))

    def drop(self) -> None:
        if self.postgres:
            self._each(lambda admin, name: admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def env(self, deployment: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BEIAN_")}
        env.update(BEIAN_DEPLOYMENT=deployment, BEIAN_VAR_DIR=str(self.tmp / deployment), BEIAN_WEB_WORKERS="1")
        if self.postgres and deployment == "provider":
            env["BEIAN_DATABASE_URL"] = self.urls["provider"]
        elif self.postgres:
            env.update(BEIAN_DATABASE_URL=self.urls["bureau_default"], BEIAN_BUREAU_DATABASE_URL=self.urls["bureau"])
        return env

    def provider_rows(self, sql: str) -> list[tuple]:
        if self.postgres:
            import psycopg

            with closing(psycopg.connect(self.urls["provider"], autocommit=True)) as conn:
                return conn.execute(sql).fetchall()
        with closing(sqlite3.connect(self.tmp / "provider" / "beian.sqlite3", timeout=20)) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
def deployments(tmp_path):
    found = Deployments(tmp_path)
    yield found
    found.drop()


def test_s01_between_a_provider_deployment_and_a_bureau_deployment(deployments, tmp_path):
    bureau_port, provider_port = _free_port(), _free_port()
    bureau_url = f"http://127.0.0.1:{bureau_port}"
    bureau = Processes(tmp_path, {**deployments.env("bureau"), "BEIAN_BIND": f"127.0.0.1:{bureau_port}"})
    python = str(BIN / "python")
    key = None
    provider = None
    try:
        run(bureau, "bureau-migrate", python, "-m", "beian", "migrate", "--noinput")
        run(bureau, "bureau-migrate-registry", python, "-m", "beian", "migrate", "--noinput", "--database", "bureau")
        key = (
            run(bureau, "create-provider", python, "-m", "beian", "create_provider", "operator", "本平台")
            .split(": ")[-1]
            .strip()
        )
        serve(bureau, "bureau-web", bureau_url, *GUNICORN)

        data = new_filing_data(1, "two-deployments.cn")
        provider = Processes(
            tmp_path,
            {
                **deployments.env("provider"),
                "BEIAN_BIND": f"127.0.0.1:{provider_port}",
                "BEIAN_BUREAU_URL": f"{bureau_url}/bureau/api/v1",
                "BEIAN_BUREAU_API_KEY": key,
                "BEIAN_TEST_DATA": json.dumps(data),
            },
        )
        run(provider, "provider-migrate", python, "-m", "beian", "migrate", "--noinput")
        app_id = run(provider, "setup", python, "-m", "beian", "shell", "-c", SETUP).strip().splitlines()[-1]

        stored_id = app_id if deployments.postgres else uuid.UUID(app_id).hex  # SQLite keeps a UUID as hex

        def state() -> str:
            return deployments.provider_rows(f"SELECT state FROM provider_application WHERE id = '{stored_id}'")[0][0]

        assert state() == "delivered"
        run(provider, "deliver", python, "-m", "beian", "provider_worker", "--once", "--jobs", "deliver")
        assert state() == "awaiting_verification"
        operation = deployments.provider_rows("SELECT bureau_operation_id FROM provider_application")[0][0]
        operation = str(uuid.UUID(str(operation)))

        # The principal reads the code the bureau sent and confirms it at the bureau.
        principal = data["entity"]["principal"]
        sent = httpx.get(f"{bureau_url}/bureau/sim/v1/messages", params={"to": principal["mobile"]}).json()
        code = next(CODE.search(m["body"])[1] for m in sent["messages"] if CODE.search(m["body"]))
        confirmed = httpx.post(
            f"{bureau_url}/bureau/api/v1/verifications",
            json={
                "operation": operation,
                "mobile": principal["mobile"],
                "id_last6": principal["id_number"][-6:],
                "code": code,
            },
        )
        assert confirmed.status_code == 200, confirmed.text
        decided = httpx.post(
            f"{bureau_url}/bureau/sim/v1/decisions", json={"operation": operation, "decision": "approve"}
        )
        assert decided.status_code == 200, decided.text

        run(provider, "sync", python, "-m", "beian", "provider_worker", "--once", "--jobs", "sync")
        assert state() == "approved"
        [(entity_number, website_number)] = deployments.provider_rows(
            "SELECT entity_number, website_number FROM provider_application"
        )
        assert website_number == entity_number + "-1"
        assert deployments.provider_rows(
            f"SELECT access_state FROM provider_filedwebsite WHERE number = '{website_number}'"
        ) == [("active",)]

        # Each deployment serves its own part only, and is ready with its own worker.
        provider_url = f"http://127.0.0.1:{provider_port}"
        serve(provider, "provider-web", provider_url, *GUNICORN)
        assert httpx.get(f"{provider_url}/portal/login/").status_code == 200
        assert httpx.get(f"{provider_url}/bureau/").status_code == 404
        assert httpx.get(f"{bureau_url}/portal/login/").status_code == 404
        assert httpx.get(f"{bureau_url}/bureau/").status_code == 200
        ready = httpx.get(f"{provider_url}/readyz").json()
        assert list(ready["databases"]) == ["default"]
        assert ready["workers"]["provider"]["ok"] is True
        assert list(ready["workers"]) == ["provider"]
    finally:
        if provider is not None:
            provider.close()
        bureau.close()
