"""The benchmarks' servers are what their tables say (issue 10): `make bench-scale` and
bench/query_gunicorn.py measure the public query's server time under gunicorn's sync workers, one
request at a time in each process. gunicorn turns a sync worker into gthread when it is given more
than one thread, and the project's config gives 4, so the bench must say `--threads 1`: this reads
the arguments as gunicorn reads them, the project's config file included."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pytest
from gunicorn.app.wsgiapp import WSGIApplication

from bench import query_gunicorn, scale


def _gunicorn(arguments: Sequence[str], monkeypatch: pytest.MonkeyPatch):
    argv = ["gunicorn", "beian.wsgi:application", "--config", str(scale.ROOT / "beian" / "gunicorn_conf.py")]
    monkeypatch.setattr(sys, "argv", [*argv, *arguments])
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent-unused")  # the config makes one otherwise
    for name in ("BEIAN_WEB_WORKERS", "BEIAN_WEB_THREADS"):  # the config's defaults, whatever the shell says
        monkeypatch.delenv(name, raising=False)
    return WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg


def test_the_scale_bench_runs_two_sync_workers(monkeypatch):
    cfg = _gunicorn(scale.GUNICORN_SYNC, monkeypatch)
    assert (cfg.worker_class_str, cfg.workers, cfg.threads) == ("sync", 2, 1)


def test_the_query_bench_runs_what_its_variants_name(monkeypatch):
    assert _gunicorn(query_gunicorn.arguments("sync"), monkeypatch).worker_class_str == "sync"
    threaded = _gunicorn(query_gunicorn.arguments("gthread4"), monkeypatch)
    assert (threaded.worker_class_str, threaded.threads) == ("gthread", 4)
    assert _gunicorn(query_gunicorn.arguments("sync*3"), monkeypatch).workers == 3


def test_without_one_thread_the_config_makes_sync_workers_threaded(monkeypatch):
    """Why `--threads 1` is there: the project's config alone turns `--worker-class sync` into gthread."""
    cfg = _gunicorn(["--worker-class", "sync", "--workers", "2"], monkeypatch)
    assert (cfg.worker_class_str, cfg.threads) == ("gthread", 4)
