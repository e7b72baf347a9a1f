"""`python -m bench.volume [--applications N] [--clients C] [--workers W]`: filing at volume (issue
10's row "applications end to end, provider API draft → filing number, SMS codes answered by the
bench, PostgreSQL: ≥ 200/s, and the latency p50/p99"); `make bench-volume` runs it and writes its
figures into docs/performance.md.

The platform runs as `make run` runs it, on PostgreSQL (databases beian_volume and
beian_volume_bureau, or $BEIAN_VOLUME_DB…, made for the run and dropped after it): gunicorn with the project's config
(the provider's platform and the bureau in one, as embedded), provider workers (delivery and the
feed) and bureau workers (the simulation's decisions, the SMS outbox), several of each sharing
their outboxes, with `BEIAN_BUREAU_REVIEW=auto` and `BEIAN_BUREAU_DELAY=instant`: the bureau decides
as soon as review starts.

C client threads each take the next application and drive it as a customer, a filing specialist
and the principal would, over HTTP only: the customer starts a complete new filing and submits it
(`/api/v1/`, a personal API token), a specialist approves it (`/api/v1/…/review`, the specialist's
token), the principal reads the SMS code off the sandbox (`/bureau/sim/v1/messages`) once the
application says it is awaiting verification, and confirms it (`/bureau/api/v1/verifications`),
and the customer reads the application until it has its website number. An application's latency
is from its first request to the read that shows the number; applications/s is the number filed
over the wall time from the first request to the last number.

Beside it, in the same run: the same drive with one provider worker and one bureau worker, and a
bare API round trip (`GET /api/v1/applications?limit=1` with a token) at the same concurrency:
what the web tier answers when nothing is filed. While the applications flow, the bench samples
PostgreSQL's `pg_stat_activity` (what each backend is doing: on the CPU, waiting for a row lock,
idle in a transaction while Python thinks, waiting on I/O) and reads the CPU time of each process
(/proc), so that what limits the throughput is seen, not guessed. Afterwards the audit chain is
verified (`python -m beian verify_audit_chain`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx

from bench.scale import free_port, pg_admin, run

ROOT = Path(__file__).resolve().parents[1]
PY = str(Path(sys.executable))
PG = os.environ.get("BEIAN_VOLUME_PG", "postgres://postgres@127.0.0.1:5432")
_NAME = os.environ.get("BEIAN_VOLUME_DB", "beian_volume")  # two runs side by side need two names
DATABASES = (_NAME, f"{_NAME}_bureau")
TARGET_RATE = 200.0
CODE = re.compile(r"核验码为 (\d{6})")
# Seconds between a client's reads of an application it waits for: from the first to the last,
# doubling, so that waiting clients do not take the CPU the platform needs (it is the same machine).
POLL = (0.1, 1.0)
MARKER, END = "<!-- bench-volume -->", "<!-- /bench-volume -->"
TABLE = re.compile(r'(?:FROM|UPDATE|INTO)\s+"(\w+)"')

# A provider registered at the bureau, a specialist and `clients` customers, each with a personal
# API token: the people of a bench run (bench/volume.py and bench/soak.py).
SETUP = """
import json
from django.contrib.auth.models import Group, User
from beian.bureau import providers
from beian.provider import tokens
from beian.provider.models import Profile
clients = {clients}
_, key = providers.register(slug="{slug}", name="{provider_name}")
specialists, _ = Group.objects.get_or_create(name="specialists")
customers, _ = Group.objects.get_or_create(name="customers")
spec = User.objects.create_user("{slug}-specialist", "spec@example.cn", None)
spec.groups.add(specialists)
out = {{"key": key, "specialist": tokens.create(user=spec, name="{slug}").secret, "customers": []}}
for i in range(clients):
    user = User.objects.create_user(f"{slug}-{{i}}", f"{slug}-{{i}}@example.cn", None)
    user.groups.add(customers)
    Profile.objects.create(user=user, mobile=f"1370000{{i:04d}}")
    out["customers"].append(tokens.create(user=user, name="{slug}").secret)
print(json.dumps(out))
"""


def write_block(out: Path, marker: str, end: str, lines: list[str]) -> None:
    """This run's figures into the doc, between `marker` and `end`: the last run's give way."""
    text = out.read_text() if out.exists() else ""
    block = f"{marker}\n" + "\n".join(lines) + end
    if marker in text and end in text:
        text = text[: text.index(marker)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + f"\n\n{block}\n"
    out.write_text(text)
    print(f"wrote {out}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


# ---------------------------------------------------------------- the data of one application


def filing(n: int) -> tuple[dict, str, str]:
    """A complete new filing, unique by n: its data, its principal's mobile and ID's last six."""
    from beian.core.synthetic import make_resident_id, make_uscc

    division = "440305"
    resident_id = make_resident_id(division, date(1970 + n % 30, 1 + n % 12, 1 + n % 28), n % 1000)
    mobile = f"139{n:08d}"
    principal = {
        "name": "压测负责人",
        "id_type": "resident_id",
        "id_number": resident_id,
        "mobile": mobile,
        "email": f"principal{n}@example.cn",
    }
    data = {
        "entity": {
            "unit_type": "enterprise",
            "name": f"压测科技有限公司{n}号",
            "cert_type": "uscc",
            "cert_number": make_uscc("91", "440300", f"MB{n:06d}"),
            "province": "44",
            "address": "广东省深圳市南山区测试路 1 号",
            "principal": principal,
        },
        "website": {"name": "压测网站", "domains": [f"volume{n}.cn"], "principal": principal},
        "access": {"ips": ["121.40.18.10"]},
    }
    return data, mobile, resident_id[-6:]


# ---------------------------------------------------------------- the processes


class Platform:
    """gunicorn, provider workers and bureau workers, started as make run starts them."""

    def __init__(self, env: dict, tmp: Path, profile: Path | None = None):
        self.env = env
        self.tmp = tmp
        self.profile = profile  # each process profiled into it (bench/profiled.py)
        self._runs = itertools.count()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env["BEIAN_BUREAU_URL"] = f"{self.url}/bureau/api/v1"
        config = "bench/profiled_gunicorn.py" if profile else "beian/gunicorn_conf.py"
        if profile:
            self.env["BEIAN_PROFILE_DIR"] = str(profile)
        self.web = self._start("web", [str(Path(PY).parent / "gunicorn"), "beian.wsgi:application",
                                       "--config", config, "--access-logfile", "/dev/null"],
                               BEIAN_BIND=f"127.0.0.1:{self.port}")  # fmt: skip
        self.workers: list[subprocess.Popen] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("gunicorn did not start")

    def _start(self, name: str, args: list[str], **extra: str) -> subprocess.Popen:
        log = (self.tmp / f"{name}.log").open("ab")
        return subprocess.Popen(args, cwd=ROOT, env={**self.env, **extra}, stdout=log, stderr=subprocess.STDOUT)

    def start_workers(self, count: int) -> None:
        for i in range(count):
            for kind in ("provider", "bureau"):
                command = ["beian", f"{kind}_worker", "--interval", "1"]
                if self.profile:
                    command = ["bench.profiled", str(self.profile), f"{kind}-{next(self._runs)}", "--", *command]
                self.workers.append(self._start(f"{kind}-{i}", [PY, "-m", *command]))

    def wait_for_workers(self, timeout: float = 300.0) -> None:
        """Until every worker has finished its first round (its heartbeat row, named by its pid): on a
        loaded machine their start takes many seconds of CPU, which a fixed pause would count as the
        applications'."""
        import psycopg

        tables = {"provider_workerheartbeat": DATABASES[0], "bureau_workerheartbeat": DATABASES[1]}
        waiting = {p.pid for p in self.workers}
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            for table, database in tables.items():
                with closing(psycopg.connect(f"{PG}/{database}", autocommit=True)) as conn:
                    names = [r[0] for r in conn.execute(f"SELECT worker FROM {table}").fetchall()]
                waiting -= {int(name.rsplit(":", 1)[1]) for name in names}
            time.sleep(0.2)
        if waiting:
            raise SystemExit(f"workers {sorted(waiting)} did not start")

    def stop_workers(self) -> None:
        for proc in self.workers:
            proc.terminate()
        for proc in self.workers:
            proc.wait(timeout=60)
        self.workers = []

    def stop(self) -> None:
        self.stop_workers()
        self.web.terminate()
        self.web.wait(timeout=60)
        timeouts = (self.tmp / "web.log").read_text(errors="replace").count("WORKER TIMEOUT")
        if timeouts:
            print(f"   gunicorn killed {timeouts} worker(s) whose request outlasted its timeout", flush=True)

    def pids(self) -> dict[str, list[int]]:
        web = [self.web.pid, *children(self.web.pid)]
        return {
            "gunicorn": web,
            "provider workers": [p.pid for p in self.workers[0::2]],
            "bureau workers": [p.pid for p in self.workers[1::2]],
        }


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def transactions() -> int:
    """Transactions committed and rolled back so far in the run's two databases (PostgreSQL's
    statistics, flushed by each backend within a second of its transaction)."""
    import psycopg

    with closing(psycopg.connect(f"{PG}/postgres", autocommit=True)) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database WHERE datname = ANY(%s)",
            (list(DATABASES),),
        ).fetchone()
    return int(row[0])


def postgres_pids() -> list[int]:
    """The backends of the run's two databases (their CPU is the database's share)."""
    import psycopg

    with closing(psycopg.connect(f"{PG}/postgres", autocommit=True)) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s)", (list(DATABASES),)).fetchall()
    return [r[0] for r in rows]


class Activity:
    """Samples what the run's PostgreSQL backends are doing, every 20 ms, in a thread."""

    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self.backend_cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Activity:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        with closing(psycopg.connect(f"{PG}/postgres", autocommit=True)) as conn:
            while not self._stop.wait(0.02):
                rows = conn.execute(
                    "SELECT pid, state, wait_event_type, wait_event, query FROM pg_stat_activity "
                    "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                    (list(DATABASES),),
                ).fetchall()
                self.samples += 1
                for pid, state, wait_type, wait, query in rows:
                    self.backend_cpu.setdefault(pid, cpu_seconds([pid]))
                    if state == "idle":
                        continue
                    if state == "idle in transaction":
                        self.counts["idle in transaction (the client works between statements)"] += 1
                    elif wait_type == "Lock":
                        table = TABLE.search(query or "")
                        self.counts[f"waiting for a lock ({wait}) in {table[1] if table else (query or '')[:40]}"] += 1
                    elif wait_type in ("IO", "LWLock", "IPC"):
                        self.counts[f"waiting: {wait_type} {wait}"] += 1
                    elif state == "active":
                        self.counts["running a statement"] += 1
                    else:
                        self.counts[f"{state}"] += 1

    def busy(self) -> list[tuple[str, float]]:
        """(what, backends doing it on average) over the samples."""
        return [(what, n / max(self.samples, 1)) for what, n in self.counts.most_common(6)]

    def postgres_cpu(self) -> float:
        return sum(max(cpu_seconds([pid]) - before, 0.0) for pid, before in self.backend_cpu.items())


# ---------------------------------------------------------------- the clients


@dataclass
class Result:
    filed: int = 0
    failed: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    started: float = 0.0
    finished: float = 0.0
    cpu: float = 0.0  # CPU seconds a request (bare round trips only)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rate(self) -> float:
        return self.filed / max(self.finished - self.started, 1e-9)


class Driver:
    def __init__(self, url: str, secrets: dict):
        self.url = url
        self.secrets = secrets

    def _client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # gunicorn closes a keep-alive connection idle for 2 s; a request sent on it as it closes is
        # reset. The client lets its idle connections go first, so that no request is lost so.
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, limits=httpx.Limits(keepalive_expiry=1.0))

    def file_all(self, numbers: range, clients: int, *, deadline_s: float) -> Result:
        result = Result()
        todo = iter(numbers)
        todo_lock = threading.Lock()
        result.started = time.perf_counter()
        deadline = time.monotonic() + deadline_s

        def client(i: int) -> None:
            with (
                self._client(self.secrets["customers"][i]) as customer,
                self._client(self.secrets["specialist"]) as specialist,
                self._client() as public,
            ):
                while time.monotonic() < deadline:
                    with todo_lock:
                        n = next(todo, None)
                    if n is None:
                        return
                    started = time.perf_counter()
                    try:
                        calls = self.one(n, customer, specialist, public, deadline)
                    except Exception as exc:  # a figure with failures is printed with them, never hidden
                        with result.lock:
                            result.failed.append(f"{n}: {exc}")
                        continue
                    now = time.perf_counter()
                    with result.lock:
                        result.filed += 1
                        result.requests += calls
                        result.latencies.append(now - started)
                        result.finished = max(result.finished, now)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return result

    def one(self, n: int, customer: httpx.Client, specialist: httpx.Client, public: httpx.Client, deadline) -> int:
        data, mobile, last6 = filing(n)
        calls = 0

        def ok(response: httpx.Response, status: int = 200) -> dict:
            nonlocal calls
            calls += 1
            if response.status_code != status:
                raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                                   f"{response.status_code} {response.text[:300]}")  # fmt: skip
            return response.json()

        app = ok(customer.post("/api/v1/applications", json={"type": "new_filing", "data": data}), 201)
        path = f"/api/v1/applications/{app['id']}"
        ok(customer.post(f"{path}/submit", json={}))
        ok(specialist.post(f"{path}/review", json={"decision": "approve"}))
        tries = itertools.count()
        while True:
            app = ok(customer.get(path))
            if app["state"] == "awaiting_verification" and app["bureau_operation_id"]:
                break
            self._still_waiting(app, deadline, "awaiting_verification", tries)
        operation = str(app["bureau_operation_id"])
        code, tries = None, itertools.count()
        while code is None:
            for message in reversed(ok(public.get("/bureau/sim/v1/messages", params={"to": mobile}))["messages"]):
                if operation in message["body"] and (found := CODE.search(message["body"])):
                    code = found[1]
                    break
            else:
                self._still_waiting(app, deadline, "its SMS code", tries)
        body = {"operation": operation, "mobile": mobile, "id_last6": last6, "code": code}
        answer = ok(public.post("/bureau/api/v1/verifications", json=body))
        if not answer["verified"]:
            raise RuntimeError(f"the code was refused: {answer}")
        tries = itertools.count()
        while True:
            app = ok(customer.get(path))
            if app["state"] == "approved" and app["website_number"]:
                return calls
            if app["state"] in ("rejected", "expired", "returned"):
                raise RuntimeError(f"ended {app['state']}: {app['reason']}")
            self._still_waiting(app, deadline, "approved", tries)

    @staticmethod
    def _still_waiting(app: dict, deadline: float, what: str, tries: itertools.count) -> None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what} (state {app['state']})")
        time.sleep(min(POLL[0] * 2 ** next(tries), POLL[1]))

    def round_trips(self, clients: int, seconds: float) -> Result:
        """The bare API: GET /api/v1/applications?limit=1 with a token, as fast as it answers."""
        result = Result()
        window: dict[str, float] = {}

        def opened() -> None:  # the barrier's action: runs once, before any client goes on
            window["end"] = time.monotonic() + seconds
            result.started = time.perf_counter()

        barrier = threading.Barrier(clients + 1, action=opened)

        def client(i: int) -> None:
            with self._client(self.secrets["customers"][i]) as customer:
                customer.get("/api/v1/applications", params={"limit": 1})  # connected, the worker warm
                barrier.wait()
                while time.monotonic() < window["end"]:
                    started = time.perf_counter()
                    response = customer.get("/api/v1/applications", params={"limit": 1})
                    now = time.perf_counter()
                    with result.lock:
                        if response.status_code == 200:
                            result.filed += 1
                            result.latencies.append(now - started)
                        else:
                            result.failed.append(str(response.status_code))
                        result.finished = now

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        barrier.wait()
        for t in threads:
            t.join()
        return result


# ---------------------------------------------------------------- the run


def environment(tmp: Path) -> dict:
    return {
        **os.environ,
        "BEIAN_DATABASE_URL": f"{PG}/{DATABASES[0]}",
        "BEIAN_BUREAU_DATABASE_URL": f"{PG}/{DATABASES[1]}",
        "BEIAN_VAR_DIR": str(tmp),
        "BEIAN_BUREAU_REVIEW": "auto",
        "BEIAN_BUREAU_DELAY": "instant",
        "BEIAN_BUREAU_REJECT_SHARE": "0",
        # The bench is every principal of the country at one address: the public limits are lifted.
        "BEIAN_PUBLIC_RATE_PER_MINUTE": "100000000",
        "BEIAN_LOG_LEVEL": "WARNING",
    }


@dataclass
class Phase:
    name: str
    workers: int
    result: Result
    cpu: dict[str, float]
    activity: list[tuple[str, float]]
    # What one application cost, whatever the machine's load: CPU seconds by kind of process, and
    # PostgreSQL transactions (both databases, the bench's own few included).
    per_application: dict[str, float] = field(default_factory=dict)
    transactions: float = 0.0


def phase(platform: Platform, driver: Driver, name: str, numbers: range, clients: int, workers: int) -> Phase:
    platform.start_workers(workers)
    platform.wait_for_workers()  # their start (Django's import and checks) is not the applications' time
    pids = platform.pids()
    before = {role: cpu_seconds(p) for role, p in pids.items()}
    driver_before = cpu_seconds([os.getpid()])
    xacts_before = transactions()
    with Activity() as activity:
        result = driver.file_all(numbers, clients, deadline_s=600)
    seconds = {role: cpu_seconds(p) - before[role] for role, p in pids.items()}
    seconds["PostgreSQL backends"] = activity.postgres_cpu()
    seconds["the bench's clients"] = cpu_seconds([os.getpid()]) - driver_before
    platform.stop_workers()
    time.sleep(1.5)  # the backends flush their transaction counts within a second
    filed = max(result.filed, 1)
    per_application = {role: s / filed for role, s in seconds.items()}
    xacts = (transactions() - xacts_before) / filed
    elapsed = max(result.finished - result.started, 1e-9)
    cpu = {role: s / elapsed for role, s in seconds.items()}  # cores busy on average
    report(name, result, cpu, activity.busy())
    costs = ", ".join(f"{role} {s:.3f}" for role, s in per_application.items())
    print(f"   CPU seconds an application: {costs}; platform {platform_cpu(per_application):.3f}; "
          f"{xacts:.1f} PostgreSQL transactions", flush=True)  # fmt: skip
    return Phase(name, workers, result, cpu, activity.busy(), per_application, xacts)


def platform_cpu(per_application: dict[str, float]) -> float:
    """The platform's CPU an application: every process but the bench's clients."""
    return sum(s for role, s in per_application.items() if role != "the bench's clients")


def report(name: str, result: Result, cpu: dict[str, float], busy: list[tuple[str, float]]) -> None:
    lat = result.latencies
    print(f"== {name}: {result.filed} filed, {len(result.failed)} failed, {result.rate:.2f} applications/s "
          f"(target ≥ {TARGET_RATE:.0f}/s); latency p50 {percentile(lat, .5):.2f} s, "
          f"p99 {percentile(lat, .99):.2f} s; {result.requests} requests", flush=True)  # fmt: skip
    for failure in result.failed[:5]:
        print(f"   failed: {failure}")
    print("   cores busy: " + ", ".join(f"{role} {cores:.2f}" for role, cores in cpu.items()))
    print("   PostgreSQL backends, on average: " + "; ".join(f"{what}: {n:.2f}" for what, n in busy), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=400, help="filed with several workers")
    parser.add_argument("--clients", type=int, default=16, help="client threads, each a customer")
    parser.add_argument("--workers", type=int, default=3, help="provider workers and as many bureau workers")
    parser.add_argument("--baseline-applications", type=int, default=100, help="filed with one worker of each")
    parser.add_argument("--seconds", type=float, default=10.0, help="of bare API round trips")
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    parser.add_argument("--label", default="", help="names the run in docs/performance.md (e.g. before, after)")
    parser.add_argument("--profile", type=Path, help="profile every process into this directory "
                        "(bench/profiled.py); the figures are then not written into the docs")  # fmt: skip
    args = parser.parse_args(argv)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    for name in DATABASES:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', pg=PG)
        pg_admin(f'CREATE DATABASE "{name}"', pg=PG)
    try:
        with tempfile.TemporaryDirectory(prefix="beian-volume-") as tmpdir:
            tmp = Path(tmpdir)
            env = environment(tmp)
            run([PY, "-m", "beian", "migrate", "--noinput", "-v0"], env)
            run([PY, "-m", "beian", "migrate", "--noinput", "--database", "bureau", "-v0"], env)
            setup = SETUP.format(clients=args.clients, slug="volume", provider_name="压测接入商")
            out = run([PY, "-m", "beian", "shell", "-c", setup], env)
            secrets = json.loads(out.strip().splitlines()[-1])
            env["BEIAN_BUREAU_API_KEY"] = secrets["key"]
            platform = Platform(env, tmp, args.profile.resolve() if args.profile else None)
            try:
                driver = Driver(platform.url, secrets)
                web_before = cpu_seconds(platform.pids()["gunicorn"])
                with Activity() as activity:
                    trips = driver.round_trips(args.clients, args.seconds)
                # What one request costs the web tier and the database, whatever the machine's load:
                # the floor under an application's ~15 requests.
                trips.cpu = (cpu_seconds(platform.pids()["gunicorn"]) - web_before + activity.postgres_cpu()) / max(
                    trips.filed, 1
                )
                print(f"== bare API round trip: {trips.rate:.0f} requests/s, p50 "
                      f"{percentile(trips.latencies, .5) * 1000:.1f} ms, p99 "
                      f"{percentile(trips.latencies, .99) * 1000:.1f} ms; "
                      f"{trips.cpu * 1000:.1f} ms of CPU a request (gunicorn and PostgreSQL)", flush=True)  # fmt: skip
                first = range(1, args.baseline_applications + 1)
                one = phase(platform, driver, "one worker of each", first, args.clients, 1)
                start = args.baseline_applications + 1
                many = phase(platform, driver, f"{args.workers} workers of each",
                             range(start, start + args.applications), args.clients, args.workers)  # fmt: skip
            finally:
                platform.stop()
            chain = run([PY, "-m", "beian", "verify_audit_chain"], env).strip()
            print(f"== {chain}")
    finally:
        for name in DATABASES:
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', pg=PG)
    if not args.profile:
        write(Path(args.out), args, trips, [one, many], chain)


def write(out: Path, args, trips: Result, phases: list[Phase], chain: str) -> None:
    label = f" ({args.label})" if args.label else ""
    lines = [
        f"### Filing at volume{label}: {args.clients} clients, PostgreSQL",
        "",
        "| run | filed | failed | applications/s | latency p50 (s) | p99 (s) | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| bare API round trip (requests) | {trips.filed:,} | {len(trips.failed)} | {trips.rate:,.0f} | "
        f"{percentile(trips.latencies, 0.5):.3f} | {percentile(trips.latencies, 0.99):.3f} | baseline |",
    ]
    for p in phases:
        r = p.result
        lines.append(f"| {p.name} | {r.filed:,} | {len(r.failed)} | {r.rate:,.2f} | "
                     f"{percentile(r.latencies, .5):.2f} | {percentile(r.latencies, .99):.2f} | "
                     f"≥ {TARGET_RATE:.0f}/s |")  # fmt: skip
    kinds = list(phases[-1].per_application)
    lines += [
        "",
        f"A bare API round trip cost {trips.cpu * 1000:.1f} ms of CPU (gunicorn and PostgreSQL).",
        "",
        "CPU seconds an application, by kind of process, and PostgreSQL transactions an application:",
        "",
        "| run | " + " | ".join(kinds) + " | platform (all but the clients) | transactions |",
        "| --- |" + " ---: |" * (len(kinds) + 2),
    ]
    for p in phases:
        lines.append(f"| {p.name} | " + " | ".join(f"{p.per_application.get(k, 0):.3f}" for k in kinds)
                     + f" | {platform_cpu(p.per_application):.3f} | {p.transactions:.1f} |")  # fmt: skip
    many = phases[-1]
    lines += [
        "",
        f"Cores busy during the last run: {', '.join(f'{role} {c:.2f}' for role, c in many.cpu.items())}. "
        f"PostgreSQL backends on average: {'; '.join(f'{w}: {n:.2f}' for w, n in many.activity)}. "
        f"Afterwards: {chain}. The machine's load average (1, 5, 15 min) at the end: "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}.",
        "",
    ]
    write_block(out, MARKER, END, lines)


if __name__ == "__main__":
    main()
