"""Where a process of a bench run spends its CPU and how many SQL statements it sends: `python -m
bench.volume --profile DIR` starts gunicorn with bench/profiled_gunicorn.py and each worker as
`python -m bench.profiled DIR NAME -- <beian command>`, and each process leaves in DIR a cProfile
file (`NAME.prof`, readable with `python -m pstats`) and its statement counts (`NAME.json`): by
request (method and path, ids folded) in gunicorn, by job in a worker.

A measuring tool, not part of the platform: profiling costs CPU, so a profiled run's throughput
is not a figure.
"""

from __future__ import annotations

import cProfile
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d+")


class Statements:
    """SQL statements sent by this process, counted by what was being done (a request or a job)."""

    def __init__(self) -> None:
        self.by_task: Counter[str] = Counter()
        self.runs: Counter[str] = Counter()
        self.texts: dict[str, Counter[str]] = {}  # task → its statements' openings, counted
        self._local = threading.local()
        self._lock = threading.Lock()

    def install(self) -> None:
        from django.db import connections
        from django.db.backends.signals import connection_created

        def wrap(sender, connection, **kwargs) -> None:
            connection.execute_wrappers.append(self._count)

        connection_created.connect(wrap, weak=False)
        for conn in connections.all(initialized_only=True):
            conn.execute_wrappers.append(self._count)

    def _count(self, execute, sql, params, many, context):
        task = getattr(self._local, "task", None) or "(outside a task)"
        with self._lock:
            self.by_task[task] += 1
            self.texts.setdefault(task, Counter())[_ID.sub("…", sql[:160])] += 1
        return execute(sql, params, many, context)

    def begin(self, task: str) -> None:
        self._local.task = task
        with self._lock:
            self.runs[task] += 1

    def end(self) -> None:
        self._local.task = None

    def dump(self, path: Path) -> None:
        tasks = sorted(set(self.by_task) | set(self.runs))
        rows = {
            t: {
                "runs": self.runs[t],
                "statements": self.by_task[t],
                "texts": dict(self.texts.get(t, Counter()).most_common(40)),
            }
            for t in tasks
        }
        path.write_text(json.dumps(rows, indent=1, ensure_ascii=False))


def task_of(method: str, path: str) -> str:
    return f"{method} {_ID.sub('…', path)}"


def main() -> None:
    """`python -m bench.profiled DIR NAME -- beian provider_worker …`: the command under cProfile,
    its statements counted by job."""
    out, name = Path(sys.argv[1]), sys.argv[2]
    command = sys.argv[sys.argv.index("--") + 1 :]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beian.settings")
    import django

    django.setup()
    statements = Statements()
    statements.install()
    from beian.bureau import work as bureau_work
    from beian.provider import work as provider_work

    def counted(name: str, job):
        def run(*args):
            statements.begin(name)
            try:
                return job(*args)
            finally:
                statements.end()

        return run

    for jobs in (provider_work.JOBS, bureau_work.JOBS):
        for job_name, job in list(jobs.items()):
            jobs[job_name] = counted(job_name, job)
    from django.core.management import execute_from_command_line

    profile = cProfile.Profile(time.thread_time)  # CPU, not the waits of a loaded machine
    profile.enable()
    try:
        execute_from_command_line(["beian", *command[1:]])
    finally:
        profile.disable()
        profile.dump_stats(out / f"{name}.prof")
        statements.dump(out / f"{name}.json")


if __name__ == "__main__":
    main()
