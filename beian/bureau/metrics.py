"""The bureau's figures for /metrics (beian/ops/metrics.py), read from its database at each scrape."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from beian.bureau.models import FeedCounter, Operation, OutgoingMessage, WorkerHeartbeat
from beian.core import clock
from beian.ops import metrics


def collect() -> Iterable[Metric]:
    now = clock.now()
    yield from metrics.outbox_gauges({"bureau_messages": OutgoingMessage.objects.filter(sent_at__isnull=True)}, now)

    states = GaugeMetricFamily("beian_bureau_operations", "The bureau's operations by state", labels=["state"])
    counted = dict(Operation.objects.values_list("state").annotate(n=Count("id")).order_by())
    for state in Operation.State.values:
        states.add_metric([state], counted.get(state, 0))
    yield states

    head = GaugeMetricFamily(
        "beian_bureau_feed_last_seq", "The last event written to each provider's feed", labels=["provider"]
    )
    for slug, seq in FeedCounter.objects.values_list("provider__slug", "last_seq"):
        head.add_metric([slug], seq)
    yield head

    yield metrics.heartbeat_ages("bureau", WorkerHeartbeat, now)
