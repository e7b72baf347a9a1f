"""The provider's figures for /metrics (beian/ops/metrics.py), read from its database at each scrape."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from beian.core import clock
from beian.ops import metrics
from beian.provider.models import Delivery, OutgoingNotice, SyncCursor, WorkerHeartbeat


def collect() -> Iterable[Metric]:
    now = clock.now()
    pending = Delivery.objects.filter(done_at__isnull=True)
    yield from metrics.outbox_gauges(
        {"delivery": pending, "provider_notices": OutgoingNotice.objects.filter(sent_at__isnull=True)}, now
    )

    outcomes = GaugeMetricFamily(
        "beian_deliveries", "Deliveries to the bureau by outcome (pending: not answered yet)", labels=["outcome"]
    )
    counted = dict(Delivery.objects.values_list("outcome").annotate(n=Count("id")).order_by())
    counted["pending"] = pending.count()
    counted.pop("", None)
    for outcome in ("pending", "accepted", "refused", "cancelled"):
        outcomes.add_metric([outcome], counted.pop(outcome, 0))
    for outcome, n in sorted(counted.items()):
        outcomes.add_metric([outcome], n)
    yield outcomes

    cursor = SyncCursor.objects.filter(id=1).first()
    yield GaugeMetricFamily(
        "beian_feed_cursor", "The last event of the bureau's feed applied", value=cursor.after if cursor else 0
    )
    caught_up = cursor.caught_up_at if cursor else None
    yield GaugeMetricFamily(
        "beian_feed_lag_seconds",
        "Seconds since a read of the bureau's feed last reached its end (-1: never)",
        value=(now - caught_up).total_seconds() if caught_up else -1,
    )
    yield metrics.heartbeat_ages("provider", WorkerHeartbeat, now)
