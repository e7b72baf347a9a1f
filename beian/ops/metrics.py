"""Prometheus metrics at `/metrics`, with the official client (prometheus-client).

Two kinds: what requests do, counted as they happen (`RequestMetrics`, the middleware); and what
the databases hold (outbox depth and age, feed lag, deliveries by outcome, bureau operations by
state, worker heartbeats), read at each scrape by the collectors each side registers from its
app's `ready()`. Counted at the scrape, a figure is the same whichever process answers it and
survives restarts of the workers that change it.

Under gunicorn each worker process counts its own requests; with `PROMETHEUS_MULTIPROC_DIR` set
(beian/gunicorn_conf.py sets it) the client keeps the counts in files there and a scrape adds up
every process's.

The endpoint is not public: a request is let in if it brings the token of
`BEIAN_METRICS_TOKEN` (`Authorization: Bearer …`), or if it comes straight (no proxy header) from
an address in `BEIAN_METRICS_NETWORKS`. A request relayed by a proxy is let in by token only: its
peer address is the proxy's.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Min, QuerySet
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from beian.ops.health import HeartbeatBase

log = logging.getLogger("beian.ops")
request_log = logging.getLogger("beian.request")

REQUESTS = Counter(
    "beian_http_requests",
    "HTTP requests answered, by method, route and status",
    ["method", "route", "status"],
    registry=None,
)
LATENCY = Histogram(
    "beian_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=None,
)

# name → a function yielding metric families; each side adds its own (read at each scrape).
COLLECTORS: dict[str, Callable[[], Iterable[Metric]]] = {}


def register(name: str, collect: Callable[[], Iterable[Metric]]) -> None:
    COLLECTORS[name] = collect


class _Sides:
    """The registered collectors as one prometheus collector. One that fails (its database
    down) is left out of the scrape and said so in `beian_metrics_collector_up`, not a 500."""

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "beian_metrics_collector_up", "1 if the collector could read its database", labels=["collector"]
        )
        # Both sides report an outbox and heartbeats under one name: one family each, with both's samples.
        families: dict[str, Metric] = {}
        for name, collect in COLLECTORS.items():
            try:
                collected = list(collect())
            except Exception:
                log.warning("metrics: collector %s failed", name, exc_info=True)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            for family in collected:
                if family.name in families:
                    families[family.name].samples.extend(family.samples)
                else:
                    families[family.name] = family
        yield from families.values()
        yield up


def outbox_gauges(outboxes: dict[str, QuerySet], now: datetime) -> Iterable[Metric]:
    """The depth of each outbox and the age of its oldest waiting row, from a query of the rows
    still waiting (each with a `created_at`)."""
    depth = GaugeMetricFamily("beian_outbox_depth", "Rows waiting in an outbox", labels=["outbox"])
    age = GaugeMetricFamily(
        "beian_outbox_oldest_age_seconds", "Age of the oldest row waiting in an outbox (0 if none)", labels=["outbox"]
    )
    for name, waiting in outboxes.items():
        figures = waiting.aggregate(n=Count("pk"), oldest=Min("created_at"))
        depth.add_metric([name], figures["n"])
        age.add_metric([name], (now - figures["oldest"]).total_seconds() if figures["oldest"] else 0.0)
    yield depth
    yield age


def heartbeat_ages(kind: str, model: type[HeartbeatBase], now: datetime) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "beian_worker_heartbeat_age_seconds",
        "Seconds since each worker last finished a round",
        labels=["kind", "worker"],
    )
    for worker, beat_at in model.objects.filter(kind=kind).values_list("worker", "beat_at"):
        family.add_metric([kind, worker], (now - beat_at).total_seconds())
    return family


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered, never the path itself: a label value per filing number
    would make a metric per filing."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return "/" + match.route if match.route else match.view_name or "unmatched"


class RequestMetrics:
    """Counts and times every request; with `BEIAN_LOG_FORMAT=json` also logs one line for it
    (method, route, path without its query string, status, duration, user id: never a body, a
    header or a query string, which is where passwords, codes and tokens travel)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        began = time.perf_counter()
        response = self.get_response(request)
        count(request, response.status_code, time.perf_counter() - began)
        return response


def count(request: HttpRequest, status: int, elapsed: float) -> None:
    """One request answered with `status` in `elapsed` seconds: what `RequestMetrics` records, for
    it and for a handler that answers without Django's middleware (beian/bureau/query_handler.py)."""
    route = route_of(request)
    REQUESTS.labels(request.method, route, str(status)).inc()
    LATENCY.labels(request.method, route).observe(elapsed)
    if settings.BEIAN_LOG_FORMAT == "json":
        user = getattr(request, "user", None)
        request_log.info(
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "user_id": user.pk if user is not None and user.is_authenticated else None,
            },
        )


def permitted(*, authorization: str, peer: str, proxied: bool) -> bool:
    """May this request read the metrics? (the rule of the module's docstring, for both servers)"""
    token = settings.BEIAN_METRICS_TOKEN
    bearer = authorization.startswith("Bearer ")
    if token and bearer and hmac.compare_digest(authorization[7:].encode(), token.encode()):
        return True
    if proxied:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in settings.BEIAN_METRICS_NETWORKS)


def allowed(request: HttpRequest) -> bool:
    return permitted(
        authorization=request.headers.get("Authorization", ""),
        peer=request.META.get("REMOTE_ADDR", ""),
        proxied=any(h in request.headers for h in ("X-Forwarded-For", "X-Real-Ip", "Forwarded")),
    )


def registry() -> CollectorRegistry:
    """A registry for one scrape: this deployment's request counts (every process's, if several)
    and what its databases hold now."""
    scrape = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(scrape)
    else:
        scrape.register(REQUESTS)
        scrape.register(LATENCY)
        scrape.register(ProcessCollector(registry=None))
        scrape.register(PlatformCollector(registry=None))
    scrape.register(_Sides())
    return scrape


def view(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        # 404 rather than 403: the public is not told that something is here.
        return HttpResponse(b"not found\n", status=404, content_type="text/plain; charset=utf-8")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
