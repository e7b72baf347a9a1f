"""The public query on a read replica (S24, DESIGN §8 "PostgreSQL, replicas for reads"): with
BEIAN_BUREAU_REPLICA_URL set, citizens' reads go to the replica and nothing else does; a replica
that cannot be reached leaves the primary to answer, and is tried again after a pause.

In the suite the replica is the bureau's own test database reached through a second alias, as
Django's test MIRROR would have it: its own connections, which see committed rows only, hence
transactional tests."""

from __future__ import annotations

import time

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from beian import env
from beian.bureau import query

pytestmark = pytest.mark.django_db(
    transaction=True, databases=["default", "bureau", query.REPLICA], serialized_rollback=True
)


@pytest.fixture(scope="module", autouse=True)
def _replica_alias():
    # Before the database fixtures, which allow only the aliases they know of (a module-scoped fixture
    # is set up before any function-scoped one). A mirror: not a test database of its own, not flushed.
    connections.settings[query.REPLICA] = {**connections["bureau"].settings_dict, "TEST": {"MIRROR": "bureau"}}
    yield
    connections[query.REPLICA].close()
    del connections[query.REPLICA]
    del connections.settings[query.REPLICA]


@pytest.fixture
def replica(_replica_alias):
    query._replica_paused_until = 0.0
    settings = connections.settings[query.REPLICA]
    kept = dict(settings)
    yield settings
    connections[query.REPLICA].close()
    settings.clear()
    settings.update(kept)
    query._replica_paused_until = 0.0


def _records(captured: CaptureQueriesContext) -> int:
    return sum(1 for q in captured.captured_queries if "bureau_website" in q["sql"])


def test_s24_the_public_query_reads_the_replica_where_one_is_configured(world, public_http, client, replica):
    world.file("replica-read.cn")
    for ask in (
        lambda: public_http.get("query", domain="www.replica-read.cn"),
        lambda: client.get("/bureau/query/", {"kind": "domain", "q": "replica-read.cn"}),
    ):
        with (
            CaptureQueriesContext(connections[query.REPLICA]) as on_replica,
            CaptureQueriesContext(connections["bureau"]) as on_primary,
        ):
            answer = ask()
        assert answer.status_code == 200
        assert "replica-read.cn" in answer.content.decode()
        assert (_records(on_replica), _records(on_primary)) == (1, 0)
        # The simulation's switches are not the public query's: they are read where they are set.
        assert not any("fail_share" in q["sql"] for q in on_replica.captured_queries)


def test_s24_without_a_replica_the_primary_answers(world, public_http, monkeypatch):
    world.file("no-replica.cn")
    monkeypatch.delitem(connections.settings, query.REPLICA)
    assert query.reader() is connections["bureau"]
    with CaptureQueriesContext(connections["bureau"]) as on_primary:
        assert public_http.get("query", domain="no-replica.cn").json()["results"]
    assert _records(on_primary) == 1


def test_s24_a_replica_that_cannot_be_reached_leaves_the_primary_to_answer(world, public_http, replica):
    world.file("replica-down.cn")
    if replica["ENGINE"].endswith("sqlite3"):
        replica["NAME"] = "/nonexistent/beian/replica.sqlite3"
    else:
        replica["PORT"] = "1"  # nothing listens there: refused at once
    # The test's set-up opened it (and Django closes no connection to SQLite's memory): down now.
    connections[query.REPLICA].close()
    answer = public_http.get("query", domain="replica-down.cn")
    assert answer.status_code == 200
    assert [r["domains"] for r in answer.json()["results"]] == [["replica-down.cn"]]
    # Left alone for a while, so that each request does not pay a failed connection first.
    assert query._replica_paused_until > time.monotonic()
    assert query.reader() is connections["bureau"]
    query._replica_paused_until = 0.0
    assert query.reader() is connections[query.REPLICA]


def test_s24_the_replica_compiles_no_jit_and_starts_no_workers(replica):
    db = connections[query.REPLICA]
    if db.vendor != "postgresql":
        pytest.skip("JIT and parallel workers are PostgreSQL's")
    with db.cursor() as cur:
        for name, value in query.SESSION.items():
            cur.execute(f"SHOW {name}")
            assert cur.fetchone()[0] == value, name


@pytest.mark.django_db(databases=[])
def test_a_replica_is_a_postgresql_standby_of_a_postgresql_primary(monkeypatch):
    primary = {"ENGINE": "django.db.backends.postgresql", "NAME": "beian_bureau"}
    monkeypatch.delenv("BEIAN_BUREAU_REPLICA_URL", raising=False)
    assert env.replica("BEIAN_BUREAU_REPLICA_URL", primary, mirror="bureau") is None
    monkeypatch.setenv("BEIAN_BUREAU_REPLICA_URL", "postgres://beian@standby.internal:5432/beian_bureau")
    config = env.replica("BEIAN_BUREAU_REPLICA_URL", primary, mirror="bureau", conn_max_age=600)
    assert (config["HOST"], config["NAME"], config["CONN_MAX_AGE"]) == ("standby.internal", "beian_bureau", 600)
    assert config["OPTIONS"]["connect_timeout"] == 3  # a replica that is down costs a request little
    assert config["TEST"] == {"MIRROR": "bureau"}  # no test database of its own
    with pytest.raises(env.ImproperValue, match="PostgreSQL"):
        env.replica("BEIAN_BUREAU_REPLICA_URL", {"ENGINE": "django.db.backends.sqlite3"}, mirror="bureau")
    monkeypatch.setenv("BEIAN_BUREAU_REPLICA_URL", "sqlite:////tmp/replica.sqlite3")
    with pytest.raises(env.ImproperValue, match="PostgreSQL"):
        env.replica("BEIAN_BUREAU_REPLICA_URL", primary, mirror="bureau")
