"""`python -m bench.query_cpu [--n N] [--rounds R] [--profile KIND]`: CPU of one public query, in-process, split
by where it goes (issue 10). No server, no network: each request goes through the WSGI application
gunicorn would call (beian.wsgi.application) with a made-up environ, so what is measured is the
Python of the request path plus the PostgreSQL backend's own time (read from /proc, as the backend
runs on this machine), statement counts beside them. Needs the registry of `load_national`
(BEIAN_DATABASE_URL / BEIAN_BUREAU_DATABASE_URL); paths are drawn as bench/scale.py draws them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import sys
import time
from urllib.parse import quote

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.scale_settings")


def _backend_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


def paths(n: int) -> dict[str, list[str]]:
    from beian.bureau.models import Domain, Website

    rnd = random.Random(3)
    top = Website.objects.order_by("-id").values_list("id", flat=True).first()
    ids = [rnd.randint(1, top) for _ in range(n)]
    websites = list(Website.objects.filter(id__in=ids).values_list("id", "number", "entity__number", "entity__name"))
    domains = list(Domain.objects.filter(website_id__in=ids, active=True).values_list("name", flat=True))

    def part(name: str) -> str:
        k = rnd.choice((2, 2, 3, 4))
        i = rnd.randrange(max(len(name) - k, 0) + 1)
        return name[i : i + k]

    api = "/bureau/api/v1/query"
    return {
        "pk": [f"/bench/pk?id={w[0]}" for w in websites],
        "domain": [f"{api}?domain={quote(('www.' if rnd.random() < 0.5 else '') + d)}" for d in domains],
        "number": [f"{api}?number={quote(rnd.choice((w[1], w[2])))}" for w in websites],
        "name": [
            f"{api}?name={quote(part(w[3]) if rnd.random() < 0.9 else rnd.choice('犇鑫淼焱垚') * 2)}" for w in websites
        ],
        "page": [f"/bureau/query/?kind=domain&q={quote(d)}" for d in domains],
    }


def environ(path: str) -> dict:
    route, _, query = path.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": route,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def call(app, path: str) -> int:
    status = []

    def start_response(s, headers, exc_info=None):
        status.append(s)

    body = app(environ(path), start_response)
    for _ in body:
        pass
    if hasattr(body, "close"):
        body.close()
    return int(status[0][:3])


def measure(app, kind: str, items: list[str], n: int) -> dict:
    from django.db import connections

    conn = connections["bureau"]
    for p in items[:200]:  # warm: the connection, the pages the sample touches, each module's first use
        call(app, p)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    counted = [0]

    def count(execute, sql, params, many, context):
        counted[0] += 1
        return execute(sql, params, many, context)

    wrappers = [c.execute_wrapper(count) for c in (conn, connections["default"])]
    for w in wrappers:
        w.__enter__()
    ticks, cpu, wall = _backend_ticks(backend), time.process_time(), time.perf_counter()
    bad = 0
    for i in range(n):
        bad += call(app, items[i % len(items)]) != 200
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    pg = (_backend_ticks(backend) - ticks) / os.sysconf("SC_CLK_TCK")
    for w in wrappers:
        w.__exit__(None, None, None)
    statements = counted[0]
    return {"kind": kind, "python_us": cpu / n * 1e6, "pg_us": pg / n * 1e6, "wall_us": wall / n * 1e6,
            "statements": statements / n, "non_200": bad}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument(
        "--kinds",
        default="pk,domain,domain@lean,number,number@lean,name,name@lean,page",
        help="kinds of request, @lean for the lean handler in front of Django's (beian.wsgi.application)",
    )
    parser.add_argument("--profile", default="", help="a kind (with @lean) to profile with cProfile")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure the kinds in turn this many times and print each kind's median and least CPU: on a "
        "shared machine the least is the figure least swollen by other processes",
    )
    args = parser.parse_args()
    import django

    django.setup()
    from beian import wsgi

    # Run from another checkout (the code before a change, with its own beian on PYTHONPATH), there
    # may be no lean handler: then both are Django's.
    django_application = getattr(wsgi, "django_application", wsgi.application)
    application = wsgi.application

    sample = paths(2000)
    print(f"load average {os.getloadavg()[0]:.2f}")
    handlers = {"django": django_application, "lean": application}
    rounds: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        for name in args.kinds.split(","):
            kind, _, via = name.partition("@")
            m = measure(handlers[via or "django"], kind, sample[kind], args.n)
            rounds.setdefault(name, []).append(m)
            if args.rounds == 1:
                print(f"{name:14} python {m['python_us']:7.0f} µs  postgres {m['pg_us']:6.0f} µs  "
                      f"wall {m['wall_us']:7.0f} µs  statements {m['statements']:.2f}  non-200 {m['non_200']}",
                      flush=True)  # fmt: skip
    if args.rounds > 1:
        for name, ms in rounds.items():
            py, pg = sorted(m["python_us"] for m in ms), sorted(m["pg_us"] for m in ms)
            print(f"{name:14} python median {statistics.median(py):6.0f} least {py[0]:6.0f} µs  "
                  f"postgres median {statistics.median(pg):5.0f} least {pg[0]:5.0f} µs  "
                  f"statements {ms[0]['statements']:.2f}  non-200 {sum(m['non_200'] for m in ms)}")  # fmt: skip
        print(f"load average {os.getloadavg()[0]:.2f}")
    if args.profile:
        kind, _, via = args.profile.partition("@")
        app, items = handlers[via or "django"], sample[kind]
        profile = cProfile.Profile(time.process_time)  # CPU, not the waits for the database
        profile.enable()
        for i in range(args.n):
            call(app, items[i % len(items)])
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(70)
        print(out.getvalue())


if __name__ == "__main__":
    main()
