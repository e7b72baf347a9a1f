"""A fleet of edges following a real platform (S21): the platform under gunicorn as the Procfile runs
it, and edge processes `python -m beian.enforcement --follow … --state …` with no database at all
(their environment names none), each with its own token, on free loopback ports. The mirror is
written as the provider's sync writes it (`sync.follow_website` with the bureau's website snapshot,
in `python -m beian shell`), and the platform is killed, process group and all, as a machine or a
network would lose it.

Every wait polls a condition and returns as soon as it holds; DEADLINE only keeps a broken run from
hanging. What a wait proves is that the change arrives with nothing missed, not how fast: the
figures are the benchmarks'.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.enforcement.live_edge import BIN, EdgeDatabases, Processes, free_port

DEADLINE = 60.0
EDGES = 3

# The bureau's website snapshots applied as sync applies its `website.updated` events, each with a
# newer version than anything in the mirror.
MIRROR = """
import json, os, time
from django.db import transaction
from django.db.models import Max
from beian.provider import sync
from beian.provider.models import FiledWebsite

with transaction.atomic():
    version = FiledWebsite.objects.aggregate(top=Max("version"))["top"] or 0
    for n, domain, state, status in json.loads(os.environ["BEIAN_TEST_MIRROR"]):
        version += 1
        entity = {"number": f"粤ICP备2026{n:06d}号", "name": f"测试公司{n}", "unit_type": "enterprise",
                  "province": "44", "status": "active"}
        sync.follow_website({"entity": entity, "number": entity["number"] + "-1", "name": f"测试网站{n}",
                             "home_url": f"http://{domain}/", "status": status,
                             "access": {"state": state, "ips": ["121.40.18.10"]},
                             "domains": [domain] if status == "active" else []}, version=version)
print("version", version, "committed", time.time(), flush=True)
"""
SITES = {
    "shop-s21.cn": 1,
    "news-s21.cn": 2,
    "blog-s21.cn": 3,
    "later-s21.cn": 4,
    "kept-s21.cn": 5,
    "cut-s21.cn": 6,
    "cores-s21.cn": 7,
    "asgi-s21.cn": 8,
}

TOKENS = """
import os
from beian.enforcement import edges
for name in os.environ["BEIAN_TEST_EDGES"].split():
    print("token", name, edges.create(name).token, flush=True)
"""


class FleetDatabases(EdgeDatabases):
    """Databases of this test's own on PostgreSQL (`test_<name>_fleet_<worker>`)."""

    def __init__(self, tmp: Path):
        super().__init__(tmp)
        if self.postgres:
            self.urls = {
                alias: urlsplit(url)._replace(path=urlsplit(url).path.replace("_edge_", "_fleet_")).geturl()
                for alias, url in self.urls.items()
            }


def wait_for(what: str, done, fleet: Fleet) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            if done():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"waiting for {what}: timed out\n{fleet.procs.logs()}")
        time.sleep(0.05)


class Fleet:
    def __init__(self, tmp: Path, env: dict[str, str], procs: Processes):
        self.tmp, self.env, self.procs = tmp, env, procs
        self.platform_port = free_port()
        self.platform: subprocess.Popen | None = None
        self.edges: dict[str, tuple[int, subprocess.Popen | None]] = {}
        self.tokens: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.platform_port}"

    def beian(self, name: str, *args: str) -> str:
        return self.procs.run(name, sys.executable, "-m", "beian", *args)

    def mirror(self, name: str, *changes: tuple[str, str] | tuple[str, str, str]) -> tuple[int, float]:
        """Websites as the bureau's snapshots have them: (domain, access state[, status]); returns
        the version reached and the wall-clock time of the commit."""
        return self.mirrored(self.mirror_start(name, *changes), name)

    def mirror_start(self, name: str, *changes: tuple[str, str] | tuple[str, str, str]) -> subprocess.Popen:
        """The same, without waiting for the process: the edges can be watched meanwhile."""
        self.env["BEIAN_TEST_MIRROR"] = json.dumps(
            [[SITES[c[0]], c[0], c[1], (c[2:] or ("active",))[0]] for c in changes]
        )
        return self.procs.start(name, sys.executable, "-m", "beian", "shell", "-c", MIRROR)

    def mirrored(self, proc: subprocess.Popen, name: str) -> tuple[int, float]:
        try:
            assert proc.wait(timeout=DEADLINE) == 0, self.procs.logs()
        finally:
            self.procs.stop(proc)
        out = (self.tmp / f"{name}.log").read_text().split("version ")[-1].split()
        return int(out[0]), float(out[2])

    # ---------------------------------------------------------------- the platform

    def start_platform(self) -> None:
        log = open(self.tmp / "platform.log", "ab")  # noqa: SIM115 - closed once the child holds it
        self.platform = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "beian.wsgi:application",
                "--config",
                "beian/gunicorn_conf.py",
                "--bind",
                f"127.0.0.1:{self.platform_port}",
            ],
            cwd=Path(__file__).resolve().parents[2],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that the kill takes its workers too
        )
        log.close()
        wait_for(
            "the platform",
            lambda: httpx.get(f"{self.url}/enforcement/feed/openapi.json", timeout=1).status_code == 200,
            self,
        )

    def kill_platform(self) -> None:
        os.killpg(self.platform.pid, signal.SIGKILL)
        self.platform.wait(timeout=30)
        wait_for("the platform to be gone", lambda: not _answers(self.url), self)

    # ---------------------------------------------------------------- the edges

    def make_edges(self, *names: str) -> None:
        """Each with its token, as `edge_token create` makes it, in one process."""
        self.env["BEIAN_TEST_EDGES"] = " ".join(names)
        for line in self.beian(f"tokens-{names[0]}", "shell", "-c", TOKENS).splitlines():
            if line.startswith("token "):
                _, name, token = line.split()
                self.tokens[name] = token
                self.edges[name] = (free_port(), None)

    def start_edge(self, name: str, *extra: str) -> None:
        port, _ = self.edges[name]
        env = {k: v for k, v in self.env.items() if "DATABASE" not in k}  # an edge has no database
        env["BEIAN_EDGE_TOKEN"] = self.tokens[name]
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "beian.enforcement",
                "--follow",
                self.url,
                "--state",
                str(self.tmp / name),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *extra,
            ],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.running.append(proc)
        self.edges[name] = (port, proc)
        wait_for(f"{name} to listen", lambda: self.status(name) is not None, self)

    def stop_edge(self, name: str) -> None:
        port, proc = self.edges[name]
        self.procs.stop(proc)
        self.edges[name] = (port, None)

    def status(self, name: str) -> dict | None:
        port, _ = self.edges[name]
        try:
            return httpx.get(f"http://127.0.0.1:{port}/enforcement/status", timeout=2).json()
        except httpx.HTTPError:
            return None

    def decide(self, name: str, host: str) -> tuple[int, str]:
        port, _ = self.edges[name]
        answer = httpx.get(f"http://127.0.0.1:{port}/enforcement/check", headers={"X-Original-Host": host}, timeout=2)
        return answer.status_code, answer.headers["x-beian-reason"]

    def everywhere(self, what: str, expected: dict[str, tuple[int, str]]) -> float:
        """Wait until every running edge answers as expected; returns the time it did."""
        for name, (_, proc) in self.edges.items():
            if proc is not None:
                wait_for(
                    f"{what} on {name}", lambda n=name: all(self.decide(n, h) == e for h, e in expected.items()), self
                )
        return time.time()

    def stop_edges(self) -> None:
        for name, (_, proc) in list(self.edges.items()):
            if proc is not None:
                self.stop_edge(name)

    def close(self) -> None:
        if self.platform is not None and self.platform.poll() is None:
            os.killpg(self.platform.pid, signal.SIGTERM)
            try:
                self.platform.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.platform.pid, signal.SIGKILL)
                self.platform.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        httpx.get(f"{url}/enforcement/feed/openapi.json", timeout=1)
    except httpx.HTTPError:
        return False
    return True


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """One platform's databases for the module; each test starts its own edges (and the platform,
    if the last test left it down) and uses websites of its own."""
    tmp_path = tmp_path_factory.mktemp("fleet")
    dbs = FleetDatabases(tmp_path)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BEIAN_", "PYTEST_", "DJANGO_", "GRANIAN_")) and k != "COVERAGE_PROCESS_START"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="beian.settings",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        BEIAN_VAR_DIR=str(tmp_path),
        BEIAN_ENFORCEMENT_POLL_SECONDS="0.1",
        BEIAN_WEB_WORKERS="1",
        BEIAN_WEB_THREADS="12",  # a waiting long poll holds a thread: the edges' and the test's own
        BEIAN_EDGE_RETRY_SECONDS="0.5",
        BEIAN_EDGE_STALE_SECONDS="3",
        **dbs.env(),
    )
    procs = Processes(tmp_path, env)
    fleet = Fleet(tmp_path, env, procs)
    try:
        dbs.create()
        migrations = [
            procs.start(
                f"migrate-{alias}", sys.executable, "-m", "beian", "migrate", "--noinput", "-v0", "--database", alias
            )
            for alias in ("default", "bureau")
        ]
        for proc in migrations:
            assert proc.wait(timeout=300) == 0, procs.logs()
            procs.stop(proc)
        yield fleet
    finally:
        fleet.close()
        procs.close()
        dbs.drop()


SERVE, CANCELLED, NOT_FILED = (200, "filed"), (403, "access_cancelled"), (403, "not_filed")


@pytest.fixture
def platform(fleet):
    if fleet.platform is None or fleet.platform.poll() is not None:
        fleet.start_platform()
    yield fleet
    fleet.stop_edges()


def test_s21_the_platform_down_edges_keep_deciding_and_miss_nothing_when_it_returns(platform):
    fleet = platform
    fleet.mirror("mirror-setup", ("shop-s21.cn", "active"), ("news-s21.cn", "active"), ("blog-s21.cn", "active"))
    names = [f"edge-{n}" for n in range(1, EDGES + 1)]
    fleet.make_edges(*names)
    for name in names:
        fleet.start_edge(name)
    fleet.everywhere(
        "the first snapshot", {"www.shop-s21.cn": SERVE, "news-s21.cn": SERVE, "unfiled-s21.cn": NOT_FILED}
    )

    # A cancel-access is pushed to every edge (each is waiting in a long poll).
    writing = fleet.mirror_start("mirror-cancel", ("news-s21.cn", "ended"))
    reached = fleet.everywhere("the cancel-access", {"news-s21.cn": CANCELLED, "www.shop-s21.cn": SERVE})
    _, committed = fleet.mirrored(writing, "mirror-cancel")
    # When each edge applied it, by its own account (this test's polling, on a busy machine, is slower).
    applied = [time.time() - fleet.status(name)["refreshed_seconds_ago"] for name in names]
    print(
        f"S21: a cancel-access committed was applied by all {EDGES} edges {max(applied) - committed:.3f} s later "
        f"(and seen refused by this test {reached - committed:.2f} s later)"
    )

    # The platform is lost; the edges keep deciding from what they last knew, and say so.
    fleet.kill_platform()
    for name in names:
        wait_for(f"{name} to say the platform is away", lambda n=name: not fleet.status(n)["platform_reachable"], fleet)
        assert fleet.decide(name, "www.shop-s21.cn") == SERVE
        assert fleet.decide(name, "news-s21.cn") == CANCELLED
        assert fleet.decide(name, "unfiled-s21.cn") == NOT_FILED
    wait_for("the data to be flagged stale", lambda: fleet.status(names[0])["stale"], fleet)
    status = fleet.status(names[0])
    assert status["data_age_seconds"] > 3
    assert status["platform_failing_seconds"] is not None

    # Meanwhile the mirror moves on: one access cancelled, one restored, a website filed here, one
    # deregistered.
    top, _ = fleet.mirror(
        "mirror-meanwhile",
        ("blog-s21.cn", "ended"),
        ("news-s21.cn", "active"),
        ("later-s21.cn", "active"),
        ("shop-s21.cn", "ended", "deregistered"),
    )

    # An edge restarted while the platform is down answers from its own state at once.
    fleet.stop_edge(names[-1])
    fleet.start_edge(names[-1])
    status = fleet.status(names[-1])
    assert status["loaded"] is True
    assert status["platform_reachable"] is False
    assert fleet.decide(names[-1], "www.shop-s21.cn") == SERVE
    assert fleet.decide(names[-1], "news-s21.cn") == CANCELLED

    # The platform returns: every edge catches up with everything made meanwhile.
    returned = time.time()
    fleet.start_platform()
    reached = fleet.everywhere(
        "the changes made while the platform was down",
        {
            "blog-s21.cn": CANCELLED,
            "news-s21.cn": SERVE,
            "www.later-s21.cn": SERVE,
            "www.shop-s21.cn": (403, "deregistered"),
            "unfiled-s21.cn": NOT_FILED,
        },
    )
    print(f"S21: every edge had the changes {reached - returned:.2f} s after the platform was started again")
    for name in names:
        wait_for(f"{name} at the platform's version", lambda n=name: fleet.status(n)["version"] == top, fleet)
        status = fleet.status(name)
        assert status["platform_reachable"] is True
        assert status["stale"] is False


def test_a_revoked_edge_keeps_its_last_set_and_follows_no_more(platform):
    fleet = platform
    fleet.mirror("mirror-revoke-setup", ("kept-s21.cn", "active"), ("cut-s21.cn", "active"))
    fleet.make_edges("edge-kept", "edge-revoked")
    for name in ("edge-kept", "edge-revoked"):
        fleet.start_edge(name)
    fleet.everywhere("the first snapshot", {"cut-s21.cn": SERVE})
    fleet.beian("revoke", "edge_token", "revoke", "edge-revoked")
    fleet.mirror("mirror-revoke-cancel", ("cut-s21.cn", "ended"))
    wait_for("the kept edge", lambda: fleet.decide("edge-kept", "cut-s21.cn") == CANCELLED, fleet)
    wait_for("the revoked edge to say so", lambda: "token_revoked" in fleet.status("edge-revoked")["last_error"], fleet)
    assert fleet.decide("edge-revoked", "cut-s21.cn") == SERVE  # fail-static: its last set, flagged
    assert fleet.status("edge-revoked")["platform_reachable"] is False


def test_an_edge_runs_a_worker_per_core_on_one_port(platform):
    """`--workers 2`: two processes share the port (SO_REUSEPORT), each following the feed with its
    own state; a change reaches both, and a worker that dies is started again from its state."""
    fleet = platform
    fleet.mirror("mirror-cores-setup", ("cores-s21.cn", "active"))
    fleet.make_edges("edge-cores")
    fleet.start_edge("edge-cores", "--workers", "2")
    versions: dict[int, int] = {}

    def workers_at(top: int) -> bool:
        status = fleet.status("edge-cores")  # a new connection each time: the kernel picks a worker
        if status is not None and status["loaded"]:
            versions[status["pid"]] = status["version"]
        return len([v for v in versions.values() if v >= top]) >= 2

    wait_for("both workers to answer", lambda: workers_at(0), fleet)
    top, _ = fleet.mirror("mirror-cores-cancel", ("cores-s21.cn", "ended"))
    versions.clear()
    wait_for("both workers to have the cancel-access", lambda: workers_at(top), fleet)
    for _ in range(20):
        assert fleet.decide("edge-cores", "www.cores-s21.cn") == CANCELLED

    first = set(versions)
    os.kill(min(first), signal.SIGKILL)
    versions.clear()
    wait_for("the worker to be started again", lambda: workers_at(top) and bool(set(versions) - first), fleet)
    for name in ("worker-0", "worker-1"):
        assert (fleet.tmp / "edge-cores" / name / "snapshot.ndjson.gz").exists()


def test_the_asgi_door_answers_under_uvicorn(platform):
    """The decision server is a plain ASGI application too, the fallback to its own HTTP/1.1: under
    uvicorn it loads the mirror at start-up (lifespan) and decides the same."""
    fleet = platform
    fleet.mirror("mirror-asgi", ("asgi-s21.cn", "active"))
    port = free_port()
    log = open(fleet.tmp / "uvicorn.log", "ab")  # noqa: SIM115 - closed once the child holds it
    proc = subprocess.Popen(
        [str(BIN / "uvicorn"), "beian.enforcement.server:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=Path(__file__).resolve().parents[2],
        env=fleet.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    fleet.procs.running.append(proc)
    base = f"http://127.0.0.1:{port}/enforcement"
    try:
        wait_for("uvicorn", lambda: httpx.get(f"{base}/status", timeout=1).json()["loaded"], fleet)
        for host, expected in (("www.asgi-s21.cn", SERVE), ("unfiled-s21.cn", NOT_FILED)):
            answer = httpx.get(f"{base}/check", headers={"X-Original-Host": host}, timeout=5)
            assert (answer.status_code, answer.headers["x-beian-reason"]) == expected
        answer = httpx.get(f"{base}/ask", params={"domain": "asgi-s21.cn"}, timeout=5)
        assert answer.status_code == 200
    finally:
        fleet.procs.stop(proc)
