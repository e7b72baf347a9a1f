"""The decision server: a small application (no framework, no Django request stack) that answers
the edge proxies from the in-memory index.

    GET /enforcement/check          nginx auth_request: the Host is X-Original-Host, else Host
                                    (/enforcement/check/<any path> too, for Envoy's ext_authz)
    GET /enforcement/ask?domain=…   Caddy on-demand TLS
    GET /enforcement/status         JSON: index version, sizes, age of the last read of the mirror
    GET /healthz                    200: the server answers
    GET /readyz                     200 once the index is loaded and the mirror was read lately, else 503
    GET /metrics                    Prometheus: decisions by reason, the index's version and size
                                    (the token or networks of BEIAN_METRICS_TOKEN / _NETWORKS, as Django's)

A decision is 200 (serve) or 403 (do not), never anything else, with `X-Beian-Reason` and a short
`Cache-Control` so the proxy can hold it, and no body: nginx makes an `auth_request` subrequest
header-only, so an answer with a body cannot be read to its end and nginx closes the upstream
connection after every uncached decision (what that costs is measured in docs/enforcement.md).

`DecisionServer` has two doors onto the same answers: `python -m beian.enforcement` serves it with
its own small HTTP/1.1 protocol on uvloop and httptools (beian/enforcement/protocol.py), as `make
run` does (Procfile), on 127.0.0.1:8001 by default; and it is a plain ASGI application (`app`) for
any ASGI server. Under an ASGI server the server's own work was most of each request; the
protocol's own HTTP/1.1 answers at about nginx's rate (docs/enforcement.md, "Measured by hand").

On an edge, `python -m beian.enforcement --follow URL --state DIR` runs the same server with no
database: its index follows the platform's served-set feed (beian.enforcement.follower), and
`/enforcement/status` says how old its data is.

It needs Django only to read the mirror: `django.setup()` at start-up, then a background thread
follows the mirror (beian.enforcement.refresher). It only reads the database, so it keeps
answering while the rest of the platform restarts; if the database goes away it answers from its
last index.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl

from beian.enforcement.index import FILED, INVALID_HOST, NOT_FILED, REASONS, Index

log = logging.getLogger("beian.enforcement")

CHECK = "/enforcement/check"
CHECK_PREFIX = CHECK + "/"
ASK = "/enforcement/ask"
STATUS = "/enforcement/status"
HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS = "/metrics"
# /readyz turns 503 when the mirror has not been read for this long: decisions are then stale.
STALE_SECONDS = 60.0
DEFAULT_CACHE_SECONDS = 1


@dataclass(frozen=True)
class Answer:
    """One response, built once in the form each door sends it: a request only picks one."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    http1: bytes = field(init=False)  # the whole response, as protocol.py writes it
    http1_head: bytes = field(init=False)  # the same without the body, for HEAD
    asgi_start: dict = field(init=False)
    asgi_body: dict = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        raw = [(k.encode(), v.encode()) for k, v in self.headers]
        raw.append((b"content-length", str(len(self.body)).encode()))
        head = b"HTTP/1.1 %d %s\r\n" % (self.status, HTTPStatus(self.status).phrase.encode())
        head += b"".join(b"%s: %s\r\n" % pair for pair in raw) + b"\r\n"
        set_(self, "http1", head + self.body)
        set_(self, "http1_head", head)
        set_(self, "asgi_start", {"type": "http.response.start", "status": self.status, "headers": raw})
        set_(self, "asgi_body", {"type": "http.response.body", "body": self.body})


_EMPTY_BODY = {"type": "http.response.body", "body": b""}  # HEAD, in ASGI


def decision_answers(cache_seconds: int, *, ready: bool = True) -> dict[str, Answer]:
    """The answer for each reason. Before the index is first loaded the answer is a refusal the
    proxy must not keep."""
    cache = f"max-age={cache_seconds}" if ready and cache_seconds > 0 else "no-store"
    # No body, so no content type: every header is work for the server on each request.
    return {
        reason: Answer(200 if reason == FILED else 403, (("cache-control", cache), ("x-beian-reason", reason)))
        for reason in REASONS
    }


_ALIVE = Answer(200, (("content-type", "application/json"), ("cache-control", "no-store")), b'{"ok": true}')
_NOT_FOUND = Answer(404, (("content-type", "text/plain; charset=utf-8"), ("cache-control", "no-store")), b"not found\n")


class DecisionServer:
    """The decision server: an ASGI application, and what protocol.py serves. `index` and
    `cache_seconds` are for tests; `runtime=False` leaves Django and the refresher alone (the
    index is then whatever the caller put in it)."""

    def __init__(
        self, index: Index | None = None, *, runtime: bool = True, cache_seconds: int = DEFAULT_CACHE_SECONDS
    ) -> None:
        self.index = index if index is not None else Index()
        self.refresher = None
        self.follower = None
        self._started = not runtime
        self._start_lock = threading.Lock()
        self._ready = decision_answers(cache_seconds)
        self._loading = decision_answers(cache_seconds, ready=False)
        # Decisions by reason, counted here rather than by a prometheus Counter: a dict's += is a
        # fraction of the answer's cost, a labelled Counter's lock is not. /metrics reads them.
        self.decisions: dict[str, int] = dict.fromkeys(REASONS, 0)
        self._registry = None

    # ---------------------------------------------------------------- runtime

    def start(self) -> None:
        """Set up Django, load the index (if the database answers) and start following the mirror."""
        with self._start_lock:
            if self._started:
                return
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beian.settings")
            import django

            django.setup()
            from django.conf import settings

            from beian.enforcement.mirror import OrmMirror
            from beian.enforcement.refresher import Refresher

            cache = settings.BEIAN_ENFORCEMENT_CACHE_SECONDS
            self._ready = decision_answers(cache)
            self._loading = decision_answers(cache, ready=False)
            self.refresher = Refresher(
                self.index, OrmMirror(), interval=settings.BEIAN_ENFORCEMENT_POLL_SECONDS, on_load=_for_good
            )
            gc.collect()  # what start-up left, before what is left now is kept for good
            began = time.monotonic()
            if self.refresher.tick():
                log.info(
                    "enforcement: index loaded in %.2f s: %d served domain(s), version %d",
                    time.monotonic() - began,
                    self.index.served_count(),
                    self.index.version,
                )
            self.refresher.start()
            self._started = True

    def follow(self, follower, *, cache_seconds: int = DEFAULT_CACHE_SECONDS) -> None:
        """Edge mode: the index comes from the platform's feed (beian.enforcement.follower), not
        from a database; no Django. Answers from the state on disk at once, if there is one."""
        with self._start_lock:
            self._ready = decision_answers(cache_seconds)
            self._loading = decision_answers(cache_seconds, ready=False)
            self.follower = follower
            follower.start()
            self._started = True

    def use_index(self, index: Index) -> None:
        self.index = index  # one assignment: a decision reads the old index or the new one, whole

    def stop(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()
        if self.follower is not None:
            self.follower.stop()

    def _start_in_background(self) -> None:
        # A server that sends no lifespan events: start on the first request, without making it wait.
        if not self._started and not self._start_lock.locked():
            threading.Thread(target=self.start, name="beian-enforcement-start", daemon=True).start()

    # ---------------------------------------------------------------- the answers

    def _decide(self, host: bytes | None) -> Answer:
        if not self._started:
            self._start_in_background()
        index = self.index
        if not index.loaded:
            reason = INVALID_HOST if not host else NOT_FILED
            self.decisions[reason] += 1
            return self._loading[reason]
        reason = index.reason(host) if host else INVALID_HOST
        self.decisions[reason] += 1
        return self._ready[reason]

    def _status(self) -> Answer:
        index, refresher, now = self.index, self.refresher, time.time()
        report = {
            "pid": os.getpid(),  # which worker answered, with --workers
            "loaded": index.loaded,
            "version": index.version,
            "served_domains": index.served_count(),
            "known_not_served": index.known_count(),
            "refreshed_seconds_ago": round(now - index.refreshed_at, 3) if index.refreshed_at else None,
            "poll_seconds": refresher.interval if refresher else None,
            "mirror_failing_seconds": round(now - refresher.failing_since, 1)
            if refresher and refresher.failing_since
            else None,
            "last_error": refresher.last_error if refresher else "",
        }
        if self.follower is not None:
            report.update(self.follower.status())
            report.update(poll_seconds=None, mirror_failing_seconds=None)
        else:
            report["mode"] = "database"
        headers = (("content-type", "application/json"), ("cache-control", "no-store"))
        return Answer(200, headers, json.dumps(report).encode())

    def readiness(self) -> tuple[bool, str]:
        """Ready once the index is loaded and the mirror was read within STALE_SECONDS."""
        index, now = self.index, time.time()
        if not index.loaded:
            return False, "the index is not loaded yet"
        age = now - index.refreshed_at if index.refreshed_at else None
        if age is None or age > STALE_SECONDS:
            error = self.refresher.last_error if self.refresher else ""
            return False, f"the mirror has not been read for {age or 0:.0f} s {error}".strip()
        return True, ""

    def _readyz(self) -> Answer:
        ready, why = self.readiness()
        body = json.dumps({"ok": ready, "error": why} if why else {"ok": ready}).encode()
        return Answer(
            200 if ready else 503, (("content-type", "application/json"), ("cache-control", "no-store")), body
        )

    def _metrics(self, authorization: str, peer: str) -> Answer:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.process_collector import ProcessCollector

        from beian.ops import metrics

        if not metrics.permitted(authorization=authorization, peer=peer, proxied=False):
            return _NOT_FOUND
        if self._registry is None:
            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(_Figures(self))
            self._registry.register(ProcessCollector(registry=None))
        headers = (("content-type", CONTENT_TYPE_LATEST), ("cache-control", "no-store"))
        return Answer(200, headers, generate_latest(self._registry))

    # ---------------------------------------------------------------- routing

    def answer(
        self, path: str, host: bytes | None, query: bytes, *, authorization: bytes = b"", peer: str = ""
    ) -> Answer:
        """The answer to a GET (or any method: nginx's auth_request repeats the visitor's) of
        `path`, `host` being X-Original-Host if sent, else Host. `authorization` and `peer` (the
        client's address) are read for /metrics only."""
        # Envoy's ext_authz appends the original path to its path prefix: /enforcement/check/…
        if path == CHECK or path.startswith(CHECK_PREFIX):
            if host and not host.isascii():
                host = b""  # no Host is anything but ASCII (RFC 9110; browsers send A-labels): refuse
            return self._decide(host)
        if path == ASK:
            return self._decide(_domain_param(query))
        if path == STATUS:
            return self._status()
        if path == HEALTHZ:
            return _ALIVE
        if path == READYZ:
            return self._readyz()
        if path == METRICS:
            return self._metrics(authorization.decode("latin-1"), peer)
        return _NOT_FOUND

    # ---------------------------------------------------------------- ASGI

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await self._lifespan(receive, send)
            return
        host = original = None
        authorization = b""
        for name, value in scope["headers"]:
            if name == b"x-original-host":
                if original is None:
                    original = value
            elif name == b"host":
                if host is None:
                    host = value
            elif name == b"authorization":
                authorization = value
        if original is not None:
            host = original
        client = scope.get("client")
        peer = client[0] if client else ""
        answer = self.answer(
            scope["path"], host, scope.get("query_string", b""), authorization=authorization, peer=peer
        )
        await send(answer.asgi_start)
        await send(_EMPTY_BODY if scope.get("method") == "HEAD" else answer.asgi_body)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await asyncio.to_thread(self.start)
                except Exception as exc:
                    log.exception("enforcement: start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return


class _Figures:
    """The decision server's figures for /metrics, read at each scrape."""

    def __init__(self, server: DecisionServer) -> None:
        self.server = server

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        server, index = self.server, self.server.index
        decisions = CounterMetricFamily(
            "beian_enforcement_decisions", "Decisions answered, by reason (filed: served)", labels=["reason"]
        )
        for reason, count in server.decisions.items():
            decisions.add_metric([reason], count)
        yield decisions
        yield GaugeMetricFamily(
            "beian_enforcement_index_version", "The mirror version the index has read", value=index.version
        )
        yield GaugeMetricFamily("beian_enforcement_index_loaded", "1 once the index is loaded", value=int(index.loaded))
        yield GaugeMetricFamily(
            "beian_enforcement_served_domains", "Domains served in the index", value=index.served_count()
        )
        yield GaugeMetricFamily(
            "beian_enforcement_refreshed_seconds_ago",
            "Seconds since the mirror was last read (-1: never)",
            value=time.time() - index.refreshed_at if index.refreshed_at else -1,
        )


def _for_good() -> None:
    """Out of the cycle collector's way: everything made so far, the index above all, lives as long
    as the server. A full collection would walk the index's millions of objects (half a second at 5
    million domains) while no decision is answered; frozen, they are never walked again."""
    gc.freeze()


def _domain_param(query: bytes) -> bytes | None:
    """`domain` from the query string; the plain case (`domain=example.cn`) without parsing."""
    if query.startswith(b"domain=") and b"&" not in query and b"%" not in query and b"+" not in query:
        return query[7:]
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, errors="replace", max_num_fields=20)
    except ValueError:
        return None
    for key, value in pairs:
        if key == "domain":
            return value.encode("utf-8")
    return None


app = DecisionServer()
