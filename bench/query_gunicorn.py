"""`python -m bench.query_gunicorn --before /work/main [--seconds S] [--kinds …]`: the public query
through gunicorn, the code before and after a change on one loaded registry in one run (issue 10).

bench/scale.py's query part, run on a registry already loaded with `python -m beian load_national`
(BEIAN_DATABASE_URL / BEIAN_BUREAU_DATABASE_URL; the rate limit lifted with
BEIAN_PUBLIC_RATE_PER_MINUTE), for several servers one after the other: gunicorn from another
checkout (`--before`, its own .venv) and from this one, with sync workers and with gthread. Beside
wrk's queries/s and gunicorn's own server time (%(D)s, p50 and p99), the CPU each query cost the
gunicorn workers and the PostgreSQL backends (read from /proc, so that a busy machine shows in the
wall-clock figures but much less in these) and wrk itself (what the client takes of the same cores),
and the load average. `--servers` names each server as CODE:VARIANT (`after:sync`, `before:gthread`,
`after:sync*3` for three workers rather than two).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.scale import GUNICORN_SYNC, LUA, ROOT, access_log_since, free_port, samples

TICK = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _children_cpu() -> float:
    """CPU seconds of this process's children that have ended and been waited for: wrk's."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _backends(env: dict) -> list[int]:
    import psycopg

    with psycopg.connect(env["BEIAN_BUREAU_DATABASE_URL"], autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [r[0] for r in rows]


class Server:
    def __init__(self, checkout: Path, env: dict, tmp: Path, worker: list[str]):
        self.port = free_port()
        self.log = tmp / f"access-{self.port}.log"
        python = checkout / ".venv" / "bin"
        env = {**env, "DJANGO_SETTINGS_MODULE": "bench.scale_settings", "PYTHONPATH": str(checkout)}
        if worker[0] == "granian":
            # granian's access log goes to its stdout through Python's logging; %(dt_ms) is the time
            # from the request's arrival in Python to its answer handed back to the server, in ms.
            command = [
                str(python / "granian"),
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--access-log",
                "--access-log-fmt",
                "%(dt_ms).3f %(status)d",
                "--log-level",
                "warning",
                *worker[1:],
                *self.granian_target(checkout),
            ]
            stdout = self.log.open("w")
            self.to_micros = 1000.0
        else:
            command = [
                str(python / "gunicorn"),
                "beian.wsgi:application",
                "--config",
                "beian/gunicorn_conf.py",
                "--access-logfile",
                str(self.log),
                "--access-logformat",
                "%(D)s %(s)s",
                *worker,
            ]
            env["BEIAN_BIND"] = f"127.0.0.1:{self.port}"
            stdout = subprocess.DEVNULL
            self.to_micros = 1.0
        self.proc = subprocess.Popen(command, cwd=checkout, env=env, stdout=stdout, stderr=subprocess.DEVNULL)
        self.env = env
        # Ready when both workers have answered (gunicorn's socket accepts before they have loaded Django).
        deadline, answered = time.monotonic() + 120, 0
        while time.monotonic() < deadline and answered < 6:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/bench/pk?id=1", timeout=5) as r:
                    answered += r.status == 200
            except OSError:
                time.sleep(0.3)
        if answered < 6:
            raise SystemExit("gunicorn did not start")

    @staticmethod
    def granian_target(checkout: Path) -> list[str]:
        # The application as beian/granian_serve.py serves it, where the checkout has that module.
        if (checkout / "beian" / "granian_serve.py").exists():
            return ["--factory", "beian.granian_serve:_application"]
        return ["beian.wsgi:application"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def measure(self, paths: list[str], tmp: Path, seconds: float, connections: int) -> dict:
        paths_file, script = tmp / "paths.txt", tmp / "rotate.lua"
        paths_file.write_text("\n".join(paths) + "\n")
        script.write_text(LUA)
        url = f"http://127.0.0.1:{self.port}"
        wrk = ["wrk", "-t1", f"-c{connections}", "-s", str(script), url, "--", str(paths_file)]
        subprocess.run([*wrk[:3], "-d2s", *wrk[3:]], capture_output=True)  # warm: connections, pages
        workers, backends = _children(self.proc.pid), _backends(self.env)
        start = self.log.stat().st_size if self.log.exists() else 0
        before = (sum(map(_ticks, workers)), sum(map(_ticks, backends)))
        load = os.getloadavg()[0]
        client = _children_cpu()
        done = subprocess.run([*wrk[:3], f"-d{seconds:g}s", *wrk[3:]], capture_output=True, text=True)
        after = (sum(map(_ticks, workers)), sum(map(_ticks, backends)))
        client = _children_cpu() - client
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)[1])
        lines = access_log_since(self.log, start)
        micros = sorted(float(d) * self.to_micros for d, status in lines if status == "200")
        n = max(len(lines), 1)
        q = statistics.quantiles(micros, n=100) if len(micros) > 100 else [0.0] * 99
        return {
            "rps": rps,
            "p50": q[49] / 1000,
            "p99": q[98] / 1000,
            "requests": len(lines),
            "non_200": sum(1 for _, status in lines if status != "200"),
            "cpu_web_us": (after[0] - before[0]) / TICK / n * 1e6,
            "cpu_pg_us": (after[1] - before[1]) / TICK / n * 1e6,
            "cpu_client_us": client / n * 1e6,
            "load": load,
        }


VARIANTS = {
    "sync": GUNICORN_SYNC,
    # What the project's config runs (beian/gunicorn_conf.py), and what "sync" was before --threads 1.
    "gthread4": ["--worker-class", "gthread", "--workers", "2", "--threads", "4"],
    "gthread": ["--worker-class", "gthread", "--workers", "2", "--threads", "2"],
    # The project's config with BEIAN_WEB_THREADS=1: one request at a time, connections kept.
    "gthread1": ["--worker-class", "gthread", "--workers", "2", "--threads", "1"],
    "granian": ["granian", "--workers", "2", "--blocking-threads", "2", "--runtime-threads", "1"],
}


def arguments(variant: str) -> list[str]:
    """A server's arguments: a key of VARIANTS, or one with `*N` for N workers rather than 2 (`sync*4`)."""
    kind, _, workers = variant.partition("*")
    args = list(VARIANTS[kind])
    if workers:
        args[args.index("--workers") + 1] = workers
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="a checkout of the code before (with its .venv)")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--kinds", default="pk,domain,number,name")
    parser.add_argument("--servers", default="before:sync,after:sync,after:gthread")
    parser.add_argument("--sample", type=int, default=20_000)
    args = parser.parse_args()
    env = {**os.environ}
    paths = samples(env, args.sample)
    checkouts = {"before": args.before, "after": ROOT}
    heads = ("p50 ms", "p99 ms", "q/s", "web µs", "pg µs", "wrk µs")
    print(f"{'server':16} {'kind':7} " + " ".join(f"{h:>7}" for h in heads) + " load  non-200")
    with tempfile.TemporaryDirectory(prefix="beian-query-") as tmpdir:
        tmp = Path(tmpdir)
        for name in args.servers.split(","):
            code, _, variant = name.partition(":")
            server = Server(checkouts[code], env, tmp, arguments(variant))
            try:
                for kind in args.kinds.split(","):
                    m = server.measure(paths[kind], tmp, args.seconds, args.connections)
                    print(f"{name:16} {kind:7} {m['p50']:7.2f} {m['p99']:7.2f} {m['rps']:7.0f} {m['cpu_web_us']:7.0f} "
                          f"{m['cpu_pg_us']:7.0f} {m['cpu_client_us']:7.0f} {m['load']:5.1f} {m['non_200']}",
                          flush=True)  # fmt: skip
            finally:
                server.stop()


if __name__ == "__main__":
    sys.exit(main())
