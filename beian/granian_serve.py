"""`python -m beian.granian_serve`: the platform under granian instead of gunicorn, an option for the
public query tier (DESIGN §8: "gunicorn or granian"; measured in docs/performance.md, "The plain
answer made cheaper, and the public query under granian"). gunicorn stays the default (Procfile,
deploy/systemd/beian-web.service); docs/deploy.md says how to run it.

granian's HTTP/1.1 is Rust (hyper): per request it runs no Python of its own before the
application, where gunicorn parses the request and writes the answer in Python. What
beian/gunicorn_conf.py has gunicorn do, done here for granian:

- the address and the processes: `BEIAN_BIND` (host:port), `BEIAN_WEB_WORKERS`, `BEIAN_WEB_THREADS`
  (granian's blocking threads of a worker: where the WSGI application runs);
- HTTPS behind a proxy: `X-Forwarded-Proto: https` (or `X-Forwarded-Ssl: on`,
  `X-Forwarded-Protocol: ssl`) makes the request HTTPS only when it comes from
  `BEIAN_TRUSTED_PROXIES` (loopback when unset), as gunicorn's `forwarded_allow_ips`;
- Prometheus: every worker counts in files of one directory, made empty at start;
- a bounded stop, as gunicorn's graceful timeout: a worker that has not stopped
  `BEIAN_WEB_STOP_SECONDS` (20) after SIGTERM is killed. granian's workers are forked with the
  main process's signal handlers and set their own only once the application is loaded, so a
  worker still loading Django when SIGTERM comes never hears it, and granian would wait for it
  for ever (`systemctl stop` or a restart soon after a start: then systemd's SIGKILL at the
  unit's TimeoutStopSec). 20 s is less than that 30, so granian ends its own workers and exits 0.

Differences: granian reads an unread body off the connection itself (gunicorn's `pre_request` hook
of beian/keepalive.py has no counterpart to need); the simulation's dropped answers need gunicorn's
socket and go out as usual here; granian's access log is off (beian.request's JSON lines stay).
granian also puts the process's environment variables into every request's WSGI environ; the
platform reads none of them from there.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from beian import env

# What gunicorn's secure_scheme_headers believe from a trusted proxy: the header and the value that
# means HTTPS (any other value means HTTP).
SECURE_SCHEME_HEADERS = {
    "HTTP_X_FORWARDED_PROTOCOL": "ssl",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_FORWARDED_SSL": "on",
}
LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


def trusted_proxies() -> tuple:
    return env.networks("BEIAN_TRUSTED_PROXIES") or LOOPBACK


def forwarded_scheme(app: Callable, trusted: tuple) -> Callable:
    """`app` with the scheme a trusted proxy says (the module's docstring)."""

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        said = [(h, v) for h, v in SECURE_SCHEME_HEADERS.items() if h in environ]
        if said:
            try:
                peer = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
            except ValueError:
                peer = None
            if peer is not None and any(peer in network for network in trusted):
                h, v = said[0]
                environ["wsgi.url_scheme"] = "https" if environ[h].strip().lower() == v else "http"
        return app(environ, start_response)

    return application


def _application() -> Callable:
    from beian.wsgi import application as platform

    return forwarded_scheme(platform, trusted_proxies())


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="beian-metrics-")
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()
    host, _, port = os.environ.get("BEIAN_BIND", "127.0.0.1:8000").rpartition(":")
    stop_seconds = env.integer("BEIAN_WEB_STOP_SECONDS", 20, minimum=1)
    Granian(
        "beian.granian_serve:_application",
        factory=True,
        address=host.strip("[]") or "127.0.0.1",
        port=int(port),
        interface=Interfaces.WSGI,
        workers=int(os.environ.get("BEIAN_WEB_WORKERS", "2")),
        blocking_threads=int(os.environ.get("BEIAN_WEB_THREADS", "2")),
        runtime_threads=1,
        respawn_failed_workers=True,
        workers_kill_timeout=stop_seconds,
    ).serve()


if __name__ == "__main__":
    main()
