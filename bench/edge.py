"""`python -m bench edge [--domains N] [--seconds S] [--changes C] [--rounds R] [--keep]`: the edge,
measured by hand (`python -m bench` runs it after the in-process part, with these defaults).

A mirror of N served domains (default 1 million) is written straight into a SQLite file (the
embedded default's schema, made by `migrate`; rows by executemany), and then, all on loopback:

- the decision server is the real one: `python -m beian.enforcement`, started as in
  the Procfile, loading its index from that file and following it every 0.2 s (the default);
- one nginx (Debian's, one worker) has two servers: one answers from a static map of the same N
  domains, written by `python -m beian write_nginx_map` (`map_hash_bucket_size 256`); the other
  asks the decision server through `auth_request` with the one-second decision cache of
  docs/enforcement.md (`proxy_cache` keyed by host). All serve the same small static page to a
  Host they let through and nginx's own 403 page to one they refuse (the block page is not part
  of this);
- wrk sends the same Host mix to each, rotating Host headers from one file (a Lua script):
  served domains, `www.` and two-label subdomains of them, upper case with a port, unfiled names
  and malformed ones, drawn with a Zipf-like popularity (a few sites get most of the traffic, as
  on a real edge; a uniform draw over 1 million would leave nginx's one-second cache nothing to do).

It prints (a) the decision server's requests/s and p99 against nginx answering from the map,
(b) nginx with `auth_request` and the one-second cache of the docs (tmpfs, `use_temp_path=off`, the files kept open)
against the same map, and both again over only the mix's first 200 distinct Hosts, where every
decision comes from nginx's cache after the first second: the most the cache can give — and
(c) propagation: the time from a cancel-access change committed in the mirror to the decision
server's first 403, p50 and p99 over C changes. On a machine with 2 cores or more, every server
runs on core 1 (one core for the edge, whichever way it decides) and wrk on core 0, with `-t1
-c50`; each server gets 1 s of warm-up, then `--rounds` runs interleaved with the others', of
which the best counts (the machine may be shared).
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = 50
HOST_LINES = 100_000
FEW_HOSTS = 200  # distinct Hosts of the run that measures auth_request with every decision cached
STARTUP_SECONDS = 180.0  # a server that is not up by then has failed
POLL_SECONDS = 0.2  # BEIAN_ENFORCEMENT_POLL_SECONDS of the decision server (the default)
CHANGE_DEADLINE = 5.0  # seconds one propagation may take before it is counted as lost

# The share of each kind of Host in the mix.
MIX = {
    "domain": 0.33,  # a served domain itself
    "www.domain": 0.38,
    "a.b.domain": 0.08,  # two labels in front of a served domain
    "UPPER:port": 0.03,
    "unfiled": 0.13,
    "malformed": 0.05,
}
MALFORMED = ("a..b.cn", "under_score.cn", "1.2.3.4", "[::1]", "-dash.cn", "x" * 64 + ".cn", "bad.cn:99999")

WRK_SCRIPT = """
-- Rotates the Host header through a file, one request per line (wrk -s this -- <file> <path>).
local requests = {}
local i = 0
function init(args)
  for host in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("GET", args[2], {["Host"] = host})
  end
end
function request()
  i = i % #requests + 1
  return requests[i]
end
"""

NGINX = """{user}worker_processes 1;
worker_rlimit_nofile 65536;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    open_file_cache max=64 inactive=60s;
    open_file_cache_valid 60s;  # the page both servers serve, kept open
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    map_hash_bucket_size 256;
    map_hash_max_size {map_max};

    map $host $beian_served {{
        include {tmp}/beian-served.map;
    }}
    # As docs/enforcement.md: the decision server's answers, kept for a second on tmpfs, written in
    # place (no temporary file to rename), the files kept open (open_file_cache, in the location).
    proxy_cache_path {tmpfs} levels=1 keys_zone=beian_decisions:10m max_size=64m inactive=60s use_temp_path=off;
    upstream beian_decide {{
        server 127.0.0.1:{decide_port};
        keepalive 32;
    }}

    server {{  # the static map: no call-back
        listen 127.0.0.1:{map_port};
        root {tmp}/www;
        location / {{
            if ($beian_served = 0) {{
                return 403;
            }}
            try_files /index.html =404;
        }}
    }}
{auth}
}}
"""

AUTH_SERVER = """
    server {{  # auth_request with the one-second decision cache, as docs/enforcement.md
        listen 127.0.0.1:{port};
        root {tmp}/www;
        location / {{
            auth_request /_beian_check;
            try_files /index.html =404;
        }}
        location = /_beian_check {{
            internal;
            proxy_pass http://beian_decide/enforcement/check;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Host $host;
            proxy_set_header Host $host;
            proxy_cache beian_decisions;
            proxy_cache_key $host;
            proxy_cache_valid 200 403 1s;
            open_file_cache max=10000 inactive=10s;
        }}
    }}
"""


def name_of(i: int) -> str:
    return f"site{i}.com.cn" if i % 2 else f"example-{i}.cn"


# ---------------------------------------------------------------- the machine and its tools


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPU(s) (nproc), {model}, load average {load:.2f} at start"


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK) else None)
    if found is None:
        raise SystemExit(
            f"{name} is not installed: `make bench` installs it (make edge-tools), or apt-get install {package}"
        )
    return found


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Every server started here, each with its output in a file, all ended in `close`."""

    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp, self.env, self.running = tmp, env, []

    def start(self, name: str, *args: str, cpu: str | None = None) -> subprocess.Popen:
        if cpu is not None:
            args = ("taskset", "-c", cpu, *args)
        with open(self.tmp / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.running.append(proc)
        return proc

    def run(self, name: str, *args: str, timeout: float = 300) -> str:
        proc = self.start(name, *args)
        try:
            rc = proc.wait(timeout=timeout)
        finally:
            self.stop(proc)
        log = (self.tmp / f"{name}.log").read_text(errors="replace")
        if rc != 0:
            raise SystemExit(f"{' '.join(args)} failed ({rc}):\n{log[-3000:]}")
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

    def wait_until(self, what: str, proc: subprocess.Popen, ready) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{what} exited with {proc.returncode}\n{self.logs()}")
            try:
                if ready():
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise SystemExit(f"{what} did not come up in {STARTUP_SECONDS:.0f} s\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-20:])
            for p in sorted(self.tmp.glob("*.log"))
        )


def get(port: int, path: str, host: str, conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


# ---------------------------------------------------------------- the mirror and the Host mix


def build_mirror(path: Path, domains: int) -> None:
    """N served websites, one domain each, straight into the migrated SQLite file."""
    now = "2026-03-02 02:00:00"
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(
            "INSERT INTO provider_filedentity (id, number, name, unit_type, province, status, updated_at)"
            " VALUES (1, '粤ICP备2026000001号', '基准测试公司', 'enterprise', '44', 'active', ?)",
            (now,),
        )
        db.executemany(
            "INSERT INTO provider_filedwebsite (id, number, name, home_url, status, deregistered_reason,"
            " access_state, access_ended_reason, ips, version, updated_at, entity_id)"
            " VALUES (?, ?, '基准网站', ?, 'active', '', 'active', '', '[]', ?, ?, 1)",
            ((i, f"粤ICP备2026000001号-{i}", f"http://{name_of(i)}/", i, now) for i in range(1, domains + 1)),
        )
        db.executemany(
            "INSERT INTO provider_fileddomain (id, name, website_id) VALUES (?, ?, ?)",
            ((i, name_of(i), i) for i in range(1, domains + 1)),
        )
        db.commit()


def host_mix(domains: int, count: int, seed: int = 18) -> tuple[list[str], dict[str, int]]:
    """`count` Host values: kinds by MIX, sites by a Zipf-like popularity (rank r drawn as N**u, u
    uniform, scattered over the ids so popularity does not follow the id)."""
    rnd = random.Random(seed)
    log_n = math.log(domains)

    def popular() -> int:
        rank = min(domains, int(math.exp(rnd.random() * log_n)))
        return (rank * 2_654_435_761) % domains + 1

    kinds = list(MIX)
    weights = [MIX[k] for k in kinds]
    hosts, counts = [], dict.fromkeys(kinds, 0)
    for kind in rnd.choices(kinds, weights, k=count):
        counts[kind] += 1
        name = name_of(popular())
        if kind == "domain":
            hosts.append(name)
        elif kind == "www.domain":
            hosts.append(f"www.{name}")
        elif kind == "a.b.domain":
            hosts.append(f"static.img.{name}")
        elif kind == "UPPER:port":
            hosts.append(f"WWW.{name.upper()}:443")
        elif kind == "unfiled":
            hosts.append(f"www.unfiled{popular()}.cn")
        else:
            hosts.append(rnd.choice(MALFORMED))
    return hosts, counts


def cached_share(hosts: list[str], rate: float, seconds: float, ttl: float = 1.0) -> float:
    """Of wrk's requests (the file in order, over and over, at `rate`), the share a one-second
    cache keyed by host answers, counting an entry as fresh for `ttl` after the miss that fetched
    it (nginx keeps it 1–2 s, whole seconds: this is a lower bound)."""
    total = int(rate * seconds)
    if total <= 0:
        return 0.0
    fetched: dict[str, int] = {}
    window = rate * ttl
    hits = 0
    n = len(hosts)
    keys = [h.lower().rsplit(":", 1)[0] if ":" in h and not h.startswith("[") else h.lower() for h in hosts]
    for position in range(total):
        host = keys[position % n]  # nginx's $host: lower case, no port
        last = fetched.get(host)
        if last is not None and position - last < window:
            hits += 1
        else:
            fetched[host] = position
    return hits / total


# ---------------------------------------------------------------- wrk


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(binary: str, script: Path, hosts_file: Path, port: int, path: str, seconds: float, cpu: str | None) -> dict:
    args = [binary, "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", "--timeout", "5s"]
    args += ["-s", str(script), f"http://127.0.0.1:{port}{path}", "--", str(hosts_file), path]
    if cpu is not None:
        args = ["taskset", "-c", cpu, *args]
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    if done.returncode != 0 or "Requests/sec:" not in out:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{out}\n{done.stderr}")
    requests = int(re.search(r"(\d+) requests in", out)[1])
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),
        "p50": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1]),
        "p99": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1]),
        "refused": (int(non_2xx[1]) if non_2xx else 0) / max(requests, 1),
        "errors": errors[1].strip() if errors else "",
    }


# ---------------------------------------------------------------- propagation


def propagation(db_path: Path, port: int, domains: int, changes: int) -> tuple[list[float], int]:
    """Cancel the access of `changes` websites one at a time (as sync writes it: access_state
    'ended' and a newer version, committed), timing each from the commit to the decision
    server's first 403 for that Host, asked every millisecond or so over one connection."""
    rnd = random.Random(1018)
    ids = rnd.sample(range(1, domains + 1), changes)
    took: list[float] = []
    lost = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    with closing(sqlite3.connect(db_path, timeout=20, isolation_level=None)) as db, closing(conn):
        version = db.execute("SELECT max(version) FROM provider_filedwebsite").fetchone()[0]
        for website_id in ids:
            host = f"www.{name_of(website_id)}"
            status, _ = get(port, "/enforcement/check", host, conn)
            if status != 200:
                raise SystemExit(f"{host} should be served before its change, got {status}")
            version += 1
            db.execute(
                "UPDATE provider_filedwebsite SET access_state = 'ended', version = ? WHERE id = ?",
                (version, website_id),
            )
            committed = time.perf_counter()
            while True:
                status, _ = get(port, "/enforcement/check", host, conn)
                elapsed = time.perf_counter() - committed
                if status == 403:
                    took.append(elapsed)
                    break
                if elapsed > CHANGE_DEADLINE:
                    lost += 1
                    break
                time.sleep(0.001)
            # The next change at a random moment of the poll cycle: a change made right after one
            # is seen would otherwise always wait almost a whole interval.
            time.sleep(rnd.random() * POLL_SECONDS)
    return took, lost


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# ---------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench edge")
    parser.add_argument("--domains", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="each wrk run (after a 1 s warm-up)")
    parser.add_argument("--changes", type=int, default=200, help="cancel-access changes timed for propagation")
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs of each server, interleaved; the best counts")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, logs)")
    args = parser.parse_args(argv)

    wrk_binary = tool("wrk", "wrk")
    nginx = tool("nginx", "nginx")
    cpus = os.cpu_count() or 1
    server_cpu, client_cpu = ("1", "0") if cpus >= 2 and shutil.which("taskset") else (None, None)
    print(f"edge: {machine()}")
    print(
        f"  wrk -t1 -c{CONNECTIONS} -d{args.seconds:g}s"
        + (
            f"; servers on core {server_cpu}, wrk on core {client_cpu}"
            if server_cpu
            else "; not pinned (fewer than 2 cores)"
        ),
        flush=True,
    )

    tmp = Path(tempfile.mkdtemp(prefix="beian-edge-"))
    shm = Path("/dev/shm")
    tmpfs = Path(tempfile.mkdtemp(prefix="beian-edge-cache-", dir=shm if shm.is_dir() else None))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEIAN_", "DJANGO_", "GRANIAN_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="beian.settings",
        PYTHONDONTWRITEBYTECODE="1",
        BEIAN_VAR_DIR=str(tmp),
        BEIAN_LOG_LEVEL="WARNING",
        BEIAN_ENFORCEMENT_POLL_SECONDS=str(POLL_SECONDS),
        BEIAN_ENFORCEMENT_CACHE_SECONDS="1",
    )
    procs = Processes(tmp, env)
    python = sys.executable
    try:
        began = time.perf_counter()
        procs.run("migrate-default", python, "-m", "beian", "migrate", "--noinput", "-v0")
        procs.run("migrate-bureau", python, "-m", "beian", "migrate", "--noinput", "-v0", "--database", "bureau")
        db_path = tmp / "beian.sqlite3"
        build_mirror(db_path, args.domains)
        print(f"  mirror: {args.domains:,} served domains written to SQLite in {time.perf_counter() - began:.1f} s")

        # The decision server (as in the Procfile) loads its index while the map is written.
        decide_port, map_port, auth_port = (free_port() for _ in range(3))
        began = time.perf_counter()
        decide = procs.start(
            "decision-server",
            python,
            "-m",
            "beian.enforcement",
            "--host",
            "127.0.0.1",
            "--port",
            str(decide_port),
            cpu=server_cpu,
        )
        procs.run("write-map", python, "-m", "beian", "write_nginx_map", str(tmp / "beian-served.map"))
        map_written = time.perf_counter() - began

        def index_loaded() -> bool:
            status, body = get(decide_port, "/enforcement/status", "127.0.0.1")
            return status == 200 and b'"loaded": true' in body

        procs.wait_until("the decision server", decide, index_loaded)
        print(
            f"  decision server up (index loaded) in {time.perf_counter() - began:.1f} s;"
            f" nginx map written in {map_written:.1f} s",
            flush=True,
        )

        (tmp / "www").mkdir()
        (tmp / "www" / "index.html").write_text("<h1>customer site</h1>\n")
        conf = tmp / "nginx.conf"
        conf.write_text(
            NGINX.format(
                user="user root;\n" if os.geteuid() == 0 else "",
                tmp=tmp,
                map_max=1 << max(16, math.ceil(math.log2(args.domains * 2))),
                decide_port=decide_port,
                map_port=map_port,
                tmpfs=tmpfs,
                auth=AUTH_SERVER.format(port=auth_port, tmp=tmp),
            )
        )
        began = time.perf_counter()
        edge = procs.start(
            "nginx",
            nginx,
            "-p",
            str(tmp),
            "-c",
            str(conf),
            "-g",
            f"daemon off; pid {tmp / 'nginx.pid'};",
            cpu=server_cpu,
        )

        def nginx_up() -> bool:
            return get(map_port, "/", f"www.{name_of(1)}")[0] == 200 and get(auth_port, "/", name_of(1))[0] == 200

        procs.wait_until("nginx", edge, nginx_up)
        print(f"  nginx up (map of {args.domains:,} loaded) in {time.perf_counter() - began:.1f} s")

        hosts, counts = host_mix(args.domains, HOST_LINES)
        hosts_file, script = tmp / "hosts.txt", tmp / "rotate-host.lua"
        hosts_file.write_text("\n".join(hosts) + "\n")
        script.write_text(WRK_SCRIPT)
        mix = ", ".join(f"{kind} {n / len(hosts):.0%}" for kind, n in counts.items())
        print(f"  Host mix: {len(hosts):,} lines, {len(set(hosts)):,} distinct: {mix}", flush=True)
        # The most any cache in front can give: the same requests over the mix's first few distinct
        # Hosts only, so that after the first second every decision comes from nginx's cache.
        few = list(dict.fromkeys(hosts))[:FEW_HOSTS]
        few_file = tmp / "few-hosts.txt"
        few_file.write_text("\n".join(few[i % len(few)] for i in range(len(hosts))) + "\n")

        targets = {
            "decided": (decide_port, "/enforcement/check", hosts_file),
            "mapped": (map_port, "/", hosts_file),
            "cached": (auth_port, "/", hosts_file),
            "ceiling": (auth_port, "/", few_file),
            "mapped_few": (map_port, "/", few_file),
        }
        best: dict[str, dict] = {}
        for round_ in range(max(1, args.rounds)):  # interleaved, so a busy moment hits one run, not one server
            for key, (port, path, file) in targets.items():
                if round_ == 0:
                    wrk(wrk_binary, script, file, port, path, 1, client_cpu)  # warm up
                result = wrk(wrk_binary, script, file, port, path, args.seconds, client_cpu)
                if key not in best or result["rps"] > best[key]["rps"]:
                    best[key] = result
        decided, mapped, cached, ceiling, mapped_few = (best[k] for k in targets)
        from_cache = cached_share(hosts, cached["rps"], args.seconds)

        took, lost = propagation(db_path, decide_port, args.domains, args.changes)
    finally:
        procs.close()
        shutil.rmtree(tmpfs, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"  kept {tmp}")

    def line(name: str, r: dict) -> str:
        errors = f", socket errors: {r['errors']}" if r["errors"] else ""  # wrk prints them only if any
        return (
            f"  {name:<44} {r['rps']:>9,.0f} req/s  p50 {r['p50']:5.2f} ms  p99 {r['p99']:6.2f} ms"
            f"  refused {r['refused']:.0%}{errors}"
        )

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(line("nginx, static map", mapped))
    print(line("decision server (python -m beian.enforcement)", decided))
    print(line("nginx auth_request + 1 s cache (docs)", cached))
    print(line(f"  the same, {len(few)} Hosts only (all cached)", ceiling))
    print(line(f"  nginx, static map, {len(few)} Hosts only", mapped_few))
    a = decided["rps"] / mapped["rps"]
    b = cached["rps"] / mapped["rps"]
    print(
        f"(a) decision server / nginx map: {a:.0%} of the throughput (target ≥ 40%: {verdict(a >= 0.4)}),"
        f" p99 {decided['p99']:.2f} ms vs {mapped['p99']:.2f} ms (target ≤ 5 ms: {verdict(decided['p99'] <= 5)})"
    )
    print(
        f"(b) auth_request + cache / nginx map: {b:.0%} of the throughput (target ≥ 70%: {verdict(b >= 0.7)}),"
        f" p99 {cached['p99']:.2f} ms; ≥ {from_cache:.0%} of decisions from nginx's cache (estimated from the mix)"
    )
    ceiling_share = ceiling["rps"] / mapped_few["rps"]
    print(
        f"    with every decision from nginx's cache ({len(few)} Hosts): {ceiling_share:.0%} of the map's"
        " throughput on the same Hosts, the most a one-second cache can give this mode"
    )
    if took:
        p50, p99 = percentile(took, 0.5), percentile(took, 0.99)
        print(
            f"(c) propagation, commit → first 403 from the decision server, {len(took)} changes:"
            f" p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(took) * 1000:.0f} ms"
            f" (poll {POLL_SECONDS:g} s; target p99 ≤ 1 s: {verdict(p99 <= 1.0 and not lost)})"
            + (f"; {lost} change(s) not seen within {CHANGE_DEADLINE:.0f} s" if lost else "")
        )
    else:
        print(f"(c) propagation: none of {lost} change(s) seen within {CHANGE_DEADLINE:.0f} s: MISSED")


if __name__ == "__main__":
    main()
