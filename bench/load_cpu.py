"""`python -m bench.load_cpu [--sqlite] [--db-prefix load] [--websites 1000000] [--seed 1]`: where a
`load_national` run's time goes, by process, in CPU seconds read from /proc (docs/performance.md,
"Load"). On a shared machine the wall time says mostly how loaded the machine was; the CPU seconds of
the loader, its worker processes and the PostgreSQL backend say what the code costs.

It makes fresh databases (PREFIX and PREFIX_bureau on PostgreSQL, dropped at the end; a temporary
directory on SQLite), migrates them, runs the command with `-v2` (which prints the loader's phases)
and polls /proc every quarter second: the loader, its children (the workers), the PostgreSQL
backends of the bureau database and PostgreSQL's other processes (parallel index workers,
checkpointer, WAL writer; these also serve other databases, so that column is the least exact).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.scale import PG, PY, ROOT, pg_admin

HZ = os.sysconf("SC_CLK_TCK")
PG_TITLE = "postgres: "


def _stat(pid: str) -> tuple[str, float] | None:
    """(parent pid, CPU seconds of the process itself)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return fields[1], (int(fields[11]) + int(fields[12])) / HZ


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids() -> list[str]:
    return [p for p in os.listdir("/proc") if p.isdigit()]


def measure(args: list[str], env: dict, bureau_db: str | None) -> dict:
    before = {pid: s[1] for pid in _pids() if _cmdline(pid).startswith(PG_TITLE) and (s := _stat(pid))}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [PY, "-m", "beian", "load_national", *args, "-v2"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    loader = 0.0
    backend: dict[str, float] = {}
    other: dict[str, float] = {}
    while proc.poll() is None:
        if (mine := _stat(str(proc.pid))) is not None:
            loader = mine[1]
        for pid in _pids():
            command = _cmdline(pid)
            if not command.startswith(PG_TITLE) or (s := _stat(pid)) is None:
                continue
            spent = s[1] - before.get(pid, 0.0)
            if bureau_db and f" {bureau_db} " in command:
                backend[pid] = spent
            elif " postgres " not in command:  # not another database's client backend
                other[pid] = spent
        time.sleep(0.25)
    out = proc.stdout.read() if proc.stdout else ""
    wall = time.perf_counter() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    return {
        "wall_s": round(wall, 1),
        "loader_cpu_s": round(loader, 1),
        "workers_cpu_s": round(total - loader, 1),  # reaped by the loader, so counted in its children
        "pg_backend_cpu_s": round(sum(backend.values()), 1),
        "pg_other_cpu_s": round(sum(other.values()), 1),
        "load_average": [round(x, 1) for x in (*load_before, *os.getloadavg())],
        "rc": proc.returncode,
        "output": out.strip().splitlines()[-2:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--db-prefix", default="load_cpu")
    parser.add_argument("--websites", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    load = [f"--entities={args.websites // 2}", f"--websites={args.websites}", f"--seed={args.seed}"]
    with tempfile.TemporaryDirectory(prefix="beian-load-cpu-") as tmp:
        if args.sqlite:
            env = {**os.environ, "BEIAN_VAR_DIR": tmp, "BEIAN_DATABASE_URL": "", "BEIAN_BUREAU_DATABASE_URL": ""}
            names: list[str] = []
        else:
            names = [args.db_prefix, f"{args.db_prefix}_bureau"]
            for name in names:
                pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                pg_admin(f'CREATE DATABASE "{name}"')
            env = {
                **os.environ,
                "BEIAN_DATABASE_URL": f"{PG}/{names[0]}",
                "BEIAN_BUREAU_DATABASE_URL": f"{PG}/{names[1]}",
            }
        env |= {"BEIAN_SIMULATION": "true", "BEIAN_LOG_LEVEL": "WARNING"}
        try:
            for database in ("default", "bureau"):
                subprocess.run(
                    [PY, "-m", "beian", "migrate", "--noinput", "-v0", "--database", database],
                    cwd=ROOT,
                    env=env,
                    check=True,
                )
            result = measure(load, env, None if args.sqlite else names[1])
        finally:
            for name in names:
                pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(result, ensure_ascii=False, indent=1))
    sys.exit(result["rc"])


if __name__ == "__main__":
    main()
