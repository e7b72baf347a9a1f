"""S20: the decision server's own /healthz, /readyz and /metrics (decisions by reason, the index's
version), through both of its doors."""

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from beian.enforcement.index import REASONS, Index
from beian.enforcement.server import DecisionServer
from tests.enforcement.test_index import memory_index
from tests.enforcement.test_server import call, call_http1

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
TOKEN = "decision-metrics-token-5e1d"


@pytest.fixture(params=["asgi", "http1"])
def door(request):
    return call if request.param == "asgi" else call_http1


def figures(body: bytes) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_s20_decision_server_counts_its_decisions_and_shows_its_index_version(door, settings):
    settings.BEIAN_METRICS_NETWORKS = ()
    settings.BEIAN_METRICS_TOKEN = TOKEN
    app = DecisionServer(memory_index("example.cn", cancelled=["gone.cn"]), runtime=False)
    for host in ("example.cn", "www.example.cn", "gone.cn", "unknown.cn", ""):
        door(app, "/enforcement/check", headers=[("host", host)])
    door(app, "/enforcement/ask", query=b"domain=example.cn")

    status, headers, body = door(app, "/metrics", headers=[("authorization", f"Bearer {TOKEN}")])
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=")
    seen = figures(body)
    decisions = {labels[0][1]: v for (name, labels), v in seen.items() if name == "beian_enforcement_decisions_total"}
    assert {r: n for r, n in decisions.items() if n} == {
        "filed": 3,
        "access_cancelled": 1,
        "not_filed": 1,
        "invalid_host": 1,
    }
    assert set(decisions) == set(REASONS)
    assert seen[("beian_enforcement_index_version", ())] == app.index.version > 0
    assert seen[("beian_enforcement_index_loaded", ())] == 1
    assert seen[("beian_enforcement_served_domains", ())] == 1
    assert TOKEN not in body.decode()


def test_s20_decision_server_metrics_are_not_public(door, settings):
    app = DecisionServer(memory_index("example.cn"), runtime=False)
    settings.BEIAN_METRICS_TOKEN = TOKEN
    settings.BEIAN_METRICS_NETWORKS = ()
    assert door(app, "/metrics")[0] == 404
    assert door(app, "/metrics", headers=[("authorization", "Bearer nope")])[0] == 404
    assert door(app, "/metrics", headers=[("authorization", f"Bearer {TOKEN}")])[0] == 200
    from ipaddress import ip_network

    settings.BEIAN_METRICS_NETWORKS = (ip_network("127.0.0.1/32"),)
    assert door(app, "/metrics")[0] == 200  # both doors' test clients are 127.0.0.1


def test_s20_decision_server_is_ready_once_its_index_is_loaded(door):
    alive = DecisionServer(Index(), runtime=False)
    assert door(alive, "/healthz")[0] == 200
    status, _, body = door(alive, "/readyz")
    assert (status, json.loads(body)) == (503, {"ok": False, "error": "the index is not loaded yet"})

    loaded = DecisionServer(memory_index("example.cn"), runtime=False)
    status, _, body = door(loaded, "/readyz")
    assert (status, json.loads(body)) == (200, {"ok": True})
