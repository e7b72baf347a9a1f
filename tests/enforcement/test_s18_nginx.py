"""S18 with a real nginx: an operator points Debian's nginx at the decision endpoint (`auth_request`)
or at the exported `map`, using the configurations of docs/enforcement.md as they are printed there;
and with Debian's HAProxy, configured as deploy/haproxy/beian-edge.cfg, its map kept live by the
edge agent (`python -m beian edge_agent --haproxy-map …`) following the platform's feed.
A filed Host gets the customer's page, an unfiled Host gets the block page (网站未备案, 403), and a
Host whose access was just cancelled is blocked within the promised delay.

Everything is a real process on a free loopback port: nginx (foreground, its own prefix in a tmp
directory), the decision server (`python -m beian.enforcement`, as in the Procfile),
the platform for the block page (`beian.wsgi` under gunicorn, as in the Procfile), and a
customer's site (a second nginx server). They share on-disk databases with the test
(tests/enforcement/live_edge.py: SQLite files in the tmp directory, or dedicated PostgreSQL
databases when the suite runs on PostgreSQL). The mirror is written as the provider writes it:
`beian.provider.sync.follow_website` with the bureau's website snapshot, in `python -m beian shell`.

The only time bound is the promise itself: a change reaches an `auth_request` edge within one poll
of the decision server plus nginx's one-second decision cache (which nginx counts in whole
seconds), so the test allows POLL + 2 × CACHE + a margin; a `map` edge is as fresh as the last run
of `write_nginx_map --reload`, so there the clock starts when that command returns.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.enforcement.live_edge import (
    BIN,
    EdgeDatabases,
    Haproxy,
    Nginx,
    Processes,
    documented_haproxy,
    documented_nginx,
    free_port,
    wait_ready,
)

POLL = 0.2  # BEIAN_ENFORCEMENT_POLL_SECONDS of the decision server
CACHE = 1  # BEIAN_ENFORCEMENT_CACHE_SECONDS, and the documented proxy_cache_valid
MARGIN = 2.6  # process scheduling on a busy machine; the whole bound is 5 s
BOUND = POLL + 2 * CACHE + MARGIN

FILED, UNFILED, CANCELLED, MAP_CANCELLED = "shop-s18.cn", "unfiled-s18.cn", "gone-s18.cn", "mapgone-s18.cn"
EDGE_CANCELLED = "edgegone-s18.cn"
HAPROXY_CANCELLED = "hagone-s18.cn"
IDN, IDN_UNICODE = "xn--fsqu00a.cn", "例子.cn"  # filed in A-labels, as the bureau records every name

# Applies website snapshots the way the provider's sync applies the bureau's `website.updated`
# events: each a newer version than anything in the mirror; prints when they are committed.
MIRROR = """
import json, os, time
from django.db import transaction
from django.db.models import Max
from beian.provider import sync
from beian.provider.models import FiledWebsite

with transaction.atomic():
    version = FiledWebsite.objects.aggregate(top=Max("version"))["top"] or 0
    for n, domain, state in json.loads(os.environ["BEIAN_TEST_MIRROR"]):
        version += 1
        entity = {"number": f"粤ICP备2026{n:06d}号", "name": f"测试公司{n}", "unit_type": "enterprise",
                  "province": "44", "status": "active"}
        sync.follow_website({"entity": entity, "number": entity["number"] + "-1", "name": f"测试网站{n}",
                             "home_url": f"http://{domain}/", "status": "active",
                             "access": {"state": state, "ips": ["121.40.18.10"]}, "domains": [domain]},
                            version=version)
print("committed", time.time(), flush=True)
"""
SITES = {FILED: 1, CANCELLED: 2, MAP_CANCELLED: 3, IDN: 4, EDGE_CANCELLED: 5, HAPROXY_CANCELLED: 6}

CUSTOMER = """
server {{
    listen 127.0.0.1:{port};
    location / {{
        default_type text/html;
        return 200 "<h1>customer site</h1><p>$host</p>\\n";
    }}
}}
upstream customer_backend {{
    server 127.0.0.1:{port};
}}
"""


@dataclass
class Edge:
    procs: Processes
    env: dict[str, str]
    nginx: Nginx
    auth_port: int
    map_port: int
    map_path: Path
    follow_port: int = 0  # nginx in front of a decision server in edge mode (following the feed)
    haproxy: Haproxy | None = None  # HAProxy with its map kept live by the edge agent

    def beian(self, name: str, *args: str) -> str:
        return self.procs.run(name, sys.executable, "-m", "beian", *args)

    def mirror(self, name: str, *changes: tuple[str, str]) -> float:
        """Write website snapshots into the mirror; returns the wall-clock time of the commit."""
        self.env["BEIAN_TEST_MIRROR"] = json.dumps([[SITES[domain], domain, state] for domain, state in changes])
        out = self.beian(name, "shell", "-c", MIRROR)
        return float(out.split("committed ")[-1].split()[0])

    def get(self, port: int, host: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=5)

    def blocked_within(self, port: int, host: str, since: float) -> tuple[httpx.Response, float]:
        """Poll (every 50 ms) until the edge refuses `host`; fail at since + BOUND."""
        while True:
            response = self.get(port, host)
            took = time.time() - since
            if response.status_code == 403:
                return response, took
            if took > BOUND:
                pytest.fail(
                    f"{host} still {response.status_code} {took:.2f} s after the change (bound {BOUND:.1f} s)\n"
                    f"{self.procs.logs()}"
                )
            time.sleep(0.05)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edge")
    dbs = EdgeDatabases(tmp)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BEIAN_", "PYTEST_", "DJANGO_", "GRANIAN_")) and k != "COVERAGE_PROCESS_START"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="beian.settings",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        BEIAN_VAR_DIR=str(tmp),
        BEIAN_ENFORCEMENT_POLL_SECONDS=str(POLL),
        BEIAN_ENFORCEMENT_CACHE_SECONDS=str(CACHE),
        BEIAN_WEB_WORKERS="1",
        **dbs.env(),
    )
    procs = Processes(tmp, env)
    nginx = Nginx(procs, tmp)
    decide_port, platform_port, auth_port, map_port, customer_port = (free_port() for _ in range(5))
    follow_decide_port, follow_port = free_port(), free_port()
    try:
        dbs.create()
        edge = Edge(procs, env, nginx, auth_port, map_port, tmp / "beian-served.map")
        # Both databases: the platform's clock reads the simulation's offset from the bureau's.
        migrations = [
            procs.start("migrate-default", sys.executable, "-m", "beian", "migrate", "--noinput", "-v0"),
            procs.start(
                "migrate-bureau", sys.executable, "-m", "beian", "migrate", "--noinput", "-v0", "--database", "bureau"
            ),
        ]
        for proc in migrations:
            assert proc.wait(timeout=120) == 0, procs.logs()
            procs.stop(proc)
        edge.mirror(
            "mirror-setup",
            (FILED, "active"),
            (CANCELLED, "active"),
            (MAP_CANCELLED, "active"),
            (IDN, "active"),
            (EDGE_CANCELLED, "active"),
            (HAPROXY_CANCELLED, "active"),
        )
        made = edge.beian("edge-token", "edge_token", "create", "edge-s18").splitlines()
        token = next(line for line in made if line.startswith("beian_edge_"))

        # The decision server and the platform as the Procfile starts them, and the first map.
        decide = procs.start(
            "decision-server",
            sys.executable,
            "-m",
            "beian.enforcement",
            "--host",
            "127.0.0.1",
            "--port",
            str(decide_port),
        )
        platform = procs.start(
            "gunicorn",
            str(BIN / "gunicorn"),
            "beian.wsgi:application",
            "--config",
            "beian/gunicorn_conf.py",
            "--bind",
            f"127.0.0.1:{platform_port}",
        )
        out = edge.beian("write-map", "write_nginx_map", str(edge.map_path))
        assert "6 domain(s) written" in out, out
        # The same decision server on an edge with no database: it follows the platform's feed.
        follow_env = {k: v for k, v in env.items() if "DATABASE" not in k}
        follow_env["BEIAN_EDGE_TOKEN"] = token
        follower = Processes(tmp, follow_env).start(
            "edge-mode-decision-server",
            sys.executable,
            "-m",
            "beian.enforcement",
            "--follow",
            f"http://127.0.0.1:{platform_port}",
            "--state",
            str(tmp / "edge-state"),
            "--host",
            "127.0.0.1",
            "--port",
            str(follow_decide_port),
        )
        procs.running.append(follower)
        wait_ready(
            procs,
            decide,
            "the decision server",
            lambda: httpx.get(f"http://127.0.0.1:{decide_port}/enforcement/status", timeout=1).json()["loaded"],
        )
        wait_ready(
            procs,
            platform,
            "the platform",
            lambda: httpx.get(f"http://127.0.0.1:{platform_port}/enforcement/blocked", timeout=1).status_code == 403,
        )

        wait_ready(
            procs,
            follower,
            "the decision server in edge mode",
            lambda: httpx.get(f"http://127.0.0.1:{follow_decide_port}/enforcement/status", timeout=1).json()["loaded"],
        )
        edge.follow_port = follow_port
        nginx.configure(
            CUSTOMER.format(port=customer_port)
            + documented_nginx(
                decide_port=decide_port, platform_port=platform_port, auth_port=auth_port, map_port=map_port, tmp=tmp
            )
            + edge_mode_nginx(decide_port=follow_decide_port, platform_port=platform_port, port=follow_port, tmp=tmp),
            ports=(auth_port, map_port, customer_port, follow_port),
        )
        nginx.start()

        # HAProxy as documented, its map kept live by the edge agent, which has no database either.
        haproxy_dir = tmp / "haproxy"
        haproxy_dir.mkdir()
        haproxy_port = free_port()
        config = documented_haproxy(
            port=haproxy_port, customer_port=customer_port, platform_port=platform_port, tmp=haproxy_dir
        )
        haproxy = Haproxy(procs, haproxy_dir, config, port=haproxy_port)
        agent = Processes(tmp, follow_env).start(
            "edge-agent-haproxy",
            sys.executable,
            "-m",
            "beian",
            "edge_agent",
            "--follow",
            f"http://127.0.0.1:{platform_port}",
            "--state",
            str(tmp / "agent-state"),
            "--haproxy-map",
            str(haproxy.map),
            "--haproxy-socket",
            str(haproxy.socket),
        )
        procs.running.append(agent)
        wait_ready(procs, agent, "the edge agent's first map", haproxy.map.exists)  # HAProxy needs it to start
        haproxy.start()
        edge.haproxy = haproxy
        yield edge
    finally:
        procs.close()
        dbs.drop()


def edge_mode_nginx(*, decide_port: int, platform_port: int, port: int, tmp: Path) -> str:
    """The documented `auth_request` configuration once more, pointed at the decision server in edge
    mode: its upstreams and cache zone renamed so that both live in one nginx."""
    other = tmp / "edge-mode"
    other.mkdir(exist_ok=True)
    text = documented_nginx(
        decide_port=decide_port, platform_port=platform_port, auth_port=port, map_port=free_port(), tmp=other
    )
    text = text[: text.index("map $host $beian_served")]  # the auth_request half only
    for name in ("beian_decide", "beian_platform", "beian_decisions", "@beian_blocked", "/_beian_check"):
        text = text.replace(name, name + "_edge")
    return text


def _customer_page(response: httpx.Response, host: str) -> None:
    assert response.status_code == 200, response.text
    assert "customer site" in response.text
    assert host in response.text  # the customer's site saw the visitor's Host


def _block_page(response: httpx.Response, reason: str, title: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["x-beian-reason"] == reason  # from the platform, through nginx
    assert title in response.text
    assert "customer site" not in response.text


def test_s18_auth_request_filed_unfiled_and_just_cancelled(edge):
    _customer_page(edge.get(edge.auth_port, f"www.{FILED}"), f"www.{FILED}")
    _customer_page(edge.get(edge.auth_port, FILED.upper() + ":80"), FILED)  # nginx's $host is lower case
    _block_page(edge.get(edge.auth_port, UNFILED), "not_filed", "网站未备案")
    _block_page(edge.get(edge.auth_port, f"bad{FILED}"), "not_filed", "网站未备案")

    host = f"www.{CANCELLED}"
    _customer_page(edge.get(edge.auth_port, host), host)  # and nginx now holds that decision for a second
    committed = edge.mirror("mirror-cancel", (CANCELLED, "ended"))  # cancel_access submitted: the bureau's event
    blocked, took = edge.blocked_within(edge.auth_port, host, committed)
    _block_page(blocked, "access_cancelled", "已取消接入")
    print(f"auth_request edge: {host} blocked {took:.2f} s after the mirror changed (bound {BOUND:.1f} s)")
    _customer_page(edge.get(edge.auth_port, f"www.{FILED}"), f"www.{FILED}")  # nothing else moved


def raw_get(port: int, host: bytes) -> tuple[int, dict[str, str], bytes]:
    """A request with the Host bytes as they are given (httpx sends only ASCII header values)."""
    with closing(socket.create_connection(("127.0.0.1", port), timeout=5)) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def test_s18_auth_request_a_host_in_unicode_is_refused(edge):
    # Browsers send A-labels; a raw UTF-8 Host is no Host (RFC 9110), refused by the decision
    # server and named so by the block page, though the same name in A-labels is served.
    _customer_page(edge.get(edge.auth_port, f"www.{IDN}"), f"www.{IDN}")
    status, headers, body = raw_get(edge.auth_port, f"www.{IDN_UNICODE}".encode())
    assert (status, headers["x-beian-reason"]) == (403, "invalid_host"), body
    assert "无效的域名".encode() in body
    assert b"customer site" not in body


def test_s18_map_filed_unfiled_and_just_cancelled(edge):
    _customer_page(edge.get(edge.map_port, f"www.{FILED}"), f"www.{FILED}")
    _block_page(edge.get(edge.map_port, UNFILED), "not_filed", "网站未备案")
    _block_page(edge.get(edge.map_port, f"bad{FILED}"), "not_filed", "网站未备案")

    host = f"www.{MAP_CANCELLED}"
    _customer_page(edge.get(edge.map_port, host), host)
    edge.mirror("mirror-map-cancel", (MAP_CANCELLED, "ended"))
    # An edge without a call-back knows only its map: still served until the map is written again.
    _customer_page(edge.get(edge.map_port, host), host)
    out = edge.beian(
        "write-map-reload", "write_nginx_map", str(edge.map_path), "--reload", "--nginx", str(edge.nginx.ctl)
    )
    written = time.time()
    assert "domain(s) written" in out, out
    assert "nginx reloaded" in out, out
    served = edge.map_path.read_text()
    assert f".{FILED} 1;" in served
    assert f".{MAP_CANCELLED} " not in served
    blocked, took = edge.blocked_within(edge.map_port, host, written)
    _block_page(blocked, "access_cancelled", "已取消接入")
    print(f"map edge: {host} blocked {took:.2f} s after write_nginx_map --reload returned")
    _customer_page(edge.get(edge.map_port, f"www.{FILED}"), f"www.{FILED}")


def test_s18_edge_mode_filed_unfiled_and_just_cancelled(edge):
    """nginx in front of a decision server with no database, following the platform's feed: the
    same answers, and a cancel-access within the same bound as the database mode's."""
    _customer_page(edge.get(edge.follow_port, f"www.{FILED}"), f"www.{FILED}")
    _block_page(edge.get(edge.follow_port, UNFILED), "not_filed", "网站未备案")
    _block_page(edge.get(edge.follow_port, f"bad{FILED}"), "not_filed", "网站未备案")

    host = f"www.{EDGE_CANCELLED}"
    _customer_page(edge.get(edge.follow_port, host), host)
    committed = edge.mirror("mirror-edge-cancel", (EDGE_CANCELLED, "ended"))
    blocked, took = edge.blocked_within(edge.follow_port, host, committed)
    _block_page(blocked, "access_cancelled", "已取消接入")
    print(f"edge-mode auth_request edge: {host} blocked {took:.2f} s after the mirror changed (bound {BOUND:.1f} s)")
    _customer_page(edge.get(edge.follow_port, f"www.{FILED}"), f"www.{FILED}")


def test_s18_haproxy_filed_unfiled_and_just_cancelled_without_a_reload(edge):
    """HAProxy in front, its map changed live by the edge agent following the platform's feed: the
    same answers, and a cancel-access made on the platform blocked by the same HAProxy process."""
    port = edge.haproxy.port
    _customer_page(edge.get(port, f"www.{FILED}"), f"www.{FILED}")
    _customer_page(edge.get(port, FILED.upper() + ":80"), FILED)
    _block_page(edge.get(port, UNFILED), "not_filed", "网站未备案")
    _block_page(edge.get(port, f"bad{FILED}"), "not_filed", "网站未备案")

    pid = edge.haproxy.proc.pid
    host = f"www.{HAPROXY_CANCELLED}"
    _customer_page(edge.get(port, host), host)
    committed = edge.mirror("mirror-haproxy-cancel", (HAPROXY_CANCELLED, "ended"))
    blocked, took = edge.blocked_within(port, host, committed)
    _block_page(blocked, "access_cancelled", "已取消接入")
    print(f"HAProxy edge: {host} blocked {took:.2f} s after the mirror changed (bound {BOUND:.1f} s), no reload")
    assert (edge.haproxy.proc.pid, edge.haproxy.proc.poll()) == (pid, None)  # the same process, never reloaded
    _customer_page(edge.get(port, f"www.{FILED}"), f"www.{FILED}")
