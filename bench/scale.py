"""`python -m bench.scale [--full] [--sizes 10000,100000,1000000] [--seconds S] [--server gunicorn|granian]`:
national scale (issue 10), measured by hand; `make bench-scale` runs it and writes docs/performance.md.

The registry grows in steps (by default to 10 thousand, 100 thousand and 1 million websites, two
per entity on average; `--full` adds the national 10 million), each step loaded with
`python -m beian load_national` on top of the last, on PostgreSQL (databases beian_scale and
beian_scale_bureau, or PREFIX and PREFIX_bureau with `--db-prefix`, dropped at the end) and on
SQLite (a temporary directory; the load only).
After each PostgreSQL step:

- load: websites/s of the step, beside a plain COPY (SQLite: executemany in one transaction) of
  the same number of trivial two-column rows into an empty table on the same database: the most
  any loader could do there;
- the public query, after what it reads has been read into memory (`prewarm`), through gunicorn
  (the project's config, 2 sync workers: `GUNICORN_SYNC`) or, with `--server
  granian`, through granian as `python -m beian.granian_serve` serves it (2 workers of 2 blocking
  threads: the public query tier's option, docs/deploy.md), driven by wrk with paths rotated from
  a file: by domain (loaded domains, half behind `www.`), by number (website and entity numbers),
  by name (two to four characters from loaded names, a tenth matching nothing), and the baseline,
  a primary-key lookup of a website through the same server and Django. Server time is the
  server's own, from its access log (gunicorn's %(D)s; granian's %(dt_ms)s), p50 and p99;
  queries/s is wrk's;
- the selected provider's feed catch-up into its mirror (`sync.sync_once` against that server),
  events/s, beside reading the same pages without applying them.

Timing is never asserted; every figure is printed beside its target and its baseline of the same
run, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(Path(sys.executable))
PG = os.environ.get("BEIAN_SCALE_PG", "postgres://postgres@127.0.0.1:5432")
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
FULL = 10_000_000
SAMPLE = 20_000  # paths per kind in wrk's rotation
TARGETS = {
    "load_pg_seconds_10m": 180,
    "load_sqlite_seconds_10m": 360,
    "query_p99_ms": 2.0,
    "query_rps": 3000,
    "name_p99_ms": 20.0,
    "catchup_eps": 5000,
}

LUA = """
local paths = {}
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  math.randomseed(7)
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


def run(args: list[str], env: dict, *, timeout: float = 7200) -> str:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def access_log_since(log: Path, start: int) -> list[list[str]]:
    """The access log's lines (server time, status) written after byte `start`; whatever else the
    server writes there (granian's log and access log share its output) is left out."""
    time.sleep(0.5)  # the server writes a request's line after its response
    with log.open() as f:
        f.seek(start)
        return [fields for fields in (line.split() for line in f) if len(fields) == 2 and fields[1].isdigit()]


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- databases


def pg_admin(sql: str, pg: str = PG) -> None:
    import psycopg

    with closing(psycopg.connect(f"{pg}/postgres", autocommit=True)) as conn:
        conn.execute(sql)


# The benchmark's PostgreSQL databases: DB and DB_bureau (`--db-prefix`, so that two runs on one
# server keep apart).
DB = "beian_scale"


def pg_env() -> dict:
    return {
        **os.environ,
        "BEIAN_DATABASE_URL": f"{PG}/{DB}",
        "BEIAN_BUREAU_DATABASE_URL": f"{PG}/{DB}_bureau",
        "BEIAN_PUBLIC_RATE_PER_MINUTE": "100000000",
        "BEIAN_LOG_LEVEL": "WARNING",
    }


def baseline_copy(rows: int) -> float:
    """Trivial rows/s by COPY into an empty table of the bureau's PostgreSQL database."""
    import psycopg

    with closing(psycopg.connect(f"{PG}/{DB}_bureau")) as conn:
        conn.execute("CREATE TEMP TABLE trivial (id bigint PRIMARY KEY, v text)")
        payload = "".join(f"{i}\tx\n" for i in range(rows)).encode()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY trivial (id, v) FROM STDIN") as copy:
            copy.write(payload)
        conn.commit()
        return rows / (time.perf_counter() - started)


def baseline_executemany(path: Path, rows: int) -> float:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE trivial (id integer PRIMARY KEY, v text)")
        started = time.perf_counter()
        with conn:
            conn.executemany("INSERT INTO trivial VALUES (?, ?)", ((i, "x") for i in range(rows)))
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE trivial")
        return rows / seconds


# What the public query reads: these tables and their indexes, and the bigram table's key alone
# (the name query's scans of it are index-only).
QUERIED = ("bureau_website", "bureau_entity", "bureau_domain", "bureau_access")
QUERIED_INDEXES_ONLY = ("bureau_entitygram",)


def prewarm(env: dict) -> float:
    """Read what the public query reads into the OS's page cache (pg_prewarm) and return its GiB, so
    that the query is measured as a registry in service answers: from memory. Right after a load
    this machine's kernel has already let much of it go (its proactive reclaim, kdamond, evicts pages
    not touched for a while), and wrk then measured the disk (what that did to the figures:
    docs/performance.md, "In memory, or from the disk")."""
    import psycopg

    with closing(psycopg.connect(env["BEIAN_BUREAU_DATABASE_URL"], autocommit=True)) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        except psycopg.Error as exc:  # a server without PostgreSQL's contrib modules
            print(f"   pg_prewarm is not available ({exc}): the query is measured as the cache stands")
            return 0.0
        blocks = conn.execute(
            "SELECT coalesce(sum(pg_prewarm(c.oid, 'read')), 0) FROM pg_class c "
            "WHERE c.oid = ANY(%s::regclass[]) "
            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY(%s::regclass[]))",
            [list(QUERIED), [*QUERIED, *QUERIED_INDEXES_ONLY]],
        ).fetchone()[0]
        block_size = int(conn.execute("SHOW block_size").fetchone()[0])
    return round(blocks * block_size / 2**30, 2)


def load(env: dict, entities: int, websites: int, seed: int) -> dict:
    started = time.perf_counter()
    out = run(
        [PY, "-m", "beian", "load_national", f"--entities={entities}", f"--websites={websites}",
         f"--seed={seed}", "--provider=bench-scale", "-v1"],
        env,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    key = re.search(r"^bench-scale: (\S+)", out, re.M)
    size = re.search(r"bureau database ([\d.]+) GiB", out)
    return {"seconds": seconds, "key": key[1] if key else None, "gib": float(size[1]) if size else None}


# ---------------------------------------------------------------- the query through the server


def samples(env: dict, count: int) -> dict[str, list[str]]:
    """Paths of each kind, drawn from the registry as it stands (printed by a child process)."""
    code = f"""
import json, random
from urllib.parse import quote
from beian.bureau.models import Domain, Entity, Website
rnd = random.Random(3)
n = {count}
top = Website.objects.order_by("-id").values_list("id", flat=True).first()
ids = [rnd.randint(1, top) for _ in range(n)]
websites = list(Website.objects.filter(id__in=ids).values_list("id", "number", "entity__number", "entity__name"))
domains = list(Domain.objects.filter(website_id__in=ids, active=True).values_list("name", flat=True))
def part(name):
    k = rnd.choice((2, 2, 3, 4))
    i = rnd.randrange(max(len(name) - k, 0) + 1)
    return name[i:i + k]
out = {{
    "domain": [quote(("www." if rnd.random() < .5 else "") + d) for d in domains],
    "number": [quote(rnd.choice((w[1], w[2]))) for w in websites],
    "name": [quote(part(w[3]) if rnd.random() < .9 else rnd.choice("犇鑫淼焱垚") * 2) for w in websites],
    "pk": [str(w[0]) for w in websites],
}}
print(json.dumps(out))
"""
    raw = json.loads(run([PY, "-m", "beian", "shell", "-c", code], env).strip().splitlines()[-1])
    return {
        "domain": [f"/bureau/api/v1/query?domain={d}" for d in raw["domain"]],
        "number": [f"/bureau/api/v1/query?number={n}" for n in raw["number"]],
        "name": [f"/bureau/api/v1/query?name={n}" for n in raw["name"]],
        "pk": [f"/bench/pk?id={i}" for i in raw["pk"]],
    }


# Two sync workers: one request at a time in each process, so that a request's server time is its
# own, not shared with a thread's under the GIL. gunicorn makes a sync worker with more than one
# thread a gthread worker, and the project's config asks for 4 threads: without `--threads 1` these
# were gthread workers of 4 threads (until 2026-12-06; docs/performance.md, "Sync workers, at last").
GUNICORN_SYNC = ("--worker-class", "sync", "--workers", "2", "--threads", "1")

# What each server is, as the tables name it.
SERVERS = {
    "gunicorn": "gunicorn (2 sync workers)",
    "granian": "granian (2 workers of 2 blocking threads, as `python -m beian.granian_serve`)",
}


class Server:
    """The platform under `kind`, its access log a line per request: server time and status."""

    def __init__(self, kind: str, env: dict, tmp: Path):
        self.port = free_port()
        self.log = tmp / f"access-{kind}.log"
        env = {**env, "BEIAN_BIND": f"127.0.0.1:{self.port}", "DJANGO_SETTINGS_MODULE": "bench.scale_settings"}
        bin_dir = Path(PY).parent
        if kind == "granian":
            # beian/granian_serve.py's application and settings through granian's command line, which
            # can also write an access log (granian_serve leaves it off): %(dt_ms) is the time from the
            # request's arrival in Python to its answer handed back to the server.
            command = [str(bin_dir / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(self.port),
                       "--workers", "2", "--blocking-threads", "2", "--runtime-threads", "1",
                       "--access-log", "--access-log-fmt", "%(dt_ms).3f %(status)d", "--log-level", "warning",
                       "--factory", "beian.granian_serve:_application"]  # fmt: skip
            out, self.to_micros = self.log.open("w"), 1000.0
        else:
            command = [str(bin_dir / "gunicorn"), "beian.wsgi:application", "--config", "beian/gunicorn_conf.py",
                       "--access-logfile", str(self.log), "--access-logformat", "%(D)s %(s)s",
                       *GUNICORN_SYNC]  # fmt: skip
            out, self.to_micros = subprocess.DEVNULL, 1.0
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.DEVNULL)
        # Ready when both workers have answered: the socket accepts before they have loaded Django.
        deadline, answered = time.monotonic() + 120, 0
        while time.monotonic() < deadline and answered < 6:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/bench/pk?id=1", timeout=5) as r:
                    answered += r.status == 200
            except OSError:
                time.sleep(0.2)
        if answered < 6:
            self.stop()
            raise SystemExit(f"{kind} did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def measure(self, paths: list[str], tmp: Path, seconds: float) -> dict:
        paths_file, script = tmp / "paths.txt", tmp / "rotate.lua"
        paths_file.write_text("\n".join(paths) + "\n")
        script.write_text(LUA)
        url = f"http://127.0.0.1:{self.port}"
        # A warm-up pass reads the pages the sample touches, as a running server would have them.
        subprocess.run(
            ["wrk", "-t1", "-c4", "-d2s", "-s", str(script), url, "--", str(paths_file)], capture_output=True
        )
        start = self.log.stat().st_size if self.log.exists() else 0
        done = subprocess.run(
            ["wrk", "-t1", "-c4", f"-d{seconds:g}s", "-s", str(script), url, "--", str(paths_file)],
            capture_output=True,
            text=True,
        )
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)[1])
        lines = access_log_since(self.log, start)
        micros = sorted(float(d) * self.to_micros for d, status in lines if status == "200")
        bad = sum(1 for _, status in lines if status != "200")
        q = statistics.quantiles(micros, n=100) if len(micros) > 100 else [0.0] * 99
        return {"rps": rps, "p50": q[49] / 1000, "p99": q[98] / 1000, "requests": len(lines), "non_200": bad}


# ---------------------------------------------------------------- the feed catch-up


CATCHUP = """
import json, sys, time
from beian.provider import bureau_client, sync
client = bureau_client.BureauClient()
mode = sys.argv[-1]
started, count = time.perf_counter(), 0
if mode == "read":
    after = 0
    while True:
        page = client.events(after=after, limit=sync.PAGE)
        if not page["events"]:
            break
        count += len(page["events"])
        after = page["next_after"]
else:
    while n := sync.sync_once(client=client):
        count += n
print(json.dumps({"events": count, "seconds": time.perf_counter() - started}))
"""


def catch_up(env: dict, port: int, key: str, tmp: Path) -> dict:
    script = tmp / "catchup.py"
    script.write_text(CATCHUP)
    env = {**env, "BEIAN_BUREAU_URL": f"http://127.0.0.1:{port}/bureau/api/v1", "BEIAN_BUREAU_API_KEY": key}
    results = {}
    for mode in ("read", "apply"):
        out = run(
            [
                PY,
                "-m",
                "beian",
                "shell",
                "-c",
                f"import sys; sys.argv.append({mode!r}); exec(open({str(script)!r}).read())",
            ],
            env,
        )
        results[mode] = json.loads(out.strip().splitlines()[-1])
    return results


# ---------------------------------------------------------------- the run


def fmt(value: float, unit: str = "") -> str:
    return f"{value:,.0f}{unit}" if value >= 100 else f"{value:,.2f}{unit}"


def main() -> None:
    global DB
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="go on to 10 million websites (5 million entities)")
    parser.add_argument("--sizes", default=None, help="comma-separated website counts (default 10k,100k,1M)")
    parser.add_argument("--seconds", type=float, default=8.0, help="wrk's duration per kind")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--db-prefix", default=DB, help="name of the PostgreSQL databases (and PREFIX_bureau)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    parser.add_argument("--server", choices=tuple(SERVERS), default="gunicorn", help="what serves the public query")
    args = parser.parse_args()
    DB = args.db_prefix
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [*DEFAULT_SIZES, *([FULL] if args.full else [])]

    env = pg_env()
    for name in (DB, f"{DB}_bureau"):
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        pg_admin(f'CREATE DATABASE "{name}"')
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="beian-scale-") as tmpdir:
        tmp = Path(tmpdir)
        sqlite_env = {
            **os.environ,
            "BEIAN_VAR_DIR": str(tmp / "sqlite"),
            "BEIAN_DATABASE_URL": "",
            "BEIAN_BUREAU_DATABASE_URL": "",
        }
        for e in (env, sqlite_env):
            run([PY, "-m", "beian", "migrate", "--noinput", "-v0"], e)
            run([PY, "-m", "beian", "migrate", "--noinput", "--database", "bureau", "-v0"], e)
        have, key = 0, None
        for step, size in enumerate(sizes):
            websites = size - have
            entities = websites // 2
            print(f"== {size:,} websites: loading {websites:,} more on PostgreSQL", flush=True)
            pg = load(env, entities, websites, seed=step)
            key = key or pg["key"]
            row = {
                "size": size,
                "step": websites,
                "pg_load_rate": websites / pg["seconds"],
                "pg_copy_rate": baseline_copy(websites),
                "pg_gib": pg["gib"],
            }
            if not args.no_sqlite:
                print("   and on SQLite", flush=True)
                lite = load(sqlite_env, entities, websites, seed=step)
                row["sqlite_load_rate"] = websites / lite["seconds"]
                row["sqlite_many_rate"] = baseline_executemany(tmp / "trivial.sqlite3", websites)
                row["sqlite_gib"] = lite["gib"]
            print(f"   the public query through {SERVERS[args.server]}", flush=True)
            row["prewarmed_gib"] = prewarm(env)
            paths = samples(env, SAMPLE)
            server = Server(args.server, env, tmp)
            try:
                for kind in ("pk", "domain", "number", "name"):
                    row[kind] = server.measure(paths[kind], tmp, args.seconds)
                print("   the provider's feed catch-up", flush=True)
                row["catchup"] = catch_up(env, server.port, key, tmp)
            finally:
                server.stop()
            row["server"] = args.server
            rows.append(row)
            have = size
            report(row)
        if not args.keep:
            for name in (DB, f"{DB}_bureau"):
                pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    write(rows, Path(args.out))


def report(row: dict) -> None:
    c = row["catchup"]
    print(f"   load PostgreSQL: {fmt(row['pg_load_rate'])} websites/s (plain COPY of trivial rows: "
          f"{fmt(row['pg_copy_rate'])} rows/s); database {row['pg_gib']} GiB")  # fmt: skip
    if "sqlite_load_rate" in row:
        print(f"   load SQLite: {fmt(row['sqlite_load_rate'])} websites/s (executemany of trivial rows: "
              f"{fmt(row['sqlite_many_rate'])} rows/s); database {row['sqlite_gib']} GiB")  # fmt: skip
    print(f"   public query through {SERVERS[row['server']]} ({row['prewarmed_gib']} GiB read into memory first):")
    for kind in ("pk", "domain", "number", "name"):
        m = row[kind]
        target = (
            "baseline"
            if kind == "pk"
            else f"target p99 ≤ {TARGETS['name_p99_ms' if kind == 'name' else 'query_p99_ms']} ms"
        )
        print(f"   {kind:7} server p50 {m['p50']:.2f} ms, p99 {m['p99']:.2f} ms, {fmt(m['rps'])} queries/s "
              f"({target}; non-200: {m['non_200']})")  # fmt: skip
    apply_rate = c["apply"]["events"] / max(c["apply"]["seconds"], 1e-9)
    read_rate = c["read"]["events"] / max(c["read"]["seconds"], 1e-9)
    print(f"   catch-up {c['apply']['events']:,} events at {fmt(apply_rate)} events/s (reading alone: "
          f"{fmt(read_rate)} events/s; target ≥ {TARGETS['catchup_eps']:,})", flush=True)  # fmt: skip


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    sizes = [r["size"] for r in rows]
    for kind, label in (
        ("domain", "by domain"),
        ("number", "by number"),
        ("name", "by name"),
        ("pk", "baseline: primary key"),
    ):
        ax.plot(sizes, [r[kind]["p99"] for r in rows], marker="o", label=f"{label}, p99")
    ax.set_xscale("log")
    ax.set_xlabel("websites in the registry")
    ax.set_ylabel("server time (ms)")
    ax.set_title(f"Public query through {rows[0]['server']}, PostgreSQL")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write(rows: list[dict], out: Path) -> None:
    image = out.with_name("performance-query.png")
    plot(rows, image)
    lines = [
        "# Performance at national scale",
        "",
        "Measured by `make bench-scale` (bench/scale.py) on this project's 2-core machine, which other",
        "sessions share at times: every figure stands beside a baseline measured in the same run.",
        "",
        "| websites | load PG (websites/s) | plain COPY | load SQLite | executemany | DB size PG / SQLite (GiB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']:,} | {fmt(r['pg_load_rate'])} | {fmt(r['pg_copy_rate'])} | "
            f"{fmt(r.get('sqlite_load_rate', 0))} | {fmt(r.get('sqlite_many_rate', 0))} | "
            f"{r['pg_gib']} / {r.get('sqlite_gib')} |"
        )
    warmed = all(r["prewarmed_gib"] for r in rows)
    lines += [
        "",
        f"Public query through {SERVERS[rows[0]['server']]}, server time from {rows[0]['server']}'s access log, "
        "wrk -t1 -c4" + (", what the query reads first read into memory (pg_prewarm):" if warmed else ":"),
        "",
        "| websites | kind | p50 (ms) | p99 (ms) | queries/s | target |",
        "| ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        for kind in ("pk", "domain", "number", "name"):
            m = r[kind]
            target = {"pk": "baseline", "name": "p99 ≤ 20 ms"}.get(kind, "p99 ≤ 2 ms, ≥ 3,000/s at 10M")
            lines.append(f"| {r['size']:,} | {kind} | {m['p50']:.2f} | {m['p99']:.2f} | {fmt(m['rps'])} | {target} |")
    lines += [
        "",
        "Feed catch-up of the selected provider (about a tenth of the websites):",
        "",
        "| websites | events | applied (events/s) | read alone (events/s) |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        c = r["catchup"]
        applied = c["apply"]["events"] / max(c["apply"]["seconds"], 1e-9)
        read = c["read"]["events"] / max(c["read"]["seconds"], 1e-9)
        lines.append(f"| {r['size']:,} | {c['apply']['events']:,} | {fmt(applied)} | {fmt(read)} |")
    lines += ["", f"![query latency against registry size]({image.name})", ""]
    existing = out.read_text() if out.exists() else ""
    marker = "<!-- bench-scale -->"
    notes = existing.split(marker, 1)[1] if marker in existing else ""
    out.write_text("\n".join(lines) + f"\n{marker}{notes}")
    print(f"wrote {out} and {image}")


if __name__ == "__main__":
    main()
