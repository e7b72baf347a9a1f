"""gunicorn for the embedded default: the platform at http://127.0.0.1:8000."""

import os
import tempfile
from pathlib import Path

bind = os.environ.get("BEIAN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("BEIAN_WEB_WORKERS", "2"))
threads = int(os.environ.get("BEIAN_WEB_THREADS", "4"))
worker_class = "gthread"
accesslog = "-"
# Whose X-Forwarded-Proto (and -Ssl) makes a request HTTPS: the proxies every limit trusts
# (beian/clients.py), which terminate TLS in the production profile; gunicorn's default otherwise.
forwarded_allow_ips = os.environ.get("BEIAN_TRUSTED_PROXIES", "").replace(" ", "") or "127.0.0.1,::1"
timeout = 30


def pre_request(worker, req):
    """A body the platform will never read (larger than it accepts, or of unknown length): the
    answer says `Connection: close` rather than keep-alive, so that the client does not send its
    next request on a connection gunicorn is about to close (beian/keepalive.py)."""
    from beian.keepalive import closes_connection

    worker.log.debug("%s %s", req.method, req.path)
    if closes_connection(req.headers):
        req.force_close()


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
