"""The public query tier under granian (issue 10): `python -m beian.granian_serve` as
deploy/systemd/beian-query.service runs it, a real process on a free port of loopback, proved
through real HTTP.

The server runs the documented production profile (docs/hardening.md: HTTPS only, behind a
proxy) with the test as its one trusted proxy (`BEIAN_TRUSTED_PROXIES=127.0.0.1/32`) and two
workers, on databases of its own (tests/provider/test_worker_crash.py's `Databases`: SQLite files
the processes share, or PostgreSQL databases named after the suite's, dropped at the end). One
filing is made through the bureau's service layer (tests/bureau/conftest.py's World, run by
`python -m beian shell`), as the other process-starting tests set theirs up. What
beian/granian_serve.py does for granian that beian/gunicorn_conf.py does for gunicorn, and what
the public query promises:

- S24: the public query page and its API answer a filed domain with the public record and nothing
  of the principal's, and read a name sent as raw UTF-8 bytes as Django reads it (北京, not the
  Latin-1 reading of its bytes that the plain answer once made);
- `X-Forwarded-Proto: https` is believed from the trusted proxy only (an untrusted peer is the
  test again, from 127.0.0.2);
- one scrape of /metrics counts the requests both workers answered;
- SIGTERM stops the server and its workers, exit status 0; also while the workers are still
  loading Django, within BEIAN_WEB_STOP_SECONDS.

The request line is written by hand, so that the server gets exactly the test's bytes (h11, which
reads the answers, rightly refuses to write raw UTF-8 in a target). Which worker answered a
connection is read from /proc (the worker holding the socket), not guessed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import h11
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.bureau.test_public_query_scale import PUBLIC_FIELDS  # DESIGN §7a: nothing else goes out
from tests.provider.test_worker_crash import DEADLINE, Databases, Processes, _free_port
from tests.test_production import documented_production_env

HOST = "beian.example.cn"  # the documented profile's BEIAN_ALLOWED_HOSTS
DOMAIN = "granian-s24.cn"
ENTITY = "北京格兰测试科技有限公司"
SITE = "格兰测试网"
ACCESS_IP = "121.40.18.10"
QUERY = "/bureau/api/v1/query"

SETUP = f"""
import json
from tests.bureau.conftest import enterprise, make_world, person, website

world = make_world()
principal = person(1, division="110105")
entity = {{**enterprise(1, province="11", principal=principal), "name": {ENTITY!r}}}
data = {{
    "entity": entity,
    "website": website({DOMAIN!r}, principal=principal, name={SITE!r}),
    "access": {{"ips": [{ACCESS_IP!r}]}},
}}
op = world.approve(world.submit("new_filing", data))
assert op.state == "approved", op.state
print(json.dumps({{"principal": principal, "cert_number": entity["cert_number"]}}))
"""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class Connection:
    """One kept-open HTTP/1.1 connection to the server, from `source` (an address of loopback)."""

    def __init__(self, port: int, source: str = "127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(source, 0))
        if self.sock.getsockname() == self.sock.getpeername():
            # Nothing listens yet, and the kernel gave this socket the port itself as its own: TCP's
            # simultaneous open connects it to itself, and it would read its own request back as the
            # answer. The port is in the ephemeral range, so polling it until the server listens
            # meets that now and then.
            self.sock.close()
            raise ConnectionRefusedError(f"127.0.0.1:{port} connected to itself: nothing listens there yet")

    def get(self, target: str, *, https: bool = True, extra: tuple[str, ...] = ()) -> Answer:
        """GET `target` as written, its UTF-8 bytes unescaped; `https`: as the proxy says a request
        that came by HTTPS; `extra`: more header lines."""
        head = [f"GET {target} HTTP/1.1", f"Host: {HOST}", *(["X-Forwarded-Proto: https"] if https else []), *extra]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        conn = h11.Connection(h11.CLIENT)
        # h11 is told of a request of the same framing, to read the answer to the one sent above.
        conn.send(h11.Request(method="GET", target="/", headers=[("Host", HOST)]))
        conn.send(h11.EndOfMessage())
        status, headers, body = 0, {}, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError(f"GET {target}: the connection closed without an answer")
                conn.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return Answer(status, headers, body)

    def close(self) -> None:
        self.sock.close()


def _children(pid: int) -> list[int]:
    found = []
    with suppress(OSError):  # gone: no children
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(OSError):
                found += [int(p) for p in (task / "children").read_text().split()]
    return sorted(found)


def _started_at(pid: int) -> str | None:
    """The process's start time (field 22 of its stat), None if it is gone: with the pid, one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def _owner(sock: socket.socket, port: int, workers: list[int]) -> int | None:
    """The worker holding the server's end of this client socket."""
    host, client_port = sock.getsockname()

    def hexed(address: str, p: int) -> str:  # as /proc/net/tcp writes an IPv4 address and port
        return f"{socket.inet_aton(address)[::-1].hex().upper()}:{p:04X}"

    ends = (hexed("127.0.0.1", port), hexed(host, client_port))
    inodes = {
        fields[9] for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if (fields[1], fields[2]) == ends
    }  # fmt: skip
    held = {f"socket:[{inode}]" for inode in inodes}
    for worker in workers:
        with suppress(OSError):  # a worker gone holds nothing
            for fd in Path(f"/proc/{worker}/fd").iterdir():
                with suppress(OSError):
                    if os.readlink(fd) in held:
                        return worker
    return None


@dataclass
class Served:
    proc: subprocess.Popen
    port: int
    workers: dict[int, str | None]  # pid → start time (`_started_at`)

    def kill_leftovers(self) -> None:
        """Workers of this server still running after it ended (granian's main process killed
        before it stopped them): they are this test's to end."""
        for pid, started in self.workers.items():
            if _started_at(pid) == started:
                os.kill(pid, signal.SIGKILL)


def serve(procs: Processes, name: str) -> Served:
    """`python -m beian.granian_serve` on a free port, once every worker has answered (polled,
    bounded; a worker still loading Django does not accept yet, and granian left alone a SIGTERM
    that came then); a port taken between choosing and binding is tried again."""
    wanted = int(procs.env["BEIAN_WEB_WORKERS"])
    for _ in range(3):
        port = _free_port()
        procs.env["BEIAN_BIND"] = f"127.0.0.1:{port}"
        proc = procs.start(name, sys.executable, "-m", "beian.granian_serve")
        answered: set[int] = set()
        deadline = time.monotonic() + DEADLINE
        while proc.poll() is None and time.monotonic() < deadline:
            workers = _children(proc.pid)
            try:
                conn = Connection(port)
                try:
                    if conn.get("/healthz").status == 200:
                        answered.add(_owner(conn.sock, port, workers))
                finally:
                    conn.close()
            except OSError:
                pass
            if len(answered & set(workers)) == wanted == len(workers):
                return Served(proc, port, {pid: _started_at(pid) for pid in workers})
            time.sleep(0.05)  # leaves the CPU to the workers loading Django
        procs.stop(proc)
    pytest.fail(f"granian did not come up with {wanted} workers\n{procs.logs()}")


@dataclass
class Tier:
    procs: Processes
    served: Served
    port: int
    private: list[str]  # what the filing holds that no public answer may show

    def query_count(self) -> float:
        """GET answers of the public query's API with 200, as one scrape of /metrics adds them up."""
        conn = Connection(self.port)
        scraped = conn.get("/metrics")
        conn.close()
        assert scraped.status == 200, scraped.status
        return sum(
            sample.value
            for family in text_string_to_metric_families(scraped.text)
            for sample in family.samples
            if sample.name == "beian_http_requests_total"
            and (sample.labels["method"], sample.labels["route"], sample.labels["status"]) == ("GET", QUERY, "200")
        )


@pytest.fixture(scope="module")
def tier(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("granian")
    dbs = Databases(tmp, part="granian")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BEIAN_", "PYTEST_", "DJANGO_")) and k != "COVERAGE_PROCESS_START"
    }
    env.update(
        documented_production_env(),
        DJANGO_SETTINGS_MODULE="beian.settings",
        PYTHONUNBUFFERED="1",
        BEIAN_VAR_DIR=str(tmp),
        BEIAN_TRUSTED_PROXIES="127.0.0.1/32",
        BEIAN_WEB_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"),
        # One client asks many times here (the metrics test until both workers have answered).
        BEIAN_PUBLIC_RATE_PER_MINUTE="1000000",
        BEIAN_ARGON2_TIME_COST="1",  # the providers' keys' hashes; cheap, as in the rest of the suite
        BEIAN_ARGON2_MEMORY_KIB="64",
        **dbs.env(),
    )
    (tmp / "metrics").mkdir()
    procs = Processes(tmp, env)
    served = None
    try:
        dbs.create()
        for args in (("migrate",), ("migrate", "--database", "bureau")):
            procs.run("-".join(args), sys.executable, "-m", "beian", *args, "--noinput", "-v0")
        made = json.loads(procs.run("setup", sys.executable, "-m", "beian", "shell", "-c", SETUP).splitlines()[-1])
        principal = made["principal"]
        private = [principal[k] for k in ("name", "id_number", "mobile", "email")] + [made["cert_number"], ACCESS_IP]
        served = serve(procs, "granian")
        yield Tier(procs, served, served.port, private)
    finally:
        procs.close()
        if served is not None:
            served.kill_leftovers()
        dbs.drop()


def test_s24_public_query_under_granian_answers_a_filed_domain_with_its_public_record_only(tier):
    conn = Connection(tier.port)
    by_domain = conn.get(f"{QUERY}?domain={DOMAIN}")
    assert by_domain.status == 200, by_domain.body
    [record] = by_domain.json()["results"]
    assert set(record) == PUBLIC_FIELDS
    assert (record["entity_name"], record["website_name"], record["domains"]) == (ENTITY, SITE, [DOMAIN])
    assert record["website_number"] == record["entity_number"] + "-1"
    assert record["entity_number"].startswith("京ICP备")
    assert record["access_limited"] is False
    # A subdomain finds its registrable domain; the number finds the same record.
    assert conn.get(f"{QUERY}?domain=www.{DOMAIN}").json()["results"] == [record]
    assert conn.get(f"{QUERY}?number={quote(record['website_number'])}").json()["results"] == [record]

    page = conn.get(f"/bureau/query/?kind=domain&q={DOMAIN}")
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    for shown in (ENTITY, SITE, record["website_number"], DOMAIN):
        assert shown in page.text
    for answer in (by_domain, page):
        for private in tier.private:
            assert private not in answer.text
    conn.close()


def test_s24_a_name_sent_as_raw_utf8_is_read_as_utf8_under_granian(tier):
    """Some clients send a name's UTF-8 bytes unescaped; the server hands them to the application
    as a Latin-1 string (PEP 3333) and Django reads them as UTF-8 (issue 10: the plain answer once
    read 'å\x8c\x97äº¬' for 北京, and found nothing)."""
    conn = Connection(tier.port)
    api = conn.get(f"{QUERY}?name=北京")
    assert api.status == 200, api.body
    assert [r["entity_name"] for r in api.json()["results"]] == [ENTITY]
    # The same through the middleware chain (a request with a cookie is not the plain answer's)
    # and on the page.
    chained = conn.get(f"{QUERY}?name=北京", extra=("Cookie: seen=1",))
    assert chained.body == api.body
    page = conn.get("/bureau/query/?kind=name&q=北京")
    assert page.status == 200
    assert ENTITY in page.text
    assert 'value="北京"' in page.text  # the form shows the text as read
    conn.close()


def test_https_is_believed_from_the_trusted_proxy_only_under_granian(tier):
    """The production profile sends plain HTTP to HTTPS (301) and marks HTTPS answers with HSTS.
    `X-Forwarded-Proto: https` from 127.0.0.1 (BEIAN_TRUSTED_PROXIES) makes a request HTTPS; the
    same header from 127.0.0.2, a peer not trusted, changes nothing."""
    trusted, untrusted = Connection(tier.port), Connection(tier.port, source="127.0.0.2")
    for path in (f"{QUERY}?domain={DOMAIN}", f"/bureau/query/?kind=domain&q={DOMAIN}"):
        secure = trusted.get(path)
        assert secure.status == 200, (path, secure.status)
        assert secure.headers["strict-transport-security"].startswith("max-age=")
        for plain in (trusted.get(path, https=False), untrusted.get(path)):
            assert (plain.status, plain.headers["location"]) == (301, f"https://{HOST}{path}")
            assert "strict-transport-security" not in plain.headers
    trusted.close()
    untrusted.close()


def test_one_scrape_of_metrics_counts_the_requests_of_both_workers(tier):
    """Each connection is answered by the worker that accepted it: connections are opened until
    both workers have answered some (each found by /proc; bounded), then one scrape, answered by
    either, counts them all (PROMETHEUS_MULTIPROC_DIR)."""
    workers = list(tier.served.workers)
    assert len(workers) == 2
    before = tier.query_count()
    answered: Counter[int] = Counter()
    deadline = time.monotonic() + DEADLINE
    while len(answered) < 2 or min(answered.values()) < 2:
        assert time.monotonic() < deadline, f"one worker answered every connection: {answered}"
        conn = Connection(tier.port)
        assert conn.get(f"{QUERY}?domain={DOMAIN}").status == 200
        owner = _owner(conn.sock, tier.port, workers)
        assert owner in workers
        answered[owner] += 1
        conn.close()
    assert tier.query_count() == before + sum(answered.values())


def test_sigterm_stops_granian_and_its_workers_cleanly(tier, tmp_path):
    """A server of its own (its metrics in a directory of their own: granian_serve empties the
    directory it is given at start), stopped with SIGTERM as systemd stops it, with a client's
    connection kept open: exit status 0, both workers gone, the connection closed, the port free."""
    procs = Processes(tmp_path, {**tier.procs.env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    served = None
    try:
        served = serve(procs, "granian-stopped")
        server, port, workers = served.proc, served.port, served.workers
        assert len(workers) == 2
        kept = Connection(port)
        assert kept.get("/healthz").status == 200
        server.send_signal(signal.SIGTERM)
        try:
            assert server.wait(timeout=DEADLINE) == 0, procs.logs()
        except subprocess.TimeoutExpired:
            pytest.fail(f"granian did not stop in {DEADLINE} s\n{procs.logs()}")
        assert all(_started_at(pid) != started for pid, started in workers.items())
        with suppress(ConnectionResetError):  # closed either way: FIN, or RST
            assert kept.sock.recv(1) == b""
        kept.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        procs.close()
        if served is not None:
            served.kill_leftovers()


def test_sigterm_while_the_workers_load_django_stops_them_within_the_bound(tier, tmp_path):
    """SIGTERM as soon as both workers exist, while they are (almost always: loading Django takes
    seconds) still loading the application, when a worker does not hear it (beian/granian_serve.py):
    granian kills them after BEIAN_WEB_STOP_SECONDS and exits 0. Were the signal to come after
    they loaded, they would stop at once: the test holds either way, and without the bound it
    waits until its deadline."""
    procs = Processes(
        tmp_path, {**tier.procs.env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "BEIAN_WEB_STOP_SECONDS": "2"}
    )
    served = None
    try:
        for _ in range(3):  # a port taken between choosing and binding is tried again
            port = _free_port()
            procs.env["BEIAN_BIND"] = f"127.0.0.1:{port}"
            proc = procs.start("granian-early", sys.executable, "-m", "beian.granian_serve")
            deadline = time.monotonic() + DEADLINE
            while proc.poll() is None and len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            workers = _children(proc.pid)
            if proc.poll() is None and len(workers) == 2:
                served = Served(proc, port, {pid: _started_at(pid) for pid in workers})
                break
            procs.stop(proc)
        assert served is not None, procs.logs()
        served.proc.send_signal(signal.SIGTERM)
        try:
            assert served.proc.wait(timeout=DEADLINE) == 0, procs.logs()
        except subprocess.TimeoutExpired:
            pytest.fail(f"granian did not stop in {DEADLINE} s\n{procs.logs()}")
        assert all(_started_at(pid) != started for pid, started in served.workers.items())
    finally:
        procs.close()
        if served is not None:
            served.kill_leftovers()
