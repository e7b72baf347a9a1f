"""`python -m bench edge-scale [--websites N | --full] [--seconds S] [--rate R] [--database-url URL] [--keep]
[--database NAME]`:
the decision server at national scale (issue 10), measured by hand; `make bench-scale` runs it.

A provider's mirror of N served websites (default 1 million; `--full`: 4 million, 5 million
served domains) is written through COPY into a PostgreSQL database of its own (`beian_edge_scale`,
dropped afterwards). Its websites are as a provider's are: most with one domain, 3 in 20 with two and
1 in 20 with three, one first domain in 100 an IDN; beside every 46 served (one of them a provisional
transfer-in) 4 that are not: access cancelled, transfer-in not approved, never accessed here,
deregistered (no domains left, the home URL's hint). Then, on the same machine:

- cold start: the decision server, as `make run` starts it (`python -m beian.enforcement`, a child
  process), loads its index from that database; the time from its start to the first answer of
  `/enforcement/status` that says it is loaded, its CPU time and its database backend's, and how
  much of that time runnable tasks waited for a CPU (the machine may be shared). Baseline: the
  same rows read by psycopg and dropped, the least any load can take;
- memory: the server's resident memory (RSS) after the load, less its RSS on the empty mirror
  (measured first, in the same run), per served domain, and its peak. Baseline: the RSS of a bare
  frozenset of the same names, as bytes, in a child process (as `python -m bench` does);
- change → decision: a writer applies R changes a second (default 100) to the mirror for S seconds
  (default 60), each in its own transaction as sync writes them (a newer `version`; access
  cancelled or restored, a domain added or taken off, a website deregistered), while a prober asks
  the decision server about each changed Host, over one keep-alive connection, until the new answer
  shows: p50, p99 and max of the delay from the commit. Baseline: the same, one change at a time
  with nothing else flowing. Last, the plan of the refresher's read (`OrmMirror.changed`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, suppress
from pathlib import Path
from urllib.parse import urlsplit

import idna

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "beian_edge_scale"
TABLES = ("provider_filedentity", "provider_filedwebsite", "provider_fileddomain")
COPY_ROWS = 100_000  # rows per write to COPY
WEBSITES_PER_ENTITY = 4
NOW = "2026-03-02 02:00:00+08"
STARTUP_SECONDS = 900.0  # a server not up by then has failed
CHANGE_DEADLINE = 5.0  # seconds one change may take to show before it is counted as lost
ISOLATED = 30  # changes of the baseline, one at a time
POLL_SECONDS = 0.2  # BEIAN_ENFORCEMENT_POLL_SECONDS of the decision server (the default)
# Issue 10's targets, for 5 million served domains on 2 cores.
TARGET_DOMAINS, TARGET_READY, TARGET_BYTES, TARGET_P99 = 5_000_000, 60.0, 100.0, 1.0

# ---------------------------------------------------------------- the mirror, by website id

# Out of every 50 websites, one of each kind not served here (status, access, why it ended).
NOT_SERVED = {
    1: ("active", "ended", "cancel_access"),
    2: ("active", "ended", "transfer_in_not_approved"),
    3: ("active", "", ""),
    4: ("deregistered", "ended", "deregistered"),
}
PROVISIONAL = 5


def state_of(i: int) -> tuple[str, str, str]:
    kind = i % 50
    if kind in NOT_SERVED:
        return NOT_SERVED[kind]
    return ("active", "provisional" if kind == PROVISIONAL else "active", "")


def served(i: int) -> bool:
    return i % 50 not in NOT_SERVED


def ascii_name(i: int) -> str:
    return f"site{i}.com.cn" if i % 2 else f"example-{i}.cn"


def is_idn(i: int) -> bool:
    return i % 100 == 7


def domains_of(i: int) -> list[str]:
    if state_of(i)[0] != "active":
        return []  # the mirror keeps a deregistered website's home URL only
    first = idna.encode(f"例子{i}.中国").decode("ascii") if is_idn(i) else ascii_name(i)
    extra = 2 if i % 20 == 0 else 1 if i % 20 in (1, 2, 3) else 0
    return [first, *(f"{label}-{i}.{tld}" for label, tld in (("shop", "com"), ("cdn", "net"))[:extra])]


def websites_for(served_wanted: int) -> int:
    """How many websites, of every kind, hold that many served ones."""
    per = 50 - len(NOT_SERVED)
    full, rest = divmod(served_wanted, per)
    total = full * 50
    while rest:
        total += 1
        rest -= served(total)
    return total


def entity_number(e: int) -> str:
    return f"粤ICP备{2000 + e // 1_000_000:04d}{e % 1_000_000:06d}号"


def _blocks(rows: Iterator[str]) -> Iterator[str]:
    block: list[str] = []
    for row in rows:
        block.append(row)
        if len(block) >= COPY_ROWS:
            yield "".join(block)
            block.clear()
    if block:
        yield "".join(block)


def _drop_secondary_indexes(cur) -> list[str]:
    """Drop every index of the mirror's tables but the primary keys (rows come in key order, so
    those cost little); returns the statements that make them again, as the migrations made them.
    Built once over a whole table, an index costs a fraction of what it costs a row at a time."""
    again: list[str] = []
    for table in TABLES:
        cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'u'",
            (table,),
        )
        for name, definition in cur.fetchall():
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            again.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cur.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indrelid = %s::regclass AND NOT indisprimary",
            (table,),
        )
        for name, definition in cur.fetchall():
            cur.execute(f'DROP INDEX "{name}"')
            again.append(definition)
    return again


def fill(dsn: str, websites: int) -> None:
    """The mirror's three tables, through COPY, in one transaction."""
    import psycopg

    entities = -(-websites // WEBSITES_PER_ENTITY)

    def website_rows() -> Iterator[str]:
        for i in range(1, websites + 1):
            e, n = divmod(i - 1, WEBSITES_PER_ENTITY)
            status, access, ended = state_of(i)
            gone = "cancel_website" if status != "active" else ""
            yield (
                f"{i}\t{entity_number(e + 1)}-{n + 1}\t基准网站{i}\thttp://www.{ascii_name(i)}/\t{status}\t{gone}\t"
                f"{access}\t{ended}\t[]\t{i}\t{NOW}\t{e + 1}\n"
            )

    copies = {
        "provider_filedentity (id, number, name, unit_type, province, status, updated_at)": (
            f"{e}\t{entity_number(e)}\t基准公司{e}\tenterprise\t44\tactive\t{NOW}\n" for e in range(1, entities + 1)
        ),
        "provider_filedwebsite (id, number, name, home_url, status, deregistered_reason, access_state,"
        " access_ended_reason, ips, version, updated_at, entity_id)": website_rows(),
        "provider_fileddomain (website_id, name)": (
            f"{i}\t{name}\n" for i in range(1, websites + 1) for name in domains_of(i)
        ),
    }
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        # Emptied in the same transaction, so that COPY may write the rows frozen (no vacuum is
        # needed to make them visible to all); the foreign keys' triggers are off for the fill:
        # every id refers to a row of the same fill.
        cur.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")  # and the tables that refer to them (all empty)
        for table in TABLES:
            cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        again = _drop_secondary_indexes(cur)
        for target, rows in copies.items():
            with cur.copy(f"COPY {target} FROM STDIN (FREEZE)") as copy:
                for block in _blocks(rows):
                    copy.write(block)
        for table in TABLES:
            cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER ALL")
        cur.execute("SET maintenance_work_mem = '256MB'")
        for statement in again:
            cur.execute(statement)
        conn.commit()
        conn.autocommit = True
        for table in TABLES:
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            cur.execute(f"VACUUM ANALYZE {table}")


# ---------------------------------------------------------------- processes and what they use


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} CPU(s) (nproc), {model}, Python {platform.python_version()}, load average {load:.2f}"


def rss_of(pid: int) -> tuple[int, int]:
    """(resident, peak resident) bytes of a process."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def cpu_of(pid: int) -> float:
    """User plus system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_waited() -> float:
    """Microseconds in which some runnable task waited for a CPU, so far (PSI); 0 where unknown."""
    try:
        with open("/proc/pressure/cpu") as pressure:
            return float(pressure.readline().split("total=")[1])
    except (OSError, IndexError, ValueError):
        return 0.0


def _in_child(conn, work, *args) -> None:
    conn.send(work(*args))
    conn.close()


def in_child(work, *args):
    """work(*args) in a forked process of its own (as `python -m bench` measures memory)."""
    fork = multiprocessing.get_context("fork")
    receive, send = fork.Pipe(duplex=False)
    child = fork.Process(target=_in_child, args=(send, work, *args))
    child.start()
    send.close()
    result = receive.recv()
    child.join()
    return result


def frozenset_bytes(websites: int) -> tuple[float, int]:
    """Bytes of RSS per name of a bare frozenset of the served names, and their number."""
    before = rss_of(os.getpid())[0]
    names = frozenset(name.encode() for i in range(1, websites + 1) if served(i) for name in domains_of(i))
    return (rss_of(os.getpid())[0] - before) / len(names), len(names)


class Server:
    """`python -m beian.enforcement` on a free port, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path):
        import socket

        with closing(socket.socket()) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = log
        self.started = time.perf_counter()
        self.waited_before = cpu_waited()
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "beian.enforcement", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def status(self) -> dict | None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/enforcement/status")
            return json.loads(conn.getresponse().read())
        except (OSError, http.client.HTTPException, ValueError):
            return None

    def wait_loaded(self) -> dict:
        while time.perf_counter() - self.started < STARTUP_SECONDS:
            if self.proc.poll() is not None:
                raise SystemExit(f"the decision server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            report = self.status()
            if report and report["loaded"]:
                return report
            time.sleep(0.1)
        raise SystemExit(f"the decision server was not up within {STARTUP_SECONDS:.0f} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def backend_cpu(dsn: str) -> float:
    """CPU seconds of the database backends that serve the decision server (on this machine)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    total = 0.0
    for (pid,) in pids:
        with suppress(OSError):  # a backend that is gone, or on another machine
            total += cpu_of(pid)
    return total


# ---------------------------------------------------------------- the baseline for a load


def read_rows_alone(env: dict[str, str]) -> tuple[float, int]:
    """Seconds to read the served rows the index loads, the same query through psycopg, dropping them."""
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    from beian.enforcement.mirror import served_domains

    sql, params = served_domains().order_by("website_id").values_list("website_id", "name").query.sql_with_params()
    began = time.perf_counter()
    with connection.cursor() as cursor:
        count = sum(1 for _ in cursor.cursor.stream(sql, params, size=5000))
    took = time.perf_counter() - began
    connection.close()
    return took, count


def refresher_plan() -> str:
    """How PostgreSQL reads the refresher's query, the websites changed after a version, just now."""
    from django.db import connection

    from beian.enforcement.mirror import _FIELDS
    from beian.provider.models import FiledWebsite

    top = FiledWebsite.objects.order_by("-version").values_list("version", flat=True).first()
    query = FiledWebsite.objects.filter(version__gt=top - 20).order_by("version", "id").values_list(*_FIELDS)[:1000]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
        lines = [row[0] for row in cursor.fetchall()]
    scan = next((line.strip().removeprefix("->").strip() for line in lines if "Scan" in line), lines[0])
    took = next((line for line in lines if line.startswith("Execution Time")), "")
    return f"{scan}; {took.lower()}"


# ---------------------------------------------------------------- changes and their decisions


# The names a change takes off, kept with its version in the same transaction, as sync keeps them
# (beian.provider.withdrawn.record).
WITHDRAWN = "INSERT INTO provider_withdrawndomain (website_id, name, version) "
WITHDRAWN_AGAIN = " ON CONFLICT (website_id, name) DO UPDATE SET version = excluded.version"


class Writer:
    """Changes to the mirror as sync writes them: one transaction each, a newer version. Each
    changes a decision, and a website changes again only once its last change has shown."""

    def __init__(self, dsn: str, websites: int, seed: int):
        import psycopg

        self.conn = psycopg.connect(dsn)
        # Commits that wait for no disk flush: what is measured starts at the commit's return, and
        # the writer must keep its rate on a shared machine.
        self.conn.execute("SET synchronous_commit = off")
        self.rnd = random.Random(seed)
        self.websites = websites
        self.version = self.conn.execute("SELECT max(version) FROM provider_filedwebsite").fetchone()[0]
        # A platform from before the mirror kept the names taken off (`python -m bench fleet --code`
        # with an older checkout) has no table for them.
        self.keeps_withdrawn = self.conn.execute(
            "SELECT to_regclass('provider_withdrawndomain') IS NOT NULL"
        ).fetchone()[0]
        self.conn.commit()
        self.busy: set[int] = set()  # websites whose last change has not shown yet (the prober releases them)
        self.ended: set[int] = set()  # access cancelled by this run
        self.added: dict[str, int] = {}  # domain added by this run → its website
        self.gone: set[int] = set()  # deregistered by this run
        self.count = 0

    def _pick(self, among) -> int | None:
        free = [i for i in among if i not in self.busy]
        return self.rnd.choice(free) if free else None

    def _served_website(self) -> int:
        while True:
            i = self.rnd.randrange(1, self.websites + 1)
            if served(i) and not is_idn(i) and i not in self.busy and i not in self.ended and i not in self.gone:
                return i

    def _commit(self, i: int, *statements: tuple[str, tuple]) -> float:
        self.busy.add(i)
        self.version += 1
        with self.conn.cursor() as cur:
            for sql, params in statements:
                if sql.startswith(WITHDRAWN) and not self.keeps_withdrawn:
                    continue
                cur.execute(sql, params)
            cur.execute(
                "UPDATE provider_filedwebsite SET version = %s, updated_at = now() WHERE id = %s", (self.version, i)
            )
        self.conn.commit()
        return time.perf_counter()

    def one(self) -> tuple[int, str, str, float]:
        """Make one change; returns (website, the Host to ask, the reason it now gets, commit time)."""
        self.count += 1
        kind = self.rnd.choices(["cancel", "restore", "add", "drop", "deregister"], [35, 25, 20, 10, 10])[0]
        website = "UPDATE provider_filedwebsite SET {} WHERE id = %s"
        if kind == "restore" and (i := self._pick(sorted(self.ended))) is not None:
            self.ended.discard(i)
            sql = website.format("access_state = 'active', access_ended_reason = ''")
            return i, f"www.{ascii_name(i)}", "filed", self._commit(i, (sql, (i,)))
        if kind == "drop" and (i := self._pick(sorted(set(self.added.values()) - self.ended))) is not None:
            name = next(n for n, w in self.added.items() if w == i)
            del self.added[name]
            sql = "DELETE FROM provider_fileddomain WHERE website_id = %s AND name = %s"
            kept = WITHDRAWN + "VALUES (%s, %s, %s)" + WITHDRAWN_AGAIN
            return i, name, "not_filed", self._commit(i, (sql, (i, name)), (kept, (i, name, self.version + 1)))
        i = self._served_website()
        if kind == "add":
            name = f"new{self.count}-{i}.cn"
            self.added[name] = i
            sql = "INSERT INTO provider_fileddomain (website_id, name) VALUES (%s, %s)"
            return i, f"www.{name}", "filed", self._commit(i, (sql, (i, name)))
        if kind == "deregister":
            self.gone.add(i)
            self.added = {n: w for n, w in self.added.items() if w != i}
            ended = "status = 'deregistered', access_state = 'ended', access_ended_reason = 'deregistered'"
            return (
                i,
                ascii_name(i),
                "deregistered",
                self._commit(
                    i,
                    (website.format(ended + ", deregistered_reason = 'cancel_website'"), (i,)),
                    (
                        WITHDRAWN
                        + "SELECT website_id, name, %s FROM provider_fileddomain WHERE website_id = %s"
                        + WITHDRAWN_AGAIN,
                        (self.version + 1, i),
                    ),
                    ("DELETE FROM provider_fileddomain WHERE website_id = %s", (i,)),
                ),
            )
        self.ended.add(i)
        sql = website.format("access_state = 'ended', access_ended_reason = 'cancel_access'")
        return i, f"www.{ascii_name(i)}", "access_cancelled", self._commit(i, (sql, (i,)))


class Prober:
    """Asks the decision server about each changed Host, over and over, until its answer is new."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self.pending: list[tuple[int, str, str, float]] = []
        self.lock = threading.Lock()
        self.delays: list[float] = []
        self.lost = 0

    def reason(self, host: str) -> str:
        self.conn.request("GET", "/enforcement/check", headers={"X-Original-Host": host})
        response = self.conn.getresponse()
        response.read()
        return response.getheader("X-Beian-Reason", "")

    def expect(self, change: tuple[int, str, str, float]) -> None:
        with self.lock:
            self.pending.append(change)

    def sweep(self, release) -> None:
        """One pass over the pending changes; `release(website)` for each that showed or was lost."""
        with self.lock:
            pending = list(self.pending)
        done = []
        for change in pending:
            website, host, expected, committed = change
            answer = self.reason(host)
            elapsed = time.perf_counter() - committed
            if answer == expected:
                self.delays.append(elapsed)
            elif elapsed > CHANGE_DEADLINE:
                self.lost += 1
            else:
                continue
            done.append(change)
            release(website)
        with self.lock:
            self.pending = [c for c in self.pending if c not in done]


def isolated_changes(writer: Writer, prober: Prober, count: int) -> None:
    """One change at a time, each at a random moment of the refresher's poll cycle."""
    rnd = random.Random(7)
    for _ in range(count):
        change = writer.one()
        prober.expect(change)
        while prober.pending:
            prober.sweep(writer.busy.discard)
            time.sleep(0.001)
        time.sleep(rnd.random() * POLL_SECONDS)


def flowing_changes(writer: Writer, prober: Prober, rate: float, seconds: float) -> float:
    """`rate` changes a second for `seconds` from a thread, probed meanwhile; returns the rate made."""
    total = int(rate * seconds)
    began = time.perf_counter()

    def write() -> None:
        for k in range(total):
            wait = began + k / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            prober.expect(writer.one())

    thread = threading.Thread(target=write, name="bench-writer")
    thread.start()
    while thread.is_alive() or prober.pending:
        prober.sweep(writer.busy.discard)
        time.sleep(0.001)  # the writer needs the interpreter too, to keep its rate
    thread.join()
    return total / (time.perf_counter() - began)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else float("nan")


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# ---------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench edge-scale")
    parser.add_argument("--websites", type=int, default=1_000_000, help="served websites (default 1 million)")
    parser.add_argument("--full", action="store_true", help="4 million served websites: 5 million served domains")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long changes flow")
    parser.add_argument("--rate", type=float, default=100.0, help="changes a second while they flow")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432", help="a PostgreSQL server")
    parser.add_argument("--keep", action="store_true", help="keep the database and the server's log")
    parser.add_argument("--database", default=DATABASE, help=f"written afresh (default {DATABASE})")
    args = parser.parse_args(argv)
    database = args.database
    import psycopg

    websites = websites_for(4_000_000 if args.full else args.websites)
    server_url = args.database_url.rstrip("/")
    dsn = f"{server_url}/{database}"
    parts = urlsplit(server_url)
    admin = {"host": parts.hostname, "port": parts.port or 5432, "user": parts.username, "dbname": "postgres"}
    tmp = Path(tempfile.mkdtemp(prefix="beian-edge-scale-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEIAN_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="beian.settings",
        PYTHONDONTWRITEBYTECODE="1",
        BEIAN_VAR_DIR=str(tmp),
        BEIAN_DATABASE_URL=dsn,
        BEIAN_BUREAU_DATABASE_URL="",
        BEIAN_LOG_LEVEL="INFO",
        BEIAN_ENFORCEMENT_POLL_SECONDS=str(POLL_SECONDS),
    )
    print(f"edge at national scale: {machine()}; PostgreSQL at {parts.netloc}", flush=True)
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    servers: list[Server] = []
    try:
        subprocess.run([sys.executable, "-m", "beian", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        empty = Server(env, tmp / "server-empty.log")
        servers.append(empty)
        empty.wait_loaded()
        fixed = rss_of(empty.proc.pid)[0]
        empty.stop()

        began = time.perf_counter()
        fill(dsn, websites)
        with psycopg.connect(dsn) as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        print(f"  mirror: {websites:,} websites written by COPY in {time.perf_counter() - began:.0f} s ({size})")
        base_bytes, names = in_child(frozenset_bytes, websites)
        alone, rows = in_child(read_rows_alone, env)
        print(f"  {rows:,} served domains; read alone by psycopg in {alone:.1f} s", flush=True)

        server = Server(env, tmp / "server.log")
        servers.append(server)
        report = server.wait_loaded()
        ready = time.perf_counter() - server.started
        waited = (cpu_waited() - server.waited_before) / 1e6 / ready
        cpu, db_cpu = cpu_of(server.proc.pid), backend_cpu(dsn)
        rss, peak = rss_of(server.proc.pid)
        served_domains = report["served_domains"]
        per_domain = (rss - fixed) / served_domains
        print(
            f"cold start: ready in {ready:.1f} s (target ≤ {TARGET_READY:.0f} s)"
            f"; the server's CPU {cpu:.1f} s, its database backend's {db_cpu:.1f} s"
            f"; a runnable task waited for a CPU {waited:.0%} of the time; baseline: the rows alone {alone:.1f} s"
        )
        print(
            f"memory: {per_domain:.1f} B/served domain over the server's {fixed / 1e6:.0f} MB on an empty mirror"
            f" (target ≤ {TARGET_BYTES:.0f}); {rss / 1e6:.0f} MB resident in all, peak {peak / 1e6:.0f} MB;"
            f" baseline: a frozenset of the names {base_bytes:.1f} B/domain",
            flush=True,
        )

        writer = Writer(dsn, websites, seed=10)
        prober = Prober(server.port)
        isolated_changes(writer, prober, ISOLATED)
        alone_delays, prober.delays = prober.delays, []
        made = flowing_changes(writer, prober, args.rate, args.seconds)
        delays, lost = prober.delays, prober.lost
        os.environ.update(env)
        import django

        django.setup()
        plan = refresher_plan()
        from django.db import connections

        connections.close_all()
        writer.conn.close()
        p99 = percentile(delays, 0.99)
        print(
            f"change → decision while {made:.0f} changes/s flow for {args.seconds:.0f} s ({len(delays):,} changes):"
            f" p50 {percentile(delays, 0.5) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms"
            f" (target p99 ≤ {TARGET_P99:g} s)"
            + (f"; {lost} not seen within {CHANGE_DEADLINE:.0f} s" if lost else "")
            + f"; baseline, one change at a time: p50 {percentile(alone_delays, 0.5) * 1000:.0f} ms,"
            f" p99 {percentile(alone_delays, 0.99) * 1000:.0f} ms, max {max(alone_delays) * 1000:.0f} ms"
        )
        print(f"  the refresher's read: {plan}")
        full = served_domains >= TARGET_DOMAINS
        print(
            f"targets{'' if full else f' (set for {TARGET_DOMAINS:,} domains; this run has {served_domains:,})'}:"
            f" ready ≤ {TARGET_READY:.0f} s: {verdict(ready <= TARGET_READY)};"
            f" ≤ {TARGET_BYTES:.0f} B/domain: {verdict(per_domain <= TARGET_BYTES)};"
            f" p99 ≤ {TARGET_P99:g} s: {verdict(p99 <= TARGET_P99 and not lost)}"
        )
        if names != served_domains:
            print(f"  note: the index serves {served_domains:,} names, the baseline holds {names:,}")
    finally:
        for server in servers:
            server.stop()
        if args.keep:
            print(f"  kept the database {database} and {tmp}")
        else:
            with psycopg.connect(**admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
