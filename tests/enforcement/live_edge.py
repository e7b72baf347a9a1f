"""Real servers for the edge tests (test_s18_nginx.py): Debian's nginx, the decision server
(`python -m beian.enforcement`) and the platform under gunicorn, each a subprocess on a free
loopback port, sharing on-disk databases with the test as tests/provider/test_worker_crash.py does
(SQLite files in a tmp directory, or dedicated PostgreSQL databases when the suite runs on
PostgreSQL).

nginx runs in the foreground under its own prefix: `-p <tmp> -c <conf> -g 'daemon off; pid
<tmp>/nginx.pid;'`, every path it writes (temp files, cache, logs) inside <tmp>. `ctl` is a
wrapper with the same options, for `write_nginx_map --reload --nginx <ctl>` and `nginx -s reload`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.provider.test_worker_crash import ROOT, Databases, Processes, _free_port

BIN = Path(sys.executable).parent
DEADLINE = 30.0  # seconds any server may take to come up
DOCS = ROOT / "docs" / "enforcement.md"


def free_port() -> int:
    return _free_port()


class EdgeDatabases(Databases):
    """As in test_worker_crash, under other names on PostgreSQL (`test_<name>_edge_<worker>`), so
    the two tests never share a database even when they run side by side."""

    def __init__(self, tmp: Path):
        super().__init__(tmp)
        if self.postgres:
            self.urls = {
                alias: urlsplit(url)._replace(path=urlsplit(url).path.replace("_crash_", "_edge_")).geturl()
                for alias, url in self.urls.items()
            }


def nginx_binary() -> str:
    """Debian's nginx. `make test` installs it (the `edge-tools` target); a missing nginx fails the
    test, it is never a reason to skip."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found is None:
        pytest.fail(
            "nginx is not installed: `make test` installs it (make edge-tools), "
            "or by hand: apt-get install nginx (Debian's, with ngx_http_auth_request_module)"
        )
    return found


def _listening(port: int) -> bool:
    with closing(socket.socket()) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def serve(procs: Processes, name: str, ready, *args: str) -> subprocess.Popen:
    """Start a server and wait (bounded) until `ready()` is true; fail with the logs otherwise."""
    return wait_ready(procs, procs.start(name, *args), name, ready)


def wait_ready(procs: Processes, proc: subprocess.Popen, name: str, ready) -> subprocess.Popen:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}\n{procs.logs()}")
        try:
            if ready():
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    pytest.fail(f"{name} did not come up in {DEADLINE:.0f} s\n{procs.logs()}")


def documented_nginx(*, decide_port: int, platform_port: int, auth_port: int, map_port: int, tmp: Path) -> str:
    """The two nginx configurations of docs/enforcement.md — `auth_request` with the block page,
    and the exported `map` — exactly as an operator copies them, with only the addresses and paths
    of this machine put in: the test proves the documented configuration, not one of its own."""
    blocks = re.findall(r"```nginx\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    auth = [b for b in blocks if "auth_request" in b and "upstream beian_decide" in b]
    mapped = [b for b in blocks if "map $host $beian_served" in b]
    if len(auth) != 1 or len(mapped) != 1:
        pytest.fail(f"{DOCS}: expected one nginx block with auth_request and one with the map; the test needs updating")

    def put(text: str, old: str, new: str) -> str:
        if old not in text:
            pytest.fail(f"{DOCS}: the documented nginx configuration no longer has {old!r}; update this test")
        return text.replace(old, new)

    first = put(auth[0], "/run/nginx-beian", str(tmp / "cache"))
    first = put(first, "127.0.0.1:8001", f"127.0.0.1:{decide_port}")
    first = put(first, "127.0.0.1:8000", f"127.0.0.1:{platform_port}")
    first = put(first, "listen 80 default_server;", f"listen 127.0.0.1:{auth_port};")
    second = put(mapped[0], "/etc/nginx/beian-served.map", str(tmp / "beian-served.map"))
    second = put(second, "listen 80 default_server;", f"listen 127.0.0.1:{map_port};")
    return first + "\n" + second


class Nginx:
    """One nginx master in the foreground, all of its files under `tmp`."""

    def __init__(self, procs: Processes, tmp: Path):
        self.procs, self.tmp = procs, tmp
        self.binary = nginx_binary()
        self.conf = tmp / "nginx.conf"
        self.options = ["-p", str(tmp), "-c", str(self.conf), "-g", f"daemon off; pid {tmp / 'nginx.pid'};"]
        self.ctl = tmp / "nginx-ctl"
        self.proc: subprocess.Popen | None = None

    def configure(self, http: str, *, ports: tuple[int, ...]) -> None:
        temp = "\n".join(
            f"    {kind}_temp_path {self.tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        self.ports = ports
        self.conf.write_text(
            ("user root;\n" if os.geteuid() == 0 else "")  # workers read files in the test's 0700 tmp dir
            + f"worker_processes 1;\nerror_log {self.tmp / 'nginx-error.log'} warn;\n"
            + "worker_rlimit_nofile 65536;\n"  # as docs/enforcement.md asks, for open_file_cache
            + "events { worker_connections 256; }\n"
            + "http {\n"
            + f"    access_log {self.tmp / 'nginx-access.log'};\n"
            + temp
            + "\n"
            + http
            + "\n}\n",
            encoding="utf-8",
        )
        quoted = " ".join(f"'{o}'" for o in self.options)
        self.ctl.write_text(f'#!/bin/sh\nexec {self.binary} {quoted} "$@"\n')
        self.ctl.chmod(0o755)

    def check(self) -> None:
        done = subprocess.run([str(self.ctl), "-t"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"nginx -t refused the configuration:\n{done.stderr}\n{self.conf.read_text()}"

    def start(self) -> None:
        self.check()
        self.proc = serve(
            self.procs, "nginx", lambda: all(_listening(p) for p in self.ports), self.binary, *self.options
        )

    def reload(self) -> None:
        done = subprocess.run([str(self.ctl), "-s", "reload"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"nginx -s reload failed:\n{done.stderr}"


HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "beian-edge.cfg"


def haproxy_binary() -> str:
    """Debian's HAProxy; a missing one fails the test, it is never a reason to skip."""
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
    if found is None:
        pytest.fail("haproxy is not installed: apt-get install haproxy (Debian's, 2.6 or later)")
    return found


def documented_haproxy(*, port: int, customer_port: int, platform_port: int, tmp: Path) -> str:
    """The HAProxy configuration of docs/enforcement.md, which must be deploy/haproxy/beian-edge.cfg
    word for word, with only this machine's addresses and paths put in."""
    blocks = re.findall(r"```haproxy\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    if len(blocks) != 1:
        pytest.fail(f"{DOCS}: expected one haproxy block; the test needs updating")
    if blocks[0] != HAPROXY_CFG.read_text(encoding="utf-8"):
        pytest.fail(f"{DOCS}'s haproxy block is not {HAPROXY_CFG} as it stands: copy the file into the doc")
    text = blocks[0]
    for old, new in (
        ("/etc/haproxy/beian-served.map", str(tmp / "beian-served.map")),
        ("/etc/haproxy/beian-ended.map", str(tmp / "beian-ended.map")),
        ("/run/haproxy/admin.sock mode 660 group haproxy", f"{tmp / 'admin.sock'} mode 600"),
        ("bind :80", f"bind 127.0.0.1:{port}"),
        ("127.0.0.1:8080", f"127.0.0.1:{customer_port}"),
        ("127.0.0.1:8000", f"127.0.0.1:{platform_port}"),
    ):
        if old not in text:
            pytest.fail(f"{HAPROXY_CFG} no longer has {old!r}; update this test")
        text = text.replace(old, new)
    return text


class Haproxy:
    """One HAProxy in the foreground (`-db`), its configuration, map and stats socket under `tmp`."""

    def __init__(self, procs: Processes, tmp: Path, config: str, *, port: int):
        self.procs, self.tmp, self.port = procs, tmp, port
        self.binary = haproxy_binary()
        self.conf = tmp / "haproxy.cfg"
        self.conf.write_text(config, encoding="utf-8")
        self.map = tmp / "beian-served.map"
        self.ended = tmp / "beian-ended.map"
        self.socket = tmp / "admin.sock"
        self.proc: subprocess.Popen | None = None

    def check(self) -> None:
        done = subprocess.run([self.binary, "-c", "-f", str(self.conf)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"haproxy -c refused the configuration:\n{done.stdout}{done.stderr}"

    def start(self) -> subprocess.Popen:
        self.check()
        self.proc = serve(
            self.procs,
            "haproxy",
            # HAProxy binds its stats socket under a temporary name and renames it once started,
            # which may come after the port listens.
            lambda: _listening(self.port) and self.socket.exists(),
            self.binary,
            "-db",
            "-f",
            str(self.conf),
        )
        return self.proc

    def stop(self) -> None:
        if self.proc is not None:
            self.procs.stop(self.proc)
            self.proc = None
