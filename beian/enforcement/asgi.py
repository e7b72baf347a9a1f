"""The decision server: a plain ASGI application (no framework, no Django request stack) that
answers the edge proxies from the in-memory index.

    GET /enforcement/check          nginx auth_request: the Host is X-Original-Host, else Host
                                    (/enforcement/check/<any path> too, for Envoy's ext_authz)
    GET /enforcement/ask?domain=…   Caddy on-demand TLS
    GET /enforcement/status         JSON: index version, sizes, age of the last read of the mirror

A decision is 200 (serve) or 403 (do not), never anything else, with `X-Beian-Reason` and a short
`Cache-Control` so the proxy can hold it. Embedded default: 127.0.0.1:8001, started by `make run`
(see Procfile), or alone:

    .venv/bin/granian --interface asgi --host 127.0.0.1 --port 8001 --no-ws beian.enforcement.asgi:app

It needs Django only to read the mirror: `django.setup()` at start-up, then a background thread
follows the mirror (beian.enforcement.refresher). It only reads the database, so it keeps
answering while the rest of the platform restarts; if the database goes away it answers from its
last index.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from urllib.parse import parse_qsl

from beian.enforcement.index import FILED, INVALID_HOST, NOT_FILED, REASONS, Index

log = logging.getLogger("beian.enforcement")

CHECK = "/enforcement/check"
CHECK_PREFIX = CHECK + "/"
ASK = "/enforcement/ask"
STATUS = "/enforcement/status"
DEFAULT_CACHE_SECONDS = 1

Message = dict
Responses = dict[str, tuple[Message, Message, Message]]  # reason → (start, body, empty body for HEAD)


def _response(status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[Message, Message, Message]:
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    return start, {"type": "http.response.body", "body": body}, {"type": "http.response.body", "body": b""}


def decision_responses(cache_seconds: int, *, ready: bool = True) -> Responses:
    """Every answer is built once; a request only picks one. Before the index is first loaded the
    answer is a refusal the proxy must not keep."""
    cache = f"max-age={cache_seconds}".encode() if ready and cache_seconds > 0 else b"no-store"
    return {
        reason: _response(
            200 if reason == FILED else 403,
            reason.encode() + b"\n",
            [(b"cache-control", cache), (b"x-beian-reason", reason.encode())],
        )
        for reason in REASONS
    }


_NOT_FOUND = _response(404, b"not found\n", [(b"cache-control", b"no-store")])


class DecisionServer:
    """The ASGI callable. `index` and `cache_seconds` are for tests; `runtime=False` leaves Django
    and the refresher alone (the index is then whatever the caller put in it)."""

    def __init__(
        self, index: Index | None = None, *, runtime: bool = True, cache_seconds: int = DEFAULT_CACHE_SECONDS
    ) -> None:
        self.index = index if index is not None else Index()
        self.runtime = runtime
        self.refresher = None
        self._started = not runtime
        self._start_lock = threading.Lock()
        self._ready = decision_responses(cache_seconds)
        self._loading = decision_responses(cache_seconds, ready=False)

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
            self._ready = decision_responses(cache)
            self._loading = decision_responses(cache, ready=False)
            self.refresher = Refresher(self.index, OrmMirror(), interval=settings.BEIAN_ENFORCEMENT_POLL_SECONDS)
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

    def stop(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()

    def _start_in_background(self) -> None:
        # A server that sends no lifespan events: start on the first request, without making it wait.
        if not self._started and not self._start_lock.locked():
            threading.Thread(target=self.start, name="beian-enforcement-start", daemon=True).start()

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

    # ---------------------------------------------------------------- requests

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await self._lifespan(receive, send)
            return
        path = scope["path"]
        # Envoy's ext_authz appends the original path to its path prefix: /enforcement/check/…
        if path == CHECK or path.startswith(CHECK_PREFIX):
            host = None
            for name, value in scope["headers"]:
                if name == b"x-original-host":
                    host = value
                    break
                if name == b"host" and host is None:
                    host = value
            answer = self._answer(host)
        elif path == ASK:
            answer = self._answer(_domain_param(scope.get("query_string", b"")))
        elif path == STATUS:
            await self._status(send)
            return
        else:
            answer = _NOT_FOUND
        await send(answer[0])
        await send(answer[2] if scope.get("method") == "HEAD" else answer[1])

    def _answer(self, host: bytes | None) -> tuple[Message, Message, Message]:
        if not self._started:
            self._start_in_background()
        index = self.index
        if not index.loaded:
            return self._loading[INVALID_HOST if not host else NOT_FILED]
        if not host:
            return self._ready[INVALID_HOST]
        return self._ready[index.reason(host)]

    async def _status(self, send) -> None:
        index, refresher, now = self.index, self.refresher, time.time()
        body = json.dumps(
            {
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
        ).encode()
        start, message, _ = _response(200, body, [(b"cache-control", b"no-store")])
        start["headers"][0] = (b"content-type", b"application/json")
        await send(start)
        await send(message)


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
