"""Loading the index from the whole mirror (`Index.load`) builds the very index that following the
mirror from its first version (`Index.catch_up`) builds, and decides as the plain references do:
`Index.verdict` in memory, `mirror.decide` over the database."""

import gc

import idna
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from beian.core.catalogue import AccessEnded
from beian.enforcement import hosts
from beian.enforcement import mirror as db
from beian.enforcement.index import (
    ACCESS_CANCELLED,
    DEREGISTERED,
    FILED,
    NOT_FILED,
    TRANSFER_NOT_APPROVED,
    Index,
    Website,
    classify,
)
from beian.enforcement.mirror import OrmMirror
from tests.enforcement.test_index import ListMirror, check_index

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def picture(index: Index) -> dict:
    """Everything the index holds, as plain values (the label objects themselves may differ)."""
    packed = index._served
    return {
        "parents": set(index._parents),
        "known": dict(index._known),
        "both": set(index._both),
        "holders": dict(index._holders),
        "served": index.served_count(),
        "names": set(index.served_names()),
        "slots": {i: set(packed.slot(i)) for i in packed.websites()},  # a website's domains in any order
        "version": index.version,
    }


def followed(mirror, *, batch: int = 1000) -> Index:
    """The index built change by change from version 0, as the refresher follows the mirror."""
    built = Index()
    built.catch_up(mirror, batch=batch)
    return built


def loaded(mirror) -> Index:
    built = Index()
    built.load(mirror)
    return built


# ---------------------------------------------------------------- over a mirror in memory

NAMES = ["a.cn", "b.a.cn", "cn", "x.com.cn", "localhost", "xn--fsqu00a.xn--fiqs8s", "例子.中国", "Upper.CN", "bad_.cn"]
SITE = st.tuples(
    st.sampled_from(["active", "active", "deregistered"]),
    st.sampled_from(["active", "provisional", "ended", ""]),
    st.sampled_from(["", AccessEnded.CANCELLED, AccessEnded.NOT_APPROVED]),
    st.lists(st.sampled_from(NAMES), max_size=3),
    st.sampled_from(NAMES),  # the home URL's host
)


class Mirror(ListMirror):
    """Names as the bureau might not have written them: the mirror says who serves a name by its
    canonical form (the database mirror holds canonical names only)."""

    def served_now(self, names):
        wanted = set(names)
        found = (n for s, names in self.sites if classify(s.status, s.access_state) == FILED for n in names)
        return {n.decode() for n in map(hosts.normalise, found) if n and n.decode() in wanted}


@settings(max_examples=300, deadline=None)
@given(st.lists(SITE, max_size=12), st.randoms(use_true_random=False))
def test_loading_builds_what_following_from_the_start_builds(sites, rnd):
    """Websites of every kind, sharing names in every way (the same domain on a served and a
    cancelled website, on a deregistered one's home URL…), ids and versions in any order."""
    versions = rnd.sample(range(1, 100), len(sites))
    ids = rnd.sample([*range(1, 50), 10**12, 10**12 + 1], len(sites))
    mirror = Mirror(
        [
            (
                Website(i, v, status, access, f"http://www.{home}/", ended),
                names if status == "active" else [],  # the mirror keeps a deregistered website's home URL only
            )
            for i, v, (status, access, ended, names, home) in zip(ids, versions, sites, strict=True)
        ]
    )
    built = loaded(mirror)
    assert picture(built) == picture(followed(mirror))
    canonical = [(site, [n.decode() for n in map(hosts.normalise, names) if n]) for site, names in mirror.sites]
    check_index(built, ListMirror(canonical))


def test_a_loaded_index_is_not_loaded_again():
    built = loaded(ListMirror([(Website(1, 1, "active", "active"), ["a.cn"])]))
    with pytest.raises(RuntimeError):
        built.load(ListMirror([]))
    assert built.reason(b"a.cn") == FILED


def test_a_failed_load_is_done_again_from_nothing():
    class Failing(ListMirror):
        def not_served(self):
            raise ConnectionError("database unreachable")

    mirror = Failing([(Website(1, 1, "active", "active"), ["a.cn"]), (Website(2, 2, "active", "ended"), ["b.cn"])])
    built = Index()
    with pytest.raises(ConnectionError):
        built.load(mirror)
    assert not built.loaded
    assert gc.isenabled()  # the load keeps the collector off only while it runs
    mirror.__class__ = ListMirror
    built.load(mirror)
    assert picture(built) == picture(followed(mirror))


# ---------------------------------------------------------------- over the mirror in the database


def a_mirror_of_every_kind(rows, count: int = 60) -> list[str]:
    """count × 5 websites of every kind; returns a Host for each thing to ask."""
    hosts = []
    for n in range(count):
        third = idna.encode(f"例子{n}.中国").decode() if n % 10 == 0 else f"cdn{n}.net"  # stored as A-labels
        rows.website(f"filed{n}.cn", f"shop{n}.com", third)
        rows.website(f"moving{n}.com.cn", access="provisional")
        rows.website(f"cancelled{n}.cn", access="ended", ended=AccessEnded.CANCELLED)
        rows.website(f"refused{n}.cn", access="ended", ended=AccessEnded.NOT_APPROVED)
        rows.website(f"never{n}.cn", access="")
        dead = rows.website(f"dead{n}.cn", f"dead-too{n}.cn")
        rows.deregister(dead)
        hosts += [
            f"filed{n}.cn",
            f"www.shop{n}.com",
            f"a.b.cdn{n}.net" if n % 10 else f"www.例子{n}.中国",
            f"moving{n}.com.cn",
            f"cancelled{n}.cn",
            f"www.refused{n}.cn",
            f"never{n}.cn",
            f"dead{n}.cn",
            f"unfiled{n}.cn",
        ]
    # A domain deregistered and filed again on a new website; a domain on a served website and on
    # one whose access here ended; a domain under another; names the mirror should not hold as such.
    old = rows.website("again.cn")
    rows.deregister(old)
    rows.website("again.cn")
    rows.website("twice.cn", access="ended", ended=AccessEnded.CANCELLED)
    rows.website("twice.cn")
    rows.website("example.cn", access="ended", ended=AccessEnded.CANCELLED)
    rows.website("shop.example.cn")
    rows.website("Upper.CN", "bad_name.cn")
    return [*hosts, "again.cn", "twice.cn", "www.example.cn", "x.shop.example.cn"]


def test_loading_the_database_mirror_builds_what_following_it_builds(rows):
    hosts = a_mirror_of_every_kind(rows)
    built = loaded(OrmMirror(chunk=7))  # small batches, so the websites not served come in several
    assert picture(built) == picture(followed(OrmMirror(), batch=13))
    reasons = {host: built.reason(host.encode()) for host in hosts}
    for host, reason in reasons.items():
        assert reason == built.verdict(host).reason == db.decide(host).reason, host
    assert {reasons[f"{kind}7.cn"] for kind in ("filed", "cancelled", "never", "dead")} == {
        FILED,
        ACCESS_CANCELLED,
        NOT_FILED,
        DEREGISTERED,
    }
    assert reasons["www.refused7.cn"] == TRANSFER_NOT_APPROVED
    assert (reasons["again.cn"], reasons["twice.cn"]) == (FILED, FILED)
    assert (reasons["www.example.cn"], reasons["x.shop.example.cn"]) == (ACCESS_CANCELLED, FILED)
    assert reasons["www.例子0.中国"] == FILED
    # What the mirror holds that is not canonical: served as its canonical name (the database
    # reference, which compares names as stored, would not find it), or not at all.
    assert built.reason(b"www.upper.cn") == FILED
    assert "bad_name.cn" not in built.served_names()
    assert built.served_names() == sorted([*db.served_names(), "upper.cn"])


def test_loading_reads_the_mirror_in_three_queries_whatever_its_size(rows, monkeypatch):
    for n in range(40):
        rows.website(f"s{n}.cn", f"t{n}.cn")
        rows.website(f"c{n}.cn", access="ended", ended=AccessEnded.CANCELLED)
    rows.website("s0.cn", access="ended", ended=AccessEnded.CANCELLED)  # served by another: not asked again
    streamed = []  # on PostgreSQL the two big reads are psycopg streams, which Django does not log
    if connection.vendor == "postgresql":
        import psycopg

        stream = psycopg.Cursor.stream
        monkeypatch.setattr(
            psycopg.Cursor, "stream", lambda cur, sql, *a, **k: streamed.append(sql) or stream(cur, sql, *a, **k)
        )
    with CaptureQueriesContext(connection) as read:
        built = loaded(OrmMirror(chunk=5))
    selects = [q["sql"] for q in read.captured_queries if "SELECT" in q["sql"]] + streamed
    assert len(selects) == 3, selects  # the top version, the served domains, the others
    assert built.served_count() == 80
    assert built.known_count() == 40
    assert built.reason(b"s0.cn") == FILED
