"""gunicorn as beian/gunicorn_conf.py runs it, each worker process profiled (bench/profiled.py):
every request's thread has its own cProfile profile of CPU time, and at the worker's exit their
sum is written to $BEIAN_PROFILE_DIR/gunicorn-<pid>.prof, and the statements by request to
gunicorn-<pid>.json."""

import cProfile
import os
import pstats
import threading
import time
from pathlib import Path

from beian.gunicorn_conf import *  # noqa: F403 (the project's config, with hooks added)

_profiles: list[cProfile.Profile] = []
_local = threading.local()
_statements = None


def post_worker_init(worker) -> None:
    global _statements
    from bench.profiled import Statements, task_of

    _statements = Statements()
    _statements.install()
    app = worker.wsgi

    def profiled(environ, start_response):
        profile = getattr(_local, "profile", None)
        if profile is None:
            profile = _local.profile = cProfile.Profile(time.thread_time)
            _profiles.append(profile)
        _statements.begin(task_of(environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
        profile.enable()
        try:
            # The body is produced here: Django's responses are lists, not streams, on these paths.
            return list(app(environ, start_response))
        finally:
            profile.disable()
            _statements.end()

    worker.wsgi = profiled


def worker_exit(server, worker) -> None:
    out = Path(os.environ["BEIAN_PROFILE_DIR"])
    if _profiles:
        stats = pstats.Stats(_profiles[0])
        for profile in _profiles[1:]:
            stats.add(profile)
        stats.dump_stats(out / f"gunicorn-{os.getpid()}.prof")
    if _statements is not None:
        _statements.dump(out / f"gunicorn-{os.getpid()}.json")
