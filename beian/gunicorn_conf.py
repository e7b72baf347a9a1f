"""gunicorn for the embedded default: the platform at http://127.0.0.1:8000."""

import os
import tempfile
from pathlib import Path

bind = os.environ.get("BEIAN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("BEIAN_WEB_WORKERS", "2"))
threads = int(os.environ.get("BEIAN_WEB_THREADS", "4"))
worker_class = "gthread"
accesslog = "-"
timeout = 30

# Prometheus: each worker process counts its own requests in files of one directory, which a scrape
# adds up (beian/ops/metrics.py). The directory must start empty and forget a worker that exits.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="beian-metrics-")


def on_starting(server) -> None:
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# JSON logs: beian.request writes one line per request (without the query string); gunicorn's
# access log would repeat it as text, with the query string.
if os.environ.get("BEIAN_LOG_FORMAT", "").strip() == "json":
    accesslog = None
