"""`python -m bench fleet [--edges N] [--domains S | --full] [--rate R] [--seconds T] [--database-url URL]
[--database NAME] [--keep] [--fleet-only | --haproxy-only] [--haproxy-every K] [--code DIR]`: enforcement across a
fleet of edges (issue 11), measured by hand; `make bench` runs it last (`make bench SCALE=--full` for 5
million served domains). `--fleet-only` runs the edges and the platform alone (no database-mode
server, agents, HAProxy, nginx or wrk). `--haproxy-only` runs HAProxy's side alone: the platform, one
edge (the baseline of the change's delay; `--edges N` for more), the agent keeping HAProxy's live
maps and HAProxy, the same flow of changes, and wrk against nginx with its map written once after
the flow (`write_nginx_map`, no nginx agent, no database-mode server); it also says how long the
agent and HAProxy took to load, their memory and their CPU while changes flowed. `--haproxy-every
K` asks HAProxy about one change in K (default 4; 1: every change).

A provider's mirror of S served domains (default 200,000; `--full`: 5 million if the machine has more
than 16 GB available, or 4 GB with `--haproxy-only`, else 1 million, and it says so) is written
through COPY into a PostgreSQL database of its own (bench/edge_scale.py's mirror: most websites
with one domain, some with two or three, the kinds not served beside them), dropped afterwards.
Then, all on loopback:

- the platform under gunicorn (as the Procfile, 2 workers, threads enough for every long poll)
  publishes the served-set feed; one edge token per follower;
- N edges (default 20): `python -m beian.enforcement --follow URL --state DIR`, each taking the
  snapshot and following the feed, no database; beside them a decision server in database mode on
  the same mirror (the baseline for the decision rate), and two edge agents, each following the
  feed too: one keeping HAProxy's live map through its runtime API (deploy/haproxy/beian-edge.cfg,
  with answers in place of the backends), one writing nginx's map and reloading nginx;
- the snapshot once more, as an edge takes it (gzip): its size and time; baseline: the same
  rows read from PostgreSQL alone;
- the platform's CPU (gunicorn's processes) per edge: while the followers only wait in their streams
  (the baseline), and while R changes a second (default 100) flow for T seconds (default 30),
  written as bench/edge_scale.py's writer writes them (one transaction each, as sync does); and the
  CPU a change and edge of the platform and of the edges' processes, with the load average;
- meanwhile: each change's propagation, from its commit to the moment the last of the N edges
  reports its version on /enforcement/status (asked in turn, over keep-alive connections), p50 and
  p99 (baseline: the first edge to report it); HAProxy's change → decision, its answer for the
  changed Host asked until it is the new one, one change in four (baseline: the fleet's last edge);
  and how late nginx's map is, one change in ten asked the same way (the agent writes and reloads at
  most once a second);
- the questions the followers put to `/served` meanwhile (counted in gunicorn's access log);
- then wrk (-t1 -c50, the servers on core 1 and wrk on core 0 on 2 cores or more, rounds
  interleaved, the best counts) on bench/edge.py's Host mix over this mirror's names: a following
  edge against the database-mode decision server (target: within 5%), and HAProxy with its
  runtime-updated map against nginx's static map (target: at least 90%).

Each figure is printed beside its target and a baseline from the same run. The machine may be
shared: the load average at start is printed with it.
"""

from __future__ import annotations

import argparse
import bisect
import http.client
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from bench import edge as edge_bench
from bench import edge_scale as mirror

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DOMAINS, FULL_DOMAINS, FALLBACK_DOMAINS = 200_000, 5_000_000, 1_000_000
FULL_NEEDS_GB = 16  # 20 edges of 5 million names each hold about 10 GB
DOMAINS_PER_WEBSITE = 1.25  # bench/edge_scale.py's mirror: 3 in 20 websites with two, 1 in 20 with three
CHANGE_DEADLINE = 10.0  # seconds a change may take to show everywhere before it is counted as lost
# From a million served domains nginx's reloads take tens of seconds each (docs/enforcement.md,
# "nginx's map at 5 million served domains, measured"): wait for its answers that long.
LARGE, LARGE_DEADLINE = 1_000_000, 300.0
# One change in this many is asked of HAProxy, and of nginx (whose map is late by a reload or
# more): each pending change asked is a request a round, and enough of them would slow the rounds.
HAPROXY_SAMPLE, NGINX_SAMPLE = 4, 10
IDLE_SECONDS = 10.0
POLL_SECONDS = 0.2  # BEIAN_ENFORCEMENT_POLL_SECONDS of the platform and of the database-mode server
TARGET_P99, TARGET_FOLLOW, TARGET_HAPROXY = 1.0, 0.95, 0.90

NGINX = """{user}worker_processes 1;
worker_rlimit_nofile 65536;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    map_hash_bucket_size 256;
    map_hash_max_size {map_max};
    map $host $beian_served {{
        include {map};
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            if ($beian_served = 0) {{
                return 403;
            }}
            return 200 "served\\n";
        }}
    }}
}}
"""


def available_gb() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (gunicorn's master and workers)."""
    total = mirror.cpu_of(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                total += mirror.cpu_of(int(entry.name))
    return total


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of a process and of its children (nginx's workers) onto `cpus`."""
    pids = [pid] + [
        int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit() and _parent(entry) == pid
    ]
    for each in pids:
        for task in Path(f"/proc/{each}/task").glob("*"):
            with suppress(OSError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(task.name), cpus)


def _parent(entry: Path) -> int:
    try:
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def haproxy_config(*, port: int, bare_port: int, map_path: Path, sock: Path, text: str | None = None) -> str:
    """deploy/haproxy/beian-edge.cfg with this run's paths, the decision answered by HAProxy itself
    (as nginx's map server answers it) rather than passed to backends, one thread as nginx has one
    worker. `text`: another configuration than deploy/haproxy/beian-edge.cfg (bench/haproxy_rate.py)."""
    if text is None:
        text = (ROOT / "deploy" / "haproxy" / "beian-edge.cfg").read_text(encoding="utf-8")
    for old, new in (
        ("/etc/haproxy/beian-served.map", str(map_path)),
        ("/run/haproxy/admin.sock mode 660 group haproxy", f"{sock} mode 600"),
        ("bind :80", f"bind 127.0.0.1:{port}"),
        ("/etc/haproxy/beian-ended.map", str(map_path.with_name("beian-ended.map"))),
        ("stats timeout 30s", "stats timeout 30s\n    nbthread 1\n    maxconn 4096"),
        ("use_backend beian_blocked unless", "http-request return status 403 unless"),
        (
            "default_backend customer_backend",
            'http-request return status 200 content-type text/plain string "served"',
        ),
    ):
        if old not in text:
            raise SystemExit(f"deploy/haproxy/beian-edge.cfg no longer has {old!r}: update bench/fleet.py")
        text = text.replace(old, new)
    # Beside it, the baseline: the same HAProxy answering without a decision.
    bare = f"frontend bare\n    bind 127.0.0.1:{bare_port}\n"
    bare += '    http-request return status 200 content-type text/plain string "served"\n'
    return text[: text.index("backend customer_backend")] + bare


class Status:
    """/enforcement/status of one server, over a keep-alive connection."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

    def get(self) -> dict | None:
        try:
            self.conn.request("GET", "/enforcement/status")
            return json.loads(self.conn.getresponse().read())
        except (OSError, http.client.HTTPException, ValueError):
            self.conn.close()
            return None


class Asker:
    """Whether an edge serves a Host (200) or refuses it, over a keep-alive connection."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

    def served(self, host: str) -> bool | None:
        """None if the answer did not come (nginx closes its connections when it reloads)."""
        try:
            self.conn.request("GET", "/", headers={"Host": host})
            response = self.conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            return None
        return response.status == 200


@dataclass
class Change:
    website: int
    host: str
    served: bool
    version: int
    committed: float
    haproxy: float | None = None  # when HAProxy first gave the new answer (changes asked of it only)
    nginx: float | None = None
    asked: tuple[str, ...] = ()  # which of "haproxy", "nginx" ask about this change


class Tracker:
    """Every change made; each edge's version as it reports it; HAProxy's and nginx's answers for
    a share of the changes. The fleet costs one status request an edge a round, however many
    changes are pending: when each edge showed each change is worked out afterwards, from the
    moments its version moved (versions only grow)."""

    def __init__(self, edges: list[int], haproxy: int | None, nginx: int | None):
        self.edges = [Status(port) for port in edges]
        self.moves: list[tuple[list[float], list[int]]] = [([], []) for _ in edges]  # per edge: times, versions
        self.haproxy = Asker(haproxy) if haproxy is not None else None
        self.nginx = Asker(nginx) if nginx is not None else None
        self.lock = threading.Lock()
        self.changes: list[Change] = []
        self.pending: dict[str, list[Change]] = {"haproxy": [], "nginx": []}
        self.stop = threading.Event()

    def add(self, change: Change) -> None:
        with self.lock:
            self.changes.append(change)
            for which in change.asked:
                self.pending[which].append(change)

    def fleet(self) -> None:
        deadline = None
        while True:
            for n, status in enumerate(self.edges):
                report = status.get()
                times, versions = self.moves[n]
                if report and (not versions or report["version"] > versions[-1]):
                    times.append(time.perf_counter())
                    versions.append(report["version"])
            if self.stop.is_set():
                # Until every edge has the last change, or CHANGE_DEADLINE after the flow stopped.
                deadline = deadline or time.perf_counter() + CHANGE_DEADLINE
                top = max((c.version for c in self.changes), default=0)
                if time.perf_counter() > deadline or all(v and v[-1] >= top for _, v in self.moves):
                    return
            time.sleep(0.005)

    def ask(self, which: str) -> None:
        asker = getattr(self, which)
        while True:
            with self.lock:
                pending = list(self.pending[which])
            if self.stop.is_set() and not pending:
                return
            now = time.perf_counter()
            for c in pending:
                if asker.served(c.host) == c.served:
                    setattr(c, which, time.perf_counter())
                elif now - c.committed <= CHANGE_DEADLINE:
                    continue
                with self.lock:
                    self.pending[which].remove(c)
            time.sleep(0.005)

    def shown(self) -> tuple[list[float], list[float], int]:
        """For each change the fleet showed everywhere: its delay to the first edge and to the
        last; and how many some edge did not show within CHANGE_DEADLINE."""
        first, last, lost = [], [], 0
        for c in self.changes:
            seen = []
            for times, versions in self.moves:
                k = bisect.bisect_left(versions, c.version)
                if k < len(versions) and times[k] - c.committed <= CHANGE_DEADLINE:
                    seen.append(times[k] - c.committed)
            if len(seen) < len(self.moves):
                lost += 1
            else:
                first.append(min(seen))
                last.append(max(seen))
        return first, last, lost


def write_changes(conn, dsn: str, websites: int, rate: float, seconds: float) -> None:
    """In a child process, so that the askers do not slow it: `rate` changes a second for `seconds`,
    each sent to the parent as (website, Host, reason, version, commit time). A website changes
    again only CHANGE_DEADLINE after its last change, by which time that one has shown or is lost."""
    writer = mirror.Writer(dsn, websites, seed=11)
    changed: deque[tuple[float, int]] = deque()
    total = int(rate * seconds)
    began = time.perf_counter()
    for k in range(total):
        wait = began + k / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        while changed and changed[0][0] < time.perf_counter() - CHANGE_DEADLINE:
            writer.busy.discard(changed.popleft()[1])
        website, host, reason, committed = writer.one()
        changed.append((committed, website))
        conn.send((website, host, reason, writer.version, committed))
    conn.send(total / (time.perf_counter() - began))
    writer.conn.close()


def flow(
    dsn: str, websites: int, tracker: Tracker, rate: float, seconds: float, haproxy_every: int = HAPROXY_SAMPLE
) -> float:
    """Changes from the child writer, asked about as they come (one in `haproxy_every` of HAProxy);
    returns the rate made."""
    ours, theirs = multiprocessing.Pipe(duplex=False)
    # Forked before this process has threads of its own.
    child = multiprocessing.get_context("fork").Process(
        target=write_changes, args=(theirs, dsn, websites, rate, seconds), name="bench-writer"
    )
    child.start()
    theirs.close()
    proxies = tuple(which for which in ("haproxy", "nginx") if getattr(tracker, which) is not None)
    threads = [threading.Thread(target=tracker.fleet, name="bench-fleet")]
    threads += [threading.Thread(target=tracker.ask, args=(which,), name=f"bench-{which}") for which in proxies]
    for thread in threads:
        thread.start()
    made = float("nan")
    try:
        k = 0
        while True:
            message = ours.recv()
            if not isinstance(message, tuple):
                made = message
                break
            website, host, reason, version, committed = message
            asked = ("haproxy",) * (k % haproxy_every == 0) + ("nginx",) * (k % NGINX_SAMPLE == 0)
            asked = tuple(which for which in asked if which in proxies)
            tracker.add(Change(website, host, reason == "filed", version, committed, asked=asked))
            k += 1
    finally:
        child.join()
        tracker.stop.set()
        for thread in threads:
            thread.join()
    return made


def host_mix(websites: int, count: int) -> list[str]:
    """bench/edge.py's mix of Hosts, over this mirror's served ASCII names."""
    ids = [i for i in range(1, websites + 1) if mirror.served(i) and not mirror.is_idn(i)]
    return hosts_over([mirror.ascii_name(i) for i in ids], count)


def hosts_over(names: list[str], count: int) -> list[str]:
    """bench/edge.py's kinds and shares of Host, each over a name drawn from `names`."""
    rnd = random.Random(18)
    hosts = []
    for kind in rnd.choices(list(edge_bench.MIX), list(edge_bench.MIX.values()), k=count):
        name = rnd.choice(names)
        hosts.append(
            {
                "domain": name,
                "www.domain": f"www.{name}",
                "a.b.domain": f"static.img.{name}",
                "UPPER:port": f"WWW.{name.upper()}:443",
                "unfiled": f"www.unfiled{rnd.randrange(10**9)}.cn",
            }.get(kind)
            or rnd.choice(edge_bench.MALFORMED)
        )
    return hosts


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def memory_mb(pid: int) -> tuple[float, float]:
    """A process's resident memory now and at its peak (VmRSS, VmHWM), in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    rss, peak = (int(fields.get(key, "0 kB").split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))
    return rss, peak


@dataclass
class Run:
    """What every part of a run shares: its processes, its environments, the platform's URL."""

    procs: edge_bench.Processes
    tmp: Path
    python: str
    env: dict[str, str]  # with the database
    edge_env: dict[str, str]  # without
    url: str
    domains: int

    def start_follower(self, name: str, token: str, *args: str, **env: str) -> subprocess.Popen:
        """A process following the feed with its own token and no database (and `env`)."""
        self.procs.env = dict(self.edge_env, BEIAN_EDGE_TOKEN=token, **env)
        try:
            return self.procs.start(name, *args)
        finally:
            self.procs.env = self.env


@dataclass
class Haproxy:
    """HAProxy with the agent that keeps its live maps, as a run starts them."""

    proc: subprocess.Popen
    port: int
    bare_port: int  # the same HAProxy answering without a decision
    map: Path
    agent: subprocess.Popen
    file_took: float  # the agent's start → its map file written (the snapshot taken, the index built)
    load_took: float  # HAProxy's start → answering from that file


@dataclass
class Nginx:
    proc: subprocess.Popen
    port: int
    agent: subprocess.Popen | None  # None: its map written once, static


def probe_host() -> str:
    """A Host every server of the run serves from the start."""
    first_served = next(i for i in range(1, 100) if mirror.served(i) and not mirror.is_idn(i))
    return f"www.{mirror.ascii_name(first_served)}"


def start_haproxy(run: Run, token: str, binary: str) -> Haproxy:
    """The edge agent keeping HAProxy's live maps, then HAProxy on the file it wrote."""
    directory = run.tmp / "haproxy"
    directory.mkdir()
    port, bare_port = edge_bench.free_port(), edge_bench.free_port()
    served_map, sock = directory / "beian-served.map", directory / "admin.sock"
    (directory / "haproxy.cfg").write_text(
        haproxy_config(port=port, bare_port=bare_port, map_path=served_map, sock=sock)
    )
    began = time.perf_counter()
    agent = run.start_follower(
        "agent-haproxy",
        token,
        run.python,
        *("-m", "beian", "edge_agent", "--follow", run.url, "--state", str(directory / "state")),
        *("--haproxy-map", str(served_map), "--haproxy-socket", str(sock)),
        # Its log with the time of each line, to tell what it did while changes flowed (agent_log).
        BEIAN_LOG_LEVEL="INFO",
        BEIAN_LOG_FORMAT="json",
    )
    run.procs.wait_until("HAProxy's first map", agent, served_map.exists)
    file_took = time.perf_counter() - began
    began = time.perf_counter()
    proc = run.procs.start("haproxy", binary, "-db", "-f", str(directory / "haproxy.cfg"))
    probe = probe_host()
    run.procs.wait_until("HAProxy", proc, lambda: Asker(port).served(probe))
    return Haproxy(proc, port, bare_port, served_map, agent, file_took, time.perf_counter() - began)


def _agent_signals_by_pid() -> bool:
    command = edge_bench.ROOT / "beian" / "enforcement" / "management" / "commands" / "edge_agent.py"
    return "--nginx-pid" in command.read_text()


def start_nginx(run: Run, token: str | None, binary: str) -> Nginx:
    """nginx with its map: kept by an edge agent of its own (written and reloaded after changes),
    or, without a token, written once from the mirror (`write_nginx_map`) and never reloaded."""
    directory = run.tmp / "nginx"
    directory.mkdir()
    port = edge_bench.free_port()
    served_map = directory / "beian-served.map"
    options = ["-p", str(directory), "-c", str(directory / "nginx.conf")]
    options += ["-g", f"daemon off; pid {directory / 'nginx.pid'};"]
    (directory / "nginx.conf").write_text(
        NGINX.format(
            user="user root;\n" if os.geteuid() == 0 else "",
            tmp=directory,
            map=served_map,
            port=port,
            map_max=1 << max(16, (run.domains * 2).bit_length()),
        )
    )
    agent = None
    if token is None:
        run.procs.run("nginx-map", run.python, "-m", "beian", "write_nginx_map", str(served_map), timeout=900)
    else:
        ctl = directory / "nginx-ctl"
        ctl.write_text(f'#!/bin/sh\nexec {binary} {" ".join(repr(o) for o in options)} "$@"\n')
        ctl.chmod(0o755)
        agent = run.start_follower(
            "agent-nginx",
            token,
            run.python,
            *("-m", "beian", "edge_agent", "--follow", run.url, "--state", str(directory / "state")),
            *("--nginx-map", str(served_map), "--nginx", str(ctl)),
            # SIGHUP to the master: `nginx -s reload` reads the whole configuration first, which at 5
            # million names outlasted the agent's patience (the code before the option lacks it).
            *(("--nginx-pid", str(directory / "nginx.pid")) if _agent_signals_by_pid() else ()),
        )
        run.procs.wait_until("nginx's first map", agent, served_map.exists)
    proc = run.procs.start("nginx", binary, *options)
    probe = probe_host()
    run.procs.wait_until("nginx", proc, lambda: Asker(port).served(probe))
    return Nginx(proc, port, agent)


def agent_log(path: Path, since: float, until: float) -> list[str]:
    """The agent's log lines (JSON, BEIAN_LOG_FORMAT=json) between two moments (time.time()),
    each with its moment in seconds from `since`."""
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        with suppress(ValueError, KeyError, TypeError):
            record = json.loads(line)
            at = datetime.fromisoformat(record["time"]).timestamp()
            if since <= at <= until:
                lines.append(f"{at - since:+7.1f} s  {record['message'][:160]}")
    return lines


def slow_changes(delays: list[tuple[float, float]], began: float, limit: float) -> str:
    """Of (commit moment, delay) pairs, those slower than `limit`: how many, and when in the
    flow (seconds from `began`) they were committed."""
    slow = sorted(at - began for at, delay in delays if delay > limit)
    if not slow:
        return f"none slower than {limit:g} s"
    return f"{len(slow)} slower than {limit:g} s, committed {slow[0]:.1f} s to {slow[-1]:.1f} s into the flow"


def wrk_best(
    wrk_binary: str,
    tmp: Path,
    hosts: list[str],
    targets: dict[str, tuple[int, str, int]],
    *,
    rounds: int,
    seconds: float,
    client_cpu: str | None,
) -> tuple[dict[str, dict], dict[str, float]]:
    """wrk on the Host mix against each target (port, path, the pid whose CPU it spends), rounds
    interleaved: the best rate of each, and the least CPU a request (µs). On a shared machine the
    rate follows what the other processes leave of the core, the CPU a request much less."""
    hosts_file, script = tmp / "hosts.txt", tmp / "rotate-host.lua"
    hosts_file.write_text("\n".join(hosts) + "\n")
    script.write_text(edge_bench.WRK_SCRIPT)
    best: dict[str, dict] = {}
    cpu_us: dict[str, float] = {}
    for round_ in range(max(1, rounds)):
        for key, (port, path, pid) in targets.items():
            if round_ == 0:
                edge_bench.wrk(wrk_binary, script, hosts_file, port, path, 1, client_cpu)
            cpu0 = tree_cpu(pid)
            result = edge_bench.wrk(wrk_binary, script, hosts_file, port, path, seconds, client_cpu)
            spent = (tree_cpu(pid) - cpu0) / max(result["rps"] * seconds, 1) * 1e6
            cpu_us[key] = min(cpu_us.get(key, spent), spent)
            if key not in best or result["rps"] > best[key]["rps"]:
                best[key] = result
    if abs(best["haproxy"]["refused"] - best["nginx"]["refused"]) > 0.01:
        print(
            f"  note: HAProxy refused {best['haproxy']['refused']:.1%} of the mix, nginx"
            f" {best['nginx']['refused']:.1%}: they do not decide the same"
        )
    return best, cpu_us


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def pct(values: list[float], share: float) -> float:
    return edge_bench.percentile(values, share) if values else float("nan")


def top(values: list[float]) -> float:
    return max(values, default=float("nan"))


def main(argv: list[str] | None = None) -> None:
    global CHANGE_DEADLINE
    parser = argparse.ArgumentParser(prog="python -m bench fleet")
    parser.add_argument(
        "--edges", type=int, help="edges following the platform (default 20; with --haproxy-only 1, the baseline)"
    )
    parser.add_argument("--domains", type=int, default=DEFAULT_DOMAINS, help="served domains (default 200,000)")
    parser.add_argument("--full", action="store_true", help="5 million served domains (1 million under 16 GB free)")
    parser.add_argument("--rate", type=float, default=100.0, help="changes a second while they flow")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long changes flow")
    parser.add_argument(
        "--deadline",
        type=float,
        help=f"seconds a change may take to show before it is counted as lost (default {CHANGE_DEADLINE:.0f},"
        f" or {LARGE_DEADLINE:.0f} from {LARGE:,} served domains, where nginx's reloads take that long)",
    )
    parser.add_argument("--wrk-seconds", type=float, default=5.0, help="each wrk run (after a 1 s warm-up)")
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs of each server, interleaved; the best counts")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432", help="a PostgreSQL server")
    parser.add_argument("--database", default="beian_fleet", help="the database made (and dropped) for the run")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    parser.add_argument(
        "--code",
        help="another checkout (e.g. main's) whose migrations, platform and edges to run under this bench:"
        " a before beside an after in the same harness",
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--fleet-only",
        action="store_true",
        help="only the edges and the platform: no database-mode server, agents, HAProxy, nginx or wrk",
    )
    only.add_argument(
        "--haproxy-only",
        action="store_true",
        help="only HAProxy's side: the platform, one edge (the baseline), the agent keeping HAProxy's maps,"
        " and nginx with a static map for the decision's rate",
    )
    parser.add_argument(
        "--haproxy-every",
        type=int,
        default=HAPROXY_SAMPLE,
        help=f"ask HAProxy about one change in this many (default {HAPROXY_SAMPLE}; 1: every change)",
    )
    args = parser.parse_args(argv)
    if args.code:
        edge_bench.ROOT = Path(args.code).resolve()  # where every process of the run starts (its cwd)
    import httpx
    import psycopg

    edges_wanted = args.edges if args.edges is not None else (1 if args.haproxy_only else 20)
    if edges_wanted < 1 or args.haproxy_every < 1:
        raise SystemExit("--edges and --haproxy-every: 1 or more")
    domains = args.domains
    if args.full:
        free = available_gb()
        # The edges' indexes are most of the memory; with --haproxy-only, one edge and one agent.
        needs = FULL_NEEDS_GB if edges_wanted > 2 else FULL_NEEDS_GB / 4
        domains = FULL_DOMAINS if free > needs else FALLBACK_DOMAINS
        if domains != FULL_DOMAINS:
            print(
                f"fleet: --full wants > {needs:.0f} GB available for {edges_wanted} edge(s) of 5 million names;"
                f" {free:.0f} GB are: running {domains:,}"
            )
    if args.deadline is not None:
        CHANGE_DEADLINE = args.deadline
    elif domains >= LARGE:
        CHANGE_DEADLINE = LARGE_DEADLINE
    websites = mirror.websites_for(round(domains / DOMAINS_PER_WEBSITE))
    proxies = not args.fleet_only
    fleet_too = not args.haproxy_only  # the database-mode server, the nginx agent, the edges' decision rate
    if proxies:
        wrk_binary = edge_bench.tool("wrk", "wrk")
        binaries = {name: edge_bench.tool(name, name) for name in ("nginx", "haproxy")}
    cpus = os.cpu_count() or 1
    server_cpu, client_cpu = ("1", "0") if cpus >= 2 and shutil.which("taskset") else (None, None)

    server_url = args.database_url.rstrip("/")
    dsn = f"{server_url}/{args.database}"
    parts = urlsplit(server_url)
    admin = {"host": parts.hostname, "port": parts.port or 5432, "user": parts.username, "dbname": "postgres"}
    tmp = Path(tempfile.mkdtemp(prefix="beian-fleet-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEIAN_", "DJANGO_", "GRANIAN_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="beian.settings",
        PYTHONDONTWRITEBYTECODE="1",
        BEIAN_VAR_DIR=str(tmp),
        BEIAN_DATABASE_URL=dsn,
        BEIAN_BUREAU_DATABASE_URL="",
        BEIAN_LOG_LEVEL="WARNING",
        BEIAN_ENFORCEMENT_POLL_SECONDS=str(POLL_SECONDS),
        BEIAN_WEB_WORKERS="2",
        BEIAN_WEB_THREADS=str(edges_wanted // 2 + 8),  # every follower's long poll holds a thread
    )
    edge_env = {k: v for k, v in env.items() if "DATABASE" not in k}  # an edge has no database
    print(
        f"fleet: {machine_line()}; {edges_wanted} edge(s)"
        + (" (the baseline), HAProxy's side only" if args.haproxy_only else "")
        + f"; PostgreSQL at {parts.netloc}, database {args.database}",
        flush=True,
    )
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')
    procs = edge_bench.Processes(tmp, env)
    # 20 edges loading their snapshots at once on a shared 2-core machine can take minutes, and so
    # can HAProxy and nginx loading maps of millions of names.
    edge_bench.STARTUP_SECONDS = max(edge_bench.STARTUP_SECONDS, 900.0)
    python = sys.executable
    try:
        procs.run("migrate", python, "-m", "beian", "migrate", "--noinput", "-v0")
        # The platform's clock reads the simulation's offset from the bureau's database (SQLite here).
        procs.run("migrate-bureau", python, "-m", "beian", "migrate", "--noinput", "-v0", "--database", "bureau")
        began = time.perf_counter()
        mirror.fill(dsn, websites)
        print(f"  mirror: {websites:,} websites written by COPY in {time.perf_counter() - began:.0f} s", flush=True)
        agents = (2 if fleet_too else 1) if proxies else 0
        followers = edges_wanted + agents
        out = procs.run(
            "tokens",
            python,
            "-m",
            "beian",
            "shell",
            "-c",
            "from beian.enforcement import edges\n"
            f"for n in range({followers}): print('token', edges.create(f'fleet-{{n}}').token)",
        )
        tokens = [line.split()[1] for line in out.splitlines() if line.startswith("token ")]

        platform_port = edge_bench.free_port()
        platform = procs.start(
            "platform",
            str(Path(python).parent / "gunicorn"),
            "beian.wsgi:application",
            "--config",
            "beian/gunicorn_conf.py",
            "--bind",
            f"127.0.0.1:{platform_port}",
        )
        url = f"http://127.0.0.1:{platform_port}"
        run = Run(procs, tmp, python, env, edge_env, url, domains)

        def platform_up() -> bool:
            try:
                return httpx.get(f"{url}/enforcement/blocked", timeout=2).status_code == 403
            except httpx.HTTPError:
                return False

        procs.wait_until("the platform", platform, platform_up)

        # The snapshot as an edge takes it; baseline: the same rows read from PostgreSQL alone.
        began = time.perf_counter()
        gz = 0
        with httpx.stream(
            "GET",
            f"{url}/enforcement/feed/snapshot",
            headers={"Authorization": f"Bearer {tokens[0]}", "Accept-Encoding": "gzip"},
            timeout=600,
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_raw():
                gz += len(chunk)
        snapshot_took = time.perf_counter() - began
        rows_alone, served_rows = mirror.in_child(mirror.read_rows_alone, env)
        print(
            f"snapshot: {gz / 1e6:.1f} MB gzip'd for {served_rows:,} served domains"
            f" ({gz / served_rows:.1f} B a domain),"
            f" sent in {snapshot_took:.1f} s; baseline: the served rows read from PostgreSQL alone {rows_alone:.1f} s",
            flush=True,
        )

        # The fleet, the database-mode baseline, and the two agents with HAProxy and nginx.
        began = time.perf_counter()
        ports = [edge_bench.free_port() for _ in range(edges_wanted)]
        edges = []
        for n, port in enumerate(ports):
            edges.append(
                run.start_follower(
                    f"edge-{n}",
                    tokens[n],
                    python,
                    "-m",
                    "beian.enforcement",
                    "--follow",
                    url,
                    "--state",
                    str(tmp / f"edge-{n}"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                )
            )
        if proxies and fleet_too:
            database_port = edge_bench.free_port()
            database_mode = procs.start(
                "database-mode",
                python,
                "-m",
                "beian.enforcement",
                "--host",
                "127.0.0.1",
                "--port",
                str(database_port),
            )
        for n, (proc, port) in enumerate(zip(edges, ports, strict=True)):
            procs.wait_until(f"edge {n}", proc, lambda port=port: (Status(port).get() or {}).get("loaded"))
        fleet_up = time.perf_counter() - began
        if proxies and fleet_too:
            procs.wait_until(
                "the database-mode server", database_mode, lambda: (Status(database_port).get() or {}).get("loaded")
            )
        print(f"  {edges_wanted} edge(s) up (each its snapshot loaded) in {fleet_up:.1f} s", flush=True)

        if proxies:
            hx = start_haproxy(run, tokens[edges_wanted], binaries["haproxy"])
            haproxy_pid = hx.proc.pid
            haproxy_rss = memory_mb(haproxy_pid)
            agent_rss = memory_mb(hx.agent.pid)
            print(
                f"  HAProxy's agent: its map file written {hx.file_took:.1f} s after its start;"
                f" HAProxy answering from it {hx.load_took:.1f} s after its own;"
                f" HAProxy {haproxy_rss[0]:,.0f} MB resident, the agent {agent_rss[0]:,.0f} MB",
                flush=True,
            )
            # nginx with its agent, as an edge runs it; with --haproxy-only, nginx's static map is
            # written after the flow, from the mirror as it is then, for the decision's rate alone.
            nx = start_nginx(run, tokens[edges_wanted + 1], binaries["nginx"]) if fleet_too else None

        # The platform's CPU while the followers wait, then while changes flow.
        cpu0 = tree_cpu(platform.pid)
        time.sleep(IDLE_SECONDS)
        idle = (tree_cpu(platform.pid) - cpu0) / IDLE_SECONDS
        tracker = Tracker(ports, hx.port if proxies else None, nx.port if proxies and nx is not None else None)
        load_before = os.getloadavg()[0]
        cpu0, began = tree_cpu(platform.pid), time.perf_counter()
        edges_cpu0 = sum(tree_cpu(proc.pid) for proc in edges)
        if proxies:
            agent_cpu0, haproxy_cpu0 = tree_cpu(hx.agent.pid), tree_cpu(haproxy_pid)
        wall_began = time.time()
        access_log = tmp / "platform.log"  # gunicorn's access log (beian/gunicorn_conf.py) among its output
        log_from = access_log.stat().st_size
        made = flow(dsn, websites, tracker, args.rate, args.seconds, args.haproxy_every)
        made_seconds = time.perf_counter() - began
        with access_log.open("rb") as log:
            log.seek(log_from)
            asked_served = log.read().count(b"POST /enforcement/feed/served")
        flowing = (tree_cpu(platform.pid) - cpu0) / made_seconds
        edges_cpu = sum(tree_cpu(proc.pid) for proc in edges) - edges_cpu0
        if proxies:
            agent_cpu, haproxy_cpu = tree_cpu(hx.agent.pid) - agent_cpu0, tree_cpu(haproxy_pid) - haproxy_cpu0
            haproxy_rss_after, agent_rss_after = memory_mb(haproxy_pid), memory_mb(hx.agent.pid)
        load_after = os.getloadavg()[0]
        first, last, lost = tracker.shown()
        by_haproxy = [c.haproxy - c.committed for c in tracker.changes if c.haproxy is not None]
        by_nginx = [c.nginx - c.committed for c in tracker.changes if c.nginx is not None]
        unseen = {
            which: sum(1 for c in tracker.changes if which in c.asked and getattr(c, which) is None)
            for which in ("haproxy", "nginx")
        }
        if proxies:
            if hx.proc.pid != haproxy_pid or hx.proc.poll() is not None:
                raise SystemExit("HAProxy was restarted during the run")
            if nx is None:
                nx = start_nginx(run, None, binaries["nginx"])

            # wrk: a following edge against the database-mode server, HAProxy against nginx's map. Only
            # now are the servers measured pinned to one core (wrk on the other): while changes flowed,
            # nginx's reloads on that core would have slowed HAProxy's answers and the edge's.
            targets = {
                "haproxy": (hx.port, "/", haproxy_pid),
                "nginx": (nx.port, "/", nx.proc.pid),
                "haproxy_bare": (hx.bare_port, "/", haproxy_pid),
            }
            if fleet_too:
                targets = {
                    "follow": (ports[0], "/enforcement/check", edges[0].pid),
                    "database": (database_port, "/enforcement/check", database_mode.pid),
                } | targets
            if server_cpu is not None:
                for _, _, pid in targets.values():
                    pin(pid, {int(server_cpu)})
            best, cpu_us = wrk_best(
                wrk_binary,
                tmp,
                host_mix(websites, edge_bench.HOST_LINES),
                targets,
                rounds=args.rounds,
                seconds=args.wrk_seconds,
                client_cpu=client_cpu,
            )
            wrk_load = os.getloadavg()[0]
            # From the flow's start to now: a write the agent began meanwhile is logged when it ends.
            during = agent_log(tmp / "agent-haproxy.log", wall_began, time.time())
    finally:
        procs.close()
        with psycopg.connect(**admin, autocommit=True) as conn:
            if not args.keep:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        if args.keep:
            print(f"  kept the database {args.database} and {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    n_edges = f"the last of {edges_wanted} edges" if edges_wanted > 1 else "the edge"
    print(
        f"propagation to {n_edges} while {made:.0f} changes/s flow for {args.seconds:.0f} s"
        f" ({len(tracker.changes):,} changes): p50 {ms(pct(last, 0.5))}, p99 {ms(pct(last, 0.99))},"
        f" max {ms(top(last))} (target p99 ≤ {TARGET_P99:g} s: {verdict(pct(last, 0.99) <= TARGET_P99 and not lost)});"
        f" baseline, the first edge: p50 {ms(pct(first, 0.5))}, p99 {ms(pct(first, 0.99))}"
        + (f"; {lost} change(s) not seen everywhere within {CHANGE_DEADLINE:.0f} s" if lost else "")
    )
    print(
        f"platform CPU per edge: {flowing / edges_wanted * 1000:.1f} ms/s while changes flow"
        f" ({flowing:.0%} of a core for {followers} followers); baseline, the followers waiting:"
        f" {idle / edges_wanted * 1000:.1f} ms/s per edge ({idle:.0%} of a core)"
    )
    # CPU a change: on a shared machine the wall-clock figures follow what the other processes leave
    # of the cores, these much less.
    changes = max(len(tracker.changes), 1)
    print(
        f"CPU a change and follower: the platform {flowing * made_seconds / changes / followers * 1000:.2f} ms,"
        f" an edge {edges_cpu / changes / edges_wanted * 1000:.2f} ms (the {edges_wanted} edge(s):"
        f" {edges_cpu / made_seconds:.0%} of a core); load average {load_before:.1f} before the flow,"
        f" {load_after:.1f} after"
    )
    print(
        f"questions to /served while changes flow: {asked_served:,} ({asked_served / changes:.2f} a change,"
        f" from {followers} followers)"
    )
    if not proxies:
        return
    if fleet_too:
        ratio = best["follow"]["rps"] / best["database"]["rps"]
        print(
            f"decision rate: a following edge {best['follow']['rps']:,.0f} req/s (p99 {best['follow']['p99']:.2f} ms),"
            f" {ratio:.0%} of the database-mode server's {best['database']['rps']:,.0f} req/s (baseline;"
            f" target within 5%: {verdict(ratio >= TARGET_FOLLOW)})"
        )
    ratio = best["haproxy"]["rps"] / best["nginx"]["rps"]
    print(
        f"HAProxy, runtime-updated map: {best['haproxy']['rps']:,.0f} req/s (p99 {best['haproxy']['p99']:.2f} ms),"
        f" {ratio:.0%} of nginx's {'reloaded' if fleet_too else 'static'} map, {best['nginx']['rps']:,.0f} req/s"
        f" (baseline; target ≥ {TARGET_HAPROXY:.0%}: {verdict(ratio >= TARGET_HAPROXY)});"
        f" the same HAProxy answering without a decision: {best['haproxy_bare']['rps']:,.0f} req/s"
        f" ({best['haproxy_bare']['rps'] / best['nginx']['rps']:.0%} of nginx's map); load average {wrk_load:.1f}"
    )
    print(
        f"CPU a request (the least of the rounds): HAProxy {cpu_us['haproxy']:.1f} µs, nginx {cpu_us['nginx']:.1f} µs"
        f" (HAProxy's rate on a core of its own would be {cpu_us['nginx'] / cpu_us['haproxy']:.0%} of nginx's);"
        f" HAProxy without a decision {cpu_us['haproxy_bare']:.1f} µs"
        + (
            f"; a following edge {cpu_us['follow']:.1f} µs, the database-mode server {cpu_us['database']:.1f} µs"
            if fleet_too
            else ""
        )
    )
    print(
        f"HAProxy change → decision at {served_rows:,} domains: p50 {ms(pct(by_haproxy, 0.5))},"
        f" p99 {ms(pct(by_haproxy, 0.99))}, max {ms(top(by_haproxy))} (target p99 ≤ {TARGET_P99:g} s:"
        f" {verdict(pct(by_haproxy, 0.99) <= TARGET_P99 and not unseen['haproxy'])}), no reload (the same pid),"
        f" {len(by_haproxy)} changes asked (one in {args.haproxy_every})"
        + (f", {unseen['haproxy']} not seen within {CHANGE_DEADLINE:.0f} s" if unseen["haproxy"] else "")
        + f"; baseline, {n_edges}: p50 {ms(pct(last, 0.5))}, p99 {ms(pct(last, 0.99))}"
    )
    print(
        f"HAProxy at {served_rows:,} domains: the agent's map file {hx.file_took:.1f} s after the agent's start,"
        f" HAProxy answering from it {hx.load_took:.1f} s after its own ({hx.file_took + hx.load_took:.1f} s in all);"
        f" resident {haproxy_rss[0]:,.0f} MB after the load, {haproxy_rss_after[0]:,.0f} MB after the flow"
        f" (peak {haproxy_rss_after[1]:,.0f} MB); the agent {agent_rss_after[0]:,.0f} MB"
        f" (peak {agent_rss_after[1]:,.0f} MB)"
    )
    print(
        f"while changes flowed: the agent's CPU {agent_cpu / made_seconds:.0%} of a core"
        f" ({agent_cpu / changes * 1000:.2f} ms a change), HAProxy's {haproxy_cpu / made_seconds:.0%}"
        f" ({haproxy_cpu / changes * 1000:.2f} ms a change, with the bench's questions);"
        f" baseline, the edge(s): {edges_cpu / made_seconds / edges_wanted:.0%} of a core each"
    )
    print(
        "HAProxy's slow changes: "
        + slow_changes(
            [(c.committed, c.haproxy - c.committed) for c in tracker.changes if c.haproxy], began, TARGET_P99
        )
        + "; the agent's log from the flow's start"
        + (":\n    " + "\n    ".join(during[:20]) if during else ": nothing")
    )
    if fleet_too:
        print(
            f"nginx map (write + reload, at most one a second) change → decision at {served_rows:,} domains,"
            f" {len(by_nginx)} changes"
            + (f" ({unseen['nginx']} more not seen within {CHANGE_DEADLINE:.0f} s)" if unseen["nginx"] else "")
            + f": p50 {ms(pct(by_nginx, 0.5))}, p99 {ms(pct(by_nginx, 0.99))}, max {ms(top(by_nginx))};"
            f" baseline, HAProxy: p50 {ms(pct(by_haproxy, 0.5))}"
        )


def machine_line() -> str:
    return f"{edge_bench.machine()}, {available_gb():.0f} GB available"


if __name__ == "__main__":
    main()
