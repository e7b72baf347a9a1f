"""S20: /metrics, for Prometheus: request counts and latencies, every outbox's depth and age, the
feed's lag, deliveries by outcome, the bureau's operations by state and the workers' heartbeats;
only for the token or the configured networks, and never a secret."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from beian.core import clock
from beian.provider import applications, delivery, review, sync
from beian.provider.models import OutgoingNotice
from tests.provider.test_flow import new_filing_data

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
TOKEN = "metrics-token-3f9c2a7d41e8b650"


def scrape(client, **extra) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def approved(people, n: int, domain: str):
    alice, bob = people["alice"], people["bob"]
    app = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(n, domain))
    app = applications.submit(app=app, user=alice)
    return review.approve(app=app, specialist=bob)


def test_s20_metrics_expose_each_named_figure(client, people, bureau, sim_clock, settings):
    settings.BEIAN_METRICS_TOKEN = TOKEN
    approved(people, 1, "sent.cn")
    assert delivery.deliver_due(client=bureau) == 1  # accepted: the bureau texts the principal
    sim_clock.advance(timedelta(seconds=30))
    approved(people, 2, "waiting.cn")  # in the outbox, not delivered yet
    sim_clock.advance(timedelta(seconds=90))
    sync.sync_once(client=bureau)
    sim_clock.advance(timedelta(seconds=5))
    # The request counts are the process's since it started: other tests' requests count too.
    login = (("method", "GET"), ("route", "/portal/login/"))
    before = scrape(client)
    client.get("/portal/login/")
    client.get("/portal/login/")

    figures = scrape(client)
    counted = ("beian_http_requests_total", (*login, ("status", "200")))
    timed = ("beian_http_request_duration_seconds_count", login)
    assert figures[counted] - before.get(counted, 0) == 2
    assert figures[timed] - before.get(timed, 0) == 2
    assert figures[("beian_outbox_depth", (("outbox", "delivery"),))] == 1
    assert figures[("beian_outbox_oldest_age_seconds", (("outbox", "delivery"),))] == 95
    # The codes to the principal wait for the bureau's worker.
    assert figures[("beian_outbox_depth", (("outbox", "bureau_messages"),))] == 1
    assert figures[("beian_outbox_oldest_age_seconds", (("outbox", "bureau_messages"),))] == 125
    # The customer's notices of each step wait for the provider's worker (`notify`).
    waiting = OutgoingNotice.objects.filter(sent_at__isnull=True)
    assert figures[("beian_outbox_depth", (("outbox", "provider_notices"),))] == waiting.count() > 0
    oldest = min(n.created_at for n in waiting)
    assert (
        figures[("beian_outbox_oldest_age_seconds", (("outbox", "provider_notices"),))]
        == (clock.now() - oldest).total_seconds()
    )
    assert figures[("beian_deliveries", (("outcome", "accepted"),))] == 1
    assert figures[("beian_deliveries", (("outcome", "pending"),))] == 1
    assert figures[("beian_deliveries", (("outcome", "refused"),))] == 0
    assert figures[("beian_bureau_operations", (("state", "awaiting_verification"),))] == 1
    assert figures[("beian_bureau_operations", (("state", "approved"),))] == 0
    assert figures[("beian_feed_cursor", ())] >= 1
    assert figures[("beian_feed_lag_seconds", ())] == 5
    assert figures[("beian_metrics_collector_up", (("collector", "provider"),))] == 1
    assert figures[("beian_metrics_collector_up", (("collector", "bureau"),))] == 1

    call_command("bureau_worker", "--once")  # sends the code; beats
    sim_clock.advance(timedelta(seconds=7))
    figures = scrape(client)
    assert figures[("beian_outbox_depth", (("outbox", "bureau_messages"),))] == 0
    assert figures[("beian_outbox_oldest_age_seconds", (("outbox", "bureau_messages"),))] == 0
    ages = {labels: v for (name, labels), v in figures.items() if name == "beian_worker_heartbeat_age_seconds"}
    assert list(ages.values()) == [7]
    assert next(iter(ages))[0] == ("kind", "bureau")


def test_s20_metrics_are_not_public(client, settings):
    settings.BEIAN_METRICS_TOKEN = TOKEN
    settings.BEIAN_METRICS_NETWORKS = ()
    assert client.get("/metrics").status_code == 404  # from 127.0.0.1, but no network is allowed now
    assert client.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200

    settings.BEIAN_METRICS_TOKEN = ""
    from ipaddress import ip_network

    settings.BEIAN_METRICS_NETWORKS = (ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"))
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    # Relayed by a proxy on an allowed address: the peer is the proxy's, so the network says nothing.
    assert client.get("/metrics", headers={"x-forwarded-for": "203.0.113.9"}).status_code == 404
    # An empty token set lets no bearer in.
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", headers={"authorization": "Bearer "}).status_code == 404


def test_s20_metrics_show_no_secret(client, people, bureau, keys, settings):
    settings.BEIAN_METRICS_TOKEN = TOKEN
    approved(people, 3, "secret.cn")
    delivery.deliver_due(client=bureau)
    client.post("/portal/login/", {"username": "alice", "password": "alice-pass"})
    text = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).content.decode()
    for secret in (TOKEN, keys["operator"], keys["operator"].split(".", 1)[1], settings.SECRET_KEY, "alice-pass"):
        assert secret not in text
    assert "secret.cn" not in text  # no filing data either: labels are routes, states and outcomes
